// Integrations (owners and admins): outbound webhook endpoints through /api/v1/webhooks.
// The signing secret exists in this page's memory only, from the create or rotate answer until
// the person dismisses it (or leaves): it is never put in the query cache, never fetched again
// (the API cannot show it again), so a reload shows it no more.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import type { TFunction } from "i18next";
import { api } from "../api/client";
import type { WebhookEndpoint as Endpoint } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { formatDateTime, formatNumber } from "../format";
import { isManager, useMe } from "../session";
import { EditEndpoint, EndpointFields, onlyFieldProblems } from "./WebhookEndpointForm";
import type { EndpointDraft } from "./WebhookEndpointForm";

interface Delivery {
  id: string;
  endpoint_id: string;
  event_type: string;
  state: "pending" | "succeeded" | "failed";
  attempt: number;
  status_code: number | null;
  latency_ms: number | null;
  error_class: string | null;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  created_at: string;
}

interface Shown { endpointId: string; secret: string; rotated: boolean }

const OVERLAPS = [0, 3600, 86_400, 7 * 86_400] as const;

function overlapLabel(seconds: number, t: TFunction): string {
  if (seconds === 0) return t("integrations.overlaps.none");
  if (seconds === 3600) return t("integrations.overlaps.hour");
  if (seconds < 2 * 86_400) return t("integrations.overlaps.hours", { n: formatNumber(seconds / 3600) });
  return t("integrations.overlaps.days", { n: formatNumber(seconds / 86_400) });
}
const LIST_KEY = ["webhooks"];

function SecretOnce({ shown, onDone }: { shown: Shown; onDone: () => void }) {
  const { t } = useTranslation();
  const [copied, setCopied] = useState(false);
  return (
    <section className="card stack secret-card" role="status" data-testid="webhook-secret-panel">
      <h2>{shown.rotated ? t("integrations.secretRotated") : t("integrations.secretTitle")}</h2>
      <p>{t("integrations.secretOnce")}</p>
      <code className="secret" dir="ltr" data-testid="webhook-secret">{shown.secret}</code>
      <div className="row">
        <button type="button" className="button" data-testid="copy-secret"
          onClick={() => void navigator.clipboard?.writeText(shown.secret).then(() => setCopied(true))}>
          {copied ? t("common.copied") : t("common.copy")}
        </button>
        <button type="button" className="button primary" onClick={onDone} data-testid="secret-done">{t("integrations.secretSaved")}</button>
      </div>
    </section>
  );
}

const NO_DRAFT: EndpointDraft = { url: "", description: "", event_types: [] };

function CreateForm({ types, onCreated }: { types: string[]; onCreated: (shown: Shown) => void }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState<EndpointDraft>(NO_DRAFT);
  const create = useMutation({
    mutationFn: () => api<Endpoint & { secret: string }>("/api/v1/webhooks", { method: "POST", json: draft }),
    onSuccess: (created) => {
      onCreated({ endpointId: created.id, secret: created.secret, rotated: false });
      create.reset(); // the answer (with its secret) leaves the mutation's memory too
      setDraft(NO_DRAFT);
      void queryClient.invalidateQueries({ queryKey: LIST_KEY });
    },
  });
  const submit = (event: FormEvent) => { event.preventDefault(); create.mutate(); };
  const chosen = draft.event_types;
  return (
    <form className="card stack" onSubmit={submit} aria-labelledby="new-endpoint" data-testid="webhook-create">
      <h2 id="new-endpoint">{t("integrations.newEndpoint")}</h2>
      <EndpointFields prefix="webhook" types={types} draft={draft} onChange={setDraft} error={create.error} />
      <ErrorNote error={onlyFieldProblems(create.error) ? null : create.error} />
      <div className="row">
        <button type="submit" className="button primary" disabled={create.isPending || chosen.length === 0 || !draft.url} data-testid="webhook-create-submit">{t("integrations.create")}</button>
        {chosen.length === 0 && <span className="muted small">{t("integrations.chooseOne")}</span>}
      </div>
    </form>
  );
}

