// Message templates: create with a live WhatsApp-style preview (header, body with {{n}} filled
// from the example values, footer, buttons), submit to Meta through the API, watch the status
// and the rejection reason arrive, delete. An Authentication template has Meta's preset text:
// only the security sentence, the code's expiry (1-90 minutes) and the copy-code button's text
// are chosen.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import type { WhatsAppNumber } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { formatDateTime } from "../format";
import { isManager, useMe } from "../session";

interface TemplateRow {
  id: string;
  number_id: string;
  name: string;
  language: string;
  category: string;
  status: string;
  reason: string | null;
  created_at: string;
  updated_at: string;
}

type ButtonKind = "QUICK_REPLY" | "URL" | "PHONE_NUMBER";
interface DraftButton { type: ButtonKind; text: string; url: string; phone_number: string }

interface Draft {
  number_id: string;
  name: string;
  category: "MARKETING" | "UTILITY" | "AUTHENTICATION";
  language: string;
  header: string;
  body: string;
  footer: string;
  buttons: DraftButton[];
  headerExample: string;
  examples: string[];
  security: boolean;
  expiry: string;
  copyText: string;
}

const EMPTY: Draft = {
  number_id: "", name: "", category: "UTILITY", language: "en", header: "", body: "", footer: "",
  buttons: [], headerExample: "", examples: [], security: true, expiry: "10", copyText: "",
};

/** The distinct {{n}} of a text, in ascending order. */
function placeholders(text: string): number[] {
  const found = new Set<number>();
  for (const match of text.matchAll(/\{\{\s*(\d+)\s*\}\}/g)) found.add(Number(match[1]));
  return [...found].sort((a, b) => a - b);
}

function fill(text: string, values: string[]): string {
  return text.replace(/\{\{\s*(\d+)\s*\}\}/g, (whole, n: string) => values[Number(n) - 1] || whole);
}

function authenticationComponents(draft: Draft): unknown[] {
  const out: unknown[] = [{ type: "BODY", add_security_recommendation: draft.security }];
  if (draft.expiry.trim()) out.push({ type: "FOOTER", code_expiration_minutes: Number(draft.expiry) });
  const button: Record<string, unknown> = { type: "OTP", otp_type: "COPY_CODE" };
  if (draft.copyText.trim()) button.text = draft.copyText;
  out.push({ type: "BUTTONS", buttons: [button] });
  return out;
}

function components(draft: Draft): unknown[] {
  if (draft.category === "AUTHENTICATION") return authenticationComponents(draft);
  const out: unknown[] = [];
  if (draft.header.trim()) {
    const header: Record<string, unknown> = { type: "HEADER", format: "TEXT", text: draft.header };
    if (placeholders(draft.header).length) header.example = { header_text: [draft.headerExample] };
    out.push(header);
  }
  const body: Record<string, unknown> = { type: "BODY", text: draft.body };
  const count = placeholders(draft.body).length;
  if (count) body.example = { body_text: [draft.examples.slice(0, count).map((v) => v || "-")] };
  out.push(body);
  if (draft.footer.trim()) out.push({ type: "FOOTER", text: draft.footer });
  if (draft.buttons.length) {
    out.push({
      type: "BUTTONS",
      buttons: draft.buttons.map((b) => (b.type === "URL" ? { type: b.type, text: b.text, url: b.url }
        : b.type === "PHONE_NUMBER" ? { type: b.type, text: b.text, phone_number: b.phone_number }
          : { type: b.type, text: b.text })),
    });
  }
  return out;
}

function Preview({ draft }: { draft: Draft }) {
  const { t } = useTranslation();
  if (draft.category === "AUTHENTICATION") {
    return (
      <div className="wa-phone" data-testid="template-preview" aria-label={t("templates.preview")}>
        <div className="wa-bubble">
          <div className="wa-body" dir="auto">{t("templates.authBody", { code: "123456" })}{draft.security && ` ${t("templates.authSecurity")}`}</div>
          {draft.expiry.trim() && <div className="wa-footer" dir="auto">{t("templates.authExpiry", { n: draft.expiry })}</div>}
        </div>
        <div className="wa-button" dir="auto">{draft.copyText.trim() || t("templates.copyCode")}</div>
      </div>
    );
  }
  return (
    <div className="wa-phone" data-testid="template-preview" aria-label={t("templates.preview")}>
      <div className="wa-bubble">
        {draft.header && <div className="wa-header" dir="auto">{fill(draft.header, [draft.headerExample])}</div>}
        <div className="wa-body" dir="auto">{fill(draft.body, draft.examples) || <span className="muted">{t("templates.bodyEmpty")}</span>}</div>
        {draft.footer && <div className="wa-footer" dir="auto">{draft.footer}</div>}
      </div>
      {draft.buttons.map((b, i) => <div key={i} className="wa-button" dir="auto">{b.text || "…"}</div>)}
    </div>
  );
}

