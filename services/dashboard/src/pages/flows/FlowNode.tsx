// One node on the canvas: its type and summary, an input handle, one output handle per output
// (buttons, list rows, condition branches, split arms, invalid/timeout/error), the validation
// errors of the last save, and the counts of real runs when the overlay is on.
import { Handle, Position } from "@xyflow/react";
import type { NodeProps } from "@xyflow/react";
import { createContext, useContext } from "react";
import { useTranslation } from "react-i18next";
import { formatNumber } from "../../format";
import type { CanvasNode, FlowError, FlowNodeData, NodeSummary } from "./model";
import { handlesOf, listRows } from "./model";

export interface CanvasInfo {
  start: string | null;
  errors: Map<string, FlowError[]>;
  stats: Map<string, NodeSummary> | null;
}

export const CanvasContext = createContext<CanvasInfo>({ start: null, errors: new Map(), stats: null });

const NAMED_HANDLES = ["next", "invalid", "timeout", "true", "false", "error"];

function handleLabel(node: FlowNodeData, handle: string, t: (key: string) => string): string {
  if (node.type === "send_buttons") {
    const button = ((node.buttons as { id: string; title: string }[]) ?? []).find((b) => b.id === handle);
    if (button) return button.title;
  }
  if (node.type === "send_list") {
    const row = listRows(node).find((r) => r.id === handle);
    if (row) return row.title;
  }
  return NAMED_HANDLES.includes(handle) ? t(`flows.handles.${handle}`) : handle;
}

function summary(node: FlowNodeData): string {
  for (const key of ["text", "question", "url", "value", "target"]) {
    if (typeof node[key] === "string" && node[key]) return String(node[key]);
  }
  if (node.type === "wait") return `${String(node.seconds)} s`;
  if (node.type === "tag_contact") return ((node.tags as string[]) ?? []).join(", ");
  return "";
}

export function FlowNodeView({ id, data, selected }: NodeProps<CanvasNode>) {
  const { t } = useTranslation();
  const info = useContext(CanvasContext);
  const node = data.node;
  const errors = info.errors.get(id) ?? [];
  const stats = info.stats?.get(id);
  const handles = handlesOf(node);
  const stops = stats?.outcomes.loop_stopped ?? 0;
  const classes = ["flow-node", selected ? "selected" : "", errors.length ? "has-errors" : ""].join(" ");
  return (
    <div className={classes} data-testid={`node-${id}`} data-node-type={node.type}>
      <Handle type="target" position={Position.Top} id="in" data-testid={`target-${id}`} />
      <div className="flow-node-head">
        <span className="flow-node-type">{t(`flows.types.${node.type}`)}</span>
        {info.start === id && <span className="badge badge-live">{t("flows.start")}</span>}
      </div>
      <div className="flow-node-id">{node.label || id}</div>
      {summary(node) && <div className="flow-node-summary">{summary(node)}</div>}
      {stats && (
        <div className="flow-node-stats" data-testid={`stats-${id}`} title={Object.entries(stats.outcomes).map(([k, v]) => `${k}: ${v}`).join("\n")}>
          <span className="stat">{t("flows.runs", { n: formatNumber(stats.total) })}</span>
          {Object.entries(stats.outcomes).map(([outcome, count]) => (
            <span key={outcome} className={`stat stat-${outcome}`}>{outcome} {formatNumber(count)}</span>
          ))}
          {stops > 0 && <span className="stat stat-stop" data-testid={`loop-${id}`}>{t("flows.loopStops", { n: formatNumber(stops) })}</span>}
          {stats.errors > 0 && <span className="stat stat-error" title={stats.last_error ?? ""}>{t("flows.errorsCount", { n: formatNumber(stats.errors) })}</span>}
          {stats.last_error && <span className="flow-node-error-text">{stats.last_error}</span>}
        </div>
      )}
      {errors.length > 0 && (
        <ul className="flow-node-errors" data-testid={`errors-${id}`}>
          {errors.map((e, i) => <li key={i}>{e.field !== "(node)" ? `${e.field}: ` : ""}{e.message}</li>)}
        </ul>
      )}
      <div className="flow-node-outputs">
        {handles.map((handle) => (
          <div key={handle} className="flow-node-output">
            <span className={`out-label out-${handle}`}>{handleLabel(node, handle, t)}</span>
            <Handle type="source" position={Position.Bottom} id={handle} data-testid={`out-${id}-${handle}`} className="out-handle" />
          </div>
        ))}
      </div>
    </div>
  );
}
