// Analytics: a client of /api/v1/analytics/* (rollups, computed by the broadcast service).
// Date range and number filters; days are the tenant's local dates (the API's `timezone`),
// numbers in the user's locale. The charts are our own SVG (bars only: no library needed, no
// style injected at run time, so the strict CSP holds) and mirror in RTL; each chart has its
// numbers as a table too (keyboard and screen-reader users, and the tests, read those).
import { useQueries, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import type { TFunction } from "i18next";
import { api } from "../api/client";
import type { User, WhatsAppNumber } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { formatNumber } from "../format";
import { locale } from "../i18n";

interface Echo { from: string; to: string; timezone: string; number_id: string | null }
const VOLUME_KEYS = ["conversations_opened", "conversations_resolved", "messages_in", "messages_out", "campaign_messages_out"] as const;
type VolumeKey = (typeof VOLUME_KEYS)[number];
type VolumeItem = { day: string; number_id: string | null } & Record<VolumeKey, number>;
interface Volumes extends Echo { items: VolumeItem[]; totals: Record<VolumeKey, number> }
interface Times { count: number; median_seconds: number | null; p90_seconds: number | null }
interface ResponseTimes extends Echo { first_response: Times; resolution: Times }
interface AgentRow {
  user_id: string; conversations_handled: number; replies: number; first_responses: number;
  median_first_response_seconds: number | null; median_resolution_seconds: number | null;
}
const FUNNEL = ["queued", "sent", "delivered", "read", "replied", "failed", "skipped"] as const;
interface CampaignRow { campaign_id: string; name: string; number_id: string; state: string; funnel: Record<(typeof FUNNEL)[number], number> }
interface FlowRow {
  flow_id: string; name: string; started: number; completed: number; dropped: number; in_progress: number;
  nodes: { node_id: string; reached: number; dropped: number }[];
}
interface Leads extends Echo { total: number; by_stage: { stage: string; count: number }[]; by_source: { source: string; count: number }[] }
interface BusinessHours { timezone: string; is_default: boolean }
interface Filters { from: string; to: string; number_id: string }

const REPORTS = ["volumes", "response-times", "agents", "campaigns", "flows", "leads"] as const;

function isRtl(): boolean {
  return document.documentElement.dir === "rtl";
}

/** A local date of the tenant ("2026-12-05") as "5 Dec", never shifted by the browser's zone. */
function formatDay(day: string, long = false): string {
  const [y, m, d] = day.split("-").map(Number);
  const options: Intl.DateTimeFormatOptions = long ? { dateStyle: "medium", timeZone: "UTC" } : { day: "numeric", month: "short", timeZone: "UTC" };
  return new Intl.DateTimeFormat(locale(), options).format(new Date(Date.UTC(y, m - 1, d)));
}

function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  const end = Date.parse(`${to}T00:00:00Z`);
  for (let at = Date.parse(`${from}T00:00:00Z`); at <= end && out.length < 400; at += 86_400_000) {
    out.push(new Date(at).toISOString().slice(0, 10));
  }
  return out;
}

/** Working seconds as "45 s", "12 min", "3 h 5 min" in the user's digits; "—" when unknown. */
export function formatDuration(seconds: number | null, t: TFunction): string {
  if (seconds === null) return "—";
  const s = Math.round(seconds);
  if (s < 60) return t("analytics.seconds", { n: formatNumber(s) });
  if (s < 3600) return t("analytics.minutes", { n: formatNumber(Math.round(s / 60)) });
  const hours = Math.floor(s / 3600);
  const minutes = Math.round((s % 3600) / 60);
  return t("analytics.hours", { h: formatNumber(hours), m: formatNumber(minutes) });
}

interface Series { key: string; label: string; values: number[] }

