// What a message says, by kind: text, media with previews, location, contacts, interactive
// messages and replies, templates, and what cannot be shown (said clearly, never hidden).
// Files come from GET /api/v1/media/{id} with the access token in the Authorization header
// (never in a URL) and are shown through short-lived blob: URLs, revoked when unmounted.
import { useQuery } from "@tanstack/react-query";
import type { TFunction } from "i18next";
import { AlertTriangle, Contact, Download, FileText, MapPin, MousePointerClick } from "lucide-react";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../../api/client";
import type { Message, MessageMedia } from "../../api/types";
import { formatNumber } from "../../format";

type Json = Record<string, unknown>;

function obj(value: unknown, ...path: string[]): Json | undefined {
  let current: unknown = value;
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Json)[key];
  }
  return typeof current === "object" && current !== null && !Array.isArray(current) ? (current as Json) : undefined;
}

function str(value: unknown, ...path: string[]): string | undefined {
  let current: unknown = value;
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Json)[key];
  }
  if (typeof current === "number") return String(current);
  return typeof current === "string" && current !== "" ? current : undefined;
}

function list(value: unknown, ...path: string[]): Json[] {
  let current: unknown = value;
  for (const key of path) {
    if (typeof current !== "object" || current === null) return [];
    current = (current as Json)[key];
  }
  return Array.isArray(current) ? current.filter((x): x is Json => typeof x === "object" && x !== null) : [];
}

/** A file size in the user's locale: "820 KB", "3.4 MB". */
export function formatBytes(bytes: number | null | undefined, t: TFunction): string {
  if (bytes === null || bytes === undefined) return "";
  if (bytes < 1024) return t("messages.bytes", { n: formatNumber(bytes) });
  if (bytes < 1024 * 1024) return t("messages.kilobytes", { n: formatNumber(Math.round(bytes / 1024)) });
  return t("messages.megabytes", { n: formatNumber(Math.round((bytes / (1024 * 1024)) * 10) / 10) });
}

async function fetchBlob(id: string): Promise<Blob> {
  const response = await api<Response>(`/api/v1/media/${id}`, { raw: true, headers: { Accept: "*/*" } });
  return response.blob();
}

/** A blob: URL for a stored file, revoked when the component goes away. */
function useMediaUrl(media: MessageMedia | null | undefined, enabled = true): { url: string | null; failed: boolean } {
  const ready = enabled && media?.status === "stored";
  const blob = useQuery({
    queryKey: ["media", media?.id],
    queryFn: () => fetchBlob(media?.id ?? ""),
    enabled: ready,
    staleTime: Infinity,
    gcTime: 5 * 60_000,
  });
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!blob.data) return undefined;
    const made = URL.createObjectURL(blob.data);
    setUrl(made);
    return () => URL.revokeObjectURL(made);
  }, [blob.data]);
  return { url, failed: blob.isError };
}

function MediaState({ media, t }: { media: MessageMedia | null | undefined; t: TFunction }) {
  if (!media) return <p className="muted small" data-testid="media-unavailable">{t("messages.mediaNotKept")}</p>;
  if (media.status === "pending") return <p className="muted small" aria-busy="true">{t("messages.mediaLoading")}</p>;
  return (
    <p className="media-failed small" role="note">
      <AlertTriangle size={14} aria-hidden="true" /> {t("messages.mediaFailed")}
    </p>
  );
}

function Caption({ text }: { text?: string }) {
  return text ? <p dir="auto" className="caption">{text}</p> : null;
}

function ImageMedia({ message, kind }: { message: Message; kind: "image" | "sticker" }) {
  const { t } = useTranslation();
  const { url, failed } = useMediaUrl(message.media);
  const caption = str(message.body, kind, "caption");
  if (message.media?.status !== "stored" || failed) {
    return <><MediaState media={failed ? { ...message.media!, status: "failed" } : message.media} t={t} /><Caption text={caption} /></>;
  }
  return (
    <>
      {url ? (
        <img
          src={url}
          className={kind === "sticker" ? "media-sticker" : "media-image"}
          alt={caption ?? t(kind === "sticker" ? "messages.sticker" : "messages.image")}
          data-testid="media-image"
        />
      ) : (
        <div className="media-placeholder" aria-busy="true">{t("messages.mediaLoading")}</div>
      )}
      <Caption text={caption} />
    </>
  );
}

