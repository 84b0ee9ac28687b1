"""Sniffing an upload's type from its bytes: the header a browser sends only picks among the
members of one container family, and never makes a file pass."""

from __future__ import annotations

from inbox.media_sniff import DOCX, sniff


def kind(head: bytes, declared: str = "", *, complete: bool = False) -> tuple[str, str]:
    found = sniff(head, declared, complete=complete)
    assert found is not None, head[:16]
    return found.mime_type, found.message_type


def test_sniffing_tells_containers_apart_by_content_not_by_the_header() -> None:
    assert kind(b"\xff\xd8\xff\xe0" + b"\x00" * 20, "application/pdf")[0] == "image/jpeg"
    mp4 = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 20
    assert kind(mp4, "video/mp4")[1] == "video"
    assert kind(mp4, "audio/mp4")[1] == "audio"
    assert kind(b"\x00\x00\x00\x18ftypM4A " + b"\x00" * 8)[0] == "audio/mp4"
    assert kind(b"\x00\x00\x00\x18ftyp3gp4" + b"\x00" * 8)[0] == "video/3gpp"
    zipped = b"PK\x03\x04" + b"\x00" * 26 + b"word/document.xml"
    assert kind(zipped)[0] == DOCX
    assert kind("مرحبا بكم".encode(), "text/plain", complete=True)[0] == "text/plain"
    assert kind(b"OggS\x00\x02")[1] == "audio"
    assert kind(b"%PDF-1.7\n")[1] == "document"
    assert kind(b"RIFF\x00\x00\x00\x00WEBPVP8 ")[1] == "sticker"
    assert sniff(b"\x7fELF\x02\x01\x01\x00") is None


def test_the_declared_type_never_makes_a_file_pass() -> None:
    assert sniff(b"MZ\x90\x00\x03\x00\x00\x00", "image/jpeg") is None
    assert sniff(b"PK\x03\x04" + bytes(40), "application/zip") is None
    # UTF-16 with a byte-order mark: not UTF-8 text, and not an MP3 frame despite 0xFF.
    assert sniff(b"\xff\xfe\x00<\x00h\x00", "text/html", complete=True) is None
    # Text with control characters is a binary file, not a document.
    assert sniff(b"hello\x1b[31m world", "text/plain", complete=True) is None


def test_limits_follow_meta_per_type() -> None:
    assert kind_limit(b"\x89PNG\r\n\x1a\n") == 5 * 1024 * 1024
    assert kind_limit(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == 500 * 1024
    assert kind_limit(b"OggS\x00\x02") == 16 * 1024 * 1024
    assert kind_limit(b"%PDF-1.7") == 100 * 1024 * 1024


def kind_limit(head: bytes) -> int:
    found = sniff(head)
    assert found is not None
    return found.limit
