// The flows list: name, published or draft only, last change; owners and admins create.
// Keyset pages of 100 (the API's `cursor`), more on "Load more".
import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { Link, useNavigate } from "react-router";
import { api } from "../../api/client";
import { ErrorNote } from "../../components/ErrorNote";
import { formatDateTime } from "../../format";
import { isManager, useMe } from "../../session";
import type { Flow, FlowDocument } from "./model";

const STARTER: FlowDocument = {
  start: "welcome",
  variables: [],
  nodes: [
    { id: "welcome", type: "send_text", text: "Hello! 👋" },
    { id: "done", type: "end" },
  ],
  edges: [{ from: "welcome", to: "done" }],
  layout: { welcome: { x: 80, y: 60 }, done: { x: 80, y: 260 } },
};

export function Flows() {
  const { t } = useTranslation();
  const me = useMe();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const pages = useInfiniteQuery({
    queryKey: ["flows"],
    initialPageParam: "",
    queryFn: ({ pageParam }) => api<{ items: Flow[]; next_cursor: string | null }>("/api/v1/flows", { query: { limit: 100, cursor: pageParam || undefined } }),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const flows = { data: pages.data?.pages.flatMap((p) => p.items), error: pages.error };
  const create = useMutation({
    mutationFn: () => api<Flow>("/api/v1/flows", { method: "POST", json: { name, document: STARTER } }),
    onSuccess: (flow) => { void queryClient.invalidateQueries({ queryKey: ["flows"] }); navigate(`/flows/${flow.id}`); },
  });
  return (
    <div className="page stack">
      <div className="page-head"><h1>{t("flows.title")}</h1></div>
      {isManager(me.user.role) && (
        <form className="row card" onSubmit={(e: FormEvent) => { e.preventDefault(); create.mutate(); }}>
          <input className="grow" required maxLength={200} value={name} placeholder={t("flows.name")} aria-label={t("flows.name")}
            data-testid="new-flow-name" onChange={(e) => setName(e.target.value)} />
          <button type="submit" className="button primary" data-testid="create-flow">{t("flows.create")}</button>
        </form>
      )}
      <ErrorNote error={create.error ?? flows.error} />
      <table className="table">
        <thead><tr><th>{t("flows.name")}</th><th>{t("flows.state")}</th><th>{t("flows.triggers")}</th><th>{t("flows.updated")}</th></tr></thead>
        <tbody>
          {flows.data?.length === 0 && <tr><td colSpan={4} className="muted">{t("flows.none")}</td></tr>}
          {flows.data?.map((flow) => (
            <tr key={flow.id}>
              <td><Link to={`/flows/${flow.id}`}>{flow.name}</Link></td>
              <td><span className={`status-chip ${flow.published_version_id ? "status-active" : ""}`}>{flow.published_version_id ? t("flows.isPublished") : t("flows.draftOnly")}</span></td>
              <td>{flow.triggers.map((tr, i) => <span key={i} className="label-chip">{t(`flows.triggerTypes.${tr.type}`)}{tr.type === "keyword" ? `: ${tr.value}` : ""}</span>)}</td>
              <td>{formatDateTime(flow.updated_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {pages.hasNextPage && (
        <button type="button" className="button" data-testid="flows-more" disabled={pages.isFetchingNextPage} onClick={() => void pages.fetchNextPage()}>{t("common.loadMore")}</button>
      )}
    </div>
  );
}
