// Downloads of what the API answers (CSV exports, a contact's data): fetched with the access
// token like any call (never a token in a URL), then saved through a short-lived blob: URL.
import { api } from "./client";
import type { RequestOptions } from "./client";

/** Save `blob` as `filename` (the link is in the page while clicked, as Firefox needs). */
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** GET a CSV export at `path` (with `query`) and save it as `filename`; throws ApiError. */
export async function downloadCsv(path: string, filename: string, query?: RequestOptions["query"]): Promise<void> {
  const response = await api<Response>(path, { query, raw: true, headers: { Accept: "text/csv" } });
  saveBlob(await response.blob(), filename);
}
