// The audit log (owners and admins, Business plan): filters, entry detail, CSV export and
// "verify chain". A Starter tenant sees what the Business plan would give it instead.
import { useInfiniteQuery, useMutation } from "@tanstack/react-query";
import { useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import { downloadCsv } from "../api/download";
import { ErrorNote } from "../components/ErrorNote";
import { formatDateTime, formatNumber } from "../format";
import { isManager, useMe } from "../session";

interface AuditEntry {
  seq: number;
  event_id: string;
  occurred_at: string;
  recorded_at: string;
  action: string;
  outcome: string;
  actor_type: string;
  actor_id: string | null;
  actor_role: string | null;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  correlation_id: string | null;
  changes: unknown;
  details: unknown;
  prev_hash: string;
  hash: string;
}

interface Verdict { ok: boolean; checked: number; first_broken_seq: number | null; head_matches_signed: boolean }

interface Filters { action: string; target_type: string; actor_id: string; from: string; to: string }
const NO_FILTERS: Filters = { action: "", target_type: "", actor_id: "", from: "", to: "" };

function query(filters: Filters): Record<string, string> {
  const out: Record<string, string> = {};
  if (filters.action) out.action = filters.action;
  if (filters.target_type) out.target_type = filters.target_type;
  if (filters.actor_id) out.actor_id = filters.actor_id;
  if (filters.from) out.from = new Date(filters.from).toISOString();
  if (filters.to) out.to = new Date(filters.to).toISOString();
  return out;
}

function BusinessOnly() {
  const { t } = useTranslation();
  return (
    <section className="card stack" data-testid="audit-upsell">
      <h2>{t("audit.businessTitle")}</h2>
      <p>{t("audit.businessIntro")}</p>
      <ul className="report">
        {(["chain", "filters", "export", "verify", "retention"] as const).map((k) => <li key={k}>{t(`audit.businessGives.${k}`)}</li>)}
      </ul>
      <p className="muted">{t("audit.businessHow")}</p>
    </section>
  );
}

function Detail({ entry, onClose }: { entry: AuditEntry; onClose: () => void }) {
  const { t } = useTranslation();
  const facts: [string, string | null][] = [
    [t("audit.seq"), String(entry.seq)], [t("audit.when"), formatDateTime(entry.occurred_at)],
    [t("audit.action"), entry.action], [t("audit.outcome"), entry.outcome],
    [t("audit.actor"), [entry.actor_type, entry.actor_role, entry.actor_id].filter(Boolean).join(" · ")],
    [t("audit.target"), [entry.target_type, entry.target_id].filter(Boolean).join(" · ")],
    [t("audit.ip"), entry.ip], [t("audit.userAgent"), entry.user_agent], [t("audit.requestId"), entry.request_id],
    [t("audit.hash"), entry.hash], [t("audit.prevHash"), entry.prev_hash],
  ];
  return (
    <aside className="card stack audit-detail" data-testid="audit-detail" aria-label={t("audit.detail")}>
      <div className="page-head"><h2 dir="ltr">{entry.action}</h2>
        <button type="button" className="button small ghost" onClick={onClose}>{t("common.close")}</button></div>
      <dl className="facts">
        {facts.map(([label, value]) => (<div key={label} className="contents"><dt>{label}</dt><dd dir="ltr" className="start break">{value || "—"}</dd></div>))}
      </dl>
      <h3>{t("audit.changes")}</h3>
      <pre className="code" dir="ltr">{JSON.stringify(entry.changes, null, 2)}</pre>
      <h3>{t("audit.details")}</h3>
      <pre className="code" dir="ltr">{JSON.stringify(entry.details, null, 2)}</pre>
    </aside>
  );
}

function Log() {
  const { t } = useTranslation();
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [selected, setSelected] = useState<AuditEntry | null>(null);
  const entries = useInfiniteQuery({
    queryKey: ["audit", filters],
    initialPageParam: "",
    queryFn: ({ pageParam }) => api<{ items: AuditEntry[]; next_cursor: string | null }>("/api/v1/audit/events", {
      query: { ...query(filters), limit: 50, cursor: pageParam || undefined },
    }),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const verify = useMutation({ mutationFn: () => api<Verdict>("/api/v1/audit/verify", { method: "POST" }) });
  const exportCsv = useMutation({
    mutationFn: () => downloadCsv("/api/v1/audit/export.csv", "audit-log.csv", query(filters)),
  });
  if (entries.error instanceof ApiError && entries.error.problem.type?.endsWith("business-plan-required")) return <BusinessOnly />;
  const items = entries.data?.pages.flatMap((p) => p.items) ?? [];
  const field = (name: keyof Filters, label: string, type = "text") => (
    <label className="field"><span>{label}</span>
      <input type={type} dir="ltr" value={draft[name]} data-testid={`audit-filter-${name}`} onChange={(e) => setDraft({ ...draft, [name]: e.target.value })} /></label>
  );
  return (
    <div className="stack">
      <div className="card stack">
        <div className="row">
          <button type="button" className="button primary" onClick={() => verify.mutate()} disabled={verify.isPending} data-testid="audit-verify">{t("audit.verify")}</button>
          <button type="button" className="button" onClick={() => exportCsv.mutate()} disabled={exportCsv.isPending} data-testid="audit-export">{t("audit.export")}</button>
        </div>
        {verify.data && (
          <p className={`alert ${verify.data.ok ? "alert-ok" : "alert-error"}`} role="status" data-testid="audit-verdict">
            {verify.data.ok
              ? t("audit.intact", { n: formatNumber(verify.data.checked) })
              : t("audit.broken", { n: formatNumber(verify.data.checked), seq: verify.data.first_broken_seq ?? "—" })}
            {!verify.data.head_matches_signed && ` ${t("audit.headMismatch")}`}
          </p>
        )}
        <ErrorNote error={verify.error ?? exportCsv.error} />
      </div>
      <form className="grid-form card" onSubmit={(e: FormEvent) => { e.preventDefault(); setFilters(draft); setSelected(null); }}>
        {field("action", t("audit.action"))}
        {field("target_type", t("audit.targetType"))}
        {field("actor_id", t("audit.actorId"))}
        {field("from", t("audit.from"), "datetime-local")}
        {field("to", t("audit.to"), "datetime-local")}
        <div className="row">
          <button type="submit" className="button primary" data-testid="audit-apply">{t("audit.apply")}</button>
          <button type="button" className="button" onClick={() => { setDraft(NO_FILTERS); setFilters(NO_FILTERS); }}>{t("audit.clear")}</button>
        </div>
      </form>
      <ErrorNote error={entries.error} />
      <div className="leads-layout">
        <div>
          <table className="table" data-testid="audit-table">
            <thead><tr><th>#</th><th>{t("audit.when")}</th><th>{t("audit.action")}</th><th>{t("audit.outcome")}</th><th>{t("audit.actor")}</th><th>{t("audit.target")}</th></tr></thead>
            <tbody>
              {entries.isSuccess && items.length === 0 && <tr><td colSpan={6} className="muted">{t("audit.none")}</td></tr>}
              {items.map((entry) => (
                <tr key={entry.seq} className={selected?.seq === entry.seq ? "active" : ""} data-testid="audit-row">
                  <td>{formatNumber(entry.seq)}</td>
                  <td>{formatDateTime(entry.occurred_at)}</td>
                  <td><button type="button" className="button ghost small" dir="ltr" onClick={() => setSelected(entry)}>{entry.action}</button></td>
                  <td>{entry.outcome}</td>
                  <td>{entry.actor_role ?? entry.actor_type}</td>
                  <td dir="ltr" className="start">{entry.target_type ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {entries.hasNextPage && <button type="button" className="button" onClick={() => void entries.fetchNextPage()}>{t("common.loadMore")}</button>}
        </div>
        {selected && <Detail entry={selected} onClose={() => setSelected(null)} />}
      </div>
    </div>
  );
}

export function Audit() {
  const { t } = useTranslation();
  const me = useMe();
  return (
    <div className="page stack audit-page">
      <div className="page-head"><h1>{t("audit.title")}</h1></div>
      {!isManager(me.user.role) ? <p className="alert">{t("common.forbidden")}</p>
        : me.tenant.plan !== "business" ? <BusinessOnly /> : <Log />}
    </div>
  );
}
