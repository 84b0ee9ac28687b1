"""The back ends' part of the public OpenAPI document: one operation per route they serve.

The gateway forwards whole resource families (``/api/v1/contacts/...``) to the services, and it
must not import them (nor they each other). So this module's generator, a developer tool run
by ``majlis openapi-backends``, builds each service's app (nothing connects), reads its route
table and the handlers' code, and writes ``openapi_backends.json`` beside this file; the gateway
merges that committed fragment (``load_fragment``) and adds what it alone knows (scopes, roles,
its own problems). tests/integration/gateway/test_openapi_backends.py regenerates it and fails
when the committed copy is stale, and checks every route of every app is documented.

What each operation gets, read from the handler and the functions it calls (majlis' and its
own service's, a few levels deep):
- the request body: the pydantic model passed to ``majlis.http.parse_json`` (its JSON schema
  under components/schemas, unknown fields refused), or text/csv for the CSV uploads;
- path parameters from the route, query parameters the code reads from ``request.query``
  (directly, through a helper given the query and the name, ``uuid_param(query, "label")``, or
  by validating a pydantic model built from it);
- the success status the handler answers (``status=...``, default 200) and every status of a
  ``ProblemError`` it may raise, as problem details;
- the schema of the success answer when the handler declares one (``majlis.http.responds``),
  on every 2xx status but 204, its models under the fragment's schemas; or, for a handler
  that answers a file, its media type (``majlis.http.responds_file``: text/csv as a string,
  other types as bytes). The Content-Type the handler's code sets (a constant, or ``*/*`` when
  computed, e.g. a stored file's own type) must be the declared one, and a handler that sets a
  non-JSON type must declare it: the generator refuses either mismatch.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import textwrap
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from majlis.http.responses import (
    ANY_MEDIA_TYPE,
    add_schema,
    file_content,
    response_file_type,
    response_model,
)

FRAGMENT_NAME = "openapi_backends.json"
SERVICES = ("inbox", "chatflow", "broadcast", "audit")
_PARAM = re.compile(r"\{([A-Za-z_]+)(?::[^}]*)?\}")
_DEPTH = 4
_PROBLEM = {"$ref": "#/components/schemas/Problem"}
# Request headers worth documenting (others the code reads are the platform's own plumbing).
_DOCUMENTED_HEADERS = frozenset({"Idempotency-Key", "If-Match", "If-None-Match"})
_QUERY_READS = frozenset({"get", "getone", "getall", "getlist"})
_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted (the work continues in the background)",
    204: "Done; no content",
    400: "A query parameter is not valid",
    401: "Not authenticated",
    402: "The plan does not include this",
    403: "The role, the API key's scope or the plan does not allow this",
    404: "Not found (another tenant's ids are not found either)",
    409: "The state does not allow this now",
    410: "Gone",
    412: "The If-Match version is not the current one",
    413: "The body is too large",
    415: "The body is not of the documented media type",
    422: "The body or a parameter is not valid",
    428: "This change needs an If-Match header",
    429: "Rate limited (Retry-After says when to retry)",
    502: "A provider the service calls failed",
    503: "A dependency is unavailable; retry later",
}


def load_fragment() -> dict[str, Any]:
    """The committed fragment: {"paths": {...}, "schemas": {...}}."""
    text = resources.files("majlis").joinpath(FRAGMENT_NAME).read_text(encoding="utf-8")
    fragment: dict[str, Any] = json.loads(text)
    return fragment


def fragment_path() -> Path:
    """Where the generator writes the fragment (in the source tree)."""
    return Path(__file__).with_name(FRAGMENT_NAME)


def dumps(fragment: dict[str, Any]) -> str:
    """The fragment as committed: stable key order, one trailing newline."""
    return json.dumps(fragment, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# Reading handlers -----------------------------------------------------------------------------
@cache
def _tree(fn: Callable[..., Any]) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None


def _resolve(node: ast.expr, scope: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return scope.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, scope)
        return getattr(base, node.attr, None) if base is not None else None
    return None


def _ours(fn: Any, packages: tuple[str, ...]) -> bool:
    module = getattr(fn, "__module__", "") or ""
    return inspect.isfunction(fn) and module.split(".")[0] in packages


def _reached(handler: Callable[..., Any], packages: tuple[str, ...]) -> Iterator[Any]:
    """The handler and the functions of `packages` it calls, transitively (a few levels)."""
    seen: set[Any] = set()
    frontier = [handler]
    for _ in range(_DEPTH):
        following = []
        for fn in frontier:
            if fn in seen:
                continue
            seen.add(fn)
            yield fn
            tree = _tree(fn)
            if tree is None:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    target = _resolve(node.func, fn.__globals__)
                    if _ours(target, packages) and target not in seen:
                        following.append(target)
        frontier = following


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _mentions_query(node: ast.AST) -> bool:
    return any(
        (isinstance(n, ast.Attribute) and n.attr == "query")
        or (isinstance(n, ast.Name) and n.id == "query")
        for n in ast.walk(node)
    )


# Shared helpers that prepare a file answer, by name: the media type a call to one sets
# (majlis.http.csv_files.csv_download). Code of majlis itself is not read for Content-Types.
_ANSWER_BUILDERS = {"csv_download": "text/csv"}


def _content_type_values(node: ast.AST) -> Iterator[ast.expr]:
    """The values `node` sets an answer's Content-Type to: ``response.content_type = ...``
    (also in a tuple assignment), a ``"Content-Type"`` header, a ``content_type=`` argument."""
    if isinstance(node, ast.Assign):
        for target in node.targets:
            pairs: list[tuple[ast.expr, ast.expr]] = [(target, node.value)]
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs = list(zip(target.elts, node.value.elts, strict=False))
            for name, value in pairs:
                if isinstance(name, ast.Attribute) and name.attr == "content_type":
                    yield value
    elif isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and str(key.value).lower() == "content-type":
                yield value
    elif isinstance(node, ast.Call):
        yield from (k.value for k in node.keywords if k.arg == "content_type")


def _media_type(value: ast.expr) -> str | None:
    """The media type a Content-Type value gives (None for JSON); ``*/*`` when computed."""
    if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
        return ANY_MEDIA_TYPE
    essence = value.value.split(";", 1)[0].strip().lower()
    return None if essence.endswith("json") else essence


def _strings(node: ast.AST) -> list[str]:
    return [
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


class HandlerFacts:
    """What a handler's code says about its request and its answers."""

    def __init__(self, handler: Callable[..., Any], packages: tuple[str, ...]) -> None:
        """Read `handler` and what it calls."""
        self.body_model: type[BaseModel] | None = None
        self.csv_body = False
        self.body_optional = False
        self.success: set[int] = set()
        self.problems: set[int] = set()
        self.query: set[str] = set()
        self.headers: set[str] = set()
        self.answer_types: set[str] = set()  # non-JSON Content-Types the code sets
        for fn in _reached(handler, packages):
            self._read(fn, is_handler=fn is handler)
        if not self.success:
            self.success.add(200)

    def _read(self, fn: Callable[..., Any], *, is_handler: bool) -> None:
        tree = _tree(fn)
        if tree is None:
            return
        scope = fn.__globals__
        source = ast.unparse(tree)
        # A helper of the service that builds the answer (status=201 in a shared responder).
        in_service = not fn.__module__.startswith("majlis")
        if is_handler and ("body_exists" in source or "can_read_body" in source):
            self.body_optional = True
        for node in ast.walk(tree):
            if is_handler or in_service:
                for value in _content_type_values(node):
                    if (media_type := _media_type(value)) is not None:
                        self.answer_types.add(media_type)
            if isinstance(node, ast.Call):
                self._call(node, scope, source, is_handler=is_handler, fn_in_service=in_service)
            elif isinstance(node, ast.Subscript) and _mentions_query(node.value):
                self.query.update(_strings(node.slice))
            elif isinstance(node, ast.Compare) and any(
                isinstance(op, ast.In | ast.NotIn) for op in node.ops
            ):
                if any(_mentions_query(c) for c in node.comparators):
                    self.query.update(_strings(node.left))
            elif isinstance(node, ast.BinOp) and _mentions_query(node.left):
                self.query.update(_strings(node.right))  # set(request.query) - {"from", ...}
            elif (
                is_handler
                and isinstance(node, ast.Compare)
                and "content_type" in ast.unparse(node.left)
                and "text/csv" in _strings(node)
            ):
                self.csv_body = True

    def _call(
        self,
        node: ast.Call,
        scope: dict[str, Any],
        source: str,
        *,
        is_handler: bool,
        fn_in_service: bool,
    ) -> None:
        target = _resolve(node.func, scope)
        name = getattr(target, "__name__", "")
        if name == "parse_json" and len(node.args) >= 2:
            model = _resolve(node.args[1], scope)
            if _is_model(model):
                self.body_model = model
        elif name == "ProblemError" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, int):
                self.problems.add(first.value)
        elif (
            isinstance(node.func, ast.Attribute)
            and node.func.attr in _QUERY_READS
            and _mentions_query(node.func.value)
            and node.args
        ):
            self.query.update(_strings(node.args[0]))
        elif (
            len(node.args) >= 2
            and _mentions_query(node.args[0])
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            self.query.add(node.args[1].value)  # a reader helper: uuid_param(query, "label")
        elif (
            isinstance(node.func, ast.Attribute)
            and node.func.attr == "model_validate"
            and "request.query" in source
        ):
            model = _resolve(node.func.value, scope)
            if _is_model(model):  # a model of the query string (the audit log's filters)
                self.query.update(f.alias or n for n, f in model.model_fields.items())
        if (
            isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr == "headers"
            and node.args
        ):
            self.headers.update(_strings(node.args[0]))
        if (is_handler or fn_in_service) and name in _ANSWER_BUILDERS:
            self.answer_types.add(_ANSWER_BUILDERS[name])  # a shared helper sets the type
        if is_handler or fn_in_service:
            for keyword in node.keywords:
                if keyword.arg != "status":
                    continue
                for value in ast.walk(keyword.value):  # status=201 if created else 200 too
                    if (
                        isinstance(value, ast.Constant)
                        and isinstance(value.value, int)
                        and (is_handler or 200 <= value.value < 300)
                    ):
                        self.success.add(value.value)


# Building the fragment -----------------------------------------------------------------------
def _summary(handler: Callable[..., Any]) -> tuple[str, str]:
    doc = inspect.getdoc(handler) or handler.__name__.replace("_", " ")
    first, _, rest = doc.partition("\n\n")
    return " ".join(first.split()), rest.strip()


def _operation(
    service: str, method: str, path: str, handler: Callable[..., Any], schemas: dict[str, Any]
) -> dict[str, Any]:
    facts = HandlerFacts(handler, (service, "majlis"))
    summary, description = _summary(handler)
    op: dict[str, Any] = {
        "summary": summary,
        "operationId": f"{service}_{handler.__name__}",
        "tags": [path.split("/")[3]],
    }
    if description:
        op["description"] = description
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"}
            if name.endswith("_id")
            else {"type": "string"},
        }
        for name in _PARAM.findall(path)
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in sorted(facts.query)
    ]
    parameters += [
        {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
        for name in sorted(facts.headers & _DOCUMENTED_HEADERS)
    ]
    if parameters:
        op["parameters"] = parameters
    problems = set(facts.problems)
    if facts.body_model is not None:
        model = facts.body_model
        found = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in found.pop("$defs", {}).items():
            schemas[name] = sub
        schemas[model.__name__] = found
        op["requestBody"] = {
            "required": not facts.body_optional,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
        problems |= {413, 415, 422}
    elif facts.csv_body:
        op["requestBody"] = {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
        problems |= {413, 415, 422}
    responses: dict[str, Any] = {
        str(code): {"description": _REASONS.get(code, "Success")} for code in sorted(facts.success)
    }
    answer_model, file_type = response_model(handler), _file_answer(handler, facts)
    if answer_model is not None:
        ref = add_schema(answer_model, schemas)
        for code in sorted(facts.success - {204}):
            responses[str(code)]["content"] = {"application/json": {"schema": ref}}
    elif file_type is not None:
        for code in sorted(facts.success - {204}):
            responses[str(code)]["content"] = file_content(file_type)
    for code in sorted(problems):
        responses[str(code)] = {
            "description": _REASONS.get(code, "Problem"),
            "content": {"application/problem+json": {"schema": _PROBLEM}},
        }
    op["responses"] = responses
    return op


def _file_answer(handler: Callable[..., Any], facts: HandlerFacts) -> str | None:
    """The media type of the file a handler declares it answers, checked against its code."""
    declared = response_file_type(handler)
    name = f"{handler.__module__}.{handler.__qualname__}"
    if declared is None:
        if facts.answer_types:
            raise ValueError(f"{name} answers {sorted(facts.answer_types)}: use responds_file")
        return None
    if response_model(handler) is not None:
        raise ValueError(f"{name} declares both a JSON answer and a file")
    if declared not in facts.answer_types:
        found = sorted(facts.answer_types) or "no Content-Type"
        raise ValueError(f"{name} declares a {declared} file, but its code sets {found}")
    return declared


def routes_of(app: Any) -> Iterator[tuple[str, str, Callable[..., Any]]]:
    """(method, path, handler) of every public API route of an aiohttp app (not HEAD)."""
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if route.method != "HEAD" and path.startswith("/api/v1/"):
            yield route.method, _PARAM.sub(lambda m: "{" + m.group(1) + "}", path), route.handler


def build_fragment(apps: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """The fragment for (service name, app) pairs."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    operation_ids: set[str] = set()
    for service, app in apps:
        for method, path, handler in routes_of(app):
            item = paths.setdefault(path, {"x-majlis-proxy": {"service": service}})
            op = _operation(service, method, path, handler, schemas)
            if op["operationId"] in operation_ids:
                raise ValueError(f"two routes share the operation id {op['operationId']}")
            operation_ids.add(op["operationId"])
            item[method.lower()] = op
    return {"paths": paths, "schemas": schemas}


def service_apps(settings: Any) -> list[tuple[str, Any]]:
    """Every back end's app, built from `settings` (nothing connects until an app starts).

    A developer tool: the only place in majlis that imports the services, lazily.
    """
    from audit.app import create_app as audit_app
    from broadcast.app import create_app as broadcast_app
    from chatflow.app import create_app as chatflow_app
    from inbox.app import create_app as inbox_app

    factories: dict[str, Callable[[Any], Any]] = {
        "inbox": inbox_app,
        "chatflow": chatflow_app,
        "broadcast": broadcast_app,
        "audit": audit_app,
    }
    return [(name, factories[name](settings)) for name in SERVICES]
