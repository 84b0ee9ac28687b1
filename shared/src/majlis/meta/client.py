"""The Graph API client: every call to Meta (or the local simulator) goes through here.

Tokens are passed per call because every tenant number has its own. Nothing here logs a token,
a URL with credentials, or message content; log lines carry the endpoint kind and ids only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from majlis.logging import get_logger
from majlis.meta.errors import GraphApiError, GraphUnavailable, MediaTooLarge
from majlis.settings import Settings

log = get_logger(__name__)
_CHUNK = 64 * 1024
# Safety net for list_templates: a WABA holds at most 6,000 templates (reference §5).
_MAX_PAGES = 100


@dataclass(frozen=True)
class MediaInfo:
    """Where and what a media object is; the URL is short-lived and needs the bearer token."""

    url: str
    mime_type: str
    sha256: str
    file_size: int


class GraphClient:
    """Async client of the WhatsApp Cloud API endpoints the platform uses."""

    def __init__(
        self, session: aiohttp.ClientSession, *, base_url: str, version: str, timeout: float
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._version = version
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @classmethod
    def from_settings(cls, session: aiohttp.ClientSession, settings: Settings) -> GraphClient:
        """A client for Meta, or for the local simulator when no Graph API URL is configured."""
        return cls(
            session,
            base_url=settings.graph_base_url,
            version=settings.graph_api_version,
            timeout=settings.graph_api_timeout_seconds,
        )

    async def get_phone_number(self, phone_number_id: str, token: str) -> dict[str, Any]:
        """Read a number's display name and quality; proves the token works for that number."""
        params = {"fields": "display_phone_number,verified_name,quality_rating"}
        return await self._call("GET", _node(phone_number_id), token, "phone_number", params=params)

    async def waba_phone_number_ids(self, waba_id: str, token: str) -> set[str]:
        """The ids of a WhatsApp Business Account's numbers (all pages): Meta's word on which
        numbers belong to the account, for a token that may manage it."""
        path = f"{_node(waba_id)}/phone_numbers"
        ids: set[str] = set()
        params: dict[str, str] = {"fields": "id", "limit": "100"}
        for _ in range(_MAX_PAGES):
            page = await self._call("GET", path, token, "waba_phone_numbers", params=params)
            data = page.get("data")
            if isinstance(data, list):
                ids.update(str(n["id"]) for n in data if isinstance(n, dict) and "id" in n)
            after = _after_cursor(page)  # the cursor, never `paging.next` (it holds the token)
            if after is None:
                break
            params = {"fields": "id", "limit": "100", "after": after}
        return ids

    async def send_message(self, phone_number_id: str, token: str, payload: dict[str, Any]) -> str:
        """Send one message; returns its wamid (accepted, not yet delivered)."""
        body = {"messaging_product": "whatsapp", **payload}
        path = f"{_node(phone_number_id)}/messages"
        answer = await self._call("POST", path, token, "send_message", json=body)
        messages = answer.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            wamid = messages[0].get("id")
            if isinstance(wamid, str) and wamid:
                return wamid
        raise GraphApiError(200, 0, title="Unexpected response", message="no message id")

    async def create_template(
        self, waba_id: str, token: str, template: dict[str, Any]
    ) -> dict[str, Any]:
        """Submit a template for review; returns ``{id, status, category}``."""
        path = f"{_node(waba_id)}/message_templates"
        return await self._call("POST", path, token, "create_template", json=template)

    async def list_templates(self, waba_id: str, token: str) -> list[dict[str, Any]]:
        """Every template of a WABA (all pages)."""
        path = f"{_node(waba_id)}/message_templates"
        templates: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": "100"}
        for _ in range(_MAX_PAGES):
            page = await self._call("GET", path, token, "list_templates", params=params)
            data = page.get("data")
            if isinstance(data, list):
                templates.extend(t for t in data if isinstance(t, dict))
            # Follow the cursor, never `paging.next`: Meta puts the access token in that URL.
            after = _after_cursor(page)
            if after is None:
                break
            params = {"limit": "100", "after": after}
        return templates

    async def delete_template(self, waba_id: str, token: str, name: str) -> None:
        """Delete a template by name (every language of it)."""
        path = f"{_node(waba_id)}/message_templates"
        await self._call("DELETE", path, token, "delete_template", params={"name": name})

    async def get_media_url(self, media_id: str, token: str) -> MediaInfo:
        """Resolve a media id to a short-lived download URL and its metadata."""
        answer = await self._call("GET", _node(media_id), token, "media_url")
        try:
            return MediaInfo(
                url=str(answer["url"]),
                mime_type=str(answer["mime_type"]),
                sha256=str(answer["sha256"]),
                file_size=int(answer["file_size"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise GraphApiError(200, 0, title="Unexpected response", message="bad media") from error

    async def download_media(self, url: str, token: str, *, max_bytes: int) -> bytes:
        """Download media from a URL given by get_media_url, refusing more than ``max_bytes``."""
        self._check_media_url(url)
        started = time.monotonic()
        try:
            async with self._session.get(
                url, headers=_auth(token), timeout=self._timeout
            ) as response:
                if response.status != 200:
                    raise GraphApiError.from_response(response.status, await _json(response))
                if (response.content_length or 0) > max_bytes:
                    raise MediaTooLarge(max_bytes)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_chunked(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise MediaTooLarge(max_bytes)
                    chunks.append(chunk)
        except (TimeoutError, aiohttp.ClientError) as error:
            raise _unavailable("download_media", error) from error
        log.info(
            "graph.call",
            endpoint="download_media",
            status=200,
            body_bytes=size,
            duration_ms=_ms(started),
        )
        return b"".join(chunks)

    async def upload_media(
        self, phone_number_id: str, token: str, data: bytes, mime_type: str
    ) -> str:
        """Upload media for sending by id (kept 30 days by Meta); returns the media id."""
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", mime_type)
        form.add_field("file", data, filename="upload", content_type=mime_type)
        path = f"{_node(phone_number_id)}/media"
        answer = await self._call("POST", path, token, "upload_media", data=form)
        media_id = answer.get("id")
        if not isinstance(media_id, str) or not media_id:
            raise GraphApiError(200, 0, title="Unexpected response", message="no media id")
        return media_id

    async def _call(
        self,
        method: str,
        path: str,
        token: str,
        endpoint: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        data: aiohttp.FormData | None = None,
    ) -> dict[str, Any]:
        url = f"{self._base}/{self._version}/{path}"
        started = time.monotonic()
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                json=json,
                data=data,
                headers=_auth(token),
                timeout=self._timeout,
            ) as response:
                body = await _json(response)
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as error:
            raise _unavailable(endpoint, error) from error
        if status >= 400 or not isinstance(body, dict):
            failure = GraphApiError.from_response(status, body)
            log.warning(
                "graph.call_failed",
                endpoint=endpoint,
                status=status,
                code=failure.code,
                fbtrace_id=failure.fbtrace_id,
                duration_ms=_ms(started),
            )
            raise failure
        log.info("graph.call", endpoint=endpoint, status=status, duration_ms=_ms(started))
        return body

    def _check_media_url(self, url: str) -> None:
        # The bearer token goes with the download, so never send it in clear text to a host
        # other than the configured Graph API (the local simulator is plain http).
        target = urlsplit(url)
        base = urlsplit(self._base)
        if target.scheme == "https" or (target.scheme, target.netloc) == (base.scheme, base.netloc):
            return
        raise GraphApiError(0, 100, title="Refused media URL", message="media URL is not https")


def _node(node_id: str) -> str:
    # Ids are path segments: refuse anything that could change the path or query (callers may
    # pass user input), without a request, as the code-100 error Meta would give.
    if (
        not node_id
        or not node_id.replace("_", "").replace("-", "").isalnum()
        or not node_id.isascii()
    ):
        raise GraphApiError(0, 100, title="Invalid parameter", message="invalid Graph node id")
    return node_id


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _json(response: aiohttp.ClientResponse) -> Any:
    try:
        return await response.json(content_type=None)
    except ValueError:
        return None


def _after_cursor(page: dict[str, Any]) -> str | None:
    paging = page.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return after if isinstance(after, str) and after else None


def _unavailable(endpoint: str, error: BaseException) -> GraphUnavailable:
    reason = "timeout" if isinstance(error, TimeoutError) else type(error).__name__
    log.warning("graph.unavailable", endpoint=endpoint, reason=reason)
    return GraphUnavailable(reason)


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
