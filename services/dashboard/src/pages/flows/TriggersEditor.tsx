// A flow's triggers: keyword (exact, contains, regex), first message, button payload,
// campaign reply and API.
import { useTranslation } from "react-i18next";
import type { Trigger } from "./model";

const KINDS: Trigger["type"][] = ["keyword", "first_message", "button", "campaign_reply", "api"];

function fresh(kind: Trigger["type"]): Trigger {
  if (kind === "keyword") return { type: "keyword", match: "exact", value: "" };
  if (kind === "button") return { type: "button", payload: "" };
  return { type: kind } as Trigger;
}

export function TriggersEditor({ triggers, onChange }: { triggers: Trigger[]; onChange: (next: Trigger[]) => void }) {
  const { t } = useTranslation();
  const replace = (index: number, next: Trigger) => onChange(triggers.map((tr, i) => (i === index ? next : tr)));
  return (
    <div className="stack" data-testid="triggers">
      <span className="field-title">{t("flows.triggers")}</span>
      {triggers.length === 0 && <p className="muted small">{t("flows.noTriggers")}</p>}
      {triggers.map((trigger, index) => (
        <div key={index} className="row list-editor-row" data-testid={`trigger-${index}`}>
          <select aria-label={t("flows.triggerType")} value={trigger.type} onChange={(e) => replace(index, fresh(e.target.value as Trigger["type"]))}>
            {KINDS.map((k) => <option key={k} value={k}>{t(`flows.triggerTypes.${k}`)}</option>)}
          </select>
          {trigger.type === "keyword" && (<>
            <select aria-label={t("flows.match")} value={trigger.match} onChange={(e) => replace(index, { ...trigger, match: e.target.value as "exact" | "contains" | "regex" })}>
              {(["exact", "contains", "regex"] as const).map((m) => <option key={m} value={m}>{t(`flows.matches.${m}`)}</option>)}
            </select>
            <input aria-label={t("flows.keyword")} placeholder={t("flows.keyword")} dir="auto" value={trigger.value} data-testid={`trigger-value-${index}`}
              onChange={(e) => replace(index, { ...trigger, value: e.target.value })} />
          </>)}
          {trigger.type === "button" && (
            <input aria-label={t("flows.payload")} placeholder={t("flows.payload")} dir="ltr" value={trigger.payload}
              onChange={(e) => replace(index, { ...trigger, payload: e.target.value })} />
          )}
          <button type="button" className="button small ghost" aria-label={t("common.delete")} onClick={() => onChange(triggers.filter((_, i) => i !== index))}>×</button>
        </div>
      ))}
      <button type="button" className="button small" data-testid="add-trigger" onClick={() => onChange([...triggers, fresh("keyword")])}>{t("flows.addTrigger")}</button>
    </div>
  );
}