function CreateTemplate({ numbers }: { numbers: WhatsAppNumber[] }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState<Draft>({ ...EMPTY, number_id: numbers[0]?.id ?? "" });
  const set = (changes: Partial<Draft>) => setDraft({ ...draft, ...changes });
  const create = useMutation({
    mutationFn: () => api<TemplateRow>("/api/v1/templates", {
      method: "POST",
      json: { number_id: draft.number_id || numbers[0]?.id, name: draft.name, category: draft.category, language: draft.language, components: components(draft) },
    }),
    onSuccess: () => { setDraft({ ...EMPTY, number_id: draft.number_id }); void queryClient.invalidateQueries({ queryKey: ["templates"] }); },
  });
  const bodyVars = placeholders(draft.body);
  const authentication = draft.category === "AUTHENTICATION";
  return (
    <section className="card template-editor">
      <form className="stack" onSubmit={(e: FormEvent) => { e.preventDefault(); create.mutate(); }} data-testid="template-form">
        <h2>{t("templates.new")}</h2>
        <div className="grid-form">
          <label className="field"><span>{t("templates.number")}</span>
            <select value={draft.number_id} dir="ltr" onChange={(e) => set({ number_id: e.target.value })}>
              {numbers.map((n) => <option key={n.id} value={n.id}>{n.display_number}</option>)}
            </select></label>
          <label className="field"><span>{t("templates.name")}</span>
            <input required dir="ltr" pattern="[a-z0-9_]+" value={draft.name} data-testid="template-name" onChange={(e) => set({ name: e.target.value })} /></label>
          <label className="field"><span>{t("templates.category")}</span>
            <select value={draft.category} onChange={(e) => set({ category: e.target.value as Draft["category"] })}>
              {(["UTILITY", "MARKETING", "AUTHENTICATION"] as const).map((c) => <option key={c} value={c}>{t(`templates.categories.${c}`)}</option>)}
            </select></label>
          <label className="field"><span>{t("templates.language")}</span>
            <select value={draft.language} onChange={(e) => set({ language: e.target.value })}>
              {["en", "ar", "en_US", "en_GB"].map((l) => <option key={l} value={l}>{l}</option>)}
            </select></label>
        </div>
        {authentication ? (
          <>
            <p className="muted small" data-testid="template-auth-hint">{t("templates.authHint")}</p>
            <label className="check"><input type="checkbox" checked={draft.security} data-testid="template-auth-security"
              onChange={(e) => set({ security: e.target.checked })} /> {t("templates.authSecurityOption")}</label>
            <label className="field"><span>{t("templates.authExpiryOption")}</span>
              <input type="number" min={1} max={90} step={1} dir="ltr" value={draft.expiry} data-testid="template-auth-expiry"
                onChange={(e) => set({ expiry: e.target.value })} /></label>
            <label className="field"><span>{t("templates.copyCodeText")}</span>
              <input maxLength={25} dir="auto" placeholder={t("templates.copyCode")} value={draft.copyText} data-testid="template-auth-copy"
                onChange={(e) => set({ copyText: e.target.value })} /></label>
          </>
        ) : (<>
        <label className="field"><span>{t("templates.header")}</span>
          <input value={draft.header} dir="auto" maxLength={60} data-testid="template-header" onChange={(e) => set({ header: e.target.value })} /></label>
        {placeholders(draft.header).length > 0 && (
          <label className="field"><span>{t("templates.example", { n: 1 })}</span>
            <input value={draft.headerExample} dir="auto" onChange={(e) => set({ headerExample: e.target.value })} /></label>
        )}
        <label className="field"><span>{t("templates.body")}</span>
          <textarea required rows={4} dir="auto" maxLength={1024} value={draft.body} data-testid="template-body" onChange={(e) => set({ body: e.target.value })} /></label>
        <p className="muted small">{t("templates.bodyHint")}</p>
        {bodyVars.map((n) => (
          <label key={n} className="field"><span>{t("templates.example", { n })}</span>
            <input required dir="auto" value={draft.examples[n - 1] ?? ""} data-testid={`template-example-${n}`}
              onChange={(e) => { const examples = [...draft.examples]; examples[n - 1] = e.target.value; set({ examples }); }} /></label>
        ))}
        <label className="field"><span>{t("templates.footer")}</span>
          <input value={draft.footer} dir="auto" maxLength={60} data-testid="template-footer" onChange={(e) => set({ footer: e.target.value })} /></label>
        <span className="field-title">{t("templates.buttons")}</span>
        {draft.buttons.map((b, index) => {
          const change = (patch: Partial<DraftButton>) => set({ buttons: draft.buttons.map((x, i) => (i === index ? { ...x, ...patch } : x)) });
          return (
            <div key={index} className="row list-editor-row">
              <select aria-label={t("templates.buttonType")} value={b.type} onChange={(e) => change({ type: e.target.value as ButtonKind })}>
                {(["QUICK_REPLY", "URL", "PHONE_NUMBER"] as const).map((k) => <option key={k} value={k}>{t(`templates.buttonTypes.${k}`)}</option>)}
              </select>
              <input aria-label={t("templates.buttonText")} placeholder={t("templates.buttonText")} maxLength={25} dir="auto" value={b.text}
                data-testid={`template-button-${index}`} onChange={(e) => change({ text: e.target.value })} />
              {b.type === "URL" && <input aria-label="URL" placeholder="https://" dir="ltr" value={b.url} onChange={(e) => change({ url: e.target.value })} />}
              {b.type === "PHONE_NUMBER" && <input aria-label={t("templates.phone")} placeholder="+9714…" dir="ltr" value={b.phone_number} onChange={(e) => change({ phone_number: e.target.value })} />}
              <button type="button" className="button small ghost" aria-label={t("common.delete")} onClick={() => set({ buttons: draft.buttons.filter((_, i) => i !== index) })}>×</button>
            </div>
          );
        })}
        {draft.buttons.length < 10 && (
          <div className="row">
            <button type="button" className="button small" data-testid="template-add-button"
              onClick={() => set({ buttons: [...draft.buttons, { type: "QUICK_REPLY", text: "", url: "", phone_number: "" }] })}>{t("templates.addButton")}</button>
          </div>
        )}
        </>)}
        <ErrorNote error={create.error} />
        <div className="row"><button type="submit" className="button primary" disabled={create.isPending} data-testid="template-submit">{t("templates.submit")}</button></div>
      </form>
      <div className="stack">
        <h3>{t("templates.preview")}</h3>
        <Preview draft={draft} />
      </div>
    </section>
  );
}

