import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { TFunction } from "i18next";
import { Fragment, useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import type { ApiKey, WhatsAppNumber } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { BusinessHoursEditor } from "./BusinessHoursEditor";
import { SignInPolicy } from "./SignInPolicy";
import { formatDateTime, formatNumber, timeZone } from "../format";
import { isManager, useMe } from "../session";

const SCOPES = [
  "conversations:read", "conversations:write", "contacts:read", "contacts:write", "messages:send",
  "templates:read", "templates:write", "campaigns:read", "campaigns:write", "flows:read",
  "flows:write", "leads:read", "analytics:read", "audit:read", "webhooks:read", "webhooks:write",
];

/** A messaging limit (TIER_1K: 1,000 customers a day) in the user's digits. */
function tierText(tier: string | null | undefined, t: TFunction): string {
  if (!tier) return "—";
  const match = /^TIER_(\d+)(K?)$/.exec(tier);
  if (!match) return t(`quality.tiers.${tier}`, { defaultValue: tier });
  const count = Number(match[1]) * (match[2] ? 1000 : 1);
  return t("quality.tierCount", { n: formatNumber(count), hours: formatNumber(24) });
}

/** Meta's quality rating and the last quality event, in words as well as colour. */
function Quality({ number }: { number: WhatsAppNumber }) {
  const { t } = useTranslation();
  const rating = number.quality_rating ?? "UNKNOWN";
  return (
    <div className="quality" data-testid="quality">
      <span className={`quality-chip quality-${rating.toLowerCase()}`} data-rating={rating}>
        {t(`quality.ratings.${rating}`, { defaultValue: rating })}
      </span>
      {number.quality_event && (
        <span className="muted small" data-testid="quality-event">
          {t(`quality.events.${number.quality_event}`, { defaultValue: number.quality_event })}
          {number.quality_updated_at ? ` · ${formatDateTime(number.quality_updated_at)}` : ""}
        </span>
      )}
      {number.account_event && (
        <span className="muted small" data-testid="account-event" data-event={number.account_event}>
          {t(`quality.accountEvents.${number.account_event}`, { defaultValue: number.account_event })}
          {number.account_updated_at ? ` · ${formatDateTime(number.account_updated_at)}` : ""}
        </span>
      )}
    </div>
  );
}

function Numbers({ manager }: { manager: boolean }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const numbers = useQuery({ queryKey: ["numbers"], queryFn: async () => (await api<{ numbers: WhatsAppNumber[] }>("/api/v1/numbers")).numbers });
  const empty = { display_number: "", phone_number_id: "", waba_id: "", access_token: "" };
  const [form, setForm] = useState(empty);
  const [tokenFor, setTokenFor] = useState<string | null>(null);
  const [newToken, setNewToken] = useState("");
  const refresh = () => void queryClient.invalidateQueries({ queryKey: ["numbers"] });
  const add = useMutation({
    mutationFn: () => api("/api/v1/numbers", { method: "POST", json: form }),
    onSuccess: () => { setForm(empty); refresh(); }, // the token leaves the page's memory at once
  });
  const patch = useMutation({
    mutationFn: ({ id, json }: { id: string; json: unknown }) => api(`/api/v1/numbers/${id}`, { method: "PATCH", json }),
    onSuccess: () => { setTokenFor(null); setNewToken(""); refresh(); },
  });
  const input = (name: keyof typeof empty, label: string, type = "text") => (
    <label className="field"><span>{label}</span>
      <input name={name} type={type} required dir="ltr" autoComplete="off" value={form[name]}
        onChange={(event) => setForm({ ...form, [name]: event.target.value })} /></label>
  );
  return (
    <section className="card stack">
      <h2>{t("settings.numbers")}</h2>
      <table className="table">
        <thead><tr><th>{t("settings.displayNumber")}</th><th>{t("settings.phoneNumberId")}</th><th>{t("settings.status")}</th><th>{t("quality.rating")}</th><th>{t("quality.tier")}</th><th /></tr></thead>
        <tbody>
          {numbers.data?.length === 0 && <tr><td colSpan={6} className="muted">{t("settings.noNumbers")}</td></tr>}
          {numbers.data?.map((n) => (
            <tr key={n.id}>
              <td dir="ltr" className="start">{n.display_number}</td>
              <td dir="ltr" className="start">{n.phone_number_id}</td>
              <td>
                <span className={`status-chip status-${n.status}`}>{t(`quality.status.${n.status}`, { defaultValue: n.status })}</span>
                {n.sending_paused && (
                  <div className="paused" data-testid="sending-paused" data-reason={n.sending_paused}>
                    <span className="status-chip status-paused">{t("quality.paused.title")}</span>
                    <span className="muted small">
                      {t(`quality.paused.${n.sending_paused}`, { defaultValue: n.sending_paused })}
                      {n.sending_paused_at ? ` · ${formatDateTime(n.sending_paused_at)}` : ""}
                    </span>
                  </div>
                )}
                {n.restrictions?.map((r) => (
                  <div key={r.kind} className="paused" data-testid="restriction" data-kind={r.kind}>
                    <span className="status-chip status-paused">{t(`quality.restricted.${r.kind}`)}</span>
                    <span className="muted small">
                      {r.until ? t("quality.restricted.until", { when: formatDateTime(r.until) }) : t("quality.restricted.noEnd")}
                    </span>
                  </div>
                ))}
              </td>
              <td><Quality number={n} /></td>
              <td data-testid="messaging-tier">
                {tierText(n.messaging_tier, t)}
                {n.shared_with_business_app_since && (
                  <div className="muted small" data-testid="coexistence">
                    {t("quality.coexistence", { rate: formatNumber(n.send_rate ?? 20) })}
                  </div>
                )}
              </td>
              <td>
                {manager && (
                  <div className="row">
                    <button type="button" className="button small" onClick={() => patch.mutate({ id: n.id, json: { status: n.status === "active" ? "disabled" : "active" } })}>
                      {n.status === "active" ? t("settings.disable") : t("settings.enable")}
                    </button>
                    <button type="button" className="button small" onClick={() => setTokenFor(tokenFor === n.id ? null : n.id)}>{t("settings.replaceToken")}</button>
                    {((n.sending_paused && n.sending_paused !== "token-invalid") || (n.restrictions?.length ?? 0) > 0) && (
                      <button type="button" className="button small" onClick={() => patch.mutate({ id: n.id, json: { resume_sending: true } })}>{t("quality.paused.resume")}</button>
                    )}
                  </div>
                )}
                {tokenFor === n.id && (
                  <form className="row" onSubmit={(event: FormEvent) => { event.preventDefault(); patch.mutate({ id: n.id, json: { access_token: newToken } }); }}>
                    <input type="password" aria-label={t("settings.accessToken")} autoComplete="off" required value={newToken} onChange={(e) => setNewToken(e.target.value)} />
                    <button type="submit" className="button primary small">{t("common.save")}</button>
                  </form>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <ErrorNote error={patch.error} />
      {manager && (
        <form className="grid-form" onSubmit={(event: FormEvent) => { event.preventDefault(); add.mutate(); }}>
          <h3>{t("settings.addNumber")}</h3>
          {input("display_number", t("settings.displayNumber"))}
          {input("phone_number_id", t("settings.phoneNumberId"))}
          {input("waba_id", t("settings.wabaId"))}
          {input("access_token", t("settings.accessToken"), "password")}
          <p className="muted small">{t("settings.tokenHint")}</p>
          <ErrorNote error={add.error} />
          <button type="submit" className="button primary">{t("settings.addNumber")}</button>
        </form>
      )}
    </section>
  );
}

function ApiKeys() {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const keys = useQuery({ queryKey: ["api-keys"], queryFn: async () => (await api<{ api_keys: ApiKey[] }>("/api/v1/api-keys")).api_keys });
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<string[]>(["conversations:read"]);
  const [shown, setShown] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => api<ApiKey & { key: string }>("/api/v1/api-keys", { method: "POST", json: { name, scopes } }),
    onSuccess: (created) => { setShown(created.key); setName(""); void queryClient.invalidateQueries({ queryKey: ["api-keys"] }); },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => api(`/api/v1/api-keys/${id}`, { method: "DELETE" }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["api-keys"] }),
  });
  return (
    <section className="card stack">
      <h2>{t("settings.apiKeys")}</h2>
      {shown && (
        <div className="alert alert-warn" role="status" data-testid="new-api-key">
          <p>{t("settings.keyShownOnce")}</p>
          <code className="secret" dir="ltr">{shown}</code>
          <div className="row">
            <button type="button" className="button small" onClick={() => void navigator.clipboard?.writeText(shown)}>{t("common.copy")}</button>
            <button type="button" className="button small" onClick={() => setShown(null)}>{t("common.close")}</button>
          </div>
        </div>
      )}
      <table className="table">
        <thead><tr><th>{t("settings.keyName")}</th><th>{t("settings.scopes")}</th><th>{t("settings.lastUsed")}</th><th /></tr></thead>
        <tbody>
          {keys.data?.length === 0 && <tr><td colSpan={4} className="muted">{t("settings.noKeys")}</td></tr>}
          {keys.data?.map((k) => (
            <tr key={k.id}>
              <td>{k.name} <span className="muted small" dir="ltr">…{k.hint}</span></td>
              <td className="small" dir="ltr">{k.scopes.join(", ")}</td>
              <td>{k.last_used_at ? formatDateTime(k.last_used_at) : t("settings.never")}</td>
              <td><button type="button" className="button danger small" onClick={() => revoke.mutate(k.id)}>{t("settings.revoke")}</button></td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="stack" onSubmit={(event: FormEvent) => { event.preventDefault(); create.mutate(); }}>
        <h3>{t("settings.newKey")}</h3>
        <label className="field"><span>{t("settings.keyName")}</span><input required value={name} onChange={(e) => setName(e.target.value)} /></label>
        <fieldset className="scopes"><legend>{t("settings.scopes")}</legend>
          {SCOPES.map((scope) => (
            <label key={scope} className="check" dir="ltr">
              <input type="checkbox" checked={scopes.includes(scope)}
                onChange={(e) => setScopes(e.target.checked ? [...scopes, scope] : scopes.filter((s) => s !== scope))} />
              {scope}
            </label>
          ))}
        </fieldset>
        <ErrorNote error={create.error ?? revoke.error} />
        <button type="submit" className="button primary" disabled={scopes.length === 0}>{t("common.create")}</button>
      </form>
    </section>
  );
}

type LimitName =
  | "numbers" | "team_members" | "api_keys" | "webhook_endpoints" | "flows" | "campaigns_per_month";
type PlanReport = {
  plan: { name: string; title: string; features: string[]; limits: Record<LimitName, number> };
  usage: Partial<Record<LimitName, number | null>>;
};

function PlanLimits() {
  const { t } = useTranslation();
  const report = useQuery({ queryKey: ["plan"], queryFn: () => api<PlanReport>("/api/v1/plan") });
  if (!report.data) return <ErrorNote error={report.error} />;
  const { limits } = report.data.plan;
  return (
    <dl className="facts" data-testid="plan-limits">
      {(Object.keys(limits) as LimitName[]).map((name) => (
        <Fragment key={name}>
          <dt>{t(`settings.limits.${name}`)}</dt>
          <dd>
            {t("settings.planUsage", {
              used: formatNumber(report.data.usage[name] ?? 0),
              allowed: formatNumber(limits[name]),
            })}
          </dd>
        </Fragment>
      ))}
    </dl>
  );
}

export function Settings() {
  const { t } = useTranslation();
  const me = useMe();
  const manager = isManager(me.user.role);
  return (
    <section className="page">
      <h1>{t("settings.title")}</h1>
      <section className="card stack">
        <h2>{t("settings.business")}</h2>
        <p><strong>{me.tenant.name}</strong></p>
        <p data-testid="plan">{t("settings.planName", { plan: me.tenant.plan })}</p>
        {manager && <PlanLimits />}
        <p className="muted small">{t("settings.timeZone", { zone: timeZone() })}</p>
      </section>
      <Numbers manager={manager} />
      <BusinessHoursEditor manager={manager} />
      {manager && <SignInPolicy />}
      {manager && <ApiKeys />}
    </section>
  );
}
