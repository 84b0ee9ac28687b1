// The fields of a webhook endpoint (URL, description, event types), shared by the Integrations
// page's create and edit forms, with the API's 422 problems shown beside the field they name;
// and the edit form, which PATCHes only what changed (the audit log then names exactly the
// fields that were changed, and an unchanged URL is not checked again).
import { useMutation } from "@tanstack/react-query";
import { useId, useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { ApiError, api } from "../api/client";
import type { WebhookEndpoint } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";

export interface EndpointDraft {
  url: string;
  description: string;
  event_types: string[];
}

const FIELDS = ["url", "description", "event_types", "enabled"] as const;

function isAbout(field: string, name: string): boolean {
  return field === name || field.startsWith(`${name}.`);
}

/** The API's messages about one field (a 422's `errors`, e.g. "event_types.0" for event_types). */
function problemsFor(error: unknown, name: string): string[] {
  if (!(error instanceof ApiError) || error.status !== 422) return [];
  return (error.problem.errors ?? []).filter((e) => isAbout(e.field, name)).map((e) => e.message);
}

/** True when every problem of a 422 names a field of the form: they are all shown beside it. */
export function onlyFieldProblems(error: unknown): boolean {
  if (!(error instanceof ApiError) || error.status !== 422) return false;
  const errors = error.problem.errors ?? [];
  return errors.length > 0 && errors.every((e) => FIELDS.some((name) => isAbout(e.field, name)));
}

function FieldProblem({ id, error, name, testId }: { id: string; error: unknown; name: string; testId: string }) {
  const { t } = useTranslation();
  const messages = problemsFor(error, name);
  if (messages.length === 0) return null;
  // The reasons are the API's own words (English); the lead-in is in the reader's language.
  const refused = error instanceof ApiError && error.slug === "webhook-url-refused";
  return (
    <p id={id} className="field-error" role="alert" data-testid={testId}>
      {refused ? t("integrations.urlRefused") : t("integrations.notAccepted")}{" "}
      <span dir="auto">{messages.join("; ")}</span>
    </p>
  );
}

/** URL, description and event types; `prefix` names their test ids (`webhook-url`, ...). */
export function EndpointFields({ prefix, types, draft, onChange, error, autoFocus = false }: {
  prefix: string;
  types: string[];
  draft: EndpointDraft;
  onChange: (draft: EndpointDraft) => void;
  error: unknown;
  autoFocus?: boolean;
}) {
  const { t } = useTranslation();
  const ids = useId();
  const urlProblem = problemsFor(error, "url").length > 0;
  const descriptionProblem = problemsFor(error, "description").length > 0;
  const typesProblem = problemsFor(error, "event_types").length > 0;
  const toggle = (type: string) => onChange({
    ...draft,
    event_types: draft.event_types.includes(type) ? draft.event_types.filter((x) => x !== type) : [...draft.event_types, type],
  });
  return (
    <>
      <label className="field"><span>{t("integrations.url")}</span>
        <input type="url" required dir="ltr" value={draft.url} placeholder="https://crm.example.com/hooks/majlis" autoFocus={autoFocus}
          aria-invalid={urlProblem} aria-describedby={urlProblem ? `${ids}-url` : undefined}
          onChange={(e) => onChange({ ...draft, url: e.target.value })} data-testid={`${prefix}-url`} /></label>
      <FieldProblem id={`${ids}-url`} error={error} name="url" testId={`${prefix}-url-error`} />
      <label className="field"><span>{t("integrations.description")}</span>
        <input dir="auto" maxLength={500} value={draft.description}
          aria-invalid={descriptionProblem} aria-describedby={descriptionProblem ? `${ids}-description` : undefined}
          onChange={(e) => onChange({ ...draft, description: e.target.value })} data-testid={`${prefix}-description`} /></label>
      <FieldProblem id={`${ids}-description`} error={error} name="description" testId={`${prefix}-description-error`} />
      <fieldset className="scopes pad" data-testid={`${prefix}-event-types`}
        aria-describedby={typesProblem ? `${ids}-types` : undefined}>
        <legend>{t("integrations.eventTypes")}</legend>
        {types.map((type) => (
          <label key={type} className="check" title={type}>
            <input type="checkbox" checked={draft.event_types.includes(type)} onChange={() => toggle(type)} value={type} />
            <span>{t(`integrations.events.${type}`, { defaultValue: type })}</span>
          </label>
        ))}
      </fieldset>
      <FieldProblem id={`${ids}-types`} error={error} name="event_types" testId={`${prefix}-event-types-error`} />
    </>
  );
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

type Changes = Partial<Pick<WebhookEndpoint, "url" | "description" | "event_types" | "enabled">>;

function changesOf(endpoint: WebhookEndpoint, draft: EndpointDraft, enabled: boolean): Changes {
  const changes: Changes = {};
  if (draft.url !== endpoint.url) changes.url = draft.url;
  if (draft.description !== endpoint.description) changes.description = draft.description;
  if (!sameSet(draft.event_types, endpoint.event_types)) changes.event_types = [...draft.event_types].sort();
  if (enabled !== endpoint.enabled) changes.enabled = enabled;
  return changes;
}

/** The edit form of one endpoint, pre-filled with its current settings. */
export function EditEndpoint({ endpoint, types, onSaved, onCancel }: {
  endpoint: WebhookEndpoint;
  types: string[];
  onSaved: (saved: WebhookEndpoint) => void;
  onCancel: () => void;
}) {
  const { t } = useTranslation();
  const heading = useId();
  const [draft, setDraft] = useState<EndpointDraft>({
    url: endpoint.url, description: endpoint.description, event_types: endpoint.event_types,
  });
  const [enabled, setEnabled] = useState(endpoint.enabled);
  // An event type the catalogue no longer offers stays visible, so it can be unticked.
  const choices = [...types, ...endpoint.event_types.filter((type) => !types.includes(type))];
  const changes = changesOf(endpoint, draft, enabled);
  const save = useMutation({
    mutationFn: () => api<WebhookEndpoint>(`/api/v1/webhooks/${endpoint.id}`, { method: "PATCH", json: changes }),
    onSuccess: onSaved,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (Object.keys(changes).length === 0) onCancel();
    else save.mutate();
  };
  return (
    <form className="stack" onSubmit={submit} aria-labelledby={heading} data-testid="webhook-edit">
      <h3 id={heading}>{t("integrations.editEndpoint")}</h3>
      <EndpointFields prefix="edit" types={choices} draft={draft} onChange={setDraft} error={save.error} autoFocus />
      <label className="check">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} data-testid="edit-enabled" />
        <span>{t("integrations.enabledField")}</span>
      </label>
      {!endpoint.enabled && enabled && endpoint.disabled_reason && (
        <p className="muted small">{t("integrations.enableResets")}</p>
      )}
      <ErrorNote error={onlyFieldProblems(save.error) ? null : save.error} />
      <div className="row">
        <button type="submit" className="button primary" disabled={save.isPending || draft.event_types.length === 0 || !draft.url} data-testid="webhook-edit-save">{t("common.save")}</button>
        <button type="button" className="button ghost" onClick={onCancel} data-testid="webhook-edit-cancel">{t("common.cancel")}</button>
        {draft.event_types.length === 0 && <span className="muted small">{t("integrations.chooseOne")}</span>}
      </div>
    </form>
  );
}
