"""`POST /api/v1/media` through the gateway: sniffed types, Meta's limits (413/415), the upload
reaching the Graph simulator, the file kept encrypted, a reply sending it and the message
showing it, and tenant isolation (another tenant's number or media id is not found)."""

from __future__ import annotations

import hashlib
import io
import struct
import uuid
import zlib
from typing import Any

import aiohttp

from majlis.db import tenant_transaction


def png(width: int = 2, height: int = 2) -> bytes:
    """A real (tiny, red) PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def form(number_id: Any, data: bytes, content_type: str, filename: str = "f.bin") -> Any:
    body = aiohttp.FormData()
    body.add_field("number_id", str(number_id))
    body.add_field("file", io.BytesIO(data), filename=filename, content_type=content_type)
    return body


async def upload(browser: Any, number_id: Any, data: bytes, content_type: str) -> tuple[int, Any]:
    status, body, _ = await browser.request(
        "POST", "/api/v1/media", data=form(number_id, data, content_type)
    )
    return status, body


async def assign(world: Any, team: Any, conversation_id: Any, who: str) -> None:
    """`who` takes the conversation over (only the assignee may send)."""
    status, body, _ = await team.people[who].request(
        "POST", f"/api/v1/conversations/{conversation_id}/takeover", json={"force": True}
    )
    assert status == 200, body


async def download(browser: Any, media_id: str) -> tuple[int, bytes, str]:
    """`GET /api/v1/media/{id}` as the dashboard does: bearer token in a header, bytes back."""
    headers = {"Authorization": f"Bearer {browser.token}", "X-Forwarded-For": browser.ip}
    async with browser.session.get(f"{browser.base}/api/v1/media/{media_id}", headers=headers) as r:
        return r.status, await r.read(), r.content_type


async def number_token(world: Any, team: Any) -> str:
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        sealed = await conn.fetchval(
            "SELECT access_token_enc FROM whatsapp_numbers WHERE id = $1", team.number_id
        )
    token: str = world.cipher.decrypt_text(
        sealed, tenant_id=team.tenant_id, field="whatsapp_numbers.access_token"
    )
    return token


async def test_an_uploaded_image_reaches_meta_is_sent_by_a_reply_and_shown(
    inbox_world: Any, admin_pool: Any
) -> None:
    world = inbox_world
    team = await world.team()
    image = png()
    # The browser calls it a PDF: the bytes say PNG, and the bytes win.
    status, body = await upload(team.agent, team.number_id, image, "application/pdf")
    assert status == 201, body
    assert body["mime_type"] == "image/png"
    assert body["message_type"] == "image"
    assert body["file_size"] == len(image)
    assert body["sha256"] == hashlib.sha256(image).hexdigest()
    media_id, meta_media_id = body["id"], body["meta_media_id"]

    # The simulator (Meta) holds the same file under that id, for this number's token.
    token = await number_token(world, team)
    graph = world.settings.graph_api_url.rstrip("/")
    version = world.settings.graph_api_version
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{graph}/{version}/{meta_media_id}", headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        assert response.status == 200
        info = await response.json()
    assert info["sha256"] == hashlib.sha256(image).hexdigest()
    assert (info["mime_type"], info["file_size"]) == ("image/png", len(image))

    # Kept encrypted: the raw column does not contain the file.
    raw = await admin_pool.fetchval(
        "SELECT content_enc FROM media WHERE id = $1", uuid.UUID(media_id)
    )
    assert image not in bytes(raw)
    assert await download(team.agent2, media_id) == (200, image, "image/png")

    # A reply sends it by Meta's id; the message then carries the file for the view.
    conversation_id, inbound_id = await world.inbound(team, phone=world.fresh_phone())
    await assign(world, team, conversation_id, "agent")
    reply = {
        "type": "image",
        "media": {"id": meta_media_id},
        "caption": "Your receipt",
        "last_seen_message_id": str(inbound_id),
    }
    path = f"/api/v1/conversations/{conversation_id}/messages"
    for _ in range(2):  # the same upload sent twice shows in both messages
        status, sent, _ = await team.agent.request("POST", path, json=reply)
        assert status == 201, sent
        reply["last_seen_message_id"] = sent["id"]
    status, page, _ = await team.agent.request("GET", path)
    assert status == 200, page
    outbound = [m for m in page["items"] if m["direction"] == "outbound"]
    assert len(outbound) == 2
    for message in outbound:
        assert message["body"]["image"] == {"id": meta_media_id, "caption": "Your receipt"}
        media = message["media"]
        assert media["status"] == "stored"
        assert (media["mime_type"], media["file_size"]) == ("image/png", len(image))
        assert await download(team.agent, media["id"]) == (200, image, "image/png")
    inbound = next(m for m in page["items"] if m["direction"] == "inbound")
    assert inbound["media"] is None
    assert inbound["wamid"].startswith("wamid.")


async def test_wrong_types_and_sizes_are_refused_with_problem_details(inbox_world: Any) -> None:
    team = await inbox_world.team()
    agent = team.agent
    # An executable calling itself a JPEG is not a JPEG.
    status, body = await upload(agent, team.number_id, b"MZ\x90\x00" + b"\x00" * 5000, "image/jpeg")
    assert (status, body["type"]) == (415, "https://majlis.dev/problems/unsupported-media-type")
    # A ZIP archive that is no Office document.
    status, body = await upload(
        agent, team.number_id, b"PK\x03\x04" + b"\x00" * 100, "application/zip"
    )
    assert status == 415, body
    # UTF-16 (not UTF-8 text, and no audio frame despite its first byte).
    status, body = await upload(agent, team.number_id, b"\xff\xfe\x00<\x00h\x00", "text/html")
    assert status == 415, body
    # A PNG over Meta's 5 MB image limit: 413, read no further than the limit.
    big = png() + b"\x00" * (5 * 1024 * 1024)
    status, body = await upload(agent, team.number_id, big, "image/png")
    assert (status, body["type"]) == (413, "https://majlis.dev/problems/media-too-large"), body
    assert body["limit_bytes"] == 5 * 1024 * 1024
    # A WebP sticker over 500 KB.
    webp = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * (600 * 1024)
    status, body = await upload(agent, team.number_id, webp, "image/webp")
    assert status == 413, body
    # Not multipart at all; no file; the file before the number; an unknown field.
    status, body, _ = await agent.request("POST", "/api/v1/media", json={"file": "x"})
    assert status == 415, body
    only_number = aiohttp.FormData()
    only_number.add_field("number_id", str(team.number_id))
    only_number.add_field("spare", "1", content_type="text/plain")  # multipart, not urlencoded
    status, body, _ = await agent.request("POST", "/api/v1/media", data=only_number)
    assert (status, body["type"]) == (422, "https://majlis.dev/problems/unknown-field"), body
    backwards = aiohttp.FormData()
    backwards.add_field("file", png(), filename="a.png", content_type="image/png")
    backwards.add_field("number_id", str(team.number_id))
    status, body, _ = await agent.request("POST", "/api/v1/media", data=backwards)
    assert status == 422, body
    async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM media") == 0


async def test_viewers_cannot_upload(inbox_world: Any) -> None:
    team = await inbox_world.team()
    status, body = await upload(team.viewer, team.number_id, png(), "image/png")
    assert status == 403, body


async def test_another_tenants_number_and_media_are_not_found(inbox_world: Any) -> None:
    world = inbox_world
    team, other = await world.team(), await world.team()
    status, body = await upload(other.agent, team.number_id, png(), "image/png")
    assert status == 404, body
    status, body = await upload(other.agent, uuid.uuid4(), png(), "image/png")
    assert status == 404, body

    status, mine = await upload(team.agent, team.number_id, png(), "image/png")
    assert status == 201, mine
    assert (await download(other.owner, mine["id"]))[0] == 404
    assert (await download(other.agent, str(uuid.uuid4())))[0] == 404
    # Sending another tenant's upload by its Meta id attaches nothing of theirs.
    conversation_id, _ = await world.inbound(other, phone=world.fresh_phone())
    await assign(world, other, conversation_id, "agent")
    path = f"/api/v1/conversations/{conversation_id}/messages"
    reply = {"type": "image", "media": {"id": mine["meta_media_id"]}}
    status, sent, _ = await other.agent.request("POST", path, json=reply)
    assert status == 201, sent
    status, page, _ = await other.agent.request("GET", path)
    shown = next(m for m in page["items"] if m["id"] == sent["id"])
    assert shown["media"] is None
    async with tenant_transaction(world.pool, other.tenant_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM media") == 0


async def test_an_upload_for_one_number_is_not_sent_from_another(inbox_world: Any) -> None:
    world = inbox_world
    team = await world.team()
    second = uuid.uuid4()
    async with tenant_transaction(world.pool, team.tenant_id, "owner") as conn:
        token = await conn.fetchval(
            "SELECT access_token_enc FROM whatsapp_numbers WHERE id = $1", team.number_id
        )
        await conn.execute(
            "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"
            " display_number, access_token_enc) VALUES ($1, $2, $3, $4, '+97143000001', $5)",
            team.tenant_id, second, str(10**14 + 7 + team.number_id.int % 10**13),
            team.waba_id, token,
        )  # fmt: skip
    status, uploaded = await upload(team.agent, second, png(), "image/png")
    assert status == 201, uploaded
    conversation_id, _ = await world.inbound(team, phone=world.fresh_phone())
    await assign(world, team, conversation_id, "agent")
    status, body, _ = await team.agent.request(
        "POST",
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"type": "image", "media": {"id": uploaded["meta_media_id"]}},
    )
    assert (status, body["type"]) == (422, "https://majlis.dev/problems/media-number-mismatch")


async def test_a_disabled_number_takes_no_uploads(inbox_world: Any) -> None:
    world = inbox_world
    team = await world.team()
    async with tenant_transaction(world.pool, team.tenant_id, "owner") as conn:
        await conn.execute(
            "UPDATE whatsapp_numbers SET status = 'disabled' WHERE id = $1", team.number_id
        )
    status, body = await upload(team.agent, team.number_id, png(), "image/png")
    assert (status, body["type"]) == (409, "https://majlis.dev/problems/number-not-active")
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM media") == 0