export function Templates() {
  const { t } = useTranslation();
  const me = useMe();
  const manager = isManager(me.user.role);
  const queryClient = useQueryClient();
  const numbers = useQuery({ queryKey: ["numbers"], queryFn: async () => (await api<{ numbers: WhatsAppNumber[] }>("/api/v1/numbers")).numbers });
  const templates = useQuery({
    queryKey: ["templates"],
    queryFn: async () => (await api<{ items: TemplateRow[] }>("/api/v1/templates", { query: { limit: 100 } })).items,
    // Meta's review answers by webhook: look again while any template waits for it.
    refetchInterval: (query) => (query.state.data?.some((row) => row.status === "PENDING") ? 2000 : false),
  });
  const remove = useMutation({
    mutationFn: (id: string) => api(`/api/v1/templates/${id}`, { method: "DELETE" }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["templates"] }),
  });
  return (
    <div className="page stack">
      <div className="page-head"><h1>{t("templates.title")}</h1></div>
      {manager && numbers.data && (numbers.data.length > 0
        ? <CreateTemplate numbers={numbers.data} />
        : <p className="alert">{t("templates.noNumber")}</p>)}
      <ErrorNote error={templates.error ?? remove.error} />
      <table className="table" data-testid="templates-table">
        <thead><tr><th>{t("templates.name")}</th><th>{t("templates.language")}</th><th>{t("templates.category")}</th><th>{t("templates.status")}</th><th>{t("templates.updated")}</th><th /></tr></thead>
        <tbody>
          {templates.data?.length === 0 && <tr><td colSpan={6} className="muted">{t("templates.none")}</td></tr>}
          {templates.data?.map((row) => (
            <tr key={row.id} data-testid="template-row" data-name={row.name}>
              <td dir="ltr" className="start">{row.name}</td>
              <td>{row.language}</td>
              <td>{t(`templates.categories.${row.category}`, { defaultValue: row.category })}</td>
              <td>
                <span className={`status-chip status-${row.status.toLowerCase()}`} data-testid="template-status">{t(`templates.statuses.${row.status}`, { defaultValue: row.status })}</span>
                {row.reason && row.reason !== "NONE" && <div className="small outcome-invalid" data-testid="template-reason">{t("templates.reason", { reason: row.reason })}</div>}
              </td>
              <td>{formatDateTime(row.updated_at)}</td>
              <td>{manager && row.status !== "DELETED" && (
                <button type="button" className="button small danger" data-testid="template-delete"
                  onClick={() => { if (window.confirm(t("common.confirm"))) remove.mutate(row.id); }}>{t("common.delete")}</button>
              )}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
