"""``/{version}/{waba_id}/message_templates``: create (reviewed after a delay), list, delete."""

from __future__ import annotations

import base64

from aiohttp import web

from majlis.graphsim.context import authorize_waba, simulator
from majlis.graphsim.errors import invalid
from majlis.graphsim.messages import read_json
from majlis.graphsim.payloads import Update, template_event
from majlis.graphsim.templates import Template, new_template_id, validate_template

TEMPLATE_FIELD = "message_template_status_update"
_MAX_PAGE = 100


async def create_template(request: web.Request) -> web.Response:
    """Submit a template: PENDING now, APPROVED or REJECTED (with a webhook) after review."""
    sim = simulator(request)
    waba_id = request.match_info["node"]
    authorize_waba(request, waba_id, "post")
    name, language, category, components, parameter_format = validate_template(
        await read_json(request)
    )
    config = sim.config
    rejected = config.template_decision == "reject" or "reject" in name
    template = Template(
        id=new_template_id(),
        waba_id=waba_id,
        name=name,
        language=language,
        category=category,
        components=components,
        parameter_format=parameter_format,
        decided_at=sim.clock() + config.template_approval_delay_ms / 1000,
        event="REJECTED" if rejected else "APPROVED",
        reason=config.template_reject_reason if rejected else "NONE",
    )
    sim.templates.add(template)
    value = template_event(template.id, name, language, category, template.event, template.reason)
    sim.webhooks.schedule(
        Update(waba_id, TEMPLATE_FIELD, value), config.template_approval_delay_ms / 1000
    )
    return web.json_response({"id": template.id, "status": "PENDING", "category": category})


async def list_templates(request: web.Request) -> web.Response:
    """List a WABA's templates with Meta's filters (name, status) and cursor paging."""
    sim = simulator(request)
    waba_id = request.match_info["node"]
    authorize_waba(request, waba_id, "get")
    now = sim.clock()
    query = request.query
    items = [t.public(now) for t in sim.templates.of_waba(waba_id)]
    if "name" in query:
        items = [t for t in items if t["name"] == query["name"]]
    if "status" in query:
        items = [t for t in items if t["status"] == query["status"].upper()]
    limit_text = query.get("limit", "25")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= _MAX_PAGE:
        raise invalid(f"Param limit must be a number between 1 and {_MAX_PAGE}")
    start = _decode_cursor(query.get("after"), after=True)
    page = items[start : start + int(limit_text)]
    paging: dict[str, object] = {}
    if page:
        end = start + len(page) - 1
        paging["cursors"] = {"before": _cursor(start), "after": _cursor(end)}
        if end + 1 < len(items):
            # Unlike Meta's, this link carries no access token: tokens never go in URLs here.
            paging["next"] = str(request.url.update_query(after=_cursor(end)))
    return web.json_response({"data": page, "paging": paging})


async def delete_template(request: web.Request) -> web.Response:
    """Delete every language of a template name (or one, with ``hsm_id``)."""
    sim = simulator(request)
    waba_id = request.match_info["node"]
    authorize_waba(request, waba_id, "delete")
    name = request.query.get("name")
    if not name:
        raise invalid("The parameter name is required")
    if sim.templates.delete(waba_id, name, request.query.get("hsm_id")) == 0:
        raise invalid(f"Message template {name} was not found")
    return web.json_response({"success": True})


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(str(index).encode()).decode()


def _decode_cursor(value: str | None, *, after: bool) -> int:
    if value is None:
        return 0
    try:
        index = int(base64.urlsafe_b64decode(value.encode()).decode())
    except ValueError as error:
        raise invalid("Param after is not a valid cursor") from error
    return index + 1 if after else index
