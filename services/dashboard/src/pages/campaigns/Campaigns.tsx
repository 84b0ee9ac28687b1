// The campaigns list: state, progress and counts of each, live from the stream while any is
// sending (polled every few seconds when the stream is down, slowly when it is up).
import { useQuery } from "@tanstack/react-query";
import { Plus } from "lucide-react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { api } from "../../api/client";
import { ErrorNote } from "../../components/ErrorNote";
import { formatNumber } from "../../format";
import { isManager, useMe } from "../../session";
import { STREAMED_POLL_MS, useLiveCampaigns } from "./live";
import { inZone, totals } from "./model";
import type { Campaign } from "./model";

const LIVE = new Set(["running", "scheduled"]);

export function StateChip({ state }: { state: Campaign["state"] }) {
  const { t } = useTranslation();
  return (
    <span className={`status-chip campaign-${state}`} data-testid="campaign-state" data-state={state}>
      {t(`campaigns.states.${state}`)}
    </span>
  );
}

export function Campaigns() {
  const { t } = useTranslation();
  const me = useMe();
  const streamed = useLiveCampaigns();
  const campaigns = useQuery({
    queryKey: ["campaigns"],
    queryFn: async () => (await api<{ items: Campaign[] }>("/api/v1/campaigns", { query: { limit: 100 } })).items,
    refetchInterval: (query) =>
      query.state.data?.some((c) => LIVE.has(c.state)) ? (streamed ? STREAMED_POLL_MS : 3000) : false,
  });
  return (
    <div className="page stack">
      <div className="page-head">
        <h1>{t("campaigns.title")}</h1>
        {isManager(me.user.role) && (
          <Link to="/campaigns/new" className="button primary" data-testid="campaign-new">
            <Plus size={16} aria-hidden="true" />
            {t("campaigns.new")}
          </Link>
        )}
      </div>
      <ErrorNote error={campaigns.error} />
      <table className="table" data-testid="campaigns-table">
        <thead>
          <tr>
            <th>{t("campaigns.name")}</th>
            <th>{t("campaigns.state")}</th>
            <th>{t("campaigns.progress")}</th>
            <th>{t("campaigns.stages.sent")}</th>
            <th>{t("campaigns.stages.delivered")}</th>
            <th>{t("campaigns.stages.read")}</th>
            <th>{t("campaigns.stages.failed")}</th>
            <th>{t("campaigns.stages.skipped")}</th>
            <th>{t("campaigns.schedule")}</th>
          </tr>
        </thead>
        <tbody>
          {campaigns.data?.length === 0 && (
            <tr><td colSpan={9} className="muted">{t("campaigns.none")}</td></tr>
          )}
          {campaigns.data?.map((campaign) => {
            const { total, done } = totals(campaign.progress);
            const p = campaign.progress;
            return (
              <tr key={campaign.id} data-testid="campaign-row" data-name={campaign.name}>
                <td className="start" dir="auto"><Link to={`/campaigns/${campaign.id}`}>{campaign.name}</Link></td>
                <td><StateChip state={campaign.state} /></td>
                <td>
                  {total > 0 ? (
                    <span className="campaign-progress">
                      <progress max={total} value={done} aria-label={t("campaigns.progress")} />
                      <span className="small muted">{t("campaigns.progressOf", { done: formatNumber(done), total: formatNumber(total) })}</span>
                    </span>
                  ) : <span className="muted">—</span>}
                </td>
                <td>{formatNumber(p?.sent ?? 0)}</td>
                <td>{formatNumber(p?.delivered ?? 0)}</td>
                <td>{formatNumber(p?.read ?? 0)}</td>
                <td>{formatNumber(p?.failed ?? 0)}</td>
                <td>{formatNumber(p?.skipped ?? 0)}</td>
                <td className="small">
                  {campaign.scheduled_at ? inZone(campaign.scheduled_at, campaign.timezone)
                    : campaign.started_at ? inZone(campaign.started_at, campaign.timezone) : t("campaigns.now")}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
