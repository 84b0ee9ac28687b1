"""Answers checked against the OpenAPI document the gateway serves.

Tests call operations through the gateway with `Checker.call` and each 2xx answer is validated
against the schema the served document declares for that operation and status. Validation is
stricter than the document: an object with listed properties may carry no key the schema does
not name, so a key a handler adds without documenting it fails.

Several test files share the work, each owning the operations under its path prefixes
(`CHECKED_ELSEWHERE`); each asserts it checked every documented operation it owns, and
tests/integration/chatflow/test_documented_answers.py checks all the others.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonschema_rs

from majlis.testing.browser import Browser

# Path prefixes whose documented answers a test file other than test_documented_answers.py
# checks, by that file.
CHECKED_ELSEWHERE: dict[str, tuple[str, ...]] = {
    "test_documented_answers_chatflow.py": (
        "/api/v1/ai/",
        "/api/v1/companion",
        "/api/v1/knowledge/",
        "/api/v1/flows/{flow_id}/logs",
        "/api/v1/flows/{flow_id}/runs",
        "/api/v1/flows/{flow_id}/test",
    ),
    "test_documented_answers_gateway.py": (
        "/api/v1/auth/",
        "/.well-known/",
        "/api/v1/platform/",
        "/api/v1/me/presence",
        "/api/v1/presence",
        "/api/v1/settings/",
        "/api/v1/team/",
        "/api/v1/users/{user_id}/two-factor",
    ),
    "test_documented_answers_inbox.py": (
        "/api/v1/labels",
        "/api/v1/teams",
        "/api/v1/canned-responses",
        "/api/v1/contact-attributes",
        "/api/v1/assignment-policies",
        "/api/v1/contacts/import",
        "/api/v1/contacts/{contact_id}/data-export",
        "/api/v1/contacts/{contact_id}/erase",
        "/api/v1/media",
    ),
    "test_documented_answers_analytics.py": ("/api/v1/analytics/", "/api/v1/audit/"),
}

_PARAM = re.compile(r"\{[a-z_]+\}")


def _closed(node: Any) -> Any:
    """A copy of a schema where objects with properties refuse keys they do not list."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    closed = {key: _closed(value) for key, value in node.items()}
    if "properties" in closed and "additionalProperties" not in closed:
        closed["additionalProperties"] = False
    return closed


class Checker:
    """Calls operations and validates their answers against the served document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.components = _closed(copy.deepcopy(document["components"]))
        self.checked: set[tuple[str, str]] = set()

    def _schema(self, method: str, template: str, status: int) -> dict[str, Any]:
        op = self.document["paths"][template][method.lower()]
        content = op["responses"][str(status)]["content"]["application/json"]
        schema: dict[str, Any] = content["schema"]
        return schema

    async def call(
        self,
        client: Browser,
        method: str,
        template: str,
        *ids: str,
        json: Any = None,
        status: int = 200,
    ) -> Any:
        """Call `template` with `ids` in its parameters; the answer, validated."""
        values = iter(ids)
        path = _PARAM.sub(lambda _: next(values), template)
        got, body, _ = await client.request(method, path, json=json)
        assert got == status, (method, path, got, body)
        self.validate(method, template, status, body)
        return body

    def validate(self, method: str, template: str, status: int, body: Any) -> None:
        """Validate an answer against the documented schema of its operation and status."""
        root = {
            "$ref": "#/$defs/it",
            "$defs": {"it": _closed(self._schema(method, template, status))},
            "components": self.components,
        }
        validator = jsonschema_rs.Draft202012Validator(root, validate_formats=True)
        errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, (method, template, errors, body)
        self.checked.add((method.lower(), template))

    def documented(self) -> set[tuple[str, str]]:
        """Every operation with a 2xx JSON answer schema in the document."""
        found = set()
        for template, item in self.document["paths"].items():
            for method, op in item.items():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                for code, answer in op["responses"].items():
                    if code.startswith("2") and "schema" in answer.get("content", {}).get(
                        "application/json", {}
                    ):
                        found.add((method, template))
        return found

    def unchecked(self, prefixes: tuple[str, ...] | None = None) -> set[tuple[str, str]]:
        """Documented operations (under `prefixes`, or all) that no call has checked."""
        return {
            (method, template)
            for method, template in self.documented() - self.checked
            if prefixes is None or template.startswith(prefixes)
        }


def elsewhere() -> tuple[str, ...]:
    """Every path prefix a test file other than test_documented_answers.py owns."""
    return tuple(prefix for prefixes in CHECKED_ELSEWHERE.values() for prefix in prefixes)
