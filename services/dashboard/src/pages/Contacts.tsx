import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Download, Plus, Search, Upload } from "lucide-react";
import { Fragment, useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { Link, useNavigate, useParams } from "react-router";
import { api } from "../api/client";
import { downloadCsv, saveBlob } from "../api/download";
import type { Contact, ConversationPage, ImportReport } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { formatDateTime, formatNumber, formatWhen } from "../format";
import { canWork, isManager, useMe } from "../session";

function ContactForm({ contact, onDone }: { contact?: Contact; onDone: (c: Contact) => void }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [form, setForm] = useState({
    name: contact?.name ?? "",
    phone: contact?.phone ?? "",
    email: contact?.email ?? "",
    tags: (contact?.tags ?? []).join(", "),
  });
  const save = useMutation({
    mutationFn: () => {
      const json = {
        name: form.name || null,
        email: form.email || null,
        tags: form.tags.split(",").map((tag) => tag.trim()).filter(Boolean),
        ...(contact ? {} : { phone: form.phone || null }),
      };
      return contact
        ? api<Contact>(`/api/v1/contacts/${contact.id}`, { method: "PATCH", json })
        : api<Contact>("/api/v1/contacts", { method: "POST", json });
    },
    onSuccess: (saved) => {
      void queryClient.invalidateQueries({ queryKey: ["contacts"] });
      onDone(saved);
    },
  });
  const input = (name: keyof typeof form, label: string, type = "text", disabled = false) => (
    <label className="field">
      <span>{label}</span>
      <input name={name} type={type} value={form[name]} disabled={disabled} dir={name === "phone" || name === "email" ? "ltr" : "auto"}
        onChange={(event) => setForm({ ...form, [name]: event.target.value })} />
    </label>
  );
  return (
    <form className="stack card" onSubmit={(event: FormEvent) => { event.preventDefault(); save.mutate(); }}>
      {input("name", t("contacts.name"))}
      {input("phone", t("contacts.phone"), "tel", Boolean(contact))}
      {input("email", t("contacts.email"), "email")}
      {input("tags", `${t("contacts.tags")} (${t("contacts.tagsHint")})`)}
      <ErrorNote error={save.error} />
      <button type="submit" className="button primary">{t("common.save")}</button>
    </form>
  );
}

function ImportPanel() {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const upload = useMutation({
    mutationFn: (file: File) =>
      api<ImportReport>("/api/v1/contacts/import", { method: "POST", body: file, contentType: "text/csv" }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["contacts"] }),
  });
  const report = upload.data;
  return (
    <div className="card stack">
      <label className="field">
        <span><Upload size={16} aria-hidden="true" /> {t("contacts.import")}</span>
        <input type="file" accept=".csv,text/csv" data-testid="csv-input"
          onChange={(event) => { const file = event.target.files?.[0]; if (file) upload.mutate(file); }} />
      </label>
      <p className="muted small">{t("contacts.importHint")}</p>
      <ErrorNote error={upload.error} />
      {report && (
        <div role="status" data-testid="import-report">
          <p><strong>{t("contacts.importReport", {
            created: formatNumber(report.created), updated: formatNumber(report.updated),
            skipped: formatNumber(report.skipped), invalid: formatNumber(report.invalid),
          })}</strong></p>
          <ul className="report">
            {report.rows.filter((r) => r.outcome !== "created").map((r) => (
              <li key={r.row} className={`outcome-${r.outcome}`}>
                {t("contacts.row", { row: formatNumber(r.row) })}: {t(`contacts.outcome.${r.outcome}`, { defaultValue: r.outcome })}
                {r.error ? ` — ${r.error}` : ""}
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

async function downloadExport() {
  await downloadCsv("/api/v1/contacts/export.csv", "contacts.csv");
}

async function downloadJson(path: string, filename: string) {
  const body = await api<unknown>(path);
  saveBlob(new Blob([JSON.stringify(body, null, 2)], { type: "application/json" }), filename);
}

function ContactDetail({ id }: { id: string }) {
  const { t } = useTranslation();
  const me = useMe();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [editing, setEditing] = useState(false);
  const contact = useQuery({ queryKey: ["contacts", id], queryFn: () => api<Contact>(`/api/v1/contacts/${id}`) });
  const conversations = useQuery({
    queryKey: ["conversations", { contact: id }],
    queryFn: () => api<ConversationPage>("/api/v1/conversations", { query: { contact: id } }),
  });
  const remove = useMutation({
    mutationFn: (action: "delete" | "restore" | "erase") =>
      action === "delete"
        ? api(`/api/v1/contacts/${id}`, { method: "DELETE" })
        : api(`/api/v1/contacts/${id}/${action}`, { method: "POST", json: action === "erase" ? { confirm: true } : undefined }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["contacts"] }),
  });
  const [mergeFrom, setMergeFrom] = useState("");
  const others = useQuery({
    queryKey: ["contacts", "list", ""],
    queryFn: () => api<{ items: Contact[] }>("/api/v1/contacts", { query: { limit: 100 } }),
  });
  const merge = useMutation({
    mutationFn: (sourceId: string) =>
      api(`/api/v1/contacts/${id}/merge`, { method: "POST", json: { source_id: sourceId } }),
    onSuccess: () => { setMergeFrom(""); void queryClient.invalidateQueries({ queryKey: ["contacts"] }); },
  });
  if (contact.isError) return <ErrorNote error={contact.error} />;
  const c = contact.data;
  if (!c) return null;
  if (editing) return <ContactForm contact={c} onDone={() => setEditing(false)} />;
  return (
    <article className="card stack" data-testid="contact-detail">
      <h2><bdi>{c.name || c.phone}</bdi></h2>
      <dl className="facts">
        <dt>{t("contacts.phone")}</dt><dd dir="ltr">{c.phone}</dd>
        <dt>{t("contacts.email")}</dt><dd dir="ltr">{c.email}</dd>
        <dt>{t("contacts.tags")}</dt><dd>{c.tags.map((tag) => <span key={tag} className="label-chip">{tag}</span>)}</dd>
        <dt>{t("contacts.marketing")}</dt><dd>{c.consent.marketing}</dd>
        <dt>{t("contacts.restricted")}</dt><dd>{c.consent.processing_restricted ? t("common.yes") : t("common.no")}</dd>
        {Object.entries(c.attributes).map(([key, value]) => (<Fragment key={key}><dt>{key}</dt><dd>{String(value)}</dd></Fragment>))}
        <dt>{t("contacts.created")}</dt><dd>{formatDateTime(c.created_at)}</dd>
      </dl>
      <h3>{t("contacts.conversations")}</h3>
      <ul className="plain">
        {conversations.data?.items.map((conv) => (
          <li key={conv.id}><Link to={`/inbox/${conv.id}`}>{t(`inbox.status.${conv.status}`)} · {formatWhen(conv.last_message_at)}</Link></li>
        ))}
      </ul>
      <ErrorNote error={remove.error ?? merge.error} />
      {canWork(me.user.role) && (
        <div className="row">
          <button type="button" className="button" onClick={() => setEditing(true)}>{t("common.edit")}</button>
          {isManager(me.user.role) && !c.deleted_at && (
            <button type="button" className="button danger" onClick={() => { if (window.confirm(t("contacts.deleteConfirm"))) remove.mutate("delete", { onSuccess: () => navigate("/contacts") }); }}>{t("common.delete")}</button>
          )}
          {isManager(me.user.role) && c.deleted_at && (
            <button type="button" className="button" onClick={() => remove.mutate("restore")}>{t("common.restore")}</button>
          )}
          {isManager(me.user.role) && (
            <button type="button" className="button" onClick={() => void downloadJson(`/api/v1/contacts/${id}/data-export`, `contact-${id}.json`)}>{t("contacts.dataExport")}</button>
          )}
          {isManager(me.user.role) && (
            <button type="button" className="button danger" onClick={() => { if (window.confirm(t("contacts.eraseConfirm"))) remove.mutate("erase"); }}>{t("contacts.erase")}</button>
          )}
        </div>
      )}
      {canWork(me.user.role) && !c.deleted_at && (
        <form className="row" onSubmit={(event: FormEvent) => { event.preventDefault(); if (mergeFrom) merge.mutate(mergeFrom); }}>
          <label className="field grow"><span>{t("contacts.mergeFrom")}</span>
            <select value={mergeFrom} onChange={(event) => setMergeFrom(event.target.value)}>
              <option value="">—</option>
              {others.data?.items.filter((o) => o.id !== id).map((o) => <option key={o.id} value={o.id}>{o.name || o.phone}</option>)}
            </select>
          </label>
          <button type="submit" className="button" disabled={!mergeFrom}>{t("contacts.merge")}</button>
        </form>
      )}
    </article>
  );
}

export function Contacts() {
  const { t } = useTranslation();
  const me = useMe();
  const { contactId } = useParams();
  const navigate = useNavigate();
  const [q, setQ] = useState("");
  const [search, setSearch] = useState("");
  const [panel, setPanel] = useState<"none" | "new" | "import">("none");
  const [deleted, setDeleted] = useState(false);
  const contacts = useQuery({
    queryKey: ["contacts", "list", search, deleted],
    queryFn: () =>
      api<{ items: Contact[] }>("/api/v1/contacts", { query: { q: search, limit: 100, deleted: deleted ? "true" : undefined } }),
  });
  const worker = canWork(me.user.role);
  return (
    <section className="page split">
      <div className="list-pane">
        <div className="page-head">
          <h1>{t("contacts.title")}</h1>
          <div className="row">
            {worker && <button type="button" className="button" onClick={() => setPanel(panel === "new" ? "none" : "new")}><Plus size={16} aria-hidden="true" />{t("contacts.new")}</button>}
            {worker && <button type="button" className="button" onClick={() => setPanel(panel === "import" ? "none" : "import")}><Upload size={16} aria-hidden="true" />{t("contacts.import")}</button>}
            {isManager(me.user.role) && <button type="button" className="button" onClick={() => void downloadExport()}><Download size={16} aria-hidden="true" />{t("contacts.export")}</button>}
          </div>
        </div>
        <form className="search" role="search" onSubmit={(event) => { event.preventDefault(); setSearch(q); }}>
          <Search size={16} aria-hidden="true" />
          <input type="search" aria-label={t("common.search")} placeholder={t("contacts.searchPlaceholder")} value={q} onChange={(event) => setQ(event.target.value)} />
        </form>
        {isManager(me.user.role) && (
          <label className="check">
            <input type="checkbox" checked={deleted} onChange={(event) => setDeleted(event.target.checked)} />
            {t("contacts.showDeleted")}
          </label>
        )}
        {panel === "new" && <ContactForm onDone={(c) => { setPanel("none"); navigate(`/contacts/${c.id}`); }} />}
        {panel === "import" && <ImportPanel />}
        <ErrorNote error={contacts.error} />
        <table className="table" data-testid="contacts-table">
          <thead><tr><th>{t("contacts.name")}</th><th>{t("contacts.phone")}</th><th>{t("contacts.tags")}</th></tr></thead>
          <tbody>
            {contacts.data?.items.length === 0 && <tr><td colSpan={3} className="muted">{t("contacts.empty")}</td></tr>}
            {contacts.data?.items.map((c) => (
              <tr key={c.id} className={c.id === contactId ? "active" : undefined}>
                <td><Link to={`/contacts/${c.id}`}><bdi>{c.name || "—"}</bdi></Link></td>
                <td dir="ltr" className="start">{c.phone}</td>
                <td>{c.tags.map((tag) => <span key={tag} className="label-chip">{tag}</span>)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="detail-pane">{contactId && <ContactDetail key={contactId} id={contactId} />}</div>
    </section>
  );
}
