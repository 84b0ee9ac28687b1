// The visual flow builder: palette, canvas (React Flow, always laid out left to right), and a
// side panel with the selected node's form, the flow's settings and triggers, its versions and
// the test panel. Saving PUTs the whole document (positions in `layout`); the API's 422
// `errors[].node_id` are shown on the nodes they concern.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { addEdge, Background, Controls, MiniMap, ReactFlow, useEdgesState, useNodesState } from "@xyflow/react";
import type { Connection, Edge, EdgeChange, NodeChange, ReactFlowInstance } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { useCallback, useEffect, useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useParams } from "react-router";
import { api, ApiError } from "../../api/client";
import type { WhatsAppNumber } from "../../api/types";
import { ErrorNote } from "../../components/ErrorNote";
import { formatDateTime } from "../../format";
import { isManager, useMe } from "../../session";
import { CanvasContext, FlowNodeView } from "./FlowNode";
import type { CanvasNode, Flow, FlowDocument, FlowError, FlowNodeData, FlowVersion, NodeSummary, NodeType, Trigger } from "./model";
import { defaultNode, edgeOf, freshId, NODE_TYPES, toCanvas, toDocument, variablesFor } from "./model";
import { NodeForm } from "./NodeForm";
import { TestPanel } from "./TestPanel";
import { TriggersEditor } from "./TriggersEditor";

const nodeTypes = { flow: FlowNodeView };
// A palette entry dragged onto the canvas carries its node type under this type.
const PALETTE_MIME = "application/x-majlis-node";
type Tab = "node" | "settings" | "versions" | "test";

export function FlowEditor() {
  const { flowId = "" } = useParams();
  const { t } = useTranslation();
  const flow = useQuery({ queryKey: ["flow", flowId], queryFn: () => api<Flow>(`/api/v1/flows/${flowId}`) });
  if (flow.error) return <div className="page"><ErrorNote error={flow.error} /></div>;
  if (!flow.data) return <div className="page muted">{t("app.loading")}</div>;
  return <Editor key={flow.data.id} flow={flow.data} />;
}

function errorsOf(error: unknown): FlowError[] | null {
  if (error instanceof ApiError && error.status === 422 && Array.isArray(error.problem.errors)) {
    return error.problem.errors as unknown as FlowError[];
  }
  return null;
}

