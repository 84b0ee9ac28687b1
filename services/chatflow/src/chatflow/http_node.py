"""The http_request node: render the request, call through the guarded client, map the answer."""

from __future__ import annotations

from typing import Any

from chatflow.answers import render
from chatflow.engine import Outcome, Step
from chatflow.flow_nodes import HttpRequest
from majlis.logging import get_logger
from majlis.net import OutboundRefused

log = get_logger(__name__)


def json_pointer(document: Any, pointer: str) -> Any:
    """RFC 6901: the value at `pointer` ("" is the whole document); None when absent."""
    if pointer == "":
        return document
    current = document
    for raw in pointer.lstrip("/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


async def call_http(step: Step, node: HttpRequest, variables: dict[str, Any]) -> Outcome:
    """Make the call; `error` output on refusal, timeout, network error or a non-2xx answer."""
    contact = step.contact
    url = render(node.url, variables, contact)
    headers = {k: render(t, variables, contact) for k, t in node.headers.items()}
    body = render(node.body, variables, contact) if node.body is not None else None
    try:
        answer = await step.deps.http.call(node.method, url, headers, body, node.timeout_ms)
    except OutboundRefused as refused:
        log.warning("chatflow.http_refused", node_id=node.id, reason=refused.reason)
        return Outcome("go", "error", error=f"refused: {refused.reason}")
    except TimeoutError:
        return Outcome("go", "error", error="timed out")
    except Exception as error:  # noqa: BLE001  (any network failure takes the error output)
        return Outcome("go", "error", error=f"request failed: {type(error).__name__}")
    if not 200 <= answer.status < 300:
        return Outcome(
            "go", "error", error=f"status {answer.status}", detail={"status": answer.status}
        )
    for variable, pointer in node.response_mapping.items():
        value = json_pointer(answer.body, pointer)
        variables[variable] = (
            value
            if isinstance(value, str | int | float | bool)
            else (None if value is None else str(value)[:4096])
        )
    return Outcome("go", detail={"status": answer.status, "set": sorted(node.response_mapping)})