function DeliveryLog({ endpoint }: { endpoint: Endpoint }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const key = ["webhook-deliveries", endpoint.id];
  const log = useQuery({
    queryKey: key,
    queryFn: async () => (await api<{ items: Delivery[] }>(`/api/v1/webhooks/${endpoint.id}/deliveries`, { query: { limit: 50 } })).items,
    refetchInterval: 3000,
  });
  const redeliver = useMutation({
    mutationFn: (id: string) => api<Delivery>(`/api/v1/webhooks/${endpoint.id}/deliveries/${id}/redeliver`, { method: "POST" }),
    onSettled: () => void queryClient.invalidateQueries({ queryKey: key }),
  });
  return (
    <div className="stack" data-testid="delivery-log">
      <h3>{t("integrations.deliveries")}</h3>
      <ErrorNote error={log.error ?? redeliver.error} />
      {log.data?.length === 0 ? <p className="muted">{t("integrations.noDeliveries")}</p> : (
        <table className="table">
          <thead><tr><th>{t("integrations.time")}</th><th>{t("integrations.event")}</th><th>{t("integrations.status")}</th><th>{t("integrations.latency")}</th><th>{t("integrations.attempt")}</th><th><span className="visually-hidden">{t("integrations.actions")}</span></th></tr></thead>
          <tbody>
            {log.data?.map((d) => (
              <tr key={d.id} data-testid="delivery-row" data-state={d.state} data-delivery-id={d.id}>
                <td>{formatDateTime(d.last_attempt_at ?? d.created_at)}</td>
                <td dir="ltr" className="start"><code>{d.event_type}</code></td>
                <td>
                  <span className={`status-chip delivery-${d.state}`} data-testid="delivery-state">{t(`integrations.states.${d.state}`)}</span>
                  {d.status_code !== null && <> <span className="muted small" dir="ltr" data-testid="delivery-code">HTTP {formatNumber(d.status_code)}</span></>}
                  {d.error_class && <span className="muted small" dir="ltr"> {d.error_class}</span>}
                  {d.next_attempt_at && <span className="muted small"> · {t("integrations.nextAttempt", { when: formatDateTime(d.next_attempt_at) })}</span>}
                </td>
                <td data-testid="delivery-latency">{d.latency_ms === null ? "—" : t("integrations.ms", { n: formatNumber(d.latency_ms) })}</td>
                <td data-testid="delivery-attempt">{formatNumber(d.attempt)}</td>
                <td>
                  <button type="button" className="button small" disabled={redeliver.isPending || d.state === "pending"} onClick={() => redeliver.mutate(d.id)} data-testid="redeliver">
                    {t("integrations.redeliver")}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function EndpointCard({ endpoint, types, onSecret }: { endpoint: Endpoint; types?: string[]; onSecret: (shown: Shown) => void }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [editing, setEditing] = useState(false);
  const [saved, setSaved] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [overlap, setOverlap] = useState<number>(86_400);
  const editButton = useRef<HTMLButtonElement>(null);
  const wasEditing = useRef(false);
  useEffect(() => {
    // Closing the form (saved or cancelled) puts the keyboard back on the button that opened it.
    if (wasEditing.current && !editing) editButton.current?.focus();
    wasEditing.current = editing;
  }, [editing]);
  const refresh = () => void queryClient.invalidateQueries({ queryKey: LIST_KEY });
  const base = `/api/v1/webhooks/${endpoint.id}`;
  const toggle = useMutation({ mutationFn: () => api<Endpoint>(base, { method: "PATCH", json: { enabled: !endpoint.enabled } }), onSuccess: refresh });
  const remove = useMutation({ mutationFn: () => api(base, { method: "DELETE" }), onSuccess: refresh });
  const test = useMutation({
    mutationFn: () => api<{ delivery_id: string }>(`${base}/test`, { method: "POST" }),
    onSuccess: () => { setOpen(true); void queryClient.invalidateQueries({ queryKey: ["webhook-deliveries", endpoint.id] }); },
  });
  const rotate = useMutation({
    mutationFn: () => api<Endpoint & { secret: string }>(`${base}/rotate-secret`, { method: "POST", json: { overlap_seconds: overlap } }),
    onSuccess: (rotated) => { onSecret({ endpointId: endpoint.id, secret: rotated.secret, rotated: true }); rotate.reset(); refresh(); },
  });
  const onSaved = (updated: Endpoint) => {
    queryClient.setQueryData<Endpoint[]>(LIST_KEY, (old) => old?.map((e) => (e.id === updated.id ? updated : e)));
    refresh();
    setEditing(false);
    setSaved(true);
  };
  return (
    <article className="card stack endpoint" data-testid="webhook-endpoint" data-endpoint-id={endpoint.id} aria-label={endpoint.url}>
      <div className="page-head">
        <div className="stack tight">
          <strong dir="ltr" className="start break" data-testid="endpoint-url">{endpoint.url}</strong>
          {endpoint.description && <span className="muted" dir="auto">{endpoint.description}</span>}
        </div>
        <span className={`status-chip ${endpoint.enabled ? "status-active" : "status-disabled"}`} data-testid="endpoint-status">
          {endpoint.enabled ? t("integrations.enabled") : t("integrations.disabled")}
        </span>
      </div>
      {!endpoint.enabled && endpoint.disabled_reason && (
        <p className="banner banner-warn" role="alert" data-testid="disabled-banner">
          <span>{endpoint.disabled_reason.startsWith("failing") ? t("integrations.disabledFailing") : t("integrations.disabledBecause")}</span>{" "}
          <span dir="ltr" data-testid="disabled-reason">{endpoint.disabled_reason}</span>{" "}
          <span>{t("integrations.enableAgain")}</span>
        </p>
      )}
      {editing && types ? (
        <EditEndpoint endpoint={endpoint} types={types} onSaved={onSaved} onCancel={() => setEditing(false)} />
      ) : (
        <>
          <div className="row" data-testid="endpoint-event-types">{endpoint.event_types.map((type) => <span key={type} className="label-chip" title={type}>{t(`integrations.events.${type}`, { defaultValue: type })}</span>)}</div>
          {endpoint.previous_secret_expires_at && new Date(endpoint.previous_secret_expires_at) > new Date() && (
            <p className="muted small" data-testid="overlap-note">{t("integrations.overlapUntil", { when: formatDateTime(endpoint.previous_secret_expires_at) })}</p>
          )}
          <div className="row">
            <button type="button" className="button" ref={editButton} onClick={() => { setEditing(true); setSaved(false); }} disabled={!types} data-testid="endpoint-edit">{t("common.edit")}</button>
            <button type="button" className="button" onClick={() => toggle.mutate()} disabled={toggle.isPending} data-testid="endpoint-toggle">
              {endpoint.enabled ? t("integrations.disable") : t("integrations.enable")}
            </button>
            <button type="button" className="button" onClick={() => test.mutate()} disabled={test.isPending || !endpoint.enabled} data-testid="endpoint-test">{t("integrations.sendTest")}</button>
            <button type="button" className="button" aria-expanded={open} onClick={() => setOpen(!open)} data-testid="endpoint-log">{open ? t("integrations.hideLog") : t("integrations.showLog")}</button>
            <label className="check">
              <span>{t("integrations.overlap")}</span>
              <select value={overlap} onChange={(e) => setOverlap(Number(e.target.value))} data-testid="rotate-overlap">
                {OVERLAPS.map((s) => <option key={s} value={s}>{overlapLabel(s, t)}</option>)}
              </select>
            </label>
            <button type="button" className="button" onClick={() => rotate.mutate()} disabled={rotate.isPending} data-testid="endpoint-rotate">{t("integrations.rotate")}</button>
            {confirming ? (
              <span className="row" role="group" aria-label={t("integrations.confirmDelete")}>
                <span>{t("integrations.confirmDelete")}</span>
                <button type="button" className="button danger" onClick={() => remove.mutate()} disabled={remove.isPending} data-testid="endpoint-delete-confirm">{t("common.delete")}</button>
                <button type="button" className="button" onClick={() => setConfirming(false)}>{t("common.cancel")}</button>
              </span>
            ) : (
              <button type="button" className="button danger" onClick={() => setConfirming(true)} data-testid="endpoint-delete">{t("common.delete")}</button>
            )}
          </div>
        </>
      )}
      {saved && <p className="alert alert-ok small" role="status" data-testid="endpoint-saved">{t("integrations.saved")}</p>}
      {test.isSuccess && <p className="alert alert-ok small" role="status">{t("integrations.testQueued")}</p>}
      <ErrorNote error={toggle.error ?? remove.error ?? test.error ?? rotate.error} />
      {open && <DeliveryLog endpoint={endpoint} />}
    </article>
  );
}

function Manage() {
  const { t } = useTranslation();
  const [shown, setShown] = useState<Shown | null>(null);
  const types = useQuery({ queryKey: ["webhook-event-types"], queryFn: async () => (await api<{ items: string[] }>("/api/v1/webhooks/event-types")).items });
  const endpoints = useQuery({ queryKey: LIST_KEY, queryFn: async () => (await api<{ items: Endpoint[] }>("/api/v1/webhooks", { query: { limit: 100 } })).items });
  return (
    <>
      <p className="muted">{t("integrations.intro")}</p>
      {shown && <SecretOnce shown={shown} onDone={() => setShown(null)} />}
      <ErrorNote error={types.error ?? endpoints.error} />
      <section className="stack" aria-labelledby="endpoints-head">
        <h2 id="endpoints-head">{t("integrations.endpoints")}</h2>
        {endpoints.data?.length === 0 && <p className="muted" data-testid="no-endpoints">{t("integrations.none")}</p>}
        {endpoints.data?.map((endpoint) => <EndpointCard key={endpoint.id} endpoint={endpoint} types={types.data} onSecret={setShown} />)}
      </section>
      {types.data && <CreateForm types={types.data} onCreated={setShown} />}
    </>
  );
}

export function Integrations() {
  const { t } = useTranslation();
  const me = useMe();
  return (
    <div className="page stack integrations-page">
      <div className="page-head"><h1>{t("integrations.title")}</h1></div>
      {isManager(me.user.role) ? <Manage /> : <p className="alert">{t("common.forbidden")}</p>}
    </div>
  );
}