function Editor({ flow }: { flow: Flow }) {
  const { t } = useTranslation();
  const me = useMe();
  const manager = isManager(me.user.role);
  const queryClient = useQueryClient();
  const initial = useMemo(() => toCanvas(flow.document), [flow.document]);
  const [nodes, setNodes, onNodesChange] = useNodesState<CanvasNode>(initial.nodes);
  const [edges, setEdges, onEdgesChange] = useEdgesState<Edge>(initial.edges);
  const [start, setStart] = useState<string | null>(flow.document.start ?? null);
  const [variables, setVariables] = useState<string[]>(flow.document.variables ?? []);
  const [name, setName] = useState(flow.name);
  const [numberId, setNumberId] = useState<string | null>(flow.number_id);
  const [priority, setPriority] = useState(flow.priority);
  const [triggers, setTriggers] = useState<Trigger[]>(flow.triggers);
  const [publishedId, setPublishedId] = useState(flow.published_version_id);
  const [dirty, setDirty] = useState(false);
  const [errors, setErrors] = useState<FlowError[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [tab, setTab] = useState<Tab>("settings");
  const [showRuns, setShowRuns] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [instance, setInstance] = useState<ReactFlowInstance<CanvasNode, Edge> | null>(null);

  const numbers = useQuery({ queryKey: ["numbers"], queryFn: async () => (await api<{ numbers: WhatsAppNumber[] }>("/api/v1/numbers")).numbers });
  const summary = useQuery({
    queryKey: ["flow-summary", flow.id],
    queryFn: () => api<{ nodes: NodeSummary[] }>(`/api/v1/flows/${flow.id}/logs/summary`),
    enabled: showRuns,
    refetchInterval: showRuns ? 3000 : false,
  });
  const versions = useQuery({
    queryKey: ["flow-versions", flow.id],
    queryFn: async () => (await api<{ items: FlowVersion[] }>(`/api/v1/flows/${flow.id}/versions`)).items,
    enabled: tab === "versions",
  });

  const touched = () => { setDirty(true); setNotice(null); };
  const handleNodes = useCallback((changes: NodeChange<CanvasNode>[]) => {
    onNodesChange(changes);
    if (changes.some((c) => c.type === "position" || c.type === "remove")) setDirty(true);
  }, [onNodesChange]);
  const handleEdges = useCallback((changes: EdgeChange<Edge>[]) => {
    onEdgesChange(changes);
    if (changes.some((c) => c.type === "remove")) setDirty(true);
  }, [onEdgesChange]);
  const onConnect = useCallback((connection: Connection) => {
    if (!connection.source || !connection.target || connection.source === connection.target) return;
    const handle = connection.sourceHandle ?? "next";
    // One edge per output: a new connection replaces the old one.
    setEdges((current) => addEdge(edgeOf(connection.source, handle, connection.target),
      current.filter((e) => !(e.source === connection.source && (e.sourceHandle ?? "next") === handle))));
    setDirty(true);
  }, [setEdges]);

  const addNode = (type: NodeType, dropped?: { x: number; y: number }) => {
    const id = freshId(type, new Set(nodes.map((n) => n.id)));
    // A new step goes below the lowest one, and the canvas re-frames to show every step.
    const bottom = nodes.reduce((max, n) => Math.max(max, n.position.y + (n.measured?.height ?? 100)), 0);
    const left = nodes.length ? Math.min(...nodes.map((n) => n.position.x)) : 80;
    const position = dropped ?? { x: left + (nodes.length % 2) * 60, y: nodes.length ? bottom + 60 : 60 };
    if (!dropped) window.setTimeout(() => void instance?.fitView({ maxZoom: 1, padding: 0.15 }), 50);
    setNodes((current) => [...current.map((n) => ({ ...n, selected: false })), { id, type: "flow", position, data: { node: defaultNode(type, id) }, selected: true }]);
    if (!start) setStart(id);
    setSelected(id);
    setTab("node");
    touched();
  };
  const updateNode = (node: FlowNodeData) => {
    setNodes((current) => current.map((n) => (n.id === node.id ? { ...n, data: { node } } : n)));
    touched();
  };
  const deleteNode = (id: string) => {
    setNodes((current) => current.filter((n) => n.id !== id));
    setEdges((current) => current.filter((e) => e.source !== id && e.target !== id));
    if (start === id) setStart(null);
    setSelected(null);
    setTab("settings");
    touched();
  };
  const loadDocument = (document: FlowDocument) => {
    const canvas = toCanvas(document);
    setNodes(canvas.nodes);
    setEdges(canvas.edges);
    setStart(document.start ?? null);
    setVariables(document.variables ?? []);
    setSelected(null);
    touched();
  };

  const document = () => toDocument(nodes, edges, start, variables);
  const save = useMutation({
    mutationFn: async () => {
      const body = { name, number_id: numberId, priority, triggers, document: document() };
      return api<Flow>(`/api/v1/flows/${flow.id}`, { method: "PUT", json: body });
    },
    onSuccess: (saved) => {
      setErrors([]);
      setDirty(false);
      setNotice(t("flows.saved"));
      queryClient.setQueryData(["flow", flow.id], saved);
      void queryClient.invalidateQueries({ queryKey: ["flows"] });
    },
    onError: (error) => setErrors(errorsOf(error) ?? []),
  });
  const saveIfDirty = async () => { if (dirty) await save.mutateAsync(); };
  const publish = useMutation({
    mutationFn: async () => {
      await saveIfDirty();
      return api<{ id: string; version: number }>(`/api/v1/flows/${flow.id}/publish`, { method: "POST" });
    },
    onSuccess: (version) => {
      setPublishedId(version.id);
      setNotice(t("flows.published", { version: version.version }));
      void queryClient.invalidateQueries({ queryKey: ["flow-versions", flow.id] });
    },
    onError: (error) => { const found = errorsOf(error); if (found) setErrors(found); },
  });

  useEffect(() => {
    const warn = (event: BeforeUnloadEvent) => { if (dirty) event.preventDefault(); };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [dirty]);

  const byNode = useMemo(() => {
    const map = new Map<string, FlowError[]>();
    for (const error of errors) {
      if (error.node_id) map.set(error.node_id, [...(map.get(error.node_id) ?? []), error]);
    }
    return map;
  }, [errors]);
  const general = errors.filter((e) => !e.node_id || !nodes.some((n) => n.id === e.node_id));
  const stats = useMemo(
    () => (showRuns && summary.data ? new Map(summary.data.nodes.map((s) => [s.node_id, s])) : null),
    [showRuns, summary.data],
  );
  const info = useMemo(() => ({ start, errors: byNode, stats }), [start, byNode, stats]);
  const selectedNode = nodes.find((n) => n.id === selected)?.data.node ?? null;
  const docNodes = nodes.map((n) => n.data.node);
  const docEdges = edges.map((e) => ({ from: e.source, to: e.target, handle: e.sourceHandle ?? "next" }));

  return (
    <div className="flow-builder" data-testid="flow-builder">
      <div className="flow-toolbar">
        <Link to="/flows" className="button ghost small">{t("flows.back")}</Link>
        <strong className="grow">{name}</strong>
        <span className={`badge ${publishedId ? "badge-live" : "badge-muted"}`} data-testid="publish-state">
          {publishedId ? t("flows.isPublished") : t("flows.draftOnly")}
        </span>
        {dirty && <span className="badge badge-muted" data-testid="dirty">{t("flows.unsaved")}</span>}
        <label className="check">
          <input type="checkbox" checked={showRuns} onChange={(e) => setShowRuns(e.target.checked)} data-testid="show-runs" />
          {t("flows.showRuns")}
        </label>
        {manager && (<>
          <button type="button" className="button" onClick={() => save.mutate()} disabled={save.isPending} data-testid="save-flow">{t("flows.saveDraft")}</button>
          <button type="button" className="button primary" onClick={() => publish.mutate()} disabled={publish.isPending} data-testid="publish-flow">{t("flows.publish")}</button>
        </>)}
      </div>
      {notice && <p className="alert alert-ok flow-notice" role="status">{notice}</p>}
      {errors.length > 0 && (
        <div className="alert alert-error flow-notice" role="alert" data-testid="flow-errors">
          <p>{t("flows.invalid", { n: errors.length })}</p>
          {general.length > 0 && <ul className="plain">{general.map((e, i) => <li key={i}>{e.node_id ? `${e.node_id} · ` : ""}{e.field}: {e.message}</li>)}</ul>}
        </div>
      )}
      {!errorsOf(save.error) && <ErrorNote error={save.error} />}
      {!errorsOf(publish.error) && <ErrorNote error={publish.error} />}
      <div className="flow-body">
        {manager && (
          <aside className="flow-palette" aria-label={t("flows.palette")}>
            <h2>{t("flows.palette")}</h2>
            {NODE_TYPES.map((type) => (
              <button key={type} type="button" className="palette-item" data-testid={`add-${type}`} onClick={() => addNode(type)}
                draggable onDragStart={(e) => { e.dataTransfer.setData(PALETTE_MIME, type); e.dataTransfer.effectAllowed = "move"; }}>
                {t(`flows.types.${type}`)}
              </button>
            ))}
          </aside>
        )}
        <div className="flow-canvas" dir="ltr" data-testid="flow-canvas"
          onDragOver={(e) => { if (manager && e.dataTransfer.types.includes(PALETTE_MIME)) { e.preventDefault(); e.dataTransfer.dropEffect = "move"; } }}
          onDrop={(e) => {
            const type = e.dataTransfer.getData(PALETTE_MIME) as NodeType;
            if (!manager || !instance || !NODE_TYPES.includes(type)) return;
            e.preventDefault();
            addNode(type, instance.screenToFlowPosition({ x: e.clientX, y: e.clientY }));
          }}>
          <CanvasContext.Provider value={info}>
            <ReactFlow<CanvasNode, Edge>
              nodes={nodes}
              edges={edges}
              nodeTypes={nodeTypes}
              onNodesChange={handleNodes}
              onEdgesChange={handleEdges}
              onConnect={onConnect}
              onInit={setInstance}
              onNodeClick={(_, node) => { setSelected(node.id); setTab("node"); }}
              onPaneClick={() => setSelected(null)}
              nodesDraggable={manager}
              nodesConnectable={manager}
              deleteKeyCode={manager ? ["Delete", "Backspace"] : null}
              fitView
              fitViewOptions={{ maxZoom: 1 }}
              proOptions={{ hideAttribution: true }}
            >
              <Background />
              <Controls />
              <MiniMap pannable zoomable />
            </ReactFlow>
          </CanvasContext.Provider>
        </div>
        <aside className="flow-side" aria-label={t("flows.panel")}>
          <div className="tabs" role="tablist">
            {(["node", "settings", "versions", "test"] as Tab[]).filter((k) => manager || k !== "test").map((key) => (
              <button key={key} type="button" role="tab" aria-selected={tab === key} className={`tab ${tab === key ? "active" : ""}`}
                data-testid={`tab-${key}`} onClick={() => setTab(key)}>{t(`flows.tabs.${key}`)}</button>
            ))}
          </div>
          {tab === "node" && (selectedNode ? (
            manager ? (
              <NodeForm key={selectedNode.id} node={selectedNode} errors={byNode.get(selectedNode.id) ?? []}
                variables={variablesFor(selectedNode.id, docNodes, docEdges, variables)}
                nodeIds={docNodes.map((n) => n.id)} onChange={updateNode} onDelete={() => deleteNode(selectedNode.id)}
                onStart={() => { setStart(selectedNode.id); touched(); }} isStart={start === selectedNode.id} />
            ) : <pre className="code" dir="ltr">{JSON.stringify(selectedNode, null, 2)}</pre>
          ) : <p className="muted">{t("flows.pickNode")}</p>)}
          {tab === "settings" && (
            <fieldset className="stack plain-fieldset" disabled={!manager}>
              <label className="field"><span>{t("flows.name")}</span>
                <input value={name} data-testid="flow-name" onChange={(e) => { setName(e.target.value); touched(); }} /></label>
              <label className="field"><span>{t("flows.number")}</span>
                <select value={numberId ?? ""} data-testid="flow-number" onChange={(e) => { setNumberId(e.target.value || null); touched(); }}>
                  <option value="">{t("flows.allNumbers")}</option>
                  {numbers.data?.map((n) => <option key={n.id} value={n.id}>{n.display_number}</option>)}
                </select></label>
              <label className="field"><span>{t("flows.priority")}</span>
                <input type="number" min={-1000} max={1000} value={priority} data-testid="flow-priority"
                  onChange={(e) => { setPriority(Number(e.target.value)); touched(); }} /></label>
              <label className="field"><span>{t("flows.startNode")}</span>
                <select value={start ?? ""} data-testid="flow-start" onChange={(e) => { setStart(e.target.value || null); touched(); }}>
                  <option value="">—</option>
                  {docNodes.map((n) => <option key={n.id} value={n.id}>{n.label || n.id}</option>)}
                </select></label>
              <label className="field"><span>{t("flows.variables")}</span>
                <input dir="ltr" defaultValue={variables.join(", ")} data-testid="flow-variables"
                  onBlur={(e) => { setVariables(e.target.value.split(",").map((v) => v.trim()).filter(Boolean)); touched(); }} /></label>
              <TriggersEditor triggers={triggers} onChange={(next) => { setTriggers(next); touched(); }} />
            </fieldset>
          )}
          {tab === "versions" && (
            <div className="stack">
              <ErrorNote error={versions.error} />
              {versions.data?.length === 0 && <p className="muted">{t("flows.noVersions")}</p>}
              <ul className="plain stack" data-testid="versions">
                {versions.data?.map((v) => (
                  <li key={v.id} className="version-row">
                    <strong>{t("flows.version", { version: v.version })}</strong>
                    {v.id === publishedId && <span className="badge badge-live">{t("flows.live")}</span>}
                    <span className="muted small">{formatDateTime(v.created_at)}</span>
                    {manager && <button type="button" className="button small" onClick={() => loadDocument(v.document)}>{t("flows.loadVersion")}</button>}
                  </li>
                ))}
              </ul>
            </div>
          )}
          {tab === "test" && manager && <TestPanel flowId={flow.id} beforeRun={saveIfDirty} />}
        </aside>
      </div>
    </div>
  );
}
