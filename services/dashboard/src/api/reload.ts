// Loading again what a live event says has changed.
//
// TanStack Query folds an invalidation into a fetch already running when the query has no
// data yet (its first load): that fetch may have read the server before the change, and the
// change would then show only after some later event. So when such a first load is running,
// the query loads once more after it has finished.
import type { QueryClient, QueryKey } from "@tanstack/react-query";

export async function reloadQueries(queryClient: QueryClient, queryKey: QueryKey): Promise<void> {
  const firstLoadRunning = queryClient
    .getQueryCache()
    .findAll({ queryKey })
    .some((query) => query.state.fetchStatus === "fetching" && query.state.data === undefined);
  await queryClient.invalidateQueries({ queryKey });
  if (firstLoadRunning) await queryClient.invalidateQueries({ queryKey });
}
