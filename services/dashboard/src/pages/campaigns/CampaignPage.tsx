// One campaign. A draft is edited here (number, approved template and its variables mapped
// from contact fields or fixed text, audience by tags/attributes/consent, chosen contacts or
// a CSV, schedule in the business's time zone) with who it reaches and who is skipped and why;
// once started, its live progress, funnel, skip and failure reasons, actions and CSV report.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Download, Upload } from "lucide-react";
import { useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { Link, useNavigate, useParams } from "react-router";
import { api } from "../../api/client";
import { heldBecause } from "../../api/held";
import type { Contact, WhatsAppNumber } from "../../api/types";
import { ErrorNote } from "../../components/ErrorNote";
import { formatNumber } from "../../format";
import { isManager, useMe } from "../../session";
import { StateChip } from "./Campaigns";
import { STREAMED_POLL_MS, useLiveCampaigns } from "./live";
import {
  cleanMapping, fitMapping, inZone, isPlanLimit, isWrongState, mappingProblems, slotList,
  slotsOf, SOURCE_KINDS, STAGES, totals,
} from "./model";
import type {
  AttributeDefinition, AudienceDef, AudiencePreview, Campaign, Mapping, Source, SourceKind,
  TemplateComponent, TemplateRow,
} from "./model";

const EMPTY_MAPPING: Mapping = { header: [], body: [], buttons: [] };
const EMPTY_AUDIENCE: AudienceDef = {
  source: "contacts", tags: [], tags_match: "any", attributes: {}, contact_ids: [], only_opted_in: false,
};

/** A failed call: the plan's monthly limit and a stale state said plainly, else the problem. */
function CampaignError({ error }: { error: unknown }) {
  const { t } = useTranslation();
  if (isPlanLimit(error)) {
    const problem = error.problem;
    return (
      <p className="alert alert-error" role="alert" data-testid="campaign-plan-limit">
        {t("campaigns.planLimit", { allowed: formatNumber(Number(problem.allowed ?? 0)), used: formatNumber(Number(problem.used ?? 0)) })}
      </p>
    );
  }
  if (isWrongState(error)) {
    const state = String(error.problem.state ?? "");
    return (
      <p className="alert alert-warn" role="alert">
        {t("campaigns.wrongState", { state: t(`campaigns.states.${state}`, { defaultValue: state }) })}
      </p>
    );
  }
  return <ErrorNote error={error} />;
}

function useZone(): string {
  const hours = useQuery({
    queryKey: ["business-hours"],
    queryFn: () => api<{ timezone: string }>("/api/v1/settings/business-hours"),
    staleTime: 60_000,
  });
  return hours.data?.timezone ?? "Asia/Dubai";
}

// Editor ----------------------------------------------------------------------------------
interface Draft {
  name: string;
  number_id: string;
  template_id: string;
  mapping: Mapping;
  audience: AudienceDef;
  tagsText: string;
  attributeRows: { key: string; value: string }[];
  schedule: string; // datetime-local, in the tenant's zone
}

function draftOf(campaign: Campaign | undefined, numberId: string): Draft {
  const audience = campaign?.audience ?? EMPTY_AUDIENCE;
  return {
    name: campaign?.name ?? "",
    number_id: campaign?.number_id ?? numberId,
    template_id: campaign?.template_id ?? "",
    mapping: campaign?.parameters ?? EMPTY_MAPPING,
    audience: { ...EMPTY_AUDIENCE, ...audience },
    tagsText: audience.tags.join(", "),
    attributeRows: Object.entries(audience.attributes).map(([key, value]) => ({ key, value: String(value) })),
    schedule: campaign?.scheduled_at_local ? campaign.scheduled_at_local.slice(0, 16) : "",
  };
}

function typed(value: string, definition: AttributeDefinition | undefined): string | number | boolean {
  if (definition?.type === "number" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value);
  if (definition?.type === "boolean" && (value === "true" || value === "false")) return value === "true";
  return value;
}

function SourceEditor({ label, value, attributes, onChange, testId }: {
  label: string; value: Source; attributes: AttributeDefinition[]; onChange: (s: Source) => void; testId: string;
}) {
  const { t } = useTranslation();
  return (
    <fieldset className="plain-fieldset mapping-row" data-testid={testId}>
      <legend className="field-title">{label}</legend>
      <div className="grid-form">
        <label className="field"><span>{t("campaigns.source")}</span>
          <select value={value.source} data-testid={`${testId}-source`}
            onChange={(e) => onChange({ source: e.target.value as SourceKind, fallback: value.fallback })}>
            {SOURCE_KINDS.map((kind) => <option key={kind} value={kind}>{t(`campaigns.sources.${kind}`)}</option>)}
          </select></label>
        {value.source === "attribute" && (
          <label className="field"><span>{t("campaigns.attribute")}</span>
            <select value={value.key ?? ""} data-testid={`${testId}-key`} onChange={(e) => onChange({ ...value, key: e.target.value || null })}>
              <option value="">—</option>
              {attributes.map((a) => <option key={a.key} value={a.key}>{a.label}</option>)}
            </select></label>
        )}
        {value.source === "text" && (
          <label className="field"><span>{t("campaigns.text")}</span>
            <input dir="auto" maxLength={1024} value={value.text ?? ""} data-testid={`${testId}-text`}
              onChange={(e) => onChange({ ...value, text: e.target.value })} /></label>
        )}
        {value.source !== "text" && (
          <label className="field"><span>{t("campaigns.fallback")}</span>
            <input dir="auto" maxLength={1024} value={value.fallback ?? ""} data-testid={`${testId}-fallback`}
              onChange={(e) => onChange({ ...value, fallback: e.target.value })} /></label>
        )}
      </div>
    </fieldset>
  );
}

function ContactPicker({ chosen, onChange }: { chosen: string[]; onChange: (ids: string[]) => void }) {
  const { t } = useTranslation();
  const [search, setSearch] = useState("");
  const contacts = useQuery({
    queryKey: ["contacts", "picker", search],
    queryFn: async () => (await api<{ items: Contact[] }>("/api/v1/contacts", { query: { q: search, limit: 50 } })).items,
  });
  const selected = new Set(chosen);
  return (
    <div className="stack">
      <label className="field"><span>{t("campaigns.searchContacts")}</span>
        <input type="search" value={search} dir="auto" onChange={(e) => setSearch(e.target.value)} /></label>
      <p className="small muted" data-testid="campaign-chosen">{t("campaigns.chosen", { count: chosen.length })}</p>
      <ul className="plain contact-picker">
        {contacts.data?.map((c) => (
          <li key={c.id}>
            <label className="check">
              <input type="checkbox" checked={selected.has(c.id)}
                onChange={(e) => onChange(e.target.checked ? [...chosen, c.id] : chosen.filter((id) => id !== c.id))} />
              <span dir="auto">{c.name ?? "—"}</span> <span className="muted" dir="ltr">{c.phone}</span>
            </label>
          </li>
        ))}
      </ul>
    </div>
  );
}

function CsvUpload({ campaign }: { campaign: Campaign }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const upload = useMutation({
    mutationFn: (chosen: File) =>
      api<{ rows: number }>(`/api/v1/campaigns/${campaign.id}/audience.csv`, { method: "PUT", body: chosen, contentType: "text/csv" }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["campaign", campaign.id] }),
  });
  return (
    <div className="stack">
      <p className="small muted">{t("campaigns.csvHint")}</p>
      <div className="row">
        <label className="field grow"><span>{t("campaigns.csvFile")}</span>
          <input type="file" accept=".csv,text/csv" data-testid="campaign-csv-file" onChange={(e) => setFile(e.target.files?.[0] ?? null)} /></label>
        <button type="button" className="button" disabled={!file || upload.isPending} data-testid="campaign-csv-upload"
          onClick={() => file && upload.mutate(file)}>
          <Upload size={16} aria-hidden="true" />{t("campaigns.upload")}
        </button>
      </div>
      {upload.data && <p className="alert alert-ok" role="status">{t("campaigns.uploaded", { count: upload.data.rows })}</p>}
      {!upload.data && campaign.audience?.source === "csv" && (
        <p className="small" data-testid="campaign-csv-rows">{t("campaigns.csvRows", { count: campaign.audience.csv_rows })}</p>
      )}
      <CampaignError error={upload.error} />
    </div>
  );
}

