// Campaigns on the live stream: the progress of a sending campaign (at most one frame a second
// per campaign, counts only) goes straight into the cached campaign and list; a change of
// state or the end loads them again. The pages keep a slow poll as a fallback.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { reloadQueries } from "../../api/reload";
import { isStreamConnected, onStreamEvent, onStreamState } from "../../api/stream";
import type { Campaign, Progress } from "./model";

/** How often a sending campaign is polled while the stream brings its progress. */
export const STREAMED_POLL_MS = 15_000;

/** Apply campaign events from the stream; answers whether the stream is connected. */
export function useLiveCampaigns(): boolean {
  const queryClient = useQueryClient();
  const [connected, setConnected] = useState(isStreamConnected());
  useEffect(() => onStreamState(setConnected), []);
  useEffect(
    () =>
      onStreamEvent((frame) => {
        if (!frame.event.startsWith("broadcast.campaign.")) return;
        const id = frame.data.campaign_id;
        if (typeof id !== "string") return;
        if (frame.event === "broadcast.campaign.progress") {
          const progress = frame.data.progress as Progress;
          const update = (campaign: Campaign): Campaign =>
            campaign.id === id && campaign.state === "running" ? { ...campaign, progress } : campaign;
          queryClient.setQueryData<Campaign>(["campaign", id], (old) => (old ? update(old) : old));
          queryClient.setQueryData<Campaign[]>(["campaigns"], (old) => old?.map(update));
          return;
        }
        void reloadQueries(queryClient, ["campaign", id]);
        void reloadQueries(queryClient, ["campaigns"]);
      }),
    [queryClient],
  );
  return connected;
}
