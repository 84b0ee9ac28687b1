// The AI screen: the bot's answerer (built in, OpenAI or Gemini), its model and write-only
// provider key; the knowledge base (Q&A entries and documents, Arabic and English); a "try a
// question" box that shows what the bot would answer and from which passages; and the owner's
// companion number. Owners and admins change settings and the knowledge base, everyone reads
// the knowledge base, agents may try questions, and only the owner sees the companion.
// A typed key lives in this component's state only until it is saved, then is dropped: the
// page shows the API's masked hint ("sk-…abcd"), never the key.
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import type { WhatsAppNumber } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { formatDateTime, formatNumber } from "../format";
import { canWork, isManager, useMe } from "../session";
import { Companion } from "./AiCompanion";

type Provider = "builtin" | "openai" | "gemini";
type Language = "ar" | "en";

interface AiSettings {
  provider: Provider;
  model: string | null;
  has_key: boolean;
  key_hint: string | null;
  min_confidence: number;
  timeout_seconds: number;
  updated_at: string | null;
}

interface Entry {
  id: string;
  questions: string[];
  answer: Partial<Record<Language, string>>;
  languages: Language[];
  updated_at: string;
}

interface KbDocument {
  id: string;
  title: string;
  language: Language;
  chunks: number;
  text?: string;
  updated_at: string;
}

interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

interface Tried {
  language: Language;
  provider: Provider;
  model: string | null;
  min_confidence: number;
  answered: boolean;
  answer: { text: string; language: Language; confidence: number; source: Provider } | null;
  passages: { kind: "entry" | "document"; id: string; chunk: number; label: string | null; confidence: number; has_language: boolean; used: boolean; excerpt: string }[];
}

const MODELS: Record<Provider, string[]> = {
  builtin: [],
  openai: ["gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini"],
  gemini: ["gemini-2.0-flash", "gemini-2.5-flash", "gemini-2.5-pro"],
};

