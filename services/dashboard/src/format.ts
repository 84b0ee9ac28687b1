// Dates, times and numbers through Intl, in the user's locale and the browser's time zone.
import type { TFunction } from "i18next";
import { locale } from "./i18n";

export function formatNumber(value: number): string {
  return new Intl.NumberFormat(locale()).format(value);
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return "";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(
    new Date(iso),
  );
}

/** Today: the time; this week: the weekday; older: the date. */
export function formatWhen(iso: string | null | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  const now = new Date();
  const age = now.getTime() - date.getTime();
  if (date.toDateString() === now.toDateString()) {
    return new Intl.DateTimeFormat(locale(), { timeStyle: "short" }).format(date);
  }
  if (age < 6 * 86_400_000) {
    return new Intl.DateTimeFormat(locale(), { weekday: "short" }).format(date);
  }
  return new Intl.DateTimeFormat(locale(), { day: "numeric", month: "short" }).format(date);
}

export function formatTime(iso: string): string {
  return new Intl.DateTimeFormat(locale(), { timeStyle: "short" }).format(new Date(iso));
}

/** A wait in seconds as "45 s" or "3 min", digits in the user's locale. */
export function formatWait(seconds: number, t: TFunction): string {
  if (seconds < 90) return t("common.retryIn", { count: formatNumber(seconds) });
  return t("common.minutes", { count: formatNumber(Math.ceil(seconds / 60)) });
}

export function timeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}
