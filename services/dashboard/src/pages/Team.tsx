import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import type { Invite, Role, User } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { formatDateTime, formatNumber } from "../format";
import { TeamsSection } from "./TeamsSection";
import { isManager, useMe } from "../session";

const ROLES: Role[] = ["owner", "admin", "agent", "viewer"];

export function Team() {
  const { t } = useTranslation();
  const me = useMe();
  const queryClient = useQueryClient();
  const manager = isManager(me.user.role);
  const users = useQuery({ queryKey: ["users"], queryFn: async () => (await api<{ users: User[] }>("/api/v1/users")).users });
  const presence = useQuery({
    queryKey: ["presence"],
    queryFn: () => api<{ user_id: string; status: string }[]>("/api/v1/presence"),
    refetchInterval: 30_000,
  });
  const invites = useQuery({
    queryKey: ["invites"],
    queryFn: async () => (await api<{ invites: Invite[] }>("/api/v1/team/invites")).invites,
    enabled: manager,
  });
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("agent");
  const invite = useMutation({
    mutationFn: () => api<Invite>("/api/v1/team/invites", { method: "POST", json: { email, role } }),
    onSuccess: () => { setEmail(""); void queryClient.invalidateQueries({ queryKey: ["invites"] }); },
  });
  const change = useMutation({
    mutationFn: ({ path, method, json }: { path: string; method: string; json?: unknown }) => api(path, { method, json }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["users"] });
      void queryClient.invalidateQueries({ queryKey: ["invites"] });
    },
  });
  const signOut = useMutation({
    mutationFn: (user: User) =>
      api<{ ended: number }>(`/api/v1/users/${user.id}/sign-out`, { method: "POST" }).then((answer) => ({ user, ended: answer.ended })),
  });
  const statusOf = (id: string) => presence.data?.find((p) => p.user_id === id)?.status ?? "offline";
  const assignable = ROLES.filter((r) => r !== "owner" || me.user.role === "owner");

  return (
    <section className="page">
      <h1>{t("team.title")}</h1>
      <ErrorNote error={users.error ?? change.error ?? signOut.error} />
      {signOut.data && (
        <p className="alert alert-ok" role="status" data-testid="signed-out-note">
          {t("team.signedOut", { name: signOut.data.user.name, count: formatNumber(signOut.data.ended) })}
        </p>
      )}
      <table className="table" data-testid="team-table">
        <thead><tr><th>{t("team.name")}</th><th>{t("team.email")}</th><th>{t("team.role")}</th><th>{t("team.presence")}</th><th>{t("team.status")}</th><th>{t("twoFactor.column")}</th><th /></tr></thead>
        <tbody>
          {users.data?.map((user) => (
            <tr key={user.id}>
              <td><bdi>{user.name}</bdi></td>
              <td dir="ltr" className="start">{user.email}</td>
              <td>
                {manager && user.id !== me.user.id && user.is_active ? (
                  <select aria-label={t("team.role")} value={user.role}
                    onChange={(event) => change.mutate({ path: `/api/v1/users/${user.id}`, method: "PATCH", json: { role: event.target.value } })}>
                    {assignable.concat(user.role === "owner" && me.user.role !== "owner" ? ["owner"] : []).map((r) => <option key={r} value={r}>{t(`team.roles.${r}`)}</option>)}
                  </select>
                ) : t(`team.roles.${user.role}`)}
              </td>
              <td><span className={`dot dot-${statusOf(user.id)}`} aria-hidden="true" /> {t(`presence.${statusOf(user.id)}`)}</td>
              <td>{user.is_active ? t("team.active") : t("team.inactive")}</td>
              <td data-testid="member-two-factor">{user.two_factor ? t("twoFactor.stateOn") : t("twoFactor.stateOff")}</td>
              <td>
                <div className="row">
                  {manager && user.two_factor && user.id !== me.user.id && (user.role !== "owner" || me.user.role === "owner") && (
                    <button type="button" className="button small" onClick={() => { if (window.confirm(t("twoFactor.resetConfirm", { name: user.name }))) change.mutate({ path: `/api/v1/users/${user.id}/two-factor`, method: "DELETE" }); }}>{t("twoFactor.reset")}</button>
                  )}
                  {manager && user.is_active && user.id !== me.user.id && (user.role !== "owner" || me.user.role === "owner") && (
                    <button type="button" className="button small" onClick={() => { if (window.confirm(t("team.signOutConfirm", { name: user.name }))) signOut.mutate(user); }}>{t("team.signOut")}</button>
                  )}
                  {manager && user.is_active && user.id !== me.user.id && (
                    <button type="button" className="button danger small" onClick={() => { if (window.confirm(t("common.confirm"))) change.mutate({ path: `/api/v1/users/${user.id}/deactivate`, method: "POST" }); }}>{t("team.deactivate")}</button>
                  )}
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {manager && (
        <>
          <h2>{t("team.invites")}</h2>
          <form className="row card" onSubmit={(event: FormEvent) => { event.preventDefault(); invite.mutate(); }}>
            <label className="field grow"><span>{t("team.email")}</span>
              <input type="email" required dir="ltr" value={email} onChange={(event) => setEmail(event.target.value)} /></label>
            <label className="field"><span>{t("team.role")}</span>
              <select value={role} onChange={(event) => setRole(event.target.value as Role)}>
                {assignable.map((r) => <option key={r} value={r}>{t(`team.roles.${r}`)}</option>)}
              </select></label>
            <button type="submit" className="button primary">{t("team.invite")}</button>
          </form>
          <ErrorNote error={invite.error} />
          {invite.data?.invite_url && (
            <div className="alert alert-ok" role="status">
              <p>{t("team.inviteLink", { email: invite.data.email, time: formatDateTime(invite.data.expires_at) })}</p>
              <code className="secret" dir="ltr">{invite.data.invite_url}</code>
            </div>
          )}
          <table className="table">
            <thead><tr><th>{t("team.email")}</th><th>{t("team.role")}</th><th>{t("team.expires")}</th><th /></tr></thead>
            <tbody>
              {invites.data?.length === 0 && <tr><td colSpan={4} className="muted">{t("team.noInvites")}</td></tr>}
              {invites.data?.map((inv) => (
                <tr key={inv.id}>
                  <td dir="ltr" className="start">{inv.email}</td>
                  <td>{t(`team.roles.${inv.role}`)}</td>
                  <td>{formatDateTime(inv.expires_at)}</td>
                  <td><button type="button" className="button small" onClick={() => change.mutate({ path: `/api/v1/team/invites/${inv.id}`, method: "DELETE" })}>{t("team.revoke")}</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <TeamsSection users={users.data ?? []} manager={manager} />
    </section>
  );
}