function Editor({ campaign, numbers, readOnly }: { campaign?: Campaign; numbers: WhatsAppNumber[]; readOnly: boolean }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const zone = useZone();
  const [draft, setDraft] = useState<Draft>(() => draftOf(campaign, numbers[0]?.id ?? ""));
  const [saved, setSaved] = useState(false);
  const set = (changes: Partial<Draft>) => { setSaved(false); setDraft((d) => ({ ...d, ...changes })); };
  const templates = useQuery({
    queryKey: ["templates", "approved"],
    queryFn: async () => (await api<{ items: TemplateRow[] }>("/api/v1/templates", { query: { status: "APPROVED", limit: 100 } })).items,
  });
  const template = useQuery({
    queryKey: ["template", draft.template_id],
    enabled: draft.template_id !== "",
    queryFn: () => api<TemplateRow & { components: TemplateComponent[] }>(`/api/v1/templates/${draft.template_id}`),
  });
  const attributes = useQuery({
    queryKey: ["contact-attributes"],
    queryFn: async () => (await api<{ items: AttributeDefinition[] }>("/api/v1/contact-attributes")).items,
  });
  const slots = template.data ? slotsOf(template.data.components) : null;
  const mapping = slots ? fitMapping(draft.mapping, slots) : draft.mapping;
  const problems = slots ? mappingProblems(mapping) : [];
  const partLabel = (ref: { part: "header" | "body" | "button"; n: number }) =>
    t("campaigns.variable", { part: ref.part === "button" ? t("campaigns.parts.button", { n: ref.n }) : t(`campaigns.parts.${ref.part}`), n: ref.part === "button" ? 1 : ref.n });
  const definitions = attributes.data ?? [];
  const onNumber = templates.data?.filter((row) => row.number_id === draft.number_id) ?? [];

  const save = useMutation({
    mutationFn: () => {
      const audience: AudienceDef = {
        ...draft.audience,
        tags: draft.tagsText.split(",").map((tag) => tag.trim()).filter(Boolean),
        attributes: Object.fromEntries(
          draft.attributeRows.filter((r) => r.key && r.value.trim() !== "")
            .map((r) => [r.key, typed(r.value.trim(), definitions.find((d) => d.key === r.key))]),
        ),
        contact_ids: draft.audience.source === "contact_ids" ? draft.audience.contact_ids : [],
      };
      const json: Record<string, unknown> = {
        name: draft.name,
        number_id: draft.number_id,
        template_id: draft.template_id,
        parameters: cleanMapping(mapping),
        audience,
      };
      if (draft.schedule) json.scheduled_at = `${draft.schedule}:00`;
      if (campaign) {
        if (!draft.schedule && campaign.scheduled_at) json.clear_schedule = true;
        return api<Campaign>(`/api/v1/campaigns/${campaign.id}`, { method: "PATCH", json });
      }
      return api<Campaign>("/api/v1/campaigns", { method: "POST", json });
    },
    onSuccess: (row) => {
      setSaved(true);
      void queryClient.invalidateQueries({ queryKey: ["campaigns"] });
      void queryClient.invalidateQueries({ queryKey: ["campaign", row.id] });
      if (!campaign) void navigate(`/campaigns/${row.id}`, { replace: true });
    },
  });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (problems.length === 0 && !slots?.media) save.mutate();
  };
  const audienceSource = draft.audience.source;
  return (
    <form className="stack card" onSubmit={submit} data-testid="campaign-form" aria-label={campaign?.name ?? t("campaigns.new")}>
      <fieldset className="plain-fieldset stack" disabled={readOnly}>
        <div className="grid-form">
          <label className="field"><span>{t("campaigns.name")}</span>
            <input required maxLength={200} dir="auto" value={draft.name} data-testid="campaign-name" onChange={(e) => set({ name: e.target.value })} /></label>
          <label className="field"><span>{t("campaigns.number")}</span>
            <select value={draft.number_id} dir="ltr" data-testid="campaign-number" onChange={(e) => set({ number_id: e.target.value, template_id: "" })}>
              {numbers.map((n) => <option key={n.id} value={n.id}>{n.display_number}</option>)}
            </select></label>
          <label className="field"><span>{t("campaigns.template")}</span>
            <select required value={draft.template_id} dir="ltr" data-testid="campaign-template"
              onChange={(e) => set({ template_id: e.target.value })}>
              <option value="">{t("campaigns.chooseTemplate")}</option>
              {onNumber.map((row) => <option key={row.id} value={row.id}>{row.name} ({row.language})</option>)}
            </select></label>
        </div>
        {templates.data && onNumber.length === 0 && <p className="alert alert-warn">{t("campaigns.noTemplates")}</p>}

        {slots && (
          <section className="stack" aria-labelledby="campaign-mapping">
            <h2 id="campaign-mapping">{t("campaigns.mapping")}</h2>
            {slots.media && <p className="alert alert-error" role="alert">{t("campaigns.mediaHeader")}</p>}
            {slotList(mapping).length === 0 ? <p className="muted">{t("campaigns.noVariables")}</p>
              : <p className="small muted">{t("campaigns.mappingHint")}</p>}
            {slotList(mapping).map((ref) => {
              const change = (source: Source) => {
                const next: Mapping = { header: [...mapping.header], body: [...mapping.body], buttons: [...mapping.buttons] };
                if (ref.part === "button") next.buttons = next.buttons.map((b) => (b.index === ref.n - 1 ? { ...source, index: b.index } : b));
                else next[ref.part][ref.n - 1] = source;
                set({ mapping: next });
              };
              return (
                <SourceEditor key={`${ref.part}-${ref.n}`} label={partLabel(ref)} value={ref.source} attributes={definitions}
                  onChange={change} testId={`campaign-var-${ref.part}-${ref.n}`} />
              );
            })}
            {problems.length > 0 && (
              <ul className="alert alert-warn" data-testid="campaign-mapping-problems">
                {problems.map(({ ref, problem }) => (
                  <li key={`${ref.part}-${ref.n}`}>{t(`campaigns.mappingErrors.${problem}`, { name: partLabel(ref) })}</li>
                ))}
              </ul>
            )}
          </section>
        )}

        <section className="stack" aria-labelledby="campaign-audience">
          <h2 id="campaign-audience">{t("campaigns.audience")}</h2>
          <div className="segmented" role="group" aria-label={t("campaigns.audience")}>
            {(["contacts", "contact_ids", "csv"] as const).map((source) => (
              <button key={source} type="button" aria-pressed={audienceSource === source} data-testid={`campaign-audience-${source}`}
                onClick={() => set({ audience: { ...draft.audience, source } })}>{t(`campaigns.audienceSources.${source}`)}</button>
            ))}
          </div>
          {audienceSource === "contacts" && (
            <>
              <div className="grid-form">
                <label className="field"><span>{t("campaigns.tags")}</span>
                  <input dir="auto" value={draft.tagsText} data-testid="campaign-tags" onChange={(e) => set({ tagsText: e.target.value })} /></label>
                <label className="field"><span>{t("campaigns.tagsMatch")}</span>
                  <select value={draft.audience.tags_match} onChange={(e) => set({ audience: { ...draft.audience, tags_match: e.target.value as "any" | "all" } })}>
                    <option value="any">{t("campaigns.tagsAny")}</option>
                    <option value="all">{t("campaigns.tagsAll")}</option>
                  </select></label>
              </div>
              <span className="field-title">{t("campaigns.attributes")}</span>
              {draft.attributeRows.map((row, index) => {
                const change = (patch: Partial<{ key: string; value: string }>) =>
                  set({ attributeRows: draft.attributeRows.map((r, i) => (i === index ? { ...r, ...patch } : r)) });
                return (
                  <div key={index} className="row list-editor-row">
                    <select aria-label={t("campaigns.attribute")} value={row.key} onChange={(e) => change({ key: e.target.value })}>
                      <option value="">—</option>
                      {definitions.map((a) => <option key={a.key} value={a.key}>{a.label}</option>)}
                    </select>
                    <input aria-label={t("campaigns.attributeValue")} placeholder={t("campaigns.attributeValue")} dir="auto" value={row.value}
                      onChange={(e) => change({ value: e.target.value })} />
                    <button type="button" className="button small ghost" aria-label={t("campaigns.removeAttribute")}
                      onClick={() => set({ attributeRows: draft.attributeRows.filter((_, i) => i !== index) })}>×</button>
                  </div>
                );
              })}
              {draft.attributeRows.length < 20 && (
                <div className="row"><button type="button" className="button small" onClick={() => set({ attributeRows: [...draft.attributeRows, { key: "", value: "" }] })}>
                  {t("campaigns.addAttribute")}</button></div>
              )}
            </>
          )}
          {audienceSource === "contact_ids" && (
            <ContactPicker chosen={draft.audience.contact_ids} onChange={(ids) => set({ audience: { ...draft.audience, contact_ids: ids } })} />
          )}
          {audienceSource === "csv" && (campaign && campaign.audience?.source === "csv"
            ? <CsvUpload campaign={campaign} />
            : <p className="small muted">{t("campaigns.csvSaveFirst")}</p>)}
          <label className="check">
            <input type="checkbox" checked={draft.audience.only_opted_in} data-testid="campaign-opted-in"
              onChange={(e) => set({ audience: { ...draft.audience, only_opted_in: e.target.checked } })} />
            {t("campaigns.onlyOptedIn")}
          </label>
          <p className="small muted">{t("campaigns.consentHint")}</p>
        </section>

        <section className="stack" aria-labelledby="campaign-schedule">
          <h2 id="campaign-schedule">{t("campaigns.schedule")}</h2>
          <div className="row">
            <label className="field"><span>{t("campaigns.scheduleLabel")}</span>
              <input type="datetime-local" dir="ltr" value={draft.schedule} data-testid="campaign-schedule" onChange={(e) => set({ schedule: e.target.value })} /></label>
            {draft.schedule && <button type="button" className="button small ghost" onClick={() => set({ schedule: "" })}>{t("campaigns.clearSchedule")}</button>}
          </div>
          <p className="small muted" data-testid="campaign-zone">{t("campaigns.scheduleHint", { zone: campaign?.timezone ?? zone })}</p>
        </section>
        <CampaignError error={save.error} />
        {saved && !save.isPending && <p className="alert alert-ok" role="status">{t("campaigns.saved")}</p>}
        {!readOnly && (
          <div className="row">
            <button type="submit" className="button primary" data-testid="campaign-save"
              disabled={save.isPending || problems.length > 0 || Boolean(slots?.media) || !draft.template_id}>{t("campaigns.save")}</button>
          </div>
        )}
      </fieldset>
    </form>
  );
}

