// The side form of the selected node: one form per node type of the chatflow API. Text fields
// that take {{variables}} offer the variables already set by earlier nodes.
import { useTranslation } from "react-i18next";
import { useTeams } from "../inbox/queries";
import type { FlowError, FlowNodeData } from "./model";

type Patch = (changes: Record<string, unknown>) => void;

interface Props {
  node: FlowNodeData;
  variables: string[];
  nodeIds: string[];
  errors: FlowError[];
  onChange: (node: FlowNodeData) => void;
  onDelete: () => void;
  onStart: () => void;
  isStart: boolean;
}

function str(value: unknown): string {
  return value === undefined || value === null ? "" : String(value);
}

function VariableChips({ variables, onPick }: { variables: string[]; onPick: (name: string) => void }) {
  const { t } = useTranslation();
  return (
    <div className="var-chips" aria-label={t("flows.insertVariable")}>
      <span className="muted small">{t("flows.insertVariable")}</span>
      {variables.map((name) => (
        <button key={name} type="button" className="var-chip" dir="ltr" onClick={() => onPick(name)}>{`{{${name}}}`}</button>
      ))}
    </div>
  );
}

function TextField({ label, value, onChange, variables, multiline, name, ltr }: {
  label: string; value: unknown; onChange: (v: string) => void; variables?: string[]; multiline?: boolean; name: string; ltr?: boolean;
}) {
  const common = { name, value: str(value), dir: ltr ? "ltr" : "auto", "data-field": name };
  return (
    <label className="field">
      <span>{label}</span>
      {multiline
        ? <textarea rows={3} {...common} onChange={(e) => onChange(e.target.value)} />
        : <input {...common} onChange={(e) => onChange(e.target.value)} />}
      {variables && <VariableChips variables={variables} onPick={(v) => onChange(`${str(value)}{{${v}}}`)} />}
    </label>
  );
}

function NumberField({ label, value, onChange, name }: { label: string; value: unknown; onChange: (v: number | undefined) => void; name: string }) {
  return (
    <label className="field">
      <span>{label}</span>
      <input type="number" name={name} data-field={name} value={value === undefined || value === null ? "" : String(value)}
        onChange={(e) => onChange(e.target.value === "" ? undefined : Number(e.target.value))} />
    </label>
  );
}

