"""Request parsing: JSON bodies into pydantic models that reject unknown fields."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from majlis.http.problems import ProblemError

T = TypeVar("T", bound=BaseModel)


class RequestModel(BaseModel):
    """Base for request bodies: unknown fields are an error, never silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def validation_errors(error: ValidationError) -> list[dict[str, Any]]:
    """Field errors without echoing the input (it may hold a password or a message)."""
    return [
        {
            "field": ".".join(str(part) for part in item["loc"]) or "(body)",
            "message": item["msg"],
            "code": item["type"],
        }
        for item in error.errors(include_url=False, include_input=False, include_context=False)
    ]


async def parse_json(request: web.Request, model: type[T]) -> T:
    """Read and validate a JSON body; 415 for another media type, 422 for a bad body."""
    if request.content_type != "application/json":
        raise ProblemError(415, "Request body must be application/json")
    raw = await request.read()
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as error:
        raise ProblemError(
            422,
            "The request body is not valid",
            errors=validation_errors(error),
        ) from None