// Reach and actions of a draft -------------------------------------------------------------
function Reasons({ reasons, testId }: { reasons: Record<string, number>; testId: string }) {
  const { t } = useTranslation();
  const entries = Object.entries(reasons).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return null;
  return (
    <dl className="facts" data-testid={testId}>
      {entries.map(([reason, count]) => (
        <div key={reason} className="contents" data-testid="skip-reason" data-reason={reason} data-count={count}>
          <dt>{t(`campaigns.reasons.${reason}`, { defaultValue: reason })}</dt>
          <dd>{formatNumber(count)}</dd>
        </div>
      ))}
    </dl>
  );
}

function Reach({ campaign }: { campaign: Campaign }) {
  const { t } = useTranslation();
  const preview = useQuery({
    queryKey: ["campaign-preview", campaign.id, campaign.updated_at],
    queryFn: () => api<AudiencePreview>(`/api/v1/campaigns/${campaign.id}/audience-preview`, { method: "POST" }),
  });
  return (
    <section className="card stack" aria-labelledby="campaign-reach" data-testid="campaign-reach">
      <h2 id="campaign-reach">{t("campaigns.reach")}</h2>
      <ErrorNote error={preview.error} />
      {preview.data && (
        <>
          <p className="reach-figure">
            <strong data-testid="campaign-reachable" data-count={preview.data.reachable}>
              {t("campaigns.reaches", { reachable: formatNumber(preview.data.reachable), total: formatNumber(preview.data.total) })}
            </strong>
            {" · "}
            <span data-testid="campaign-skipped" data-count={preview.data.skipped}>{t("campaigns.skippedCount", { count: formatNumber(preview.data.skipped) })}</span>
          </p>
          {preview.data.skipped > 0 && <h3>{t("campaigns.skipped")}</h3>}
          <Reasons reasons={preview.data.skipped_by_reason} testId="campaign-preview-reasons" />
        </>
      )}
    </section>
  );
}

