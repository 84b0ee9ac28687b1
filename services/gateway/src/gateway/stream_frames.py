"""The frames a stream client may send, and their parsing into typed models.

Error titles are fixed texts: they never echo what the client sent.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

import orjson
from aiohttp import WSMessage, WSMsgType
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError


class BadFrame(ValueError):
    """A client frame we cannot use; the message is the error frame's title."""


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthFrame(_Frame):
    type: Literal["auth"]
    token: str = Field(min_length=1, max_length=4096)


class HeartbeatFrame(_Frame):
    type: Literal["pong", "ping"]


class ConversationFrame(_Frame):
    type: Literal["viewing", "typing", "left"]
    conversation_id: UUID


Frame = AuthFrame | HeartbeatFrame | ConversationFrame
_FRAMES: TypeAdapter[Frame] = TypeAdapter(
    Annotated[AuthFrame | HeartbeatFrame | ConversationFrame, Field(discriminator="type")]
)
_TYPES = frozenset({"auth", "pong", "ping", "viewing", "typing", "left"})


def parse_frame(message: WSMessage, max_bytes: int) -> Frame:
    """The typed frame of a client message; raises BadFrame with a fixed title."""
    if message.type is not WSMsgType.TEXT:
        raise BadFrame("Frames must be JSON text")
    data: str = message.data
    if len(data.encode()) > max_bytes:
        raise BadFrame("Frame too large")
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise BadFrame("Frame is not valid JSON") from None
    if not isinstance(raw, dict) or raw.get("type") not in _TYPES:
        raise BadFrame("Unknown frame type")
    try:
        return _FRAMES.validate_python(raw)
    except ValidationError:
        raise BadFrame("Invalid frame fields") from None
