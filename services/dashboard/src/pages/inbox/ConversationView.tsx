import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ArrowLeft, Bot, Tag, UserCheck, Users } from "lucide-react";
import { useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { api } from "../../api/client";
import { sendPresence } from "../../api/stream";
import { ErrorNote } from "../../components/ErrorNote";
import { formatDateTime } from "../../format";
import { canWork, isManager, useMe } from "../../session";
import { Composer } from "./Composer";
import type { Message } from "../../api/types";
import { MessageBubble, reactionTarget } from "./MessageBubble";
import { keys, useConversation, useLabels, useMessages, userName, useTeams, useUsers } from "./queries";

const STATUSES = ["open", "pending", "snoozed", "resolved"] as const;

function usePresence(conversationId: string, meId: string) {
  const { data } = useQuery({
    queryKey: keys.presence(conversationId),
    queryFn: () =>
      api<{ user_id: string; state: string }[]>(`/api/v1/presence/conversations/${conversationId}`),
    refetchInterval: 20_000,
  });
  return (data ?? []).filter((entry) => entry.user_id !== meId);
}

export function ConversationView({ conversationId }: { conversationId: string }) {
  const { t } = useTranslation();
  const me = useMe();
  const queryClient = useQueryClient();
  const conversation = useConversation(conversationId);
  const messages = useMessages(conversationId);
  const users = useUsers();
  const labels = useLabels();
  const teams = useTeams();
  const others = usePresence(conversationId, me.user.id);
  const [snoozeUntil, setSnoozeUntil] = useState("");
  const bottom = useRef<HTMLLIElement>(null);
  const worker = canWork(me.user.role);

  const act = useMutation({
    mutationFn: ({ path, method = "POST", json }: { path: string; method?: string; json?: unknown }) =>
      api(`/api/v1/conversations/${conversationId}/${path}`, { method, json }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: keys.conversation(conversationId) });
      void queryClient.invalidateQueries({ queryKey: keys.conversations });
    },
  });

  useEffect(() => {
    sendPresence("viewing", conversationId);
    return () => sendPresence("left", conversationId);
  }, [conversationId]);

  const unread = conversation.data?.unread_count ?? 0;
  useEffect(() => {
    if (worker && unread > 0) act.mutate({ path: "read" });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [unread, worker]);

  useEffect(() => {
    bottom.current?.scrollIntoView({ block: "end" });
  }, [messages.data?.length]);

  if (conversation.isError) return <section className="conversation"><ErrorNote error={conversation.error} /></section>;
  const item = conversation.data;
  if (!item) return <section className="conversation" aria-busy="true" />;
  const name = item.contact.name || item.contact.phone || t("inbox.noName");
  const assignee = userName(users.data, item.assigned_user_id);
  const mine = item.assigned_user_id === me.user.id;
  const viewing = others.filter((o) => o.state === "viewing").map((o) => userName(users.data, o.user_id) ?? t("inbox.someone"));
  const typing = others.filter((o) => o.state === "typing").map((o) => userName(users.data, o.user_id) ?? t("inbox.someone"));
  const current = new Set(item.labels);
  // Reactions show on the message they react to (by Meta's id) when it is on the page.
  const wamids = new Set((messages.data ?? []).map((m) => m.wamid).filter(Boolean));
  const reactionsByTarget = new Map<string, Message[]>();
  const shown: Message[] = [];
  for (const message of messages.data ?? []) {
    const target = message.type === "reaction" ? reactionTarget(message) : undefined;
    if (target && wamids.has(target)) {
      reactionsByTarget.set(target, [...(reactionsByTarget.get(target) ?? []), message]);
    } else {
      shown.push(message);
    }
  }

  return (
    <section className="conversation" aria-label={name}>
      <header className="conversation-head">
        <Link to="/inbox" className="button ghost back" aria-label={t("inbox.back")}>
          <ArrowLeft size={18} aria-hidden="true" className="flip" />
        </Link>
        <div className="who">
          <h2><bdi>{name}</bdi></h2>
          <span className="muted small" dir="ltr">{item.contact.phone}</span>
        </div>
        <div className="head-actions">
          {worker && (
            <select
              aria-label={t("inbox.setStatus")}
              value={item.status}
              onChange={(event) => act.mutate({ path: "status", json: { status: event.target.value } })}
            >
              {STATUSES.filter((s) => s !== "snoozed" || item.status === "snoozed").map((status) => (
                <option key={status} value={status}>{t(`inbox.status.${status}`)}</option>
              ))}
            </select>
          )}
          {worker && (
            <form
              className="inline"
              onSubmit={(event) => {
                event.preventDefault();
                if (snoozeUntil) act.mutate({ path: "status", json: { status: "snoozed", snoozed_until: new Date(snoozeUntil).toISOString() } });
              }}
            >
              <label className="visually-hidden" htmlFor="snooze-until">{t("inbox.snoozeUntil")}</label>
              <input id="snooze-until" type="datetime-local" value={snoozeUntil} onChange={(e) => setSnoozeUntil(e.target.value)} />
              <button type="submit" className="button" disabled={!snoozeUntil}>{t("inbox.snooze")}</button>
            </form>
          )}
          {worker && (
            <select
              aria-label={t("inbox.assign")}
              value={item.assigned_user_id ?? ""}
              onChange={(event) => act.mutate({ path: "assign", json: { user_id: event.target.value || null } })}
            >
              <option value="">{t("inbox.unassignedLabel")}</option>
              {users.data?.filter((u) => u.is_active && u.role !== "viewer").map((u) => (
                <option key={u.id} value={u.id}>{u.name}</option>
              ))}
            </select>
          )}
          {worker && (teams.data?.length ?? 0) > 0 && (
            <select
              aria-label={t("teams.team")}
              data-testid="conversation-team"
              value={item.team_id ?? ""}
              onChange={(event) => act.mutate({ path: "assign", json: { team_id: event.target.value || null } })}
            >
              <option value="">{t("teams.noTeam")}</option>
              {teams.data?.map((team) => (
                <option key={team.id} value={team.id}>{team.name}</option>
              ))}
            </select>
          )}
          {worker && item.team_id && (!item.assigned_user_id || mine || isManager(me.user.role)) && (
            <button
              type="button"
              className="button"
              data-testid="team-auto-assign"
              title={t("teams.autoAssign", { name: teams.data?.find((team) => team.id === item.team_id)?.name ?? "" })}
              onClick={() => act.mutate({ path: "assign", json: { auto_assign: true } })}
            >
              <Users size={16} aria-hidden="true" />
              {t("teams.autoAssignShort")}
            </button>
          )}
          {worker && !mine && (
            <button
              type="button"
              className="button primary"
              data-testid="take-over"
              onClick={() => act.mutate({ path: "takeover", json: item.assigned_user_id && isManager(me.user.role) ? { force: true } : {} })}
            >
              <UserCheck size={16} aria-hidden="true" />
              {assignee ? t("inbox.forceTakeOver", { name: assignee }) : t("inbox.takeOver")}
            </button>
          )}
          {worker && mine && item.controller === "human" && (
            <button type="button" className="button" onClick={() => act.mutate({ path: "handback" })}>
              <Bot size={16} aria-hidden="true" />
              {t("inbox.handBack")}
            </button>
          )}
          {worker && (labels.data?.length ?? 0) > 0 && (
            <details className="menu">
              <summary className="button"><Tag size={16} aria-hidden="true" />{t("inbox.labels")}</summary>
              <div className="menu-body">
                {labels.data?.map((label) => (
                  <label key={label.id} className="check">
                    <input
                      type="checkbox"
                      checked={current.has(label.id)}
                      onChange={(event) => {
                        const next = new Set(current);
                        if (event.target.checked) next.add(label.id);
                        else next.delete(label.id);
                        act.mutate({ path: "labels", method: "PUT", json: { label_ids: [...next] } });
                      }}
                    />
                    {label.name}
                  </label>
                ))}
              </div>
            </details>
          )}
        </div>
      </header>
      <div className="conversation-sub">
        <span className="muted small">
          {assignee ? t("inbox.assignedTo", { name: assignee }) : t("inbox.unassignedLabel")}
          {item.status === "snoozed" && item.snoozed_until ? ` · ${t("inbox.status.snoozed")} ${formatDateTime(item.snoozed_until)}` : ""}
        </span>
        {item.labels.length > 0 && (
          <span className="label-list">
            {labels.data?.filter((l) => current.has(l.id)).map((l) => <span key={l.id} className="label-chip">{l.name}</span>)}
          </span>
        )}
        <span className="presence-line" role="status" data-testid="presence-line">
          {viewing.length > 0 && t("inbox.viewing", { names: viewing.join("، ") })}
          {typing.length > 0 && ` ${t("inbox.typing", { names: typing.join("، ") })}`}
        </span>
      </div>
      <ErrorNote error={act.error} />
      <ol className="messages" aria-live="polite" data-testid="messages">
        {shown.map((message) => (
          <MessageBubble
            key={message.id}
            message={message}
            users={users.data}
            meId={me.user.id}
            reactions={message.wamid ? reactionsByTarget.get(message.wamid) : undefined}
          />
        ))}
        <li ref={bottom} aria-hidden="true" className="end" />
      </ol>
      {worker ? (
        <Composer
          conversation={item}
          lastMessageId={messages.data?.at(-1)?.id ?? null}
          mine={mine}
          users={users.data}
          onTakeOver={() => act.mutate({ path: "takeover", json: {} })}
          onReopen={() => act.mutate({ path: "status", json: { status: "open" } })}
        />
      ) : (
        <p className="composer-hint muted">{t("inbox.viewerHint")}</p>
      )}
    </section>
  );
}
