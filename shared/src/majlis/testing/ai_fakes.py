"""Local stand-ins for OpenAI's Chat Completions and Google's Gemini generateContent APIs.

They check what the real APIs check before answering: the path, the key (OpenAI: Bearer
header, 401 ``invalid_api_key``; Gemini: ``x-goog-api-key``, 400 ``API_KEY_INVALID`` as Google
answers, 403 without a key), a known model (404), and the body's shape (400 on anything
malformed, unknown top-level fields included). Replies are scripted by the test: ``replies``
are used in order (then ``default_reply``), ``faults`` are status codes answered first (to test
retries), and every accepted or refused request is kept in ``requests`` (without the key).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_OPENAI_ROLES = frozenset({"system", "developer", "user", "assistant"})
_OPENAI_FIELDS = frozenset(
    {"model", "messages", "temperature", "response_format", "max_tokens",
     "max_completion_tokens", "top_p", "n", "stop", "seed", "user"}
)  # fmt: skip
_GEMINI_FIELDS = frozenset(
    {"contents", "systemInstruction", "generationConfig", "safetySettings", "tools"}
)


@dataclass
class FakeProviderState:
    """What a fake accepts and answers, and what it was asked."""

    api_keys: set[str]
    models: set[str]
    replies: list[str] = field(default_factory=list)
    default_reply: str = "OK"
    faults: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def next_reply(self) -> str:
        """The next scripted reply."""
        return self.replies.pop(0) if self.replies else self.default_reply


FAKE_STATE: web.AppKey[FakeProviderState] = web.AppKey("fake_provider_state", FakeProviderState)


def _openai_error(status: int, message: str, code: str | None = None) -> web.Response:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return web.json_response({"error": error}, status=status)


def _openai_body_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "The request body must be a JSON object"
    unknown = set(body) - _OPENAI_FIELDS
    if unknown:
        return f"Unrecognized request argument supplied: {sorted(unknown)[0]}"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in _OPENAI_ROLES:
            return "Invalid value for 'messages[].role'"
        if not isinstance(message.get("content"), str):
            return "Invalid type for 'messages[].content'"
    fmt = body.get("response_format")
    if fmt is not None:
        schema = fmt.get("json_schema") if isinstance(fmt, dict) else None
        if fmt.get("type") != "json_schema" or not isinstance(schema, dict):
            return "Invalid 'response_format'"
        if not isinstance(schema.get("name"), str) or not isinstance(schema.get("schema"), dict):
            return "Missing 'response_format.json_schema.name' or '.schema'"
        if schema.get("strict") and schema["schema"].get("additionalProperties") is not False:
            return "'additionalProperties' is required to be supplied and to be false"
    return None


async def _openai_chat(request: web.Request) -> web.Response:
    state = request.app[FAKE_STATE]
    try:
        body: Any = await request.json()
    except ValueError:
        body = None
    state.requests.append({"path": request.path, "body": body})
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or key not in state.api_keys:
        return _openai_error(401, "Incorrect API key provided.", "invalid_api_key")
    problem = _openai_body_problem(body)
    if problem is not None:
        return _openai_error(400, problem)
    if body["model"] not in state.models:
        return _openai_error(404, "The model does not exist", "model_not_found")
    if state.faults:
        status = state.faults.pop(0)
        return _openai_error(status, "The server had an error", "server_error")
    return web.json_response({
        "id": f"chatcmpl-{len(state.requests)}", "object": "chat.completion",
        "created": int(time.time()), "model": body["model"],
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": state.next_reply()}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    })  # fmt: skip


def _gemini_error(status: int, message: str, state: str, reason: str | None = None) -> web.Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": state}
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}]
    return web.json_response({"error": error}, status=status)


def _parts_ok(content: Any) -> bool:
    parts = content.get("parts") if isinstance(content, dict) else None
    return (
        isinstance(parts, list)
        and bool(parts)
        and all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in parts)
    )


def _gemini_body_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "Invalid JSON payload received."
    unknown = set(body) - _GEMINI_FIELDS
    if unknown:
        return f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}"'
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    for content in contents:
        if not _parts_ok(content) or content.get("role", "user") not in ("user", "model"):
            return "* GenerateContentRequest.contents[].parts: must have parts with text"
    system = body.get("systemInstruction")
    if system is not None and not _parts_ok(system):
        return "* GenerateContentRequest.system_instruction: invalid parts"
    config = body.get("generationConfig", {})
    if not isinstance(config, dict):
        return "Invalid generationConfig"
    if "responseSchema" in config and config.get("responseMimeType") != "application/json":
        return "responseSchema requires responseMimeType application/json"
    return None


async def _gemini_generate(request: web.Request) -> web.Response:
    state = request.app[FAKE_STATE]
    model, _, method = request.match_info["model_method"].partition(":")
    try:
        body: Any = await request.json()
    except ValueError:
        body = None
    state.requests.append({"path": request.path, "model": model, "body": body})
    if method != "generateContent":
        return _gemini_error(404, "Method not found.", "NOT_FOUND")
    key = request.headers.get("x-goog-api-key")
    if not key:
        return _gemini_error(403, "Method doesn't allow unregistered callers.", "PERMISSION_DENIED")
    if key not in state.api_keys:
        return _gemini_error(
            400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT",
            "API_KEY_INVALID",
        )  # fmt: skip
    problem = _gemini_body_problem(body)
    if problem is not None:
        return _gemini_error(400, problem, "INVALID_ARGUMENT")
    if model not in state.models:
        return _gemini_error(404, f"models/{model} is not found", "NOT_FOUND")
    if state.faults:
        status = state.faults.pop(0)
        return _gemini_error(status, "The model is overloaded.", "UNAVAILABLE")
    return web.json_response({
        "candidates": [{"index": 0, "finishReason": "STOP",
                        "content": {"role": "model", "parts": [{"text": state.next_reply()}]}}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5,
                          "totalTokenCount": 15},
        "modelVersion": model,
    })  # fmt: skip


def create_fake_openai(state: FakeProviderState) -> web.Application:
    """A fake of OpenAI's `POST /v1/chat/completions`."""
    app = web.Application()
    app[FAKE_STATE] = state
    app.router.add_post("/v1/chat/completions", _openai_chat)
    return app


def create_fake_gemini(state: FakeProviderState) -> web.Application:
    """A fake of Gemini's `POST /v1beta/models/{model}:generateContent`."""
    app = web.Application()
    app[FAKE_STATE] = state
    app.router.add_post("/v1beta/models/{model_method}", _gemini_generate)
    return app
