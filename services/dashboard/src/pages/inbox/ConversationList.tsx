import { useMutation } from "@tanstack/react-query";
import { Bot, Download, Search } from "lucide-react";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { NavLink } from "react-router";
import { formatNumber, formatWhen } from "../../format";
import { downloadCsv } from "../../api/download";
import { ErrorNote } from "../../components/ErrorNote";
import { canWork, isManager, useMe } from "../../session";
import { BulkBar, MAX_PICK } from "./BulkBar";
import type { ListFilter } from "./queries";
import { listQuery, useConversations, useLabels, useNumbers, userName, useTeams, useUsers } from "./queries";

const STATUSES = ["open", "pending", "snoozed", "resolved"] as const;

export function ConversationList({
  filter,
  onFilter,
  selected,
}: {
  filter: ListFilter;
  onFilter: (next: ListFilter) => void;
  selected: string | undefined;
}) {
  const { t } = useTranslation();
  const [search, setSearch] = useState(filter.q);
  const conversations = useConversations(filter);
  const labels = useLabels();
  const numbers = useNumbers();
  const users = useUsers();
  const teams = useTeams();
  useEffect(() => {
    const timer = window.setTimeout(() => {
      if (search !== filter.q) onFilter({ ...filter, q: search });
    }, 300);
    return () => window.clearTimeout(timer);
  }, [search, filter, onFilter]);
  const counts = conversations.data?.counts ?? {};
  const { role } = useMe().user;
  const worker = canWork(role);
  // Owners and admins export what the filters select, one row per conversation.
  const exportCsv = useMutation({
    mutationFn: () => downloadCsv("/api/v1/conversations/export.csv", "conversations.csv", listQuery(filter)),
  });
  // Conversations picked for a bulk action; a new filter starts a new pick.
  const [picked, setPicked] = useState<string[]>([]);
  useEffect(() => setPicked([]), [filter]);
  const toggle = (id: string) =>
    setPicked((now) => (now.includes(id) ? now.filter((p) => p !== id) : [...now, id].slice(0, MAX_PICK)));

  return (
    <section className="conversation-list" aria-labelledby="list-title">
      <div className="list-head">
        <h1 id="list-title">{t("inbox.title")}</h1>
        <div className="segmented" role="group" aria-label={t("inbox.title")}>
          {(["mine", "unassigned", "all"] as const).map((assignee) => (
            <button
              key={assignee}
              type="button"
              aria-pressed={filter.assignee === assignee}
              onClick={() => onFilter({ ...filter, assignee })}
            >
              {t(`inbox.${assignee}`)}
            </button>
          ))}
        </div>
        <label className="search">
          <Search size={16} aria-hidden="true" />
          <span className="visually-hidden">{t("common.search")}</span>
          <input
            type="search"
            placeholder={t("inbox.searchPlaceholder")}
            value={search}
            onChange={(event) => setSearch(event.target.value)}
          />
        </label>
        <div className="filters">
          <select
            aria-label={t("inbox.setStatus")}
            value={filter.status}
            onChange={(event) => onFilter({ ...filter, status: event.target.value })}
          >
            <option value="">{t("inbox.anyStatus")}</option>
            {STATUSES.map((status) => (
              <option key={status} value={status}>
                {t(`inbox.status.${status}`)}
                {counts[status] !== undefined ? ` (${formatNumber(counts[status])})` : ""}
              </option>
            ))}
          </select>
          <select
            aria-label={t("inbox.labels")}
            value={filter.label}
            onChange={(event) => onFilter({ ...filter, label: event.target.value })}
          >
            <option value="">{t("inbox.anyLabel")}</option>
            {labels.data?.map((label) => (
              <option key={label.id} value={label.id}>
                {label.name}
              </option>
            ))}
          </select>
          {(teams.data?.length ?? 0) > 0 && (
            <select
              aria-label={t("teams.team")}
              data-testid="team-filter"
              value={filter.team ?? ""}
              onChange={(event) => onFilter({ ...filter, team: event.target.value })}
            >
              <option value="">{t("teams.anyTeam")}</option>
              <option value="mine">{t("teams.myTeams")}</option>
              {teams.data?.map((team) => (
                <option key={team.id} value={team.id}>
                  {team.name}
                </option>
              ))}
            </select>
          )}
          {isManager(role) && (
            <button
              type="button"
              className="button ghost small"
              data-testid="conversations-export"
              title={t("inbox.exportHint")}
              disabled={exportCsv.isPending}
              onClick={() => exportCsv.mutate()}
            >
              <Download size={14} aria-hidden="true" /> {t("inbox.export")}
            </button>
          )}
          {(numbers.data?.length ?? 0) > 1 && (
            <select
              aria-label={t("settings.numbers")}
              value={filter.number}
              onChange={(event) => onFilter({ ...filter, number: event.target.value })}
            >
              <option value="">{t("inbox.anyNumber")}</option>
              {numbers.data?.map((number) => (
                <option key={number.id} value={number.id}>
                  {number.display_number}
                </option>
              ))}
            </select>
          )}
        </div>
      </div>
      <ErrorNote error={exportCsv.error} />
      {worker && picked.length > 0 && (
        <BulkBar
          picked={picked}
          shown={conversations.data?.items.map((item) => item.id) ?? []}
          onPick={setPicked}
          onDone={() => setPicked([])}
        />
      )}
      <ul className="items" data-testid="conversation-list">
        {conversations.data?.items.length === 0 && <li className="muted pad">{t("inbox.empty")}</li>}
        {conversations.data?.items.map((item) => {
          const name = item.contact.name || item.contact.phone || t("inbox.noName");
          const assignee = userName(users.data, item.assigned_user_id);
          return (
            <li key={item.id} className={worker ? "pickable" : undefined}>
              {worker && (
                <input
                  type="checkbox"
                  className="pick"
                  data-testid="pick"
                  aria-label={t("inbox.bulk.pick", { name })}
                  checked={picked.includes(item.id)}
                  onChange={() => toggle(item.id)}
                />
              )}
              <NavLink
                to={`/inbox/${item.id}`}
                className={item.id === selected ? "item active" : "item"}
                data-testid="conversation-item"
              >
                <span className="avatar" aria-hidden="true">
                  {name.trim().charAt(0).toUpperCase()}
                </span>
                <span className="item-main">
                  <span className="item-top">
                    <bdi className="item-name">{name}</bdi>
                    <time dateTime={item.last_message_at}>{formatWhen(item.last_message_at)}</time>
                  </span>
                  <span className="item-bottom">
                    <span className={`status-chip status-${item.status}`}>
                      {t(`inbox.status.${item.status}`)}
                    </span>
                    {item.controller === "bot" && (
                      <span className="muted small">
                        <Bot size={12} aria-hidden="true" /> {t("inbox.bot")}
                      </span>
                    )}
                    {assignee && <span className="muted small">{assignee}</span>}
                    {item.team_id && (
                      <span className="muted small" data-testid="item-team">
                        <bdi>{teams.data?.find((team) => team.id === item.team_id)?.name}</bdi>
                      </span>
                    )}
                    {item.unread_count > 0 && (
                      <span
                        className="unread"
                        aria-label={t("inbox.unread", { count: item.unread_count })}
                        data-testid="unread-count"
                      >
                        {formatNumber(item.unread_count)}
                      </span>
                    )}
                  </span>
                </span>
              </NavLink>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
