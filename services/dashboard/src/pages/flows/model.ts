// The flow document of the chatflow API (services/chatflow/src/chatflow/flow_nodes.py) and how
// the builder turns it into React Flow nodes and edges and back. Positions live in the
// document's optional `layout` (the engine ignores it).
import type { Edge, Node } from "@xyflow/react";

export const NODE_TYPES = [
  "send_text", "send_media", "send_buttons", "send_list", "ask_question", "condition",
  "set_variable", "http_request", "ai_answer", "ai_lead_capture", "tag_contact",
  "update_contact", "handoff", "wait", "jump", "split", "end",
] as const;
export type NodeType = (typeof NODE_TYPES)[number];

/** One node of the document: `id`, `type`, optional `label` and the type's own fields. */
export interface FlowNodeData {
  id: string;
  type: NodeType;
  label?: string;
  [field: string]: unknown;
}

export interface DocEdge {
  from: string;
  to: string;
  handle?: string;
}

export interface FlowDocument {
  start?: string | null;
  variables?: string[];
  nodes: FlowNodeData[];
  edges: DocEdge[];
  layout?: Record<string, { x: number; y: number }>;
}

export type Trigger =
  | { type: "keyword"; match: "exact" | "contains" | "regex"; value: string }
  | { type: "first_message" }
  | { type: "button"; payload: string }
  | { type: "campaign_reply" }
  | { type: "api" };

