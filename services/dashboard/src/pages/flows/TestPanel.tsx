// The test panel: plays a conversation against the saved draft (POST /api/v1/flows/{id}/test).
// Nothing reaches WhatsApp. Steps that reach outside are simulated and say what they would do:
// a wait how long, an HTTP request the request it would make (not made), an AI answer the
// built-in answerer's reply or the provider it would ask (not asked).
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import type { FormEvent, ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../../api/client";
import { ErrorNote } from "../../components/ErrorNote";
import { formatWait } from "../../format";

interface Reply {
  type: string;
  text?: { body: string };
  interactive?: {
    type: "button" | "list";
    body: { text: string };
    action: { buttons?: { reply: { id: string; title: string } }[]; sections?: { rows: { id: string; title: string }[] }[] };
  };
  [media: string]: unknown;
}

interface Played {
  turns: {
    input: string;
    replies: Reply[];
    actions: { kind: string; [k: string]: unknown }[];
    trace: { node_id: string | null; outcome: string; note: string | null }[];
    simulated?: Simulated[];
  }[];
  status: string;
  end_reason: string | null;
  variables: Record<string, unknown>;
}

type Simulated =
  | { node_id: string; kind: "wait"; seconds: number }
  | { node_id: string; kind: "http_request"; method: string; url: string; headers: Record<string, string>; body: string | null; unset: string[] }
  | { node_id: string; kind: "ai_answer"; provider: string | null; model: string | null }
  | { node_id: string; kind: "ai_lead_capture" };

function SimulatedView({ step, handedOff }: { step: Simulated; handedOff: boolean }) {
  const { t } = useTranslation();
  let body: ReactNode;
  if (step.kind === "wait") body = t("flowSim.wait", { time: formatWait(step.seconds, t) });
  else if (step.kind === "http_request") {
    const headers = Object.entries(step.headers);
    body = (
      <>
        {t("flowSim.http")} <code dir="ltr">{step.method} {step.url}</code>
        {(headers.length > 0 || step.body) && (
          <pre className="code small" dir="ltr">
            {headers.length > 0 && `${t("flowSim.headers")}:\n${headers.map(([k, v]) => `${k}: ${v}`).join("\n")}\n`}
            {step.body && `${t("flowSim.body")}:\n${step.body}`}
          </pre>
        )}
      </>
    );
  } else if (step.kind === "ai_answer") {
    if (step.provider === "builtin") body = handedOff ? t("flowSim.aiBuiltinHandoff") : t("flowSim.aiBuiltin");
    else if (step.provider === null || step.provider === "none") body = t("flowSim.aiNone");
    else body = t("flowSim.aiProvider", { provider: t(`ai.providers.${step.provider}`, { defaultValue: step.provider }), model: step.model ?? "" });
  } else body = t("flowSim.leadCapture");
  return <div className="test-action small muted" data-testid={`test-sim-${step.kind}`}><strong dir="ltr">{step.node_id}</strong>: {body}</div>;
}

function ReplyView({ reply, onChoose }: { reply: Reply; onChoose: (text: string) => void }) {
  if (reply.text) return <div className="bubble bot" dir="auto">{reply.text.body}</div>;
  if (reply.interactive) {
    const choices = reply.interactive.action.buttons?.map((b) => b.reply.title)
      ?? reply.interactive.action.sections?.flatMap((s) => s.rows.map((r) => r.title)) ?? [];
    return (
      <div className="bubble bot" dir="auto">
        {reply.interactive.body.text}
        <div className="bubble-choices">
          {choices.map((c) => <button key={c} type="button" className="button small" onClick={() => onChoose(c)}>{c}</button>)}
        </div>
      </div>
    );
  }
  return <div className="bubble bot muted">[{reply.type}]</div>;
}

export function TestPanel({ flowId, beforeRun }: { flowId: string; beforeRun: () => Promise<void> }) {
  const { t } = useTranslation();
  const [messages, setMessages] = useState<string[]>([]);
  const [text, setText] = useState("");
  const [played, setPlayed] = useState<Played | null>(null);
  const [name, setName] = useState("");
  const [tags, setTags] = useState("");
  const run = useMutation({
    mutationFn: async (next: string[]) => {
      await beforeRun();
      const contact = { ...(name.trim() ? { name: name.trim() } : {}), tags: tags.split(",").map((t) => t.trim()).filter(Boolean) };
      return api<Played>(`/api/v1/flows/${flowId}/test`, { method: "POST", json: { messages: next, contact } });
    },
    onSuccess: (answer, next) => { setPlayed(answer); setMessages(next); },
  });
  const say = (value: string) => {
    if (!value.trim()) return;
    run.mutate([...messages, value.trim()]);
    setText("");
  };
  return (
    <div className="stack test-panel" data-testid="test-panel">
      <p className="muted small">{t("flows.testHint")}</p>
      <details className="small">
        <summary>{t("flows.testCustomer")}</summary>
        <div className="stack">
          <label className="field"><span>{t("flows.fields.contactName")}</span>
            <input value={name} dir="auto" data-testid="test-contact-name" onChange={(e) => setName(e.target.value)} /></label>
          <label className="field"><span>{t("flows.fields.tags")}</span>
            <input value={tags} dir="auto" onChange={(e) => setTags(e.target.value)} /></label>
        </div>
      </details>
      <div className="test-log" aria-live="polite">
        {played?.turns.map((turn, index) => (
          <div key={index} className="stack test-turn">
            <div className="bubble customer" dir="auto">{turn.input}</div>
            {turn.replies.map((reply, i) => <ReplyView key={i} reply={reply} onChoose={say} />)}
            {turn.actions.map((action, i) => (
              <div key={`a${i}`} className="test-action small">{t(`flows.actions.${action.kind}`, { defaultValue: action.kind })}{action.tags ? `: ${(action.tags as string[]).join(", ")}` : ""}{action.reason ? ` (${String(action.reason)})` : ""}</div>
            ))}
            {turn.simulated?.map((step, i) => (
              <SimulatedView key={`s${i}`} step={step} handedOff={turn.trace.some((s) => s.node_id === step.node_id && s.outcome === "handoff")} />
            ))}
            {turn.trace.filter((s) => s.note && !turn.simulated?.some((m) => m.node_id === s.node_id)).map((s, i) => (
              <div key={`n${i}`} className="test-action small muted">{s.node_id}: {s.note === "skipped_in_test" ? t("flows.skipped") : s.note}</div>
            ))}
          </div>
        ))}
      </div>
      {played && (
        <div className="small" data-testid="test-state">
          <strong>{t(`flows.testStatus.${played.status}`, { defaultValue: played.status })}</strong>
          {played.end_reason && <span className="muted"> · {played.end_reason}</span>}
          <ul className="plain" dir="ltr" data-testid="test-variables">
            {Object.entries(played.variables).map(([k, v]) => <li key={k}><code>{k}</code> = {String(v)}</li>)}
          </ul>
        </div>
      )}
      <ErrorNote error={run.error} />
      <form className="row" onSubmit={(e: FormEvent) => { e.preventDefault(); say(text); }}>
        <input className="grow" value={text} dir="auto" aria-label={t("flows.testMessage")} placeholder={t("flows.testMessage")}
          data-testid="test-input" onChange={(e) => setText(e.target.value)} />
        <button type="submit" className="button primary" disabled={run.isPending}>{t("flows.testSend")}</button>
        <button type="button" className="button" onClick={() => { setMessages([]); setPlayed(null); }}>{t("flows.testReset")}</button>
      </form>
    </div>
  );
}