function Select({ label, value, options, onChange, name }: { label: string; value: unknown; options: [string, string][]; onChange: (v: string) => void; name: string }) {
  return (
    <label className="field">
      <span>{label}</span>
      <select name={name} data-field={name} value={str(value)} onChange={(e) => onChange(e.target.value)}>
        {options.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
      </select>
    </label>
  );
}

/** `key=value` lines for the string maps (headers, response mapping, attributes). */
function MapField({ label, value, onChange, name, hint }: { label: string; value: unknown; onChange: (v: Record<string, string>) => void; name: string; hint: string }) {
  const text = Object.entries((value as Record<string, string>) ?? {}).map(([k, v]) => `${k}=${v}`).join("\n");
  return (
    <label className="field">
      <span>{label}</span>
      <textarea rows={3} dir="ltr" name={name} data-field={name} defaultValue={text} placeholder={hint}
        onBlur={(e) => {
          const map: Record<string, string> = {};
          for (const line of e.target.value.split("\n")) {
            const at = line.indexOf("=");
            if (at > 0) map[line.slice(0, at).trim()] = line.slice(at + 1).trim();
          }
          onChange(map);
        }} />
    </label>
  );
}

function ListEditor<T extends Record<string, unknown>>({ items, columns, make, onChange, max, addLabel }: {
  items: T[]; columns: { key: keyof T & string; label: string; type?: "number" }[]; make: (index: number) => T; onChange: (items: T[]) => void; max: number; addLabel: string;
}) {
  const { t } = useTranslation();
  return (
    <div className="list-editor">
      {items.map((item, index) => (
        <div key={index} className="row list-editor-row">
          {columns.map((col) => (
            <input key={col.key} aria-label={col.label} placeholder={col.label} data-field={`${col.key}-${index}`}
              type={col.type ?? "text"} value={str(item[col.key])} dir="auto"
              onChange={(e) => onChange(items.map((it, i) => (i === index ? { ...it, [col.key]: col.type === "number" ? Number(e.target.value) : e.target.value } : it)))} />
          ))}
          <button type="button" className="button small ghost" aria-label={t("common.delete")} onClick={() => onChange(items.filter((_, i) => i !== index))}>×</button>
        </div>
      ))}
      {items.length < max && (
        <button type="button" className="button small" onClick={() => onChange([...items, make(items.length)])}>{addLabel}</button>
      )}
    </div>
  );
}

export function NodeForm({ node, variables, nodeIds, errors, onChange, onDelete, onStart, isStart }: Props) {
  const { t } = useTranslation();
  const teams = useTeams();
  const set: Patch = (changes) => onChange({ ...node, ...changes });
  const f = (key: string) => t(`flows.fields.${key}`);
  const textVars = variables;
  let body: React.ReactNode = null;
  switch (node.type) {
    case "send_text":
      body = <TextField name="text" label={f("text")} value={node.text} multiline variables={textVars} onChange={(v) => set({ text: v })} />;
      break;
    case "send_media":
      body = (<>
        <Select name="media_type" label={f("media_type")} value={node.media_type} options={["image", "video", "audio", "document"].map((m) => [m, m])} onChange={(v) => set({ media_type: v })} />
        <TextField name="link" label={f("link")} value={node.link} ltr onChange={(v) => set({ link: v })} />
        <TextField name="media_id" label={f("media_id")} value={node.media_id} ltr onChange={(v) => set({ media_id: v })} />
        <TextField name="caption" label={f("caption")} value={node.caption} variables={textVars} onChange={(v) => set({ caption: v })} />
      </>);
      break;
    case "send_buttons":
      body = (<>
        <TextField name="text" label={f("text")} value={node.text} multiline variables={textVars} onChange={(v) => set({ text: v })} />
        <span className="field-title">{f("buttons")}</span>
        <ListEditor items={(node.buttons as { id: string; title: string }[]) ?? []} max={3} addLabel={t("flows.addButton")}
          columns={[{ key: "id", label: f("choiceId") }, { key: "title", label: f("title") }]}
          make={(i) => ({ id: `b${i + 1}`, title: "" })} onChange={(items) => set({ buttons: items })} />
        <TextField name="variable" label={f("saveTo")} value={node.variable} ltr onChange={(v) => set({ variable: v })} />
      </>);
      break;
    case "send_list": {
      const sections = (node.sections as { title: string; rows: { id: string; title: string; description?: string }[] }[]) ?? [];
      body = (<>
        <TextField name="text" label={f("text")} value={node.text} multiline variables={textVars} onChange={(v) => set({ text: v })} />
        <TextField name="button" label={f("listButton")} value={node.button} onChange={(v) => set({ button: v })} />
        {sections.map((section, si) => (
          <fieldset key={si} className="subform">
            <legend>{f("section")} {si + 1}</legend>
            <input aria-label={f("sectionTitle")} placeholder={f("sectionTitle")} value={section.title} dir="auto"
              onChange={(e) => set({ sections: sections.map((s, i) => (i === si ? { ...s, title: e.target.value } : s)) })} />
            <ListEditor items={section.rows} max={10} addLabel={t("flows.addRow")}
              columns={[{ key: "id", label: f("choiceId") }, { key: "title", label: f("title") }, { key: "description", label: f("description") }]}
              make={(i) => ({ id: `r${si + 1}_${i + 1}`, title: "", description: "" })}
              onChange={(rows) => set({ sections: sections.map((s, i) => (i === si ? { ...s, rows } : s)) })} />
          </fieldset>
        ))}
        <button type="button" className="button small" onClick={() => set({ sections: [...sections, { title: "", rows: [{ id: `r${sections.length + 1}_1`, title: "" }] }] })}>{t("flows.addSection")}</button>
        <TextField name="variable" label={f("saveTo")} value={node.variable} ltr onChange={(v) => set({ variable: v })} />
      </>);
      break;
    }
    case "ask_question": {
      const validation = (node.validation as { type: string; choices?: string[]; pattern?: string }) ?? { type: "text" };
      body = (<>
        <TextField name="text" label={f("question")} value={node.text} multiline variables={textVars} onChange={(v) => set({ text: v })} />
        <TextField name="variable" label={f("saveTo")} value={node.variable} ltr onChange={(v) => set({ variable: v })} />
        <Select name="validation" label={f("answerType")} value={validation.type}
          options={["text", "number", "email", "phone", "date", "choice"].map((v) => [v, t(`flows.answerTypes.${v}`)])}
          onChange={(v) => set({ validation: { ...validation, type: v } })} />
        {validation.type === "choice" && (
          <TextField name="choices" label={f("choices")} value={(validation.choices ?? []).join(", ")}
            onChange={(v) => set({ validation: { ...validation, choices: v.split(",").map((c) => c.trim()).filter(Boolean) } })} />
        )}
        <TextField name="pattern" label={f("pattern")} value={validation.pattern} ltr onChange={(v) => set({ validation: { ...validation, pattern: v } })} />
        <TextField name="reprompt_text" label={f("reprompt")} value={node.reprompt_text} multiline variables={textVars} onChange={(v) => set({ reprompt_text: v })} />
        <NumberField name="max_attempts" label={f("maxAttempts")} value={node.max_attempts} onChange={(v) => set({ max_attempts: v })} />
        <NumberField name="timeout_seconds" label={f("timeoutSeconds")} value={node.timeout_seconds} onChange={(v) => set({ timeout_seconds: v })} />
      </>);
      break;
    }
    case "condition": {
      const rules = (node.rules as { left: string; op: string; value: string }[]) ?? [];
      const lefts = variables.map((v) => (v.startsWith("contact.") ? v : `var.${v}`));
      body = (<>
        <Select name="mode" label={f("mode")} value={node.mode} options={[["and", t("flows.all")], ["or", t("flows.any")]]} onChange={(v) => set({ mode: v })} />
        <span className="field-title">{f("rules")}</span>
        {rules.map((rule, index) => (
          <div key={index} className="row list-editor-row">
            <input aria-label={f("left")} list="flow-lefts" dir="ltr" value={rule.left} data-field={`left-${index}`}
              onChange={(e) => set({ rules: rules.map((r, i) => (i === index ? { ...r, left: e.target.value } : r)) })} />
            <select aria-label={f("op")} value={rule.op} data-field={`op-${index}`}
              onChange={(e) => set({ rules: rules.map((r, i) => (i === index ? { ...r, op: e.target.value } : r)) })}>
              {["eq", "ne", "contains", "gt", "lt", "exists", "not_exists", "regex"].map((op) => <option key={op} value={op}>{t(`flows.ops.${op}`)}</option>)}
            </select>
            <input aria-label={f("value")} dir="auto" value={rule.value} data-field={`value-${index}`}
              onChange={(e) => set({ rules: rules.map((r, i) => (i === index ? { ...r, value: e.target.value } : r)) })} />
            <button type="button" className="button small ghost" aria-label={t("common.delete")} onClick={() => set({ rules: rules.filter((_, i) => i !== index) })}>×</button>
          </div>
        ))}
        <datalist id="flow-lefts">{lefts.map((l) => <option key={l} value={l} />)}</datalist>
        <button type="button" className="button small" onClick={() => set({ rules: [...rules, { left: "var.last_input", op: "eq", value: "" }] })}>{t("flows.addRule")}</button>
      </>);
      break;
    }
    case "set_variable":
      body = (<>
        <TextField name="variable" label={f("variable")} value={node.variable} ltr onChange={(v) => set({ variable: v })} />
        <TextField name="value" label={f("value")} value={node.value} variables={textVars} onChange={(v) => set({ value: v })} />
      </>);
      break;
    case "http_request":
      body = (<>
        <Select name="method" label={f("method")} value={node.method} options={["GET", "POST", "PUT", "PATCH", "DELETE"].map((m) => [m, m])} onChange={(v) => set({ method: v })} />
        <TextField name="url" label={f("url")} value={node.url} ltr variables={textVars} onChange={(v) => set({ url: v })} />
        <MapField name="headers" label={f("headers")} hint="Authorization=Bearer {{token}}" value={node.headers} onChange={(v) => set({ headers: v })} />
        <TextField name="body" label={f("body")} value={node.body} ltr multiline variables={textVars} onChange={(v) => set({ body: v })} />
        <NumberField name="timeout_ms" label={f("timeoutMs")} value={node.timeout_ms} onChange={(v) => set({ timeout_ms: v })} />
        <MapField name="response_mapping" label={f("mapping")} hint="plan=/data/plan" value={node.response_mapping} onChange={(v) => set({ response_mapping: v })} />
        <p className="muted small">{t("flows.httpHint")}</p>
      </>);
      break;
    case "ai_answer":
      body = (<>
        <TextField name="question" label={f("question")} value={node.question} variables={textVars} onChange={(v) => set({ question: v })} />
        <TextField name="variable" label={f("saveTo")} value={node.variable} ltr onChange={(v) => set({ variable: v })} />
      </>);
      break;
    case "ai_lead_capture":
      body = <p className="muted small">{t("flows.leadHint")}</p>;
      break;
    case "tag_contact":
      body = <TextField name="tags" label={f("tags")} value={((node.tags as string[]) ?? []).join(", ")}
        onChange={(v) => set({ tags: v.split(",").map((s) => s.trim()).filter(Boolean) })} />;
      break;
    case "update_contact":
      body = (<>
        <TextField name="name" label={f("contactName")} value={node.name} variables={textVars} onChange={(v) => set({ name: v })} />
        <TextField name="email" label={f("contactEmail")} value={node.email} variables={textVars} onChange={(v) => set({ email: v })} />
        <MapField name="attributes" label={f("attributes")} hint="city={{city}}" value={node.attributes} onChange={(v) => set({ attributes: v })} />
      </>);
      break;
    case "handoff":
      body = (<>
        <Select name="assign" label={f("assign")} value={node.assign} options={["none", "policy", "user"].map((a) => [a, t(`flows.assign.${a}`)])}
          onChange={(v) => set({ assign: v, user_id: v === "user" ? node.user_id : undefined })} />
        {node.assign === "user" && <TextField name="user_id" label={f("userId")} value={node.user_id} ltr onChange={(v) => set({ user_id: v })} />}
        <Select name="team_id" label={t("teams.flowTeam")} value={node.team_id}
          options={[["", t("teams.noTeam")], ...(teams.data ?? []).map((team): [string, string] => [team.id, team.name]),
            ...(node.team_id && !teams.data?.some((team) => team.id === node.team_id) ? [[str(node.team_id), str(node.team_id)] as [string, string]] : [])]}
          onChange={(v) => set({ team_id: v || undefined })} />
        <p className="muted small">{t("teams.flowTeamHint")}</p>
      </>);
      break;
    case "wait":
      body = <NumberField name="seconds" label={f("seconds")} value={node.seconds} onChange={(v) => set({ seconds: v })} />;
      break;
    case "jump":
      body = <Select name="target" label={f("target")} value={node.target} options={[["", "—"], ...nodeIds.filter((i) => i !== node.id).map((i): [string, string] => [i, i])]} onChange={(v) => set({ target: v })} />;
      break;
    case "split":
      body = (<>
        <span className="field-title">{f("branches")}</span>
        <ListEditor items={(node.branches as { name: string; weight: number }[]) ?? []} max={10} addLabel={t("flows.addBranch")}
          columns={[{ key: "name", label: f("branchName") }, { key: "weight", label: f("weight"), type: "number" }]}
          make={(i) => ({ name: String.fromCharCode(97 + i), weight: 50 })} onChange={(items) => set({ branches: items })} />
      </>);
      break;
    default:
      body = null;
  }
  return (
    <form className="node-form stack" aria-label={t("flows.nodeSettings")} onSubmit={(e) => e.preventDefault()} data-testid="node-form">
      <div className="page-head">
        <h2>{t(`flows.types.${node.type}`)} <span className="muted small" dir="ltr">{node.id}</span></h2>
        <div className="row">
          {!isStart && <button type="button" className="button small" onClick={onStart}>{t("flows.makeStart")}</button>}
          <button type="button" className="button small danger" onClick={onDelete}>{t("flows.deleteNode")}</button>
        </div>
      </div>
      {errors.length > 0 && (
        <ul className="alert alert-error plain" role="alert">
          {errors.map((e, i) => <li key={i}>{e.field}: {e.message}</li>)}
        </ul>
      )}
      <TextField name="label" label={f("label")} value={node.label} onChange={(v) => set({ label: v })} />
      {body}
    </form>
  );
}