export interface Flow {
  id: string;
  name: string;
  number_id: string | null;
  priority: number;
  triggers: Trigger[];
  document: FlowDocument;
  published_version_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface FlowVersion {
  id: string;
  version: number;
  document: FlowDocument;
  published_by: string | null;
  created_at: string;
}

export interface NodeSummary {
  node_id: string;
  node_type: string;
  total: number;
  errors: number;
  outcomes: Record<string, number>;
  last_error: string | null;
  last_at: string | null;
}

export interface FlowError {
  node_id: string | null;
  field: string;
  message: string;
}

export type CanvasNode = Node<{ node: FlowNodeData }, "flow">;

/** The outputs (source handles) a node offers; the same rules as the API's `handles()`. */
export function handlesOf(node: FlowNodeData): string[] {
  switch (node.type) {
    case "send_buttons":
      return ["next", ...((node.buttons as { id: string }[] | undefined) ?? []).map((b) => b.id)];
    case "send_list":
      return ["next", ...listRows(node).map((r) => r.id)];
    case "ask_question":
      return ["next", "invalid", "timeout"];
    case "condition":
      return ["true", "false"];
    case "http_request":
      return ["next", "error"];
    case "split":
      return ((node.branches as { name: string }[] | undefined) ?? []).map((b) => b.name);
    case "handoff":
    case "jump":
    case "end":
      return [];
    default:
      return ["next"];
  }
}

export function listRows(node: FlowNodeData): { id: string; title: string; description?: string }[] {
  const sections = (node.sections as { rows: { id: string; title: string }[] }[] | undefined) ?? [];
  return sections.flatMap((s) => s.rows ?? []);
}

/** Variables a node assigns (the API's `sets()`). */
export function setsOf(node: FlowNodeData): string[] {
  switch (node.type) {
    case "send_buttons":
    case "send_list":
    case "ai_answer":
      return node.variable ? [String(node.variable)] : [];
    case "ask_question":
    case "set_variable":
      return node.variable ? [String(node.variable)] : [];
    case "http_request":
      return Object.keys((node.response_mapping as Record<string, string> | undefined) ?? {});
    default:
      return [];
  }
}

export const CONTACT_VARIABLES = ["contact.name", "contact.email", "contact.tags"];

/** Variables usable in a node's texts: the flow's own, `last_input`, the contact's fields,
 * and those set by every node that runs before it (its ancestors on the canvas). */
export function variablesFor(nodeId: string, nodes: FlowNodeData[], edges: DocEdge[], declared: string[]): string[] {
  const parents = new Map<string, string[]>();
  for (const edge of edges) parents.set(edge.to, [...(parents.get(edge.to) ?? []), edge.from]);
  for (const node of nodes) {
    if (node.type === "jump" && typeof node.target === "string") {
      parents.set(node.target, [...(parents.get(node.target) ?? []), node.id]);
    }
  }
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const seen = new Set<string>();
  const queue = [...(parents.get(nodeId) ?? [])];
  const found = new Set<string>(declared);
  while (queue.length) {
    const id = queue.shift() as string;
    if (seen.has(id)) continue;
    seen.add(id);
    const node = byId.get(id);
    if (node) setsOf(node).forEach((v) => found.add(v));
    queue.push(...(parents.get(id) ?? []));
  }
  return ["last_input", ...[...found].filter((v) => v !== "last_input").sort(), ...CONTACT_VARIABLES];
}

/** A new node of `type` with the fields the API requires filled with sensible defaults. */
export function defaultNode(type: NodeType, id: string): FlowNodeData {
  const base = { id, type };
  switch (type) {
    case "send_text":
      return { ...base, text: "Hello!" };
    case "send_media":
      return { ...base, media_type: "image", link: "https://example.com/picture.jpg" };
    case "send_buttons":
      return { ...base, text: "Choose one", buttons: [{ id: "b1", title: "Yes" }, { id: "b2", title: "No" }] };
    case "send_list":
      return { ...base, text: "Choose one", button: "Options", sections: [{ title: "Options", rows: [{ id: "r1", title: "First" }] }] };
    case "ask_question":
      return { ...base, text: "What is your name?", variable: "answer", validation: { type: "text" }, max_attempts: 3 };
    case "condition":
      return { ...base, mode: "and", rules: [{ left: "var.last_input", op: "eq", value: "" }] };
    case "set_variable":
      return { ...base, variable: "value", value: "" };
    case "http_request":
      return { ...base, method: "GET", url: "https://example.com/api", timeout_ms: 5000, headers: {}, response_mapping: {} };
    case "ai_answer":
      return { ...base, question: "{{last_input}}" };
    case "tag_contact":
      return { ...base, tags: ["lead"] };
    case "update_contact":
      return { ...base, attributes: {} };
    case "handoff":
      return { ...base, assign: "none" };
    case "wait":
      return { ...base, seconds: 60 };
    case "jump":
      return { ...base, target: "" };
    case "split":
      return { ...base, branches: [{ name: "a", weight: 50 }, { name: "b", weight: 50 }] };
    default:
      return base;
  }
}

const OPTIONAL = ["label", "link", "media_id", "caption", "reprompt_text", "timeout_seconds", "user_id", "team_id", "name", "email", "body"];

/** The node as the API expects it: empty optional fields left out. */
export function cleanNode(node: FlowNodeData): FlowNodeData {
  const out: FlowNodeData = { ...node };
  for (const key of OPTIONAL) {
    if (out[key] === "" || out[key] === null || out[key] === undefined) delete out[key];
  }
  if (out.variable === "" && node.type !== "ask_question" && node.type !== "set_variable") delete out.variable;
  if (node.type === "ask_question" && out.validation) {
    const validation = { ...(out.validation as Record<string, unknown>) };
    if (!validation.pattern) delete validation.pattern;
    if (!validation.choices || (validation.choices as string[]).length === 0) delete validation.choices;
    out.validation = validation;
  }
  if (node.type === "send_list") {
    out.sections = ((node.sections as { title: string; rows: { id: string; title: string; description?: string }[] }[]) ?? []).map((s) => ({
      ...s,
      rows: s.rows.map((r) => (r.description ? r : { id: r.id, title: r.title })),
    }));
  }
  return out;
}

export function toCanvas(document: FlowDocument): { nodes: CanvasNode[]; edges: Edge[] } {
  const layout = document.layout ?? {};
  const nodes: CanvasNode[] = document.nodes.map((node, index) => ({
    id: node.id,
    type: "flow",
    position: layout[node.id] ?? { x: 80 + (index % 4) * 260, y: 60 + Math.floor(index / 4) * 200 },
    data: { node },
  }));
  const edges: Edge[] = document.edges.map((edge) => edgeOf(edge.from, edge.handle ?? "next", edge.to));
  return { nodes, edges };
}

export function edgeOf(source: string, handle: string, target: string): Edge {
  return { id: `${source}:${handle}->${target}`, source, sourceHandle: handle, target };
}

export function toDocument(nodes: CanvasNode[], edges: Edge[], start: string | null, variables: string[]): FlowDocument {
  const layout: Record<string, { x: number; y: number }> = {};
  for (const node of nodes) layout[node.id] = { x: Math.round(node.position.x), y: Math.round(node.position.y) };
  return {
    start: start || null,
    variables,
    nodes: nodes.map((n) => cleanNode(n.data.node)),
    edges: edges.map((e) => ({ from: e.source, to: e.target, handle: e.sourceHandle ?? "next" })),
    layout,
  };
}

export function freshId(type: NodeType, taken: Set<string>): string {
  for (let n = 1; ; n += 1) {
    const id = `${type}_${n}`;
    if (!taken.has(id)) return id;
  }
}