/** Daily bars, one group per day; days run with the reading direction. */
function DayChart({ days, series, label }: { days: string[]; series: Series[]; label: string }) {
  const { t } = useTranslation();
  const width = 560, height = 170, top = 10, bottom = 22, side = 30;
  // An even maximum: the three grid lines (0, half, max) are whole numbers.
  const max = Math.max(2, Math.ceil(Math.max(...series.flatMap((s) => s.values)) / 2) * 2);
  const plot = width - side * 2;
  const slot = plot / Math.max(1, days.length);
  const bar = Math.max(1, (slot * 0.8) / series.length);
  const rtl = isRtl();
  const y = (v: number) => top + (height - top - bottom) * (1 - v / max);
  const every = Math.max(1, Math.ceil(days.length / 8));
  const total = series.map((s) => `${s.label} ${formatNumber(s.values.reduce((a, b) => a + b, 0))}`).join(", ");
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${label}: ${total}`} className="chart-svg">
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={side} x2={width - side} y1={y(max * f)} y2={y(max * f)} className="chart-grid" />
            <text x={rtl ? width - side + 4 : side - 4} y={y(max * f) + 4} textAnchor={rtl ? "start" : "end"} className="chart-axis">
              {formatNumber(max * f)}
            </text>
          </g>
        ))}
        {days.map((day, i) => {
          const start = rtl ? width - side - (i + 1) * slot : side + i * slot;
          return (
            <g key={day}>
              {series.map((s, k) => {
                const v = s.values[i] ?? 0;
                const x = start + slot * 0.1 + (rtl ? series.length - 1 - k : k) * bar;
                return <rect key={s.key} x={x} y={y(v)} width={bar} height={Math.max(0, y(0) - y(v))} className={`chart-bar series-${k}`}><title>{`${formatDay(day)} · ${s.label}: ${formatNumber(v)}`}</title></rect>;
              })}
              {i % every === 0 && (
                <text x={start + slot / 2} y={height - 6} textAnchor="middle" className="chart-axis">{formatDay(day)}</text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption className="legend">
        {series.map((s, k) => <span key={s.key} className="legend-item"><span className={`swatch series-${k}`} aria-hidden="true" />{s.label}</span>)}
      </figcaption>
      <details>
        <summary>{t("analytics.asTable")}</summary>
        <table className="table">
          <thead><tr><th>{t("analytics.day")}</th>{series.map((s) => <th key={s.key}>{s.label}</th>)}</tr></thead>
          <tbody>
            {days.map((day, i) => series.some((s) => (s.values[i] ?? 0) > 0) && (
              <tr key={day}><td>{formatDay(day, true)}</td>{series.map((s) => <td key={s.key}>{formatNumber(s.values[i] ?? 0)}</td>)}</tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

/** Horizontal bars with their labels and values (funnels, stages, sources, nodes). */
function Bars({ rows, testid }: { rows: { key: string; label: string; value: number }[]; testid: string }) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  const rtl = isRtl();
  return (
    <ul className="hbars" data-testid={testid}>
      {rows.map((row) => {
        const w = (100 * row.value) / max;
        return (
          <li key={row.key} className="hbar" data-testid={`${testid}-${row.key}`}>
            <span className="hbar-label">{row.label}</span>
            <svg viewBox="0 0 100 10" preserveAspectRatio="none" className="hbar-track" aria-hidden="true">
              <rect x={rtl ? 100 - w : 0} y={0} width={w} height={10} className="chart-bar series-0" />
            </svg>
            <span className="hbar-value" data-testid="value">{formatNumber(row.value)}</span>
          </li>
        );
      })}
    </ul>
  );
}

function Empty({ children }: { children: React.ReactNode }) {
  return <p className="muted empty-note">{children}</p>;
}

function Tile({ label, value, testid, hint }: { label: string; value: string; testid: string; hint?: string }) {
  return (
    <div className="tile" data-testid={testid}>
      <span className="tile-label">{label}</span>
      <strong className="tile-value" data-testid="value">{value}</strong>
      {hint && <span className="muted small">{hint}</span>}
    </div>
  );
}

function query(filters: Filters): Record<string, string> {
  const out: Record<string, string> = {};
  if (filters.from) out.from = filters.from;
  if (filters.to) out.to = filters.to;
  if (filters.number_id) out.number_id = filters.number_id;
  return out;
}

export function Analytics() {
  const { t } = useTranslation();
  const [draft, setDraft] = useState<Filters>({ from: "", to: "", number_id: "" });
  const [filters, setFilters] = useState<Filters>(draft);
  const numbers = useQuery({ queryKey: ["numbers"], queryFn: async () => (await api<{ numbers: WhatsAppNumber[] }>("/api/v1/numbers")).numbers });
  const users = useQuery({ queryKey: ["users"], queryFn: async () => (await api<{ users: User[] }>("/api/v1/users")).users });
  const hours = useQuery({ queryKey: ["business-hours"], queryFn: () => api<BusinessHours>("/api/v1/settings/business-hours") });
  const results = useQueries({
    queries: REPORTS.map((name) => ({
      queryKey: ["analytics", name, filters],
      queryFn: () => api<Record<string, unknown>>(`/api/v1/analytics/${name}`, { query: query(filters) }),
    })),
  });
  const [volumesQ, timesQ, agentsQ, campaignsQ, flowsQ, leadsQ] = results;
  const volumes = volumesQ.data as Volumes | undefined;
  const times = timesQ.data as ResponseTimes | undefined;
  const agents = (agentsQ.data as { items: AgentRow[] } | undefined)?.items;
  const campaigns = (campaignsQ.data as { items: CampaignRow[] } | undefined)?.items;
  const flows = (flowsQ.data as { items: FlowRow[] } | undefined)?.items;
  const leads = leadsQ.data as Leads | undefined;
  const error = results.find((r) => r.error)?.error ?? numbers.error;

  const days = volumes ? daysBetween(volumes.from, volumes.to) : [];
  const perDay = (key: VolumeKey) => days.map((day) => volumes?.items.filter((i) => i.day === day).reduce((sum, i) => sum + i[key], 0) ?? 0);
  const userName = (id: string) => users.data?.find((u) => u.id === id)?.name ?? id.slice(0, 8);
  const numberName = (id: string) => numbers.data?.find((n) => n.id === id)?.display_number ?? id.slice(0, 8);
  const apply = (event: FormEvent) => { event.preventDefault(); setFilters(draft); };

  return (
    <div className="page stack analytics-page">
      <div className="page-head"><h1>{t("analytics.title")}</h1></div>
      <form className="card filters-bar" onSubmit={apply} aria-label={t("analytics.filters")}>
        <label className="field"><span>{t("analytics.from")}</span>
          <input type="date" value={draft.from} data-testid="analytics-from" onChange={(e) => setDraft({ ...draft, from: e.target.value })} /></label>
        <label className="field"><span>{t("analytics.to")}</span>
          <input type="date" value={draft.to} data-testid="analytics-to" onChange={(e) => setDraft({ ...draft, to: e.target.value })} /></label>
        <label className="field"><span>{t("analytics.number")}</span>
          <select value={draft.number_id} data-testid="analytics-number" onChange={(e) => setDraft({ ...draft, number_id: e.target.value })}>
            <option value="">{t("analytics.allNumbers")}</option>
            {numbers.data?.map((n) => <option key={n.id} value={n.id} dir="ltr">{n.display_number}</option>)}
          </select></label>
        <button type="submit" className="button primary" data-testid="analytics-apply">{t("analytics.apply")}</button>
        {volumes && (
          <p className="muted small range-note" data-testid="analytics-range">
            {t("analytics.range", { from: formatDay(volumes.from, true), to: formatDay(volumes.to, true), zone: volumes.timezone })}
          </p>
        )}
      </form>
      <ErrorNote error={error} />

      <section className="card stack" aria-labelledby="a-volumes" data-testid="analytics-volumes">
        <h2 id="a-volumes">{t("analytics.volumes")}</h2>
        <div className="tiles">
          {VOLUME_KEYS.map((key) => (
            <Tile key={key} label={t(`analytics.volume.${key}`)} value={volumes ? formatNumber(volumes.totals[key]) : "…"} testid={`total-${key}`} />
          ))}
        </div>
        {volumes && volumes.items.length === 0 ? <Empty>{t("analytics.noActivity")}</Empty> : volumes && (
          <div className="chart-pair">
            <DayChart days={days} label={t("analytics.conversations")} series={[
              { key: "opened", label: t("analytics.volume.conversations_opened"), values: perDay("conversations_opened") },
              { key: "resolved", label: t("analytics.volume.conversations_resolved"), values: perDay("conversations_resolved") },
            ]} />
            <DayChart days={days} label={t("analytics.messages")} series={[
              { key: "in", label: t("analytics.volume.messages_in"), values: perDay("messages_in") },
              { key: "out", label: t("analytics.volume.messages_out"), values: perDay("messages_out") },
              { key: "campaign", label: t("analytics.volume.campaign_messages_out"), values: perDay("campaign_messages_out") },
            ]} />
          </div>
        )}
      </section>

      <section className="card stack" aria-labelledby="a-times" data-testid="analytics-times">
        <h2 id="a-times">{t("analytics.times")}</h2>
        <p className="muted small" data-testid="working-time-note">
          {t("analytics.workingTime")}{" "}
          {hours.data && (hours.data.is_default ? t("analytics.hoursDefault", { zone: hours.data.timezone }) : t("analytics.hoursSet", { zone: hours.data.timezone }))}
        </p>
        {times && (
          <div className="tiles">
            {(["first_response", "resolution"] as const).map((kind) => (
              <div key={kind} className="tile-group" data-testid={`times-${kind}`}>
                <h3>{t(`analytics.${kind}`)}</h3>
                <div className="tiles">
                  <Tile label={t("analytics.median")} value={formatDuration(times[kind].median_seconds, t)} testid="median" />
                  <Tile label={t("analytics.p90")} value={formatDuration(times[kind].p90_seconds, t)} testid="p90" />
                  <Tile label={t("analytics.measured")} value={formatNumber(times[kind].count)} testid="count" />
                </div>
              </div>
            ))}
          </div>
        )}
      </section>

      <section className="card stack" aria-labelledby="a-agents">
        <h2 id="a-agents">{t("analytics.agents")}</h2>
        {agents && agents.length === 0 ? <Empty>{t("analytics.noAgents")}</Empty> : (
          <table className="table" data-testid="analytics-agents">
            <thead><tr><th>{t("analytics.agent")}</th><th>{t("analytics.handled")}</th><th>{t("analytics.replies")}</th><th>{t("analytics.firstResponses")}</th><th>{t("analytics.medianFirst")}</th><th>{t("analytics.medianResolution")}</th></tr></thead>
            <tbody>
              {agents?.map((a) => (
                <tr key={a.user_id} data-testid="agent-row" data-user-id={a.user_id}>
                  <td dir="auto">{userName(a.user_id)}</td>
                  <td data-testid="handled">{formatNumber(a.conversations_handled)}</td>
                  <td data-testid="replies">{formatNumber(a.replies)}</td>
                  <td data-testid="first-responses">{formatNumber(a.first_responses)}</td>
                  <td>{formatDuration(a.median_first_response_seconds, t)}</td>
                  <td>{formatDuration(a.median_resolution_seconds, t)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section className="card stack" aria-labelledby="a-campaigns">
        <h2 id="a-campaigns">{t("analytics.campaigns")}</h2>
        {campaigns && campaigns.length === 0 && <Empty>{t("analytics.noCampaigns")}</Empty>}
        <div className="chart-pair">
          {campaigns?.map((c) => (
            <div key={c.campaign_id} className="stack" data-testid="campaign-funnel">
              <h3 dir="auto">{c.name} <span className="muted small">· {t(`analytics.campaignState.${c.state}`, { defaultValue: c.state })} · <span dir="ltr">{numberName(c.number_id)}</span></span></h3>
              <Bars testid={`funnel-${c.campaign_id}`} rows={FUNNEL.map((stage) => ({ key: stage, label: t(`analytics.funnel.${stage}`), value: c.funnel[stage] }))} />
            </div>
          ))}
        </div>
      </section>

      <section className="card stack" aria-labelledby="a-flows">
        <h2 id="a-flows">{t("analytics.flows")}</h2>
        {flows && flows.length === 0 && <Empty>{t("analytics.noFlows")}</Empty>}
        {flows?.map((f) => (
          <div key={f.flow_id} className="stack" data-testid="flow-report">
            <h3 dir="auto">{f.name}</h3>
            <div className="tiles">
              <Tile label={t("analytics.started")} value={formatNumber(f.started)} testid="flow-started" />
              <Tile label={t("analytics.completed")} value={formatNumber(f.completed)} testid="flow-completed" />
              <Tile label={t("analytics.dropped")} value={formatNumber(f.dropped)} testid="flow-dropped" />
              <Tile label={t("analytics.inProgress")} value={formatNumber(f.in_progress)} testid="flow-in-progress" />
            </div>
            <table className="table">
              <thead><tr><th>{t("analytics.node")}</th><th>{t("analytics.reached")}</th><th>{t("analytics.droppedHere")}</th><th>{t("analytics.dropRate")}</th></tr></thead>
              <tbody>
                {f.nodes.map((n) => (
                  <tr key={n.node_id} data-testid="flow-node">
                    <td dir="ltr" className="start"><code>{n.node_id}</code></td>
                    <td>{formatNumber(n.reached)}</td>
                    <td>{formatNumber(n.dropped)}</td>
                    <td>{n.reached ? new Intl.NumberFormat(locale(), { style: "percent" }).format(n.dropped / n.reached) : "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
      </section>

      <section className="card stack" aria-labelledby="a-leads">
        <h2 id="a-leads">{t("analytics.leads")}</h2>
        {leads && (leads.total === 0 ? <Empty>{t("analytics.noLeads")}</Empty> : (
          <div className="chart-pair">
            <div><h3>{t("analytics.byStage")}</h3>
              <Bars testid="leads-stage" rows={leads.by_stage.map((s) => ({ key: s.stage, label: t(`leads.stages.${s.stage}`, { defaultValue: s.stage }), value: s.count }))} /></div>
            <div><h3>{t("analytics.bySource")}</h3>
              <Bars testid="leads-source" rows={leads.by_source.map((s) => ({ key: s.source, label: t(`leads.sources.${s.source}`, { defaultValue: s.source }), value: s.count }))} /></div>
          </div>
        ))}
      </section>
    </div>
  );
}