function SettingsCard() {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const settings = useQuery({ queryKey: ["ai-settings"], queryFn: () => api<AiSettings>("/api/v1/ai/settings") });
  const [draft, setDraft] = useState<{ provider: Provider; model: string; min_confidence: string } | null>(null);
  const [replacing, setReplacing] = useState(false);
  const [key, setKey] = useState("");
  const saved = settings.data;
  const form = draft ?? (saved ? { provider: saved.provider, model: saved.model ?? "", min_confidence: String(saved.min_confidence) } : null);
  const save = useMutation({
    mutationFn: (body: Record<string, unknown>) => api<AiSettings>("/api/v1/ai/settings", { method: "PUT", json: body }),
    onSuccess: (next) => {
      // The key leaves the page's memory at once; only the API's masked hint is shown.
      setKey("");
      setReplacing(false);
      setDraft(null);
      queryClient.setQueryData(["ai-settings"], next);
    },
  });
  if (!form || !saved) return <section className="card stack"><h2>{t("ai.settings")}</h2><ErrorNote error={settings.error} /></section>;
  const needsKey = form.provider !== "builtin";
  const keyInput = needsKey && (!saved.has_key || replacing);
  const body = (extra: Record<string, unknown> = {}) => ({
    provider: form.provider,
    model: form.provider === "builtin" || !form.model.trim() ? null : form.model.trim(),
    min_confidence: Number(form.min_confidence),
    timeout_seconds: saved.timeout_seconds,
    ...(key ? { api_key: key } : {}),
    ...extra,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate(body());
  };
  const removeKey = () => {
    // Without a key only the built-in answerer can work: removing it switches to it.
    setKey("");
    save.mutate({ ...body(), provider: "builtin", model: null, api_key: undefined, clear_api_key: true });
  };
  return (
    <section className="card stack" aria-labelledby="ai-settings-title">
      <h2 id="ai-settings-title">{t("ai.settings")}</h2>
      <form className="grid-form" onSubmit={submit} data-testid="ai-settings-form">
        <label className="field"><span>{t("ai.provider")}</span>
          <select value={form.provider} data-testid="ai-provider"
            onChange={(e) => setDraft({ ...form, provider: e.target.value as Provider, model: "" })}>
            {(["builtin", "openai", "gemini"] as const).map((p) => <option key={p} value={p}>{t(`ai.providers.${p}`)}</option>)}
          </select>
        </label>
        {needsKey && (
          <label className="field"><span>{t("ai.model")}</span>
            <input list="ai-models" dir="ltr" value={form.model} placeholder={MODELS[form.provider][0]} data-testid="ai-model"
              pattern="[A-Za-z0-9._:\/\-]{1,100}" onChange={(e) => setDraft({ ...form, model: e.target.value })} />
            <datalist id="ai-models">{MODELS[form.provider].map((m) => <option key={m} value={m} />)}</datalist>
          </label>
        )}
        <label className="field"><span>{t("ai.minConfidence")}</span>
          <input type="number" min={0} max={1} step={0.05} dir="ltr" value={form.min_confidence} data-testid="ai-min-confidence"
            onChange={(e) => setDraft({ ...form, min_confidence: e.target.value })} />
        </label>
        <p className="muted small">{form.provider === "builtin" ? t("ai.builtinHint") : t("ai.providerHint")}</p>
        <div className="stack" data-testid="ai-key">
          <span className="field-title">{t("ai.apiKey")}</span>
          {saved.has_key
            ? <p><span className="status-chip status-approved">{t("ai.keySaved")}</span> <code dir="ltr" data-testid="ai-key-hint">{saved.key_hint}</code></p>
            : <p className="muted">{t("ai.noKey")}</p>}
          {keyInput && (
            <label className="field"><span>{saved.has_key ? t("ai.newKey") : t("ai.apiKey")}</span>
              <input type="password" dir="ltr" autoComplete="off" spellCheck={false} required={!saved.has_key} minLength={8} maxLength={512}
                value={key} data-testid="ai-key-input" onChange={(e) => setKey(e.target.value)} />
            </label>
          )}
          {saved.has_key && (
            <div className="row">
              {!replacing && <button type="button" className="button small" data-testid="ai-key-replace" onClick={() => setReplacing(true)}>{t("ai.replaceKey")}</button>}
              {replacing && <button type="button" className="button small ghost" onClick={() => { setReplacing(false); setKey(""); }}>{t("common.cancel")}</button>}
              <button type="button" className="button small" data-testid="ai-key-remove" disabled={save.isPending} onClick={removeKey}>{t("ai.removeKey")}</button>
            </div>
          )}
          {saved.has_key && saved.provider !== "builtin" && <p className="muted small">{t("ai.removeHint")}</p>}
        </div>
        <ErrorNote error={save.error} />
        <div className="row">
          <button type="submit" className="button primary" disabled={save.isPending} data-testid="ai-save">{t("common.save")}</button>
          {save.isSuccess && !draft && <span role="status" className="muted" data-testid="ai-saved">{t("ai.saved")}</span>}
        </div>
      </form>
    </section>
  );
}

function usePaged<T>(key: string, path: string) {
  const pages = useInfiniteQuery({
    queryKey: [key],
    initialPageParam: "",
    queryFn: ({ pageParam }) => api<Page<T>>(path, { query: { limit: 100, after: pageParam || undefined } }),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  return { items: pages.data?.pages.flatMap((p) => p.items) ?? [], pages };
}

function ConfirmDelete({ onDelete, testId }: { onDelete: () => void; testId: string }) {
  const { t } = useTranslation();
  const [asking, setAsking] = useState(false);
  if (!asking) return <button type="button" className="button small" data-testid={testId} onClick={() => setAsking(true)}>{t("common.delete")}</button>;
  return (
    <span className="row" role="group" aria-label={t("common.confirm")}>
      <span className="small">{t("common.confirm")}</span>
      <button type="button" className="button small primary" autoFocus data-testid={`${testId}-yes`} onClick={() => { setAsking(false); onDelete(); }}>{t("common.yes")}</button>
      <button type="button" className="button small ghost" onClick={() => setAsking(false)}>{t("common.no")}</button>
    </span>
  );
}

const NO_ENTRY = { questions: "", en: "", ar: "" };

function Entries({ manager }: { manager: boolean }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const { items, pages } = usePaged<Entry>("kb-entries", "/api/v1/knowledge/entries");
  const [editing, setEditing] = useState<string | null>(null);
  const [form, setForm] = useState(NO_ENTRY);
  const refresh = () => void queryClient.invalidateQueries({ queryKey: ["kb-entries"] });
  const save = useMutation({
    mutationFn: () => {
      const json = {
        questions: form.questions.split("\n").map((q) => q.trim()).filter(Boolean),
        answer: { ...(form.en.trim() ? { en: form.en } : {}), ...(form.ar.trim() ? { ar: form.ar } : {}) },
      };
      return editing
        ? api<Entry>(`/api/v1/knowledge/entries/${editing}`, { method: "PUT", json })
        : api<Entry>("/api/v1/knowledge/entries", { method: "POST", json });
    },
    onSuccess: () => { setForm(NO_ENTRY); setEditing(null); refresh(); },
  });
  const remove = useMutation({
    mutationFn: (id: string) => api(`/api/v1/knowledge/entries/${id}`, { method: "DELETE" }),
    onSuccess: refresh,
  });
  const edit = (entry: Entry) => {
    setEditing(entry.id);
    setForm({ questions: entry.questions.join("\n"), en: entry.answer.en ?? "", ar: entry.answer.ar ?? "" });
  };
  return (
    <div className="stack">
      <ErrorNote error={pages.error ?? remove.error} />
      <table className="table" data-testid="kb-entries">
        <thead><tr><th>{t("ai.questions")}</th><th>{t("ai.answerEn")}</th><th>{t("ai.answerAr")}</th><th>{t("ai.updated")}</th>{manager && <th />}</tr></thead>
        <tbody>
          {pages.isSuccess && items.length === 0 && <tr><td colSpan={manager ? 5 : 4} className="muted">{t("ai.noEntries")}</td></tr>}
          {items.map((entry) => (
            <tr key={entry.id} data-testid="kb-entry" className={editing === entry.id ? "active" : ""}>
              <td dir="auto">{entry.questions.map((q) => <div key={q} dir="auto">{q}</div>)}</td>
              <td dir="ltr" lang="en" className="start">{entry.answer.en ?? "—"}</td>
              <td dir="rtl" lang="ar" className="start">{entry.answer.ar ?? "—"}</td>
              <td>{formatDateTime(entry.updated_at)}</td>
              {manager && (
                <td><div className="row">
                  <button type="button" className="button small" data-testid="kb-entry-edit" onClick={() => edit(entry)}>{t("common.edit")}</button>
                  <ConfirmDelete testId="kb-entry-delete" onDelete={() => remove.mutate(entry.id)} />
                </div></td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {pages.hasNextPage && <button type="button" className="button" onClick={() => void pages.fetchNextPage()}>{t("common.loadMore")}</button>}
      {manager && (
        <form className="grid-form" data-testid="kb-entry-form" onSubmit={(e: FormEvent) => { e.preventDefault(); save.mutate(); }}>
          <h3>{editing ? t("ai.editEntry") : t("ai.addEntry")}</h3>
          <label className="field"><span>{t("ai.questionsHint")}</span>
            <textarea rows={3} dir="auto" required value={form.questions} data-testid="kb-questions" onChange={(e) => setForm({ ...form, questions: e.target.value })} /></label>
          <label className="field"><span>{t("ai.answerEn")}</span>
            <textarea rows={3} dir="ltr" lang="en" maxLength={4000} value={form.en} data-testid="kb-answer-en" onChange={(e) => setForm({ ...form, en: e.target.value })} /></label>
          <label className="field"><span>{t("ai.answerAr")}</span>
            <textarea rows={3} dir="rtl" lang="ar" maxLength={4000} value={form.ar} data-testid="kb-answer-ar" onChange={(e) => setForm({ ...form, ar: e.target.value })} /></label>
          <p className="muted small">{t("ai.answerHint")}</p>
          <ErrorNote error={save.error} />
          <div className="row">
            <button type="submit" className="button primary" disabled={save.isPending || (!form.en.trim() && !form.ar.trim())} data-testid="kb-entry-save">{editing ? t("common.save") : t("ai.addEntry")}</button>
            {editing && <button type="button" className="button ghost" onClick={() => { setEditing(null); setForm(NO_ENTRY); }}>{t("common.cancel")}</button>}
          </div>
        </form>
      )}
    </div>
  );
}

const NO_DOCUMENT = { title: "", language: "en" as Language, text: "" };

function Documents({ manager }: { manager: boolean }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const { items, pages } = usePaged<KbDocument>("kb-documents", "/api/v1/knowledge/documents");
  const [editing, setEditing] = useState<string | null>(null);
  const [form, setForm] = useState(NO_DOCUMENT);
  const refresh = () => void queryClient.invalidateQueries({ queryKey: ["kb-documents"] });
  const save = useMutation({
    mutationFn: () => editing
      ? api<KbDocument>(`/api/v1/knowledge/documents/${editing}`, { method: "PUT", json: form })
      : api<KbDocument>("/api/v1/knowledge/documents", { method: "POST", json: form }),
    onSuccess: () => { setForm(NO_DOCUMENT); setEditing(null); refresh(); },
  });
  const open = useMutation({
    mutationFn: (id: string) => api<KbDocument>(`/api/v1/knowledge/documents/${id}`),
    onSuccess: (doc) => { setEditing(doc.id); setForm({ title: doc.title, language: doc.language, text: doc.text ?? "" }); },
  });
  const remove = useMutation({
    mutationFn: (id: string) => api(`/api/v1/knowledge/documents/${id}`, { method: "DELETE" }),
    onSuccess: refresh,
  });
  return (
    <div className="stack">
      <ErrorNote error={pages.error ?? remove.error ?? open.error} />
      <table className="table" data-testid="kb-documents">
        <thead><tr><th>{t("ai.docTitle")}</th><th>{t("ai.language")}</th><th>{t("ai.chunks")}</th><th>{t("ai.updated")}</th>{manager && <th />}</tr></thead>
        <tbody>
          {pages.isSuccess && items.length === 0 && <tr><td colSpan={manager ? 5 : 4} className="muted">{t("ai.noDocuments")}</td></tr>}
          {items.map((doc) => (
            <tr key={doc.id} data-testid="kb-document" className={editing === doc.id ? "active" : ""}>
              <td dir="auto">{doc.title}</td>
              <td>{t(`ai.languages.${doc.language}`)}</td>
              <td>{formatNumber(doc.chunks)}</td>
              <td>{formatDateTime(doc.updated_at)}</td>
              {manager && (
                <td><div className="row">
                  <button type="button" className="button small" data-testid="kb-document-edit" onClick={() => open.mutate(doc.id)}>{t("common.edit")}</button>
                  <ConfirmDelete testId="kb-document-delete" onDelete={() => remove.mutate(doc.id)} />
                </div></td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {pages.hasNextPage && <button type="button" className="button" onClick={() => void pages.fetchNextPage()}>{t("common.loadMore")}</button>}
      {manager && (
        <form className="grid-form" data-testid="kb-document-form" onSubmit={(e: FormEvent) => { e.preventDefault(); save.mutate(); }}>
          <h3>{editing ? t("ai.editDocument") : t("ai.addDocument")}</h3>
          <label className="field"><span>{t("ai.docTitle")}</span>
            <input required maxLength={200} dir="auto" value={form.title} data-testid="kb-doc-title" onChange={(e) => setForm({ ...form, title: e.target.value })} /></label>
          <label className="field"><span>{t("ai.language")}</span>
            <select value={form.language} data-testid="kb-doc-language" onChange={(e) => setForm({ ...form, language: e.target.value as Language })}>
              <option value="en">{t("ai.languages.en")}</option><option value="ar">{t("ai.languages.ar")}</option>
            </select></label>
          <label className="field"><span>{t("ai.docText")}</span>
            <textarea rows={6} required maxLength={200000} dir={form.language === "ar" ? "rtl" : "ltr"} lang={form.language} value={form.text}
              data-testid="kb-doc-text" onChange={(e) => setForm({ ...form, text: e.target.value })} /></label>
          <ErrorNote error={save.error} />
          <div className="row">
            <button type="submit" className="button primary" disabled={save.isPending} data-testid="kb-document-save">{editing ? t("common.save") : t("ai.addDocument")}</button>
            {editing && <button type="button" className="button ghost" onClick={() => { setEditing(null); setForm(NO_DOCUMENT); }}>{t("common.cancel")}</button>}
          </div>
        </form>
      )}
    </div>
  );
}

function Knowledge({ manager }: { manager: boolean }) {
  const { t } = useTranslation();
  const [tab, setTab] = useState<"entries" | "documents">("entries");
  return (
    <section className="card stack" aria-labelledby="kb-title">
      <div className="page-head">
        <h2 id="kb-title">{t("ai.knowledge")}</h2>
        <div className="row" role="group" aria-label={t("ai.knowledge")}>
          <button type="button" className={`button small ${tab === "entries" ? "primary" : ""}`} aria-pressed={tab === "entries"} data-testid="kb-tab-entries" onClick={() => setTab("entries")}>{t("ai.entries")}</button>
          <button type="button" className={`button small ${tab === "documents" ? "primary" : ""}`} aria-pressed={tab === "documents"} data-testid="kb-tab-documents" onClick={() => setTab("documents")}>{t("ai.documents")}</button>
        </div>
      </div>
      {!manager && <p className="muted small">{t("ai.readOnly")}</p>}
      {tab === "entries" ? <Entries manager={manager} /> : <Documents manager={manager} />}
    </section>
  );
}

function TryQuestion() {
  const { t } = useTranslation();
  const [question, setQuestion] = useState("");
  const [language, setLanguage] = useState<"" | Language>("");
  const ask = useMutation({
    mutationFn: () => api<Tried>("/api/v1/knowledge/try", { method: "POST", json: { question, ...(language ? { language } : {}) } }),
  });
  const result = ask.data;
  return (
    <section className="card stack" aria-labelledby="try-title">
      <h2 id="try-title">{t("ai.try")}</h2>
      <p className="muted small">{t("ai.tryHint")}</p>
      <form className="stack" onSubmit={(e: FormEvent) => { e.preventDefault(); ask.mutate(); }}>
        <label className="field"><span>{t("ai.question")}</span>
          <textarea rows={2} dir="auto" required maxLength={1000} value={question} data-testid="try-question" onChange={(e) => setQuestion(e.target.value)} /></label>
        <div className="row">
          <label className="field"><span>{t("ai.replyLanguage")}</span>
            <select value={language} data-testid="try-language" onChange={(e) => setLanguage(e.target.value as "" | Language)}>
              <option value="">{t("ai.autoLanguage")}</option><option value="en">{t("ai.languages.en")}</option><option value="ar">{t("ai.languages.ar")}</option>
            </select></label>
          <button type="submit" className="button primary" disabled={ask.isPending || !question.trim()} data-testid="try-ask">{t("ai.ask")}</button>
        </div>
      </form>
      <ErrorNote error={ask.error} />
      {result && (
        <div className="stack" data-testid="try-result" aria-live="polite">
          {result.answer ? (
            <div className="alert alert-ok" data-testid="try-answer">
              <p className="small muted">{t("ai.botAnswers", { provider: t(`ai.providers.${result.answer.source}`), confidence: formatNumber(Math.round(result.answer.confidence * 100)) })}</p>
              <p dir={result.answer.language === "ar" ? "rtl" : "ltr"} lang={result.answer.language} className="start" data-testid="try-answer-text">{result.answer.text}</p>
            </div>
          ) : (
            <p className="alert alert-warn" data-testid="try-handoff">{t("ai.handoff", { provider: t(`ai.providers.${result.provider}`) })}</p>
          )}
          {result.passages.length > 0 ? (
            <ol className="stack plain" data-testid="try-passages">
              {result.passages.map((p) => (
                <li key={`${p.kind}:${p.id}:${p.chunk}`} className="card pad" data-testid={p.used ? "try-passage-used" : "try-passage"}>
                  <div className="row">
                    <span className="label-chip">{p.kind === "entry" ? t("ai.entry") : t("ai.document")}</span>
                    <strong dir="auto">{p.label ?? "—"}</strong>
                    {p.used && <span className="status-chip status-approved">{t("ai.used")}</span>}
                    <span className="muted small">{t("ai.confidence", { value: formatNumber(Math.round(p.confidence * 100)) })}</span>
                    {!p.has_language && <span className="muted small">{t("ai.noLanguage", { language: t(`ai.languages.${result.language}`) })}</span>}
                  </div>
                  <p className="small" dir="auto">{p.excerpt}</p>
                </li>
              ))}
            </ol>
          ) : <p className="muted small">{t("ai.noPassages")}</p>}
        </div>
      )}
    </section>
  );
}

export function Ai() {
  const { t } = useTranslation();
  const me = useMe();
  const manager = isManager(me.user.role);
  const numbers = useQuery({
    queryKey: ["numbers"],
    queryFn: async () => (await api<{ numbers: WhatsAppNumber[] }>("/api/v1/numbers")).numbers,
    enabled: me.user.role === "owner",
  });
  return (
    <div className="page stack ai-page">
      <div className="page-head"><h1>{t("ai.title")}</h1></div>
      {manager ? <SettingsCard /> : <p className="muted">{t("ai.settingsManagersOnly")}</p>}
      <Knowledge manager={manager} />
      {canWork(me.user.role) && <TryQuestion />}
      {me.user.role === "owner" ? <Companion numbers={numbers.data ?? []} /> : <p className="muted">{t("ai.companionOwnerOnly")}</p>}
    </div>
  );
}
