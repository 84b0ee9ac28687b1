// The Teams section of the Team page: everyone sees the teams and their members; owners and
// admins create, rename, describe and delete teams and add or remove members.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Trash2, X } from "lucide-react";
import { useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import type { Team, User } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { useTeams } from "./inbox/queries";

interface Change {
  path: string;
  method: string;
  json?: unknown;
}

function TeamCard({ team, users, manager, change }: {
  team: Team;
  users: User[];
  manager: boolean;
  change: (c: Change) => void;
}) {
  const { t } = useTranslation();
  const [name, setName] = useState(team.name);
  const [description, setDescription] = useState(team.description);
  const [pick, setPick] = useState("");
  const nameOf = (id: string) => users.find((u) => u.id === id)?.name ?? id;
  const candidates = users.filter((u) => u.is_active && u.role !== "viewer" && !team.member_ids.includes(u.id));
  const base = `/api/v1/teams/${team.id}`;
  const edited = name.trim() !== team.name || description.trim() !== team.description;

  return (
    <li className="card stack" data-testid="team-card" aria-label={team.name}>
      {manager ? (
        <form
          className="row"
          aria-label={t("teams.edit", { name: team.name })}
          onSubmit={(event: FormEvent) => {
            event.preventDefault();
            change({ path: base, method: "PATCH", json: { name, description } });
          }}
        >
          <label className="field">
            <span>{t("teams.name")}</span>
            <input required maxLength={64} dir="auto" value={name} onChange={(event) => setName(event.target.value)} data-testid="team-name" />
          </label>
          <label className="field grow">
            <span>{t("teams.description")}</span>
            <input maxLength={500} dir="auto" value={description} onChange={(event) => setDescription(event.target.value)} />
          </label>
          <button type="submit" className="button" disabled={!edited}>{t("teams.rename")}</button>
          <button
            type="button"
            className="button danger small"
            onClick={() => {
              if (window.confirm(t("teams.confirmDelete", { name: team.name }))) change({ path: base, method: "DELETE" });
            }}
          >
            <Trash2 size={14} aria-hidden="true" /> {t("teams.delete")}
          </button>
        </form>
      ) : (
        <div>
          <h3><bdi>{team.name}</bdi></h3>
          {team.description && <p className="muted"><bdi>{team.description}</bdi></p>}
        </div>
      )}
      <div className="row" role="group" aria-label={`${t("teams.members")}: ${team.name}`}>
        <span className="field-title">{t("teams.members")}</span>
        {team.member_ids.length === 0 && <span className="muted small">{t("teams.noMembers")}</span>}
        {team.member_ids.map((id) => (
          <span key={id} className="label-chip" data-testid="team-member">
            <bdi>{nameOf(id)}</bdi>
            {manager && (
              <button
                type="button"
                className="button ghost small"
                aria-label={t("teams.removeMember", { name: nameOf(id), team: team.name })}
                onClick={() => change({ path: `${base}/members/${id}`, method: "DELETE" })}
              >
                <X size={12} aria-hidden="true" />
              </button>
            )}
          </span>
        ))}
      </div>
      {manager && candidates.length > 0 && (
        <form
          className="row"
          onSubmit={(event: FormEvent) => {
            event.preventDefault();
            if (pick) change({ path: `${base}/members`, method: "POST", json: { user_id: pick } });
            setPick("");
          }}
        >
          <label className="field">
            <span className="visually-hidden">{t("teams.pickMember")}</span>
            <select value={pick} onChange={(event) => setPick(event.target.value)} data-testid="member-pick" aria-label={t("teams.pickMember")}>
              <option value="">{t("teams.pickMember")}</option>
              {candidates.map((u) => <option key={u.id} value={u.id}>{u.name}</option>)}
            </select>
          </label>
          <button type="submit" className="button small" disabled={!pick}>{t("teams.addMember")}</button>
        </form>
      )}
    </li>
  );
}

export function TeamsSection({ users, manager }: { users: User[]; manager: boolean }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const teams = useTeams();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: ["teams"] });
    void queryClient.invalidateQueries({ queryKey: ["conversations"] });
  };
  const create = useMutation({
    mutationFn: () => api<Team>("/api/v1/teams", { method: "POST", json: { name, description } }),
    onSuccess: () => { setName(""); setDescription(""); refresh(); },
  });
  const change = useMutation({
    mutationFn: ({ path, method, json }: Change) => api(path, { method, json }),
    onSuccess: refresh,
  });

  return (
    <section aria-labelledby="teams-title" data-testid="teams-section">
      <h2 id="teams-title">{t("teams.title")}</h2>
      <p className="muted">{t("teams.intro")}</p>
      {manager && (
        <form className="row card" onSubmit={(event: FormEvent) => { event.preventDefault(); create.mutate(); }}>
          <label className="field">
            <span>{t("teams.name")}</span>
            <input required maxLength={64} dir="auto" value={name} onChange={(event) => setName(event.target.value)} data-testid="new-team-name" />
          </label>
          <label className="field grow">
            <span>{t("teams.description")}</span>
            <input maxLength={500} dir="auto" value={description} onChange={(event) => setDescription(event.target.value)} />
          </label>
          <button type="submit" className="button primary">{t("teams.create")}</button>
        </form>
      )}
      <ErrorNote error={teams.error ?? create.error ?? change.error} />
      {teams.data?.length === 0 && <p className="muted">{t("teams.noTeams")}</p>}
      <ul className="plain stack">
        {teams.data?.map((team) => (
          <TeamCard key={`${team.id}:${team.updated_at}`} team={team} users={users} manager={manager} change={(c) => change.mutate(c)} />
        ))}
      </ul>
    </section>
  );
}