async function downloadReport(campaign: Campaign) {
  const response = await api<Response>(`/api/v1/campaigns/${campaign.id}/report.csv`, { raw: true, headers: { Accept: "text/csv" } });
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = `campaign-${campaign.id}.csv`;
  link.click();
  URL.revokeObjectURL(url);
}

function Actions({ campaign, reachable }: { campaign: Campaign; reachable: number | null }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const act = useMutation({
    mutationFn: (action: "start" | "pause" | "resume" | "cancel" | "delete") =>
      action === "delete"
        ? api(`/api/v1/campaigns/${campaign.id}`, { method: "DELETE" })
        : api<Campaign>(`/api/v1/campaigns/${campaign.id}/${action}`, { method: "POST" }),
    onSettled: (_data, _error, action) => {
      void queryClient.invalidateQueries({ queryKey: ["campaigns"] });
      if (action === "delete") void navigate("/campaigns");
      else void queryClient.invalidateQueries({ queryKey: ["campaign", campaign.id] });
    },
  });
  const confirmThen = (message: string, action: "start" | "cancel" | "delete") => {
    if (window.confirm(message)) act.mutate(action);
  };
  const state = campaign.state;
  return (
    <div className="stack">
      <div className="row" role="group" aria-label={t("campaigns.state")}>
        {state === "draft" && (
          <button type="button" className="button primary" data-testid="campaign-start" disabled={act.isPending}
            onClick={() => confirmThen(t("campaigns.confirmStart", { count: formatNumber(reachable ?? 0) }), "start")}>
            {campaign.scheduled_at ? t("campaigns.startScheduled") : t("campaigns.start")}
          </button>
        )}
        {state === "running" && (
          <button type="button" className="button" data-testid="campaign-pause" disabled={act.isPending} onClick={() => act.mutate("pause")}>{t("campaigns.pause")}</button>
        )}
        {state === "paused" && (
          <button type="button" className="button primary" data-testid="campaign-resume" disabled={act.isPending} onClick={() => act.mutate("resume")}>{t("campaigns.resume")}</button>
        )}
        {(state === "scheduled" || state === "running" || state === "paused") && (
          <button type="button" className="button danger" data-testid="campaign-cancel" disabled={act.isPending}
            onClick={() => confirmThen(t("campaigns.confirmCancel"), "cancel")}>{t("campaigns.cancel")}</button>
        )}
        {state === "draft" && (
          <button type="button" className="button danger" data-testid="campaign-delete" disabled={act.isPending}
            onClick={() => confirmThen(t("campaigns.confirmDelete"), "delete")}>{t("campaigns.delete")}</button>
        )}
      </div>
      <CampaignError error={act.error} />
    </div>
  );
}

