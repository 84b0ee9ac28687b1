import { useMutation, useQueryClient } from "@tanstack/react-query";
import { AlertTriangle, Paperclip, Send, StickyNote, X } from "lucide-react";
import { useEffect, useRef, useState } from "react";
import type { FormEvent, KeyboardEvent } from "react";
import type { TFunction } from "i18next";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../../api/client";
import { sendPresence } from "../../api/stream";
import type { Canned, ConversationItem, Message, UploadedMedia, User } from "../../api/types";
import { ErrorNote } from "../../components/ErrorNote";
import { MessageBubble } from "./MessageBubble";
import { formatBytes } from "./MessageContent";
import { formatDateTime, formatNumber } from "../../format";
import { heldBecause } from "../../api/held";
import { keys, useNumbers, userName } from "./queries";
import { TemplatePicker } from "./TemplatePicker";

type Mode = "reply" | "note";
// Types whose message carries a caption: the typed text goes with the file.
const CAPTIONED = new Set(["image", "video", "document"]);

interface Attachment {
  name: string;
  uploaded: UploadedMedia;
}

/** The body of a reply sending an uploaded file (and the text as its caption if it has one). */
function mediaReply(attachment: Attachment, text: string, lastSeen: string | null): Record<string, unknown> {
  const { uploaded } = attachment;
  const body: Record<string, unknown> = {
    type: uploaded.message_type,
    media: { id: uploaded.meta_media_id },
    last_seen_message_id: lastSeen,
  };
  if (text && CAPTIONED.has(uploaded.message_type)) body.caption = text.slice(0, 1024);
  if (uploaded.message_type === "document") body.filename = attachment.name.slice(0, 240);
  return body;
}
const TYPING_EVERY_MS = 3_000;
// Under an hour left, the reply window's countdown turns to a warning.
const WINDOW_SOON_MS = 3_600_000;

/** Milliseconds until `iso` (null: none), kept current: it re-renders at least every 30 s
 * and at the moment itself, so a window that closes while the page is open closes on it. */
function useMsUntil(iso: string | null): number | null {
  const [now, setNow] = useState(() => Date.now());
  const at = iso ? Date.parse(iso) : null;
  const left = at === null ? null : at - now;
  useEffect(() => {
    if (left === null || left <= 0) return undefined;
    const timer = window.setTimeout(() => setNow(Date.now()), Math.min(left + 50, 30_000));
    return () => window.clearTimeout(timer);
  }, [left]);
  return left;
}

/** Time left as "22 h 29 min", "12 min" or "less than a minute", digits in the user's locale. */
function formatLeft(ms: number, t: TFunction): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return t("inbox.windowUnderAMinute");
  if (minutes < 60) return t("common.minutes", { count: formatNumber(minutes) });
  return t("inbox.windowHours", { h: formatNumber(Math.floor(minutes / 60)), m: formatNumber(minutes % 60) });
}

interface Collision {
  newer: Message[];
  draft: string;
}

function useCanned(prefix: string | null) {
  const [items, setItems] = useState<Canned[]>([]);
  const last = useRef<string | null>(null);
  if (prefix !== last.current) {
    last.current = prefix;
    if (prefix !== null) {
      void api<{ items: Canned[] }>("/api/v1/canned-responses", { query: { q: prefix || undefined, limit: 8 } })
        .then((page) => setItems(page.items))
        .catch(() => setItems([]));
    }
  }
  return prefix === null ? [] : items;
}

