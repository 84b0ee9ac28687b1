"""``GET``/``DELETE /{version}/{node_id}``: a media object, a template, or a phone number;
``GET /{version}/{waba_id}/phone_numbers``: a WhatsApp Business Account's numbers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from majlis.graphsim.context import authorize_number, authorize_waba, bearer_token, simulator
from majlis.graphsim.errors import invalid, no_such_object
from majlis.graphsim.media_views import delete_media, media_info


async def get_node(request: web.Request) -> web.Response:
    """Read a node by id; which kind it is depends on what the simulator knows of the id."""
    sim = simulator(request)
    node_id = request.match_info["node"]
    if sim.media.knows(node_id):
        return media_info(request, node_id)
    template = sim.templates.by_id(node_id)
    if template is not None:
        if not sim.state.may_use_waba(template.waba_id, bearer_token(request)):
            raise no_such_object(node_id)
        return web.json_response(_select(request, template.public(sim.clock()), "Template"))
    number = authorize_number(request, node_id, "get")
    config = sim.config
    fields: dict[str, Any] = {
        "verified_name": number.verified_name,
        "code_verification_status": "VERIFIED",
        "display_phone_number": number.display_phone_number,
        "quality_rating": number.quality_rating,
        "platform_type": "CLOUD_API",
        "throughput": {"level": "STANDARD"},
        "whatsapp_business_manager_messaging_limit": "TIER_2K",
        "webhook_configuration": {"application": config.webhook_url},
        "id": number.phone_number_id,
    }
    return web.json_response(_select(request, fields, "WhatsAppBusinessPhoneNumber"))


async def waba_phone_numbers(request: web.Request) -> web.Response:
    """The WABA's phone numbers, for a token that may manage it (one page: a WABA has few)."""
    sim = simulator(request)
    waba_id = request.match_info["node"]
    authorize_waba(request, waba_id, "get")
    data = [
        _select(
            request,
            {
                "verified_name": number.verified_name,
                "code_verification_status": "VERIFIED",
                "display_phone_number": number.display_phone_number,
                "quality_rating": number.quality_rating,
                "platform_type": "CLOUD_API",
                "id": number.phone_number_id,
            },
            "WhatsAppBusinessPhoneNumber",
        )
        for number in sim.state.numbers_of_waba(waba_id)
    ]
    return web.json_response({"data": data, "paging": {"cursors": {"before": "", "after": ""}}})


async def delete_node(request: web.Request) -> web.Response:
    """Delete a node; only media objects can be deleted this way."""
    node_id = request.match_info["node"]
    if simulator(request).media.knows(node_id):
        return delete_media(request, node_id)
    bearer_token(request)
    raise no_such_object(node_id, "delete")


def _select(request: web.Request, fields: dict[str, Any], node_type: str) -> dict[str, Any]:
    wanted = request.query.get("fields")
    if not wanted:
        return fields
    selected: dict[str, Any] = {}
    for name in (n.strip() for n in wanted.split(",") if n.strip()):
        if name not in fields:
            raise invalid(f"Tried accessing nonexisting field ({name}) on node type ({node_type})")
        selected[name] = fields[name]
    selected["id"] = fields["id"]
    return selected
