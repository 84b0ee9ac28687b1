// Leads: a pipeline board by stage (drag a card, or use its move buttons; each move PATCHes
// the stage: new → qualified → won/lost) and a table; the detail links to the conversation the
// lead came from. Keyset pages of 100 (the API's `after` cursor), more on "Load more"; the
// board's column counts are of the leads loaded so far.
import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import type { InfiniteData } from "@tanstack/react-query";
import { useState } from "react";
import type { DragEvent } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { api } from "../api/client";
import { ErrorNote } from "../components/ErrorNote";
import { formatDateTime, formatNumber } from "../format";
import { useMe } from "../session";

type Stage = "new" | "qualified" | "won" | "lost";
const STAGES: Stage[] = ["new", "qualified", "won", "lost"];
const NEXT: Record<Stage, Stage[]> = { new: ["qualified", "lost"], qualified: ["won", "lost"], won: [], lost: [] };

interface Lead {
  id: string;
  contact_id: string;
  conversation_id: string | null;
  stage: Stage;
  source: string;
  name: string | null;
  email: string | null;
  phone: string | null;
  company: string | null;
  interest: string | null;
  budget: { amount: number; currency: string } | null;
  timeline: string | null;
  created_at: string;
  updated_at: string;
}

interface LeadPage {
  items: Lead[];
  next_cursor: string | null;
}

function title(lead: Lead): string {
  return lead.name || lead.email || lead.phone || lead.company || lead.id.slice(0, 8);
}

function budget(lead: Lead): string {
  return lead.budget ? `${formatNumber(lead.budget.amount)} ${lead.budget.currency}` : "";
}

function Detail({ lead, onClose }: { lead: Lead; onClose: () => void }) {
  const { t } = useTranslation();
  const rows: [string, string | null][] = [
    [t("leads.stage"), t(`leads.stages.${lead.stage}`)], [t("leads.source"), t(`leads.sources.${lead.source}`, { defaultValue: lead.source })],
    [t("leads.email"), lead.email], [t("leads.phone"), lead.phone], [t("leads.company"), lead.company],
    [t("leads.interest"), lead.interest], [t("leads.budget"), budget(lead)], [t("leads.timeline"), lead.timeline],
    [t("leads.created"), formatDateTime(lead.created_at)],
  ];
  return (
    <aside className="card stack lead-detail" data-testid="lead-detail" aria-label={t("leads.detail")}>
      <div className="page-head"><h2>{title(lead)}</h2>
        <button type="button" className="button small ghost" onClick={onClose}>{t("common.close")}</button></div>
      <dl className="facts">
        {rows.map(([label, value]) => (<div key={label} className="contents"><dt>{label}</dt><dd dir="auto">{value || "—"}</dd></div>))}
      </dl>
      {lead.conversation_id
        ? <Link className="button" to={`/inbox/${lead.conversation_id}`} data-testid="lead-conversation">{t("leads.openConversation")}</Link>
        : <p className="muted small">{t("leads.noConversation")}</p>}
      <Link className="button ghost" to={`/contacts/${lead.contact_id}`}>{t("leads.openContact")}</Link>
    </aside>
  );
}