// Progress of a started campaign ------------------------------------------------------------
function Funnel({ campaign }: { campaign: Campaign }) {
  const { t } = useTranslation();
  const progress = campaign.progress;
  if (!progress) return null;
  const base = Math.max(1, progress.queued + progress.skipped);
  return (
    <section className="card stack" aria-labelledby="campaign-funnel">
      <h2 id="campaign-funnel">{t("campaigns.funnel")}</h2>
      <ul className="plain funnel" data-testid="campaign-funnel">
        {STAGES.map((stage) => (
          <li key={stage} className={`funnel-row funnel-${stage}`} data-testid={`funnel-${stage}`} data-count={progress[stage]}>
            <span className="funnel-label">{t(`campaigns.stages.${stage}`)}</span>
            <progress max={base} value={progress[stage]} aria-label={t(`campaigns.stages.${stage}`)} />
            <span className="funnel-count">{formatNumber(progress[stage])}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Failures({ campaign }: { campaign: Campaign }) {
  const { t } = useTranslation();
  const rows = campaign.failed_by_reason ?? [];
  return (
    <section className="card stack" aria-labelledby="campaign-failures">
      <h2 id="campaign-failures">{t("campaigns.failures")}</h2>
      {rows.length === 0 ? <p className="muted">{t("campaigns.noFailures")}</p> : (
        <table className="table" data-testid="campaign-failures">
          <thead><tr><th>{t("campaigns.code")}</th><th>{t("campaigns.reason")}</th><th>{t("campaigns.count")}</th></tr></thead>
          <tbody>
            {rows.map((row) => (
              <tr key={`${row.code ?? ""}-${row.title ?? ""}`} data-testid="failure-row" data-code={row.code ?? ""}>
                <td dir="ltr" className="start">{row.code ?? "—"}</td>
                <td dir="auto">{row.title ?? "—"}</td>
                <td>{formatNumber(row.count)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Overview({ campaign, manager }: { campaign: Campaign; manager: boolean }) {
  const { t } = useTranslation();
  const { total, done } = totals(campaign.progress);
  const zone = campaign.timezone;
  return (
    <section className="card stack" aria-labelledby="campaign-overview">
      <h2 id="campaign-overview">{t("campaigns.progress")}</h2>
      <div className="campaign-progress">
        <progress max={Math.max(1, total)} value={done} aria-label={t("campaigns.progress")} data-testid="campaign-progress" />
        <span>{t("campaigns.progressOf", { done: formatNumber(done), total: formatNumber(total) })}</span>
      </div>
      {campaign.state === "running" && <p className="small muted">{t("campaigns.refreshing")}</p>}
      {campaign.reachable_today !== null && campaign.next_feed_at && (
        <p className="alert alert-warn">
          {t("campaigns.reachableToday", { count: formatNumber(campaign.reachable_today) })}
          {" "}{t("campaigns.nextFeed", { time: inZone(campaign.next_feed_at, zone) })}
        </p>
      )}
      <dl className="facts">
        <dt>{t("campaigns.schedule")}</dt><dd>{campaign.scheduled_at ? inZone(campaign.scheduled_at, zone) : t("campaigns.now")}</dd>
        {campaign.started_at && <><dt>{t("campaigns.started")}</dt><dd>{inZone(campaign.started_at, zone)}</dd></>}
        {campaign.finished_at && <><dt>{t("campaigns.finished")}</dt><dd>{inZone(campaign.finished_at, zone)}</dd></>}
      </dl>
      <p className="small muted">{t("campaigns.timesIn", { zone })}</p>
      {Object.keys(campaign.skipped_by_reason).length > 0 && <h3>{t("campaigns.skipped")}</h3>}
      <Reasons reasons={campaign.skipped_by_reason} testId="campaign-skip-reasons" />
      {manager && (
        <div className="row">
          <button type="button" className="button" data-testid="campaign-report" onClick={() => void downloadReport(campaign)}>
            <Download size={16} aria-hidden="true" />{t("campaigns.report")}
          </button>
        </div>
      )}
    </section>
  );
}

// The page ------------------------------------------------------------------------------------
const LIVE = new Set(["running", "scheduled"]);
const SETTLING_MS = 15 * 60_000; // delivery and read receipts keep arriving after the last send

function pollEvery(campaign: Campaign | undefined, streamed: boolean): number | false {
  if (!campaign) return false;
  // While sending, the stream brings the progress each second; the poll is only a fallback.
  if (campaign.state === "running" && streamed) return STREAMED_POLL_MS;
  if (LIVE.has(campaign.state)) return 2000;
  const finished = campaign.finished_at ? Date.parse(campaign.finished_at) : NaN;
  if (campaign.state === "completed" && Date.now() - finished < SETTLING_MS) return 3000;
  return false;
}

export function CampaignPage() {
  const { t } = useTranslation();
  const { campaignId = "new" } = useParams();
  const me = useMe();
  const manager = isManager(me.user.role);
  const isNew = campaignId === "new";
  const streamed = useLiveCampaigns();
  const numbers = useQuery({ queryKey: ["numbers"], queryFn: async () => (await api<{ numbers: WhatsAppNumber[] }>("/api/v1/numbers")).numbers });
  const campaign = useQuery({
    queryKey: ["campaign", campaignId],
    enabled: !isNew,
    queryFn: () => api<Campaign>(`/api/v1/campaigns/${campaignId}`),
    refetchInterval: (query) => pollEvery(query.state.data, streamed),
  });
  const preview = useQuery({
    queryKey: ["campaign-preview", campaignId, campaign.data?.updated_at],
    enabled: campaign.data?.state === "draft",
    queryFn: () => api<AudiencePreview>(`/api/v1/campaigns/${campaignId}/audience-preview`, { method: "POST" }),
  });
  const data = campaign.data;
  const held = data && (data.state === "running" || data.state === "scheduled")
    ? heldBecause(numbers.data?.find((n) => n.id === data.number_id), "campaigns", t("campaigns.held"), t)
    : null;
  return (
    <div className="page stack campaign-page">
      <div className="page-head">
        <Link to="/campaigns" className="button ghost small">{t("campaigns.back")}</Link>
        <h1 dir="auto">{isNew ? t("campaigns.new") : data?.name ?? t("campaigns.title")}</h1>
        {data && <StateChip state={data.state} />}
        {data && manager && <div className="head-actions"><Actions campaign={data} reachable={preview.data?.reachable ?? null} /></div>}
      </div>
      <ErrorNote error={campaign.error ?? numbers.error} />
      {held && <p className="alert" role="status" data-testid="campaign-held">{held}</p>}
      {numbers.data && numbers.data.length === 0 && <p className="alert">{t("campaigns.noNumber")}</p>}
      {numbers.data && numbers.data.length > 0 && (isNew || data?.state === "draft") && (isNew ? manager : Boolean(data)) && (
        <div className="campaign-layout">
          <Editor key={data?.id ?? "new"} campaign={data} numbers={numbers.data} readOnly={!manager} />
          {data ? <Reach campaign={data} /> : <section className="card"><h2>{t("campaigns.reach")}</h2><p className="muted">{t("campaigns.reachSaveFirst")}</p></section>}
        </div>
      )}
      {data && data.state !== "draft" && (
        <div className="campaign-layout">
          <div className="stack">
            <Overview campaign={data} manager={manager} />
            <Failures campaign={data} />
          </div>
          <Funnel campaign={data} />
        </div>
      )}
    </div>
  );
}
