"""JSON answers: orjson writes UUIDs and aware datetimes (RFC 3339) itself, several times faster
than the standard library's encoder on a page of 25 conversations.

A handler declares the shape of its success answer with ``@responds(Model)`` (a pydantic model
describing the dict it returns, ``Page[Model]`` for a keyset page); the OpenAPI generators (the
back ends' fragment and the gateway's route table) put that model's schema on the operation's
2xx answers. The handler still returns its dict: the model documents, it does not serialize.
A handler that answers a file instead (a CSV export, a stored media object) declares its media
type with ``@responds_file("text/csv")``; the back ends' generator also checks it against the
Content-Type the handler's code sets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel

RESPONSE_MODEL_ATTRIBUTE = "__majlis_response_model__"
RESPONSE_FILE_ATTRIBUTE = "__majlis_response_file__"
ANY_MEDIA_TYPE = "*/*"
_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")
_NOT_A_NAME = re.compile(r"[^A-Za-z0-9._-]")


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON answer (UUIDs and aware datetimes as ISO 8601 strings)."""
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


class Page(BaseModel, Generic[_T]):
    """A keyset page: the items, and the cursor of the next page (null on the last)."""

    items: list[_T]
    next_cursor: str | None


def responds(model: type[BaseModel]) -> Callable[[_F], _F]:
    """Declare the schema of a handler's success (2xx JSON) answer for the OpenAPI document."""

    def mark(handler: _F) -> _F:
        setattr(handler, RESPONSE_MODEL_ATTRIBUTE, model)
        return handler

    return mark


def response_model(handler: Any) -> type[BaseModel] | None:
    """The model a handler declared with `responds`, if any."""
    model = getattr(handler, RESPONSE_MODEL_ATTRIBUTE, None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def responds_file(media_type: str) -> Callable[[_F], _F]:
    """Declare a handler's success answer as a file of `media_type` for the OpenAPI document.

    ``*/*`` when the type is the file's own (a stored upload); a text type is documented as a
    string, any other as bytes (``format: binary``).
    """

    def mark(handler: _F) -> _F:
        setattr(handler, RESPONSE_FILE_ATTRIBUTE, media_type)
        return handler

    return mark


def response_file_type(handler: Any) -> str | None:
    """The media type a handler declared with `responds_file`, if any."""
    media_type = getattr(handler, RESPONSE_FILE_ATTRIBUTE, None)
    return media_type if isinstance(media_type, str) else None


def file_content(media_type: str) -> dict[str, Any]:
    """The OpenAPI ``content`` of a file answer of `media_type`."""
    schema: dict[str, Any] = {"type": "string"}
    if not media_type.startswith("text/"):
        schema["format"] = "binary"
    return {media_type: {"schema": schema}}


def schema_name(model: type[BaseModel]) -> str:
    """The model's name under components/schemas (``Page[ContactOut]`` -> ``PageContactOut``)."""
    return _NOT_A_NAME.sub("", model.__name__)


def add_schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """Put the JSON schema of `model` (and of the models it uses) in `schemas`; its $ref.

    Two different schemas under one name are an error, never a silent overwrite.
    """
    found = model.model_json_schema(ref_template="#/components/schemas/{model}")
    name = schema_name(model)
    for sub_name, sub in [*found.pop("$defs", {}).items(), (name, found)]:
        if schemas.setdefault(sub_name, sub) != sub:
            raise ValueError(f"two models share the schema name {sub_name}")
    return {"$ref": f"#/components/schemas/{name}"}