export function Composer({
  conversation,
  lastMessageId,
  mine,
  users,
  onTakeOver,
  onReopen,
}: {
  conversation: ConversationItem;
  lastMessageId: string | null;
  mine: boolean;
  users?: User[];
  onTakeOver: () => void;
  onReopen: () => void;
}) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [mode, setMode] = useState<Mode>("reply");
  const [text, setText] = useState("");
  const [collision, setCollision] = useState<Collision | null>(null);
  const [highlight, setHighlight] = useState(0);
  const lastTyping = useRef(0);
  const fileInput = useRef<HTMLInputElement>(null);
  const [attachment, setAttachment] = useState<Attachment | null>(null);
  const cannedPrefix = mode === "reply" && text.startsWith("/") && !text.includes(" ") ? text.slice(1) : null;
  const canned = useCanned(cannedPrefix);
  const id = conversation.id;

  const send = useMutation({
    mutationFn: (body: Record<string, unknown>) =>
      api<Message>(`/api/v1/conversations/${id}/messages`, {
        method: "POST",
        json: body,
        headers: { "Idempotency-Key": crypto.randomUUID() },
      }),
    onSuccess: (_message, body) => {
      setCollision(null);
      // Audio and stickers carry no caption: their text follows as its own message (submit).
      if (body.media) setAttachment(null);
      setText("");
    },
    onError: (error, body) => {
      if (error instanceof ApiError && error.slug === "conversation-changed") {
        const newer = (error.problem.newer_messages as Message[] | undefined) ?? [];
        setCollision({ newer, draft: String(body.text ?? "") });
      }
    },
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: keys.messages(id) });
      void queryClient.invalidateQueries({ queryKey: keys.conversations });
    },
  });

  const upload = useMutation({
    mutationFn: async (file: File) => {
      const form = new FormData();
      form.append("number_id", conversation.number_id);
      form.append("file", file, file.name);
      const uploaded = await api<UploadedMedia>("/api/v1/media", { method: "POST", body: form });
      return { name: file.name, uploaded };
    },
    onSuccess: (uploaded) => setAttachment(uploaded),
  });

  function pickFile(files: FileList | null) {
    const file = files?.[0];
    if (fileInput.current) fileInput.current.value = "";
    if (!file) return;
    setAttachment(null);
    upload.mutate(file);
  }

  function submit(event?: FormEvent, lastSeen: string | null = lastMessageId) {
    event?.preventDefault();
    const value = text.trim();
    if (send.isPending || upload.isPending) return;
    if (mode === "reply" && attachment) {
      const body = mediaReply(attachment, value, lastSeen);
      const rest = body.caption === undefined ? value : "";
      send.mutate({ ...body }, {
        onSuccess: (message) => {
          if (rest) send.mutate({ type: "text", text: rest, last_seen_message_id: message.id });
        },
      });
      return;
    }
    if (!value) return;
    send.mutate({ type: mode === "note" ? "note" : "text", text: value, last_seen_message_id: lastSeen });
  }

  async function pickCanned(item: Canned) {
    try {
      const rendered = await api<{ text: string }>(`/api/v1/canned-responses/${item.id}/render`, {
        method: "POST",
        json: { conversation_id: id },
      });
      setText(rendered.text);
    } catch {
      setText(item.content);
    }
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (canned.length > 0) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        setHighlight((highlight + step + canned.length) % canned.length);
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        void pickCanned(canned[Math.min(highlight, canned.length - 1)]);
        return;
      }
    }
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      submit();
    }
  }

  function onChange(value: string) {
    setText(value);
    setHighlight(0);
    const now = Date.now();
    if (mode === "reply" && value && now - lastTyping.current > TYPING_EVERY_MS) {
      lastTyping.current = now;
      sendPresence("typing", id);
    }
  }

  const numbers = useNumbers();
  const held = heldBecause(numbers.data?.find((n) => n.id === conversation.number_id), "replies", t("inbox.repliesHeld"), t);
  const windowLeft = useMsUntil(conversation.window_open ? conversation.window_closes_at : null);
  const windowClosed = mode === "reply" && (!conversation.window_open || (windowLeft !== null && windowLeft <= 0));
  const resolved = conversation.status === "resolved";
  const needsTakeOver = mode === "reply" && !mine;
  const author = collision?.newer.find((m) => m.sender_user_id)?.sender_user_id ?? null;
  const collider = userName(users, author) ?? t("inbox.someone");

  return (
    <div className="composer">
      <div className="composer-tabs" role="tablist">
        <button type="button" role="tab" aria-selected={mode === "reply"} onClick={() => setMode("reply")}>
          <Send size={14} aria-hidden="true" /> {t("inbox.reply")}
        </button>
        <button type="button" role="tab" aria-selected={mode === "note"} onClick={() => setMode("note")} data-testid="note-tab">
          <StickyNote size={14} aria-hidden="true" /> {t("inbox.note")}
        </button>
      </div>
      {collision && (
        <div className="collision" role="alert" data-testid="collision">
          <p><strong>{t("inbox.collision", { name: collider })}</strong></p>
          <ol className="messages compact">
            {collision.newer.map((m) => (
              <MessageBubble key={m.id} message={{ ...m, status: m.status ?? null, error_code: null, error_title: null } as Message} users={users} meId="" />
            ))}
          </ol>
          <p className="muted small">{t("inbox.collisionHint")}</p>
          <div className="row">
            <button type="button" className="button primary" onClick={() => submit(undefined, collision.newer.at(-1)?.id ?? lastMessageId)}>
              {t("inbox.sendAnyway")}
            </button>
            <button type="button" className="button" onClick={() => setCollision(null)}>{t("common.close")}</button>
          </div>
        </div>
      )}
      {held && mode === "reply" && (
        <div className="banner banner-warn" role="status" data-testid="replies-held">
          <AlertTriangle size={16} aria-hidden="true" />
          <span>{held}</span>
        </div>
      )}
      {resolved && mode === "reply" ? (
        <div className="banner"><span>{t("inbox.resolvedHint")}</span><button type="button" className="button" onClick={onReopen}>{t("inbox.reopen")}</button></div>
      ) : needsTakeOver ? (
        <div className="banner"><span>{t("inbox.notAssignee")}</span><button type="button" className="button primary" onClick={onTakeOver}>{t("inbox.takeOver")}</button></div>
      ) : windowClosed ? (
        <>
          <div className="banner banner-warn" role="status" data-testid="window-closed">
            <AlertTriangle size={16} aria-hidden="true" />
            <span>{t("inbox.windowClosed")}</span>
          </div>
          <TemplatePicker numberId={conversation.number_id} sending={send.isPending} onSend={(template) => send.mutate({ type: "template", template, last_seen_message_id: lastMessageId })} />
        </>
      ) : (
        <form onSubmit={submit} className={mode === "note" ? "composer-form note" : "composer-form"}>
          {canned.length > 0 && (
            <ul className="canned" role="listbox" aria-label={t("inbox.canned")} data-testid="canned-list">
              {canned.map((item, index) => (
                <li key={item.id} role="option" aria-selected={index === highlight}>
                  <button type="button" onClick={() => void pickCanned(item)}>
                    <strong dir="ltr">/{item.shortcut}</strong> <span dir="auto">{item.content}</span>
                  </button>
                </li>
              ))}
            </ul>
          )}
          {cannedPrefix !== null && canned.length === 0 && <p className="muted small pad">{t("inbox.noCanned")}</p>}
          {mode === "reply" && (attachment || upload.isPending) && (
            <div className="attachment" data-testid="attachment">
              <Paperclip size={14} aria-hidden="true" />
              {upload.isPending ? (
                <span aria-busy="true">{t("inbox.uploading")}</span>
              ) : attachment ? (
                <>
                  <bdi className="doc-name">{attachment.name}</bdi>
                  <span className="muted small">{formatBytes(attachment.uploaded.file_size, t)}</span>
                  <button type="button" className="button ghost small" aria-label={t("messages.removeAttachment")} onClick={() => setAttachment(null)}>
                    <X size={14} aria-hidden="true" />
                  </button>
                </>
              ) : null}
            </div>
          )}
          <label className="visually-hidden" htmlFor="composer-text">{mode === "note" ? t("inbox.note") : t("inbox.reply")}</label>
          <textarea
            id="composer-text"
            dir="auto"
            rows={3}
            value={text}
            placeholder={mode === "note" ? t("inbox.notePlaceholder") : t("inbox.composerPlaceholder")}
            onChange={(event) => onChange(event.target.value)}
            onKeyDown={onKeyDown}
          />
          {mode === "reply" && (
            <>
              <input
                ref={fileInput}
                type="file"
                hidden
                data-testid="attach-input"
                accept="image/jpeg,image/png,image/webp,audio/*,video/mp4,video/3gpp,application/pdf,text/plain,.doc,.docx,.xls,.xlsx,.ppt,.pptx"
                onChange={(event) => pickFile(event.target.files)}
              />
              <button
                type="button"
                className="button ghost attach"
                aria-label={t("inbox.attach")}
                title={t("inbox.attach")}
                data-testid="attach"
                disabled={upload.isPending}
                onClick={() => fileInput.current?.click()}
              >
                <Paperclip size={18} aria-hidden="true" />
              </button>
            </>
          )}
          <button type="submit" className="button primary" disabled={(!text.trim() && !(mode === "reply" && attachment)) || send.isPending || upload.isPending}>
            <Send size={16} aria-hidden="true" className="flip" />
            {t("inbox.send")}
          </button>
        </form>
      )}
      {mode === "reply" && !resolved && !needsTakeOver && !windowClosed && windowLeft !== null && (
        <p
          className={windowLeft < WINDOW_SOON_MS ? "window-left soon" : "window-left"}
          data-testid="window-left"
          title={t("inbox.windowOpenUntil", { time: formatDateTime(conversation.window_closes_at) })}
        >
          {t("inbox.windowLeft", { time: formatLeft(windowLeft, t) })}
        </p>
      )}
      {send.error instanceof ApiError && send.error.slug !== "conversation-changed" && <ErrorNote error={send.error} />}
      {upload.error instanceof ApiError && upload.error.slug === "media-too-large" ? (
        <p className="alert alert-error" role="alert" data-testid="upload-error">
          {t("messages.tooLarge", { size: formatBytes(Number(upload.error.problem.limit_bytes ?? 0), t) })}
        </p>
      ) : upload.error instanceof ApiError && upload.error.slug === "unsupported-media-type" ? (
        <p className="alert alert-error" role="alert" data-testid="upload-error">{t("messages.wrongType")}</p>
      ) : (
        <ErrorNote error={upload.error} />
      )}
    </div>
  );
}
