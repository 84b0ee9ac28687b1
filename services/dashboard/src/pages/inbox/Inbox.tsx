import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { useParams } from "react-router";
import { reloadQueries } from "../../api/reload";
import { onStreamEvent, onStreamState } from "../../api/stream";
import { useTranslation } from "react-i18next";
import { ConversationList } from "./ConversationList";
import { ConversationView } from "./ConversationView";
import { keys } from "./queries";
import type { ListFilter } from "./queries";

/** Live updates: every event names what changed; the affected queries load again. Each
 * time the stream becomes ready (first connect, reconnect) the inbox loads again too: events
 * sent while no stream was listening (between the first load and the stream's start, or
 * during a dropped connection) would otherwise be missed until a reload. */
function useLiveInbox() {
  const queryClient = useQueryClient();
  useEffect(
    () =>
      onStreamState((connected) => {
        if (connected) void reloadQueries(queryClient, keys.conversations);
      }),
    [queryClient],
  );
  useEffect(
    () =>
      onStreamEvent((frame) => {
        const conversationId = frame.data.conversation_id as string | undefined;
        if (frame.event === "gateway.presence.changed") {
          if (conversationId) {
            void reloadQueries(queryClient, keys.presence(conversationId));
          }
          return;
        }
        if (!frame.event.startsWith("inbox.")) return;
        void reloadQueries(queryClient, keys.conversations);
        if (conversationId) {
          void reloadQueries(queryClient, keys.conversation(conversationId));
          if (frame.event.startsWith("inbox.message") || frame.event === "inbox.media.stored") {
            void reloadQueries(queryClient, keys.messages(conversationId));
          }
        }
      }),
    [queryClient],
  );
}

export function Inbox() {
  const { t } = useTranslation();
  const { conversationId } = useParams();
  const [filter, setFilter] = useState<ListFilter>({
    assignee: "all",
    status: "",
    label: "",
    number: "",
    q: "",
  });
  useLiveInbox();
  return (
    <div className={conversationId ? "inbox has-selection" : "inbox"}>
      <ConversationList filter={filter} onFilter={setFilter} selected={conversationId} />
      {conversationId ? (
        <ConversationView key={conversationId} conversationId={conversationId} />
      ) : (
        <section className="conversation empty-state">
          <p>{t("inbox.pick")}</p>
        </section>
      )}
    </div>
  );
}
