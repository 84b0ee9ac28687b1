// Shapes of the public API's answers that the dashboard reads.

export type Role = "owner" | "admin" | "agent" | "viewer";
export type ConversationStatus = "open" | "pending" | "snoozed" | "resolved";
export type MessageStatus =
  | "received"
  | "queued"
  | "sending"
  | "sent"
  | "delivered"
  | "read"
  | "failed";

export interface Me {
  user: {
    id: string;
    email: string;
    name: string;
    role: Role;
    two_factor: boolean;
    recovery_codes_left: number | null;
    /** The business requires two-factor sign-in: this sign-in can only set it up. */
    two_factor_setup_required: boolean;
  };
  tenant: { id: string; name: string; plan: string };
}

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  is_active: boolean;
  two_factor: boolean;
  created_at: string;
}

export interface Invite {
  id: string;
  email: string;
  role: Role;
  created_at?: string;
  expires_at: string;
  invite_url?: string;
}

export interface ConversationItem {
  id: string;
  status: ConversationStatus;
  controller: "bot" | "human";
  assigned_user_id: string | null;
  number_id: string;
  contact: { id: string; name: string | null; phone: string | null };
  last_message_at: string;
  last_customer_message_at: string | null;
  unread_count: number;
  labels: string[];
  snoozed_until: string | null;
  window_open: boolean;
  /** While the 24-hour customer service window is open: when it closes; else null. */
  window_closes_at: string | null;
  created_at: string;
  team_id?: string | null;
}

export interface ConversationPage {
  items: ConversationItem[];
  next_cursor: string | null;
  counts: Record<string, number>;
}

export interface Message {
  id: string;
  seq: number;
  direction: "inbound" | "outbound" | "note";
  type: string;
  status: MessageStatus | null;
  body: unknown;
  sender_kind: string;
  sender_user_id: string | null;
  error_code: number | null;
  error_title: string | null;
  created_at: string;
  /** Meta's id: reactions name the message they react to by it. */
  wamid?: string | null;
  /** The message's file (inbound media, or an upload it sent), fetched with the token. */
  media?: MessageMedia | null;
}

export interface MessageMedia {
  id: string;
  status: "pending" | "stored" | "failed";
  mime_type: string;
  file_size: number | null;
}

/** `POST /api/v1/media`: a file uploaded to Meta for one number, sent by `meta_media_id`. */
export interface UploadedMedia {
  id: string;
  meta_media_id: string;
  number_id: string;
  mime_type: string;
  message_type: "image" | "sticker" | "audio" | "video" | "document";
  file_size: number;
}

export interface BusinessHours {
  timezone: string;
  weekly: Partial<Record<"mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun", [string, string][]>>;
  holidays: string[];
  is_default?: boolean;
}

export interface Team {
  id: string;
  name: string;
  description: string;
  member_ids: string[];
  created_at: string;
  updated_at: string;
}

export interface Label {
  id: string;
  name: string;
  color: string | null;
}

export interface Canned {
  id: string;
  shortcut: string;
  content: string;
  scope: "tenant" | "personal";
}

export interface Contact {
  id: string;
  phone: string | null;
  name: string | null;
  email: string | null;
  tags: string[];
  attributes: Record<string, unknown>;
  consent: { marketing: string; processing_restricted: boolean; updated_at: string | null };
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}

export interface ImportReport {
  created: number;
  updated: number;
  skipped: number;
  invalid: number;
  rows: { row: number; outcome: string; contact_id?: string; error?: string }[];
}

export interface WhatsAppNumber {
  id: string;
  phone_number_id: string;
  waba_id: string;
  display_number: string;
  status: string;
  created_at: string;
  quality_rating?: string | null;
  messaging_tier?: string | null;
  quality_event?: string | null;
  quality_updated_at?: string | null;
  account_event?: string | null;
  account_updated_at?: string | null;
  /** Why sends are held (token-invalid, account-disabled, account-locked, policy-block). */
  sending_paused?: string | null;
  sending_paused_at?: string | null;
  /** Meta's restrictions in force: campaigns and/or replies held until `until` (null: no end given). */
  restrictions?: { kind: "campaigns" | "replies"; until: string | null }[];
  /** Messages per second sent at most (20 once shared with the WhatsApp Business app). */
  send_rate?: number;
  shared_with_business_app_since?: string | null;
}

export interface ApiKey {
  id: string;
  name: string;
  hint: string;
  scopes: string[];
  created_at: string;
  last_used_at: string | null;
}

/** An outbound webhook endpoint as /api/v1/webhooks shows it (never its secret). */
export interface WebhookEndpoint {
  id: string;
  url: string;
  description: string;
  event_types: string[];
  enabled: boolean;
  disabled_reason: string | null;
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface Template {
  id?: string;
  name: string;
  language: string;
  status?: string;
  category?: string;
}

export interface StreamEvent {
  type: "event";
  event: string;
  id: string;
  occurred_at: string;
  data: Record<string, unknown>;
}
