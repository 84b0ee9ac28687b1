import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../../api/client";

interface TemplateSummary {
  id: string;
  number_id: string;
  name: string;
  language: string;
  status: string;
}

interface TemplateDetail extends TemplateSummary {
  components: { type: string; text?: string }[];
}

/** The parameters a template's body asks for: {{1}}, {{2}} ... or {{named}}. */
function bodyParameters(detail: TemplateDetail | undefined): string[] {
  const body = detail?.components.find((c) => c.type === "BODY")?.text ?? "";
  const names = [...body.matchAll(/\{\{\s*([a-z0-9_]+)\s*\}\}/g)].map((m) => m[1]);
  return [...new Set(names)];
}

export interface TemplateSend {
  name: string;
  language: string;
  components: { type: "body"; parameters: Record<string, string>[] }[];
}

export function TemplatePicker({
  numberId,
  sending,
  onSend,
}: {
  numberId: string;
  sending: boolean;
  onSend: (template: TemplateSend) => void;
}) {
  const { t } = useTranslation();
  const [chosen, setChosen] = useState("");
  const [values, setValues] = useState<Record<string, string>>({});
  const templates = useQuery({
    queryKey: ["templates", "approved"],
    queryFn: async () =>
      (await api<{ items: TemplateSummary[] }>("/api/v1/templates", { query: { status: "APPROVED", limit: 100 } })).items,
  });
  const detail = useQuery({
    queryKey: ["template", chosen],
    queryFn: () => api<TemplateDetail>(`/api/v1/templates/${chosen}`),
    enabled: chosen !== "",
  });
  const usable = (templates.data ?? []).filter((tpl) => tpl.number_id === numberId || !tpl.number_id);
  const parameters = bodyParameters(detail.data);
  const body = detail.data?.components.find((c) => c.type === "BODY")?.text ?? "";
  const positional = parameters.every((p) => /^[0-9]+$/.test(p));

  function send() {
    if (!detail.data) return;
    const params = parameters.map((p): Record<string, string> => {
      const text = { type: "text", text: values[p] ?? "" };
      return positional ? text : { ...text, parameter_name: p };
    });
    onSend({
      name: detail.data.name,
      language: detail.data.language,
      components: params.length ? [{ type: "body", parameters: params }] : [],
    });
  }

  if (templates.isSuccess && usable.length === 0) return <p className="muted pad">{t("inbox.noTemplates")}</p>;
  return (
    <form
      className="template-picker"
      data-testid="template-picker"
      onSubmit={(event) => {
        event.preventDefault();
        send();
      }}
    >
      <label className="field">
        <span>{t("inbox.templates")}</span>
        <select value={chosen} onChange={(event) => { setChosen(event.target.value); setValues({}); }} required>
          <option value="">—</option>
          {usable.map((tpl) => (
            <option key={tpl.id} value={tpl.id}>{tpl.name} · {tpl.language}</option>
          ))}
        </select>
      </label>
      {body && <p className="template-preview" dir="auto">{body}</p>}
      {parameters.map((p, index) => (
        <label key={p} className="field">
          <span>{positional ? t("inbox.parameter", { n: index + 1 }) : p}</span>
          <input required value={values[p] ?? ""} onChange={(event) => setValues({ ...values, [p]: event.target.value })} dir="auto" />
        </label>
      ))}
      <button type="submit" className="button primary" disabled={!detail.data || sending}>{t("inbox.sendTemplate")}</button>
    </form>
  );
}
