"""The http_request node in its three parts: render the request (inside the step's
transaction), make the call through the guarded client (with no transaction open), map the
answer (inside the transaction that applies it)."""

from __future__ import annotations

from typing import Any

from chatflow.answers import render
from chatflow.engine import Outcome
from chatflow.flow_nodes import HttpRequest
from chatflow.ports import HttpCaller
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


def http_request(
    node: HttpRequest, variables: dict[str, Any], contact: dict[str, Any]
) -> dict[str, Any]:
    """The call to make, rendered (it may hold secrets: stored only encrypted)."""
    return {
        "method": node.method,
        "url": render(node.url, variables, contact),
        "headers": {k: render(t, variables, contact) for k, t in node.headers.items()},
        "body": render(node.body, variables, contact) if node.body is not None else None,
        "timeout_ms": node.timeout_ms,
    }


async def call_http(http: HttpCaller, node_id: str, request: dict[str, Any]) -> dict[str, Any]:
    """Make the call (no transaction may be open): {"status", "body"} or {"error"}."""
    try:
        answer = await http.call(
            request["method"], request["url"], request["headers"], request["body"],
            request["timeout_ms"],
        )  # fmt: skip
    except OutboundRefused as refused:
        log.warning("chatflow.http_refused", node_id=node_id, reason=refused.reason)
        return {"error": f"refused: {refused.reason}"}
    except TimeoutError:
        return {"error": "timed out"}
    except Exception as error:  # noqa: BLE001  (any network failure takes the error output)
        return {"error": f"request failed: {type(error).__name__}"}
    return {"status": answer.status, "body": answer.body}


def http_outcome(node: HttpRequest, result: dict[str, Any], variables: dict[str, Any]) -> Outcome:
    """Map the answer into variables; `error` output on refusal, timeout, network error or a
    non-2xx answer."""
    if "error" in result:
        return Outcome("go", "error", error=str(result["error"]))
    status = int(result["status"])
    if not 200 <= status < 300:
        return Outcome("go", "error", error=f"status {status}", detail={"status": status})
    for variable, pointer in node.response_mapping.items():
        value = json_pointer(result["body"], pointer)
        variables[variable] = (
            value
            if isinstance(value, str | int | float | bool)
            else (None if value is None else str(value)[:4096])
        )
    return Outcome("go", detail={"status": status, "set": sorted(node.response_mapping)})
