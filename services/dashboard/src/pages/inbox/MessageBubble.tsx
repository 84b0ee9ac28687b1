import type { TFunction } from "i18next";
import { AlertCircle, Check, CheckCheck, Clock } from "lucide-react";
import { useTranslation } from "react-i18next";
import type { Message, User } from "../../api/types";
import { formatTime } from "../../format";
import { MessageContent } from "./MessageContent";
import { userName } from "./queries";

type Body = Record<string, unknown> | string | null;

function field(value: unknown, ...path: string[]): string | undefined {
  let current: unknown = value;
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return typeof current === "string" ? current : undefined;
}

/** The readable content of a stored message (Cloud API shape: {"type": ..., "<type>": {...}}). */
export function messageText(message: Pick<Message, "type" | "body">, t: TFunction): string {
  const body = message.body as Body;
  if (typeof body === "string") return body;
  if (body === null) return "";
  switch (message.type) {
    case "text":
    case "note":
      return field(body, "text", "body") ?? field(body, "text") ?? "";
    case "image":
    case "video":
    case "audio":
    case "document":
    case "sticker":
      return field(body, message.type, "caption") ?? t("inbox.media", { type: message.type });
    case "reaction":
      return t("inbox.reaction", { emoji: field(body, "reaction", "emoji") ?? "" });
    case "location":
      return field(body, "location", "name") ?? t("inbox.location");
    case "template": {
      const name = field(body, "template", "name") ?? "";
      return `${t("inbox.template")}: ${name}`;
    }
    case "interactive": {
      const title =
        field(body, "interactive", "button_reply", "title") ??
        field(body, "interactive", "list_reply", "title") ??
        field(body, "interactive", "body", "text");
      return title ? t("inbox.interactiveReply", { title }) : t("inbox.unsupported", { type: "interactive" });
    }
    case "button":
      return field(body, "button", "text") ?? "";
    default:
      return t("inbox.unsupported", { type: message.type });
  }
}

function Ticks({ message }: { message: Message }) {
  const { t } = useTranslation();
  const status = message.status ?? "queued";
  const label = t(`inbox.ticks.${status}`, { defaultValue: status });
  let icon = <Clock size={14} aria-hidden="true" />;
  if (status === "sent") icon = <Check size={14} aria-hidden="true" />;
  if (status === "delivered") icon = <CheckCheck size={14} aria-hidden="true" />;
  if (status === "read") icon = <CheckCheck size={14} aria-hidden="true" className="read" />;
  if (status === "failed") icon = <AlertCircle size={14} aria-hidden="true" />;
  return (
    <span className={`ticks ticks-${status}`} data-testid="ticks" data-status={status} title={label}>
      {icon}
      <span className="visually-hidden">{label}</span>
    </span>
  );
}

/** The emoji of a reaction message ("" when the customer took the reaction back). */
export function reactionEmoji(message: Message): string {
  return field(message.body, "reaction", "emoji") ?? "";
}

/** Meta's id of the message a reaction is about. */
export function reactionTarget(message: Message): string | undefined {
  return field(message.body, "reaction", "message_id");
}

function Reactions({ reactions }: { reactions: Message[] }) {
  const { t } = useTranslation();
  // One reaction per sender: the newest wins, and an empty emoji removes it.
  const latest = new Map<string, string>();
  for (const r of reactions) latest.set(r.direction === "inbound" ? "customer" : (r.sender_user_id ?? r.sender_kind), reactionEmoji(r));
  const shown = [...latest.values()].filter(Boolean);
  if (shown.length === 0) return null;
  return (
    <span className="reactions" data-testid="reactions" aria-label={t("messages.reactions", { emoji: shown.join(" ") })}>
      {shown.map((emoji, index) => <span key={index} aria-hidden="true">{emoji}</span>)}
    </span>
  );
}

export function MessageBubble({
  message,
  users,
  meId,
  reactions = [],
}: {
  message: Message;
  users?: User[];
  meId: string;
  reactions?: Message[];
}) {
  const { t } = useTranslation();
  const isNote = message.direction === "note" || message.type === "note";
  const outbound = message.direction !== "inbound";
  let author: string | null = null;
  if (outbound) {
    if (message.sender_kind === "bot") author = t("inbox.botSender");
    else if (message.sender_kind === "business_app") author = t("inbox.businessAppSender");
    else if (message.sender_user_id === meId) author = t("inbox.you");
    else author = userName(users, message.sender_user_id) ?? t("inbox.someone");
  }
  const classes = ["bubble", outbound ? "out" : "in", isNote ? "note" : "", reactions.length ? "reacted" : ""].join(" ");
  return (
    <li className={classes} data-testid={isNote ? "note" : "message"} data-direction={message.direction} data-type={message.type}>
      {isNote && <span className="note-label">{t("inbox.noteBy", { name: author ?? "" })}</span>}
      {!isNote && author && <span className="author">{author}</span>}
      <MessageContent message={message} text={messageText(message, t)} />
      <Reactions reactions={reactions} />
      <span className="meta">
        <time dateTime={message.created_at}>{formatTime(message.created_at)}</time>
        {outbound && !isNote && <Ticks message={message} />}
      </span>
      {message.status === "failed" && (
        <span className="failed-reason" role="note">
          {t("inbox.failedReason", {
            reason: [message.error_code, message.error_title].filter(Boolean).join(" · "),
          })}
        </span>
      )}
    </li>
  );
}
