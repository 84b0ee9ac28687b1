// Campaigns as the broadcast API shows them, and the pure helpers of the screen: the
// template's variables, the mapping check before saving, times in the tenant's time zone.
import { ApiError } from "../../api/client";
import { locale } from "../../i18n";

export type CampaignState = "draft" | "scheduled" | "running" | "paused" | "completed" | "cancelled";
export type Stage = "queued" | "sent" | "delivered" | "read" | "replied" | "failed" | "skipped";
export const STAGES: Stage[] = ["queued", "sent", "delivered", "read", "replied", "failed", "skipped"];
export type SourceKind = "name" | "phone" | "email" | "attribute" | "text";
export const SOURCE_KINDS: SourceKind[] = ["name", "phone", "email", "attribute", "text"];
export type AudienceSource = "contacts" | "contact_ids" | "csv";

export type Progress = Record<Stage | "pending" | "in_flight", number>;

export interface Source {
  source: SourceKind;
  key?: string | null;
  text?: string | null;
  fallback?: string | null;
}

export interface Mapping {
  header: Source[];
  body: Source[];
  buttons: (Source & { index: number })[];
}

export interface AudienceDef {
  source: AudienceSource;
  tags: string[];
  tags_match: "any" | "all";
  attributes: Record<string, string | number | boolean>;
  contact_ids: string[];
  only_opted_in: boolean;
}

export interface Campaign {
  id: string;
  name: string;
  number_id: string;
  template_id: string;
  language: string;
  state: CampaignState;
  timezone: string;
  scheduled_at: string | null;
  scheduled_at_local: string | null;
  started_at: string | null;
  finished_at: string | null;
  reachable_today: number | null;
  next_feed_at: string | null;
  skipped_by_reason: Record<string, number>;
  created_at: string;
  updated_at: string;
  progress?: Progress;
  parameters?: Mapping;
  audience?: AudienceDef & { csv_rows: number };
  failed_by_reason?: { code: number | null; title: string | null; count: number }[];
}

export interface AudiencePreview {
  total: number;
  reachable: number;
  skipped: number;
  skipped_by_reason: Record<string, number>;
}

export interface TemplateRow {
  id: string;
  number_id: string;
  name: string;
  language: string;
  status: string;
}

export interface TemplateComponent {
  type: string;
  format?: string;
  text?: string;
  buttons?: { type: string; text?: string; url?: string }[];
}

export interface AttributeDefinition {
  key: string;
  label: string;
  type: "text" | "number" | "boolean" | "date" | "list";
}

/** The variables a template needs filled: header (0/1), body count, URL buttons' indexes. */
export interface Slots {
  header: number;
  body: number;
  buttons: number[];
  media: boolean;
}

function variableCount(text: string | undefined): number {
  const found = new Set<string>();
  for (const match of (text ?? "").matchAll(/\{\{\s*(\d+)\s*\}\}/g)) found.add(match[1] ?? "");
  return found.size;
}

export function slotsOf(components: TemplateComponent[]): Slots {
  const slots: Slots = { header: 0, body: 0, buttons: [], media: false };
  for (const component of components) {
    const kind = component.type.toUpperCase();
    if (kind === "HEADER") {
      if ((component.format ?? "TEXT").toUpperCase() !== "TEXT") slots.media = true;
      else slots.header = Math.min(1, variableCount(component.text));
    } else if (kind === "BODY") {
      slots.body = variableCount(component.text);
    } else if (kind === "BUTTONS") {
      (component.buttons ?? []).forEach((button, index) => {
        if (button.type === "URL" && variableCount(button.url) > 0) slots.buttons.push(index);
      });
    }
  }
  return slots;
}

const NAME_FIRST: Source = { source: "name", fallback: "" };

/** The mapping resized to the template's slots, keeping what the user already chose. */
export function fitMapping(mapping: Mapping, slots: Slots): Mapping {
  const sized = (list: Source[], count: number): Source[] =>
    Array.from({ length: count }, (_, i) => list[i] ?? { ...NAME_FIRST });
  return {
    header: sized(mapping.header, slots.header),
    body: sized(mapping.body, slots.body),
    buttons: slots.buttons.map(
      (index) => mapping.buttons.find((b) => b.index === index) ?? { source: "text", text: "", index },
    ),
  };
}

export interface SlotRef {
  part: "header" | "body" | "button";
  n: number;
  source: Source;
}

export function slotList(mapping: Mapping): SlotRef[] {
  return [
    ...mapping.header.map((source, i) => ({ part: "header" as const, n: i + 1, source })),
    ...mapping.body.map((source, i) => ({ part: "body" as const, n: i + 1, source })),
    ...mapping.buttons.map((source) => ({ part: "button" as const, n: source.index + 1, source })),
  ];
}

/** Which slots are incomplete ("text" or "attribute" missing), as the API would refuse them. */
export function mappingProblems(mapping: Mapping): { ref: SlotRef; problem: "text" | "attribute" }[] {
  const out: { ref: SlotRef; problem: "text" | "attribute" }[] = [];
  for (const ref of slotList(mapping)) {
    if (ref.source.source === "text" && !(ref.source.text ?? "").trim()) out.push({ ref, problem: "text" });
    if (ref.source.source === "attribute" && !ref.source.key) out.push({ ref, problem: "attribute" });
  }
  return out;
}

/** The request body's form of a source: only the fields its kind takes. */
export function cleanSource(source: Source): Source {
  const out: Source = { source: source.source };
  if (source.source === "attribute") out.key = source.key ?? null;
  if (source.source === "text") out.text = source.text ?? "";
  if ((source.fallback ?? "").trim()) out.fallback = source.fallback ?? null;
  return out;
}

export function cleanMapping(mapping: Mapping): Mapping {
  return {
    header: mapping.header.map(cleanSource),
    body: mapping.body.map(cleanSource),
    buttons: mapping.buttons.map((b) => ({ ...cleanSource(b), index: b.index })),
  };
}

/** A time in the tenant's zone, written in the user's locale. */
export function inZone(iso: string | null | undefined, zone: string): string {
  if (!iso) return "";
  try {
    return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short", timeZone: zone }).format(new Date(iso));
  } catch {
    return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
  }
}

/** Recipients in all, and how many reached a final outcome (sent or beyond, failed, skipped). */
export function totals(progress: Progress | undefined): { total: number; done: number } {
  if (!progress) return { total: 0, done: 0 };
  const total = progress.queued + progress.pending + progress.skipped;
  const done = progress.queued - progress.in_flight + progress.skipped;
  return { total, done: Math.max(0, done) };
}

export function isPlanLimit(error: unknown): error is ApiError {
  return error instanceof ApiError && error.slug === "plan-limit-reached";
}

export function isWrongState(error: unknown): error is ApiError {
  return error instanceof ApiError && error.slug === "campaign-state";
}