function PlayerMedia({ message, kind }: { message: Message; kind: "audio" | "video" }) {
  const { t } = useTranslation();
  const { url, failed } = useMediaUrl(message.media);
  const caption = str(message.body, kind, "caption");
  if (message.media?.status !== "stored" || failed) {
    return <><MediaState media={failed ? { ...message.media!, status: "failed" } : message.media} t={t} /><Caption text={caption} /></>;
  }
  const label = t(kind === "audio" ? "messages.audio" : "messages.video");
  return (
    <>
      {kind === "audio" ? (
        <audio controls preload="metadata" src={url ?? undefined} aria-label={label} data-testid="media-audio" />
      ) : (
        <video controls preload="metadata" src={url ?? undefined} aria-label={label} className="media-video" data-testid="media-video" />
      )}
      <Caption text={caption} />
    </>
  );
}

function DocumentMedia({ message }: { message: Message }) {
  const { t } = useTranslation();
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState(false);
  const filename = str(message.body, "document", "filename") ?? t("messages.document");
  const caption = str(message.body, "document", "caption");
  const media = message.media;
  async function save() {
    if (!media) return;
    setBusy(true);
    setFailed(false);
    try {
      const url = URL.createObjectURL(await fetchBlob(media.id));
      const link = document.createElement("a");
      link.href = url;
      link.download = filename;
      link.rel = "noopener";
      document.body.appendChild(link);
      link.click();
      link.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch {
      setFailed(true);
    } finally {
      setBusy(false);
    }
  }
  return (
    <>
      <div className="media-document" data-testid="media-document">
        <FileText size={22} aria-hidden="true" />
        <span className="doc-name">
          <bdi>{filename}</bdi>
          {media?.file_size ? <span className="muted small"> · {formatBytes(media.file_size, t)}</span> : null}
        </span>
        {media?.status === "stored" && (
          <button type="button" className="button small" onClick={() => void save()} disabled={busy}>
            <Download size={14} aria-hidden="true" /> {t("messages.download")}
          </button>
        )}
      </div>
      {media?.status !== "stored" && <MediaState media={media} t={t} />}
      {failed && <p className="media-failed small" role="alert">{t("messages.mediaFailed")}</p>}
      <Caption text={caption} />
    </>
  );
}

function Location({ body }: { body: unknown }) {
  const { t } = useTranslation();
  const location = obj(body, "location");
  const lat = Number(location?.latitude);
  const lon = Number(location?.longitude);
  const valid = Number.isFinite(lat) && Number.isFinite(lon) && Math.abs(lat) <= 90 && Math.abs(lon) <= 180;
  const name = str(location, "name");
  const address = str(location, "address");
  return (
    <div className="rich location" data-testid="location">
      <MapPin size={18} aria-hidden="true" />
      <div>
        <strong dir="auto">{name ?? t("messages.location")}</strong>
        {address && <p dir="auto" className="small">{address}</p>}
        {valid && (
          <a
            className="small"
            dir="ltr"
            href={`https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`}
            target="_blank"
            rel="noopener noreferrer"
          >
            {lat.toFixed(5)}, {lon.toFixed(5)}
          </a>
        )}
      </div>
    </div>
  );
}

function Contacts({ body }: { body: unknown }) {
  const { t } = useTranslation();
  const cards = list(body, "contacts");
  return (
    <ul className="rich contacts" data-testid="contacts">
      {cards.map((card, index) => (
        <li key={index}>
          <Contact size={16} aria-hidden="true" />
          <div>
            <strong dir="auto">{str(card, "name", "formatted_name") ?? t("messages.contact")}</strong>
            {list(card, "phones").map((phone, i) => (
              <span key={i} className="small" dir="ltr">{str(phone, "phone") ?? str(phone, "wa_id")}</span>
            ))}
            {list(card, "emails").map((email, i) => (
              <span key={`e${i}`} className="small" dir="ltr">{str(email, "email")}</span>
            ))}
          </div>
        </li>
      ))}
    </ul>
  );
}

function Interactive({ body }: { body: unknown }) {
  const { t } = useTranslation();
  const interactive = obj(body, "interactive");
  const button = obj(interactive, "button_reply");
  const row = obj(interactive, "list_reply");
  if (button || row) {
    const chosen = button ?? row;
    return (
      <div className="rich choice" data-testid="interactive-reply">
        <MousePointerClick size={16} aria-hidden="true" />
        <div>
          <span className="muted small">{t(button ? "messages.buttonReply" : "messages.listReply")}</span>
          <strong dir="auto">{str(chosen, "title")}</strong>
          {str(chosen, "description") && <span dir="auto" className="small">{str(chosen, "description")}</span>}
        </div>
      </div>
    );
  }
  if (obj(interactive, "nfm_reply")) {
    return <p className="muted">{t("messages.formReply")}</p>;
  }
  // An interactive message we (or the bot) sent: its text and its choices.
  const buttons = list(interactive, "action", "buttons").map((b) => str(b, "reply", "title") ?? "");
  const rows = list(interactive, "action", "sections").flatMap((s) => list(s, "rows").map((r) => str(r, "title") ?? ""));
  return (
    <div className="rich interactive" data-testid="interactive">
      {str(interactive, "header", "text") && <strong dir="auto">{str(interactive, "header", "text")}</strong>}
      <p dir="auto">{str(interactive, "body", "text") ?? ""}</p>
      {str(interactive, "footer", "text") && <p dir="auto" className="muted small">{str(interactive, "footer", "text")}</p>}
      {buttons.length + rows.length > 0 && (
        <ul className="choices" aria-label={t("messages.choices")}>
          {[...buttons, ...rows].map((title, index) => <li key={index} dir="auto">{title}</li>)}
        </ul>
      )}
      {str(interactive, "action", "button") && <span className="muted small" dir="auto">{str(interactive, "action", "button")}</span>}
    </div>
  );
}

function Template({ body, text }: { body: unknown; text: string }) {
  const template = obj(body, "template");
  const texts = list(template, "components").flatMap((c) =>
    list(c, "parameters").map((p) => str(p, "text") ?? str(p, "currency", "fallback_value") ?? str(p, "date_time", "fallback_value") ?? ""),
  ).filter(Boolean);
  return (
    <div className="rich template" data-testid="template">
      <strong dir="auto">{text}</strong>
      <span className="muted small" dir="ltr">{str(template, "language", "code") ?? ""}</span>
      {texts.length > 0 && <p dir="auto" className="small">{texts.join(" · ")}</p>}
    </div>
  );
}

/** Meta's errors on an inbound message (unsupported types, failed media...), said plainly. */
function Errors({ body }: { body: unknown }) {
  const errors = list(body, "errors");
  if (errors.length === 0) return null;
  return (
    <p className="media-failed small" role="note" data-testid="message-errors">
      <AlertTriangle size={14} aria-hidden="true" />{" "}
      {errors.map((e) => [str(e, "code"), str(e, "title") ?? str(e, "message")].filter(Boolean).join(" · ")).join("; ")}
    </p>
  );
}

export function MessageContent({ message, text }: { message: Message; text: string }) {
  const { t } = useTranslation();
  const body = message.body;
  switch (message.type) {
    case "image":
    case "sticker":
      return <><ImageMedia message={message} kind={message.type} /><Errors body={body} /></>;
    case "audio":
    case "video":
      return <><PlayerMedia message={message} kind={message.type} /><Errors body={body} /></>;
    case "document":
      return <><DocumentMedia message={message} /><Errors body={body} /></>;
    case "location":
      return <Location body={body} />;
    case "contacts":
      return <Contacts body={body} />;
    case "interactive":
      return <Interactive body={body} />;
    case "template":
      return <Template body={body} text={text} />;
    case "button":
      return (
        <div className="rich choice" data-testid="button-reply">
          <MousePointerClick size={16} aria-hidden="true" />
          <div><span className="muted small">{t("messages.buttonReply")}</span><strong dir="auto">{str(body, "button", "text") ?? ""}</strong></div>
        </div>
      );
    case "text":
    case "note":
    case "reaction":
      return <p dir="auto">{text}</p>;
    case "media_placeholder":
      // A photo, video, voice note or file of the WhatsApp Business app's history: Meta shares
      // the content only for the last two weeks (it replaces this once it comes).
      return (
        <p className="muted" data-testid="history-media">
          <FileText size={14} aria-hidden="true" /> {t("messages.historyMedia")}
        </p>
      );
    default:
      return (
        <div className="unsupported" data-testid="unsupported">
          <p className="muted"><AlertTriangle size={14} aria-hidden="true" /> {t("messages.unsupported", { type: message.type })}</p>
          <Errors body={body} />
        </div>
      );
  }
}
