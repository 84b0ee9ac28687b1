"""What a file really is, from its first bytes: the header a browser sends is not trusted.

Only the types WhatsApp accepts for sending are recognised (reference §6, Meta's media
page), each with its size limit. Containers that several types share (MP4 for audio and
video, OLE2 for the old Office formats, ZIP for the new ones) are told apart by the declared
type when it names a member of that family, and otherwise get the family's default.
"""

from __future__ import annotations

from dataclasses import dataclass

_MB = 1024 * 1024
_OOXML = "application/vnd.openxmlformats-officedocument."
DOCX = _OOXML + "wordprocessingml.document"
XLSX = _OOXML + "spreadsheetml.sheet"
PPTX = _OOXML + "presentationml.presentation"
_OLE2_TYPES = ("application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint")
_ZIP_MARKERS = {DOCX: b"word/", XLSX: b"xl/", PPTX: b"ppt/"}

# Meta's limits per type (stickers: the animated limit; a static one above 100 KB is refused
# by Meta itself).
LIMITS: dict[str, int] = {
    "image/jpeg": 5 * _MB,
    "image/png": 5 * _MB,
    "image/webp": 500 * 1024,
    "audio/aac": 16 * _MB,
    "audio/amr": 16 * _MB,
    "audio/mpeg": 16 * _MB,
    "audio/mp4": 16 * _MB,
    "audio/ogg": 16 * _MB,
    "video/mp4": 16 * _MB,
    "video/3gpp": 16 * _MB,
    "text/plain": 100 * _MB,
    "application/pdf": 100 * _MB,
    "application/msword": 100 * _MB,
    "application/vnd.ms-excel": 100 * _MB,
    "application/vnd.ms-powerpoint": 100 * _MB,
    DOCX: 100 * _MB,
    XLSX: 100 * _MB,
    PPTX: 100 * _MB,
}
# Enough of the head of a file to recognise every type above.
SNIFF_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Sniffed:
    """A recognised file: its MIME type and the WhatsApp message type that sends it."""

    mime_type: str
    message_type: str  # image, sticker, audio, video or document

    @property
    def limit(self) -> int:
        """The largest file of this type Meta accepts."""
        return LIMITS[self.mime_type]


def _message_type(mime_type: str) -> str:
    if mime_type in ("image/jpeg", "image/png"):
        return "image"
    if mime_type == "image/webp":
        return "sticker"
    family = mime_type.split("/", 1)[0]
    return family if family in ("audio", "video") else "document"


def _essence(declared: str) -> str:
    return declared.split(";", 1)[0].strip().lower()


def _mp4(head: bytes, declared: str) -> str:
    brand = head[8:12]
    if brand.startswith(b"3gp") or brand.startswith(b"3g2"):
        return "video/3gpp"
    if brand in (b"M4A ", b"M4B ") or declared == "audio/mp4":
        return "audio/mp4"
    return "video/mp4"


_CONTROL = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D} | {0x7F}


def _text(head: bytes, complete: bool) -> bool:
    """UTF-8 without control characters (a binary file is not a text document)."""
    if any(byte in _CONTROL for byte in head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the end of the sniffed head is still text.
        return not complete and error.start >= len(head) - 3
    return True


def _mp3_frame(head: bytes) -> bool:
    """An MPEG audio layer III frame header: sync, a real version, bitrate and sample rate."""
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer == 1 and bitrate not in (0, 15) and rate != 3


def _sniff_mime(head: bytes, declared: str, *, complete: bool) -> str | None:
    checks: tuple[tuple[bool, str], ...] = (
        (head.startswith(b"\xff\xd8\xff"), "image/jpeg"),
        (head.startswith(b"\x89PNG\r\n\x1a\n"), "image/png"),
        (head[:4] == b"RIFF" and head[8:12] == b"WEBP", "image/webp"),
        (head.startswith(b"%PDF-"), "application/pdf"),
        (head.startswith(b"OggS"), "audio/ogg"),
        (head.startswith(b"#!AMR"), "audio/amr"),
        (head.startswith(b"ID3"), "audio/mpeg"),
    )
    for matched, mime_type in checks:
        if matched:
            return mime_type
    if head[4:8] == b"ftyp":
        return _mp4(head, declared)
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "audio/aac"  # ADTS frame sync, layer 0
    if _mp3_frame(head):
        return "audio/mpeg"  # an MP3 without an ID3 tag
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return declared if declared in _OLE2_TYPES else "application/msword"
    if head.startswith(b"PK\x03\x04"):
        if declared in _ZIP_MARKERS:
            return declared
        for mime_type, marker in _ZIP_MARKERS.items():
            if marker in head:
                return mime_type
        return None  # a ZIP that is not an Office file: WhatsApp does not send archives
    if head and _text(head, complete):
        return "text/plain"
    return None


def sniff(head: bytes, declared: str = "", *, complete: bool = False) -> Sniffed | None:
    """The type of a file from its first bytes (`complete`: the head is the whole file).

    None when it is none of the types WhatsApp sends. `declared` (the part's Content-Type)
    only chooses among the members of one container family; it never makes a file pass.
    """
    mime_type = _sniff_mime(head, _essence(declared), complete=complete)
    if mime_type is None:
        return None
    return Sniffed(mime_type, _message_type(mime_type))
