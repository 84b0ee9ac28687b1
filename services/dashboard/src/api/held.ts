import type { TFunction } from "i18next";
import { formatDateTime } from "../format";
import type { WhatsAppNumber } from "./types";

/** Why a number holds one kind of its sends (Meta's block of the account, Meta's restriction
 * of starting conversations or of answering customers, or a refused token), in words with the
 * end when Meta gave one; null when they go. Held sends are queued, never lost. */
export function heldBecause(
  number: WhatsAppNumber | undefined,
  kind: "campaigns" | "replies",
  lead: string,
  t: TFunction,
): string | null {
  if (number?.sending_paused) {
    return `${lead} ${t(`quality.paused.${number.sending_paused}`, { defaultValue: number.sending_paused })}`;
  }
  const restriction = number?.restrictions?.find((r) => r.kind === kind);
  if (!restriction) return null;
  const until = restriction.until ? t("quality.restricted.until", { when: formatDateTime(restriction.until) }) : t("quality.restricted.noEnd");
  return `${lead} ${t(`quality.restricted.${kind}`)} ${until}`;
}