export function Leads() {
  const { t } = useTranslation();
  const me = useMe();
  const canMove = me.user.role !== "viewer";
  const queryClient = useQueryClient();
  const [view, setView] = useState<"board" | "table">("board");
  const [selected, setSelected] = useState<string | null>(null);
  const [over, setOver] = useState<Stage | null>(null);
  const pages = useInfiniteQuery({
    queryKey: ["leads"],
    initialPageParam: "",
    queryFn: ({ pageParam }) => api<LeadPage>("/api/v1/leads", { query: { limit: 100, after: pageParam || undefined } }),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const leads = { data: pages.data?.pages.flatMap((p) => p.items), error: pages.error };
  const move = useMutation({
    mutationFn: ({ id, stage }: { id: string; stage: Stage }) => api<Lead>(`/api/v1/leads/${id}`, { method: "PATCH", json: { stage } }),
    onSuccess: (lead) => queryClient.setQueryData<InfiniteData<LeadPage>>(["leads"], (old) => old && {
      ...old, pages: old.pages.map((p) => ({ ...p, items: p.items.map((l) => (l.id === lead.id ? lead : l)) })),
    }),
  });
  const drop = (stage: Stage) => (event: DragEvent) => {
    event.preventDefault();
    setOver(null);
    const id = event.dataTransfer.getData("text/plain");
    const lead = leads.data?.find((l) => l.id === id);
    if (lead && lead.stage !== stage) move.mutate({ id, stage });
  };
  const current = leads.data?.find((l) => l.id === selected) ?? null;
  return (
    <div className="page stack leads-page">
      <div className="page-head">
        <h1>{t("leads.title")}</h1>
        <div className="row" role="group" aria-label={t("leads.view")}>
          <button type="button" className={`button small ${view === "board" ? "primary" : ""}`} aria-pressed={view === "board"} onClick={() => setView("board")}>{t("leads.board")}</button>
          <button type="button" className={`button small ${view === "table" ? "primary" : ""}`} aria-pressed={view === "table"} onClick={() => setView("table")} data-testid="leads-table-view">{t("leads.table")}</button>
        </div>
      </div>
      <ErrorNote error={leads.error ?? move.error} />
      {leads.data?.length === 0 && <p className="muted">{t("leads.none")}</p>}
      <div className="leads-layout">
        {view === "board" ? (
          <div className="board" data-testid="leads-board">
            {STAGES.map((stage) => {
              const items = leads.data?.filter((l) => l.stage === stage) ?? [];
              return (
                <section key={stage} className={`board-column ${over === stage ? "drop-target" : ""}`} data-testid={`stage-${stage}`} aria-label={t(`leads.stages.${stage}`)}
                  onDragOver={(e) => { e.preventDefault(); setOver(stage); }} onDragLeave={() => setOver(null)} onDrop={drop(stage)}>
                  <h2>{t(`leads.stages.${stage}`)} <span className="muted">{formatNumber(items.length)}</span></h2>
                  {items.map((lead) => (
                    <article key={lead.id} className={`lead-card ${selected === lead.id ? "active" : ""}`} draggable={canMove && NEXT[lead.stage].length > 0}
                      data-testid="lead-card" onDragStart={(e) => e.dataTransfer.setData("text/plain", lead.id)}>
                      <button type="button" className="lead-card-title" onClick={() => setSelected(lead.id)}>{title(lead)}</button>
                      <div className="muted small" dir="auto">{[lead.company, lead.interest, budget(lead)].filter(Boolean).join(" · ")}</div>
                      {canMove && NEXT[lead.stage].length > 0 && (
                        <div className="row">
                          {NEXT[lead.stage].map((next) => (
                            <button key={next} type="button" className="button small" data-testid={`move-${next}`}
                              onClick={() => move.mutate({ id: lead.id, stage: next })}>{t("leads.moveTo", { stage: t(`leads.stages.${next}`) })}</button>
                          ))}
                        </div>
                      )}
                    </article>
                  ))}
                </section>
              );
            })}
          </div>
        ) : (
          <table className="table" data-testid="leads-table">
            <thead><tr><th>{t("leads.name")}</th><th>{t("leads.stage")}</th><th>{t("leads.email")}</th><th>{t("leads.company")}</th><th>{t("leads.budget")}</th><th>{t("leads.source")}</th><th>{t("leads.created")}</th></tr></thead>
            <tbody>
              {leads.data?.map((lead) => (
                <tr key={lead.id} className={selected === lead.id ? "active" : ""}>
                  <td><button type="button" className="button ghost small" onClick={() => setSelected(lead.id)}>{title(lead)}</button></td>
                  <td><span className={`status-chip stage-${lead.stage}`}>{t(`leads.stages.${lead.stage}`)}</span></td>
                  <td dir="ltr" className="start">{lead.email ?? ""}</td>
                  <td dir="auto">{lead.company ?? ""}</td>
                  <td>{budget(lead)}</td>
                  <td>{t(`leads.sources.${lead.source}`, { defaultValue: lead.source })}</td>
                  <td>{formatDateTime(lead.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {current && <Detail lead={current} onClose={() => setSelected(null)} />}
      </div>
      {pages.hasNextPage && (
        <button type="button" className="button" data-testid="leads-more" disabled={pages.isFetchingNextPage} onClick={() => void pages.fetchNextPage()}>{t("common.loadMore")}</button>
      )}
    </div>
  );
}
