"""``POST /{version}/{phone_number_id}/messages``: checks in Meta's spirit, then status webhooks."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from majlis.graphsim.auth_templates import check_authentication_send
from majlis.graphsim.context import Simulator, authorize_number, simulator
from majlis.graphsim.errors import SimError, invalid
from majlis.graphsim.payloads import (
    Update,
    conversation,
    has_conversation_object,
    pricing,
    status_item,
)
from majlis.graphsim.state import Number, SentMessage, digits, new_wamid
from majlis.graphsim.validation import media_reference, validate_message

THROUGHPUT_DETAILS = "Cloud API message throughput has been reached."
PAIR_DETAILS = (
    "Message failed to send because there were too many messages sent from this phone number "
    "to the same phone number in a short period of time."
)
WINDOW_DETAILS = (
    "Message failed to send because more than 24 hours have passed since the customer last "
    "replied to this number."
)


async def read_json(request: web.Request) -> Any:
    """The JSON body, or a code-100 error as Meta gives for unparsable input."""
    try:
        return await request.json()
    except ValueError as error:
        raise invalid("The request body is not valid JSON") from error


async def send_message(request: web.Request) -> web.Response:
    """Accept a message (or a read receipt) like the Cloud API does."""
    sim = simulator(request)
    number = authorize_number(request, request.match_info["node"], "post")
    payload = await read_json(request)
    if isinstance(payload, dict) and payload.get("status") == "read":
        return _mark_read(payload)
    kind, to = validate_message(payload)
    wa_id = digits(to)
    media_id = media_reference(kind, payload)
    if media_id is not None and sim.media.live(media_id) is None:
        raise invalid(f"Param {kind}['id'] is not a valid media id")
    fault = sim.state.take_fault(number.phone_number_id)
    if fault is not None:
        # After the token, number and request checks, as Meta answers its own errors.
        raise SimError(fault[0], "Injected by the simulator (/_sim/faults)", status=fault[1])
    category, pricing_type = _pricing_of(sim, number, kind, payload, wa_id)
    window_error = None
    if kind != "template" and not sim.state.is_window_open(number.phone_number_id, wa_id):
        if not sim.config.window_errors_async:
            raise SimError(131047, WINDOW_DETAILS)
        window_error = 131047
    if not sim.state.take_throughput(number.phone_number_id):
        raise SimError(130429, THROUGHPUT_DETAILS)
    if not sim.state.take_pair(number.phone_number_id, wa_id):
        raise SimError(131056, PAIR_DETAILS)
    sent = SentMessage(
        wamid=new_wamid(wa_id),
        phone_number_id=number.phone_number_id,
        waba_id=number.waba_id,
        to=to,
        wa_id=wa_id,
        type=kind,
        accepted_at=sim.clock(),
        api_version=request.match_info["version"],
        payload=payload,
    )
    sim.state.sent[sent.wamid] = sent
    callback = payload.get("biz_opaque_callback_data")
    _schedule_statuses(
        sim,
        sent,
        number,
        category,
        pricing_type,
        callback if isinstance(callback, str) else None,
        window_error,
    )
    return web.json_response(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": wa_id}],
            "messages": [{"id": sent.wamid}],
        }
    )


def _mark_read(payload: dict[str, Any]) -> web.Response:
    message_id = payload.get("message_id")
    if payload.get("messaging_product") != "whatsapp" or not isinstance(message_id, str):
        raise invalid("The parameters messaging_product and message_id are required")
    return web.json_response({"success": True})


def _pricing_of(
    sim: Simulator, number: Number, kind: str, payload: dict[str, Any], wa_id: str
) -> tuple[str, str]:
    """The pricing category and type of a send; checks the template exists and fits."""
    in_window = sim.state.is_window_open(number.phone_number_id, wa_id)
    if kind != "template":
        return "service", "free_customer_service"
    body = payload["template"]
    name, language = body["name"], body["language"]["code"]
    template = sim.templates.find(number.waba_id, name, language)
    if template is None or template.status(sim.clock()) != "APPROVED":
        if sim.config.require_templates:
            raise SimError(132001, f"template name ({name}) does not exist in {language}")
        return "utility", "free_customer_service" if in_window else "regular"
    sent_params = sum(
        len(c.get("parameters", [])) for c in body.get("components", []) if c.get("type") == "body"
    )
    if sent_params != template.body_parameter_count():
        raise SimError(
            132000,
            f"body: number of localizable_params ({sent_params}) does not match the expected "
            f"number of params ({template.body_parameter_count()})",
        )
    if template.category == "AUTHENTICATION":
        check_authentication_send(body.get("components"))
    category = template.category.lower()
    free = in_window and category == "utility"
    return category, "free_customer_service" if free else "regular"


def _schedule_statuses(
    sim: Simulator,
    sent: SentMessage,
    number: Number,
    category: str,
    pricing_type: str,
    callback_data: str | None,
    error_code: int | None,
) -> None:
    config = sim.config
    now = sim.clock()
    with_conversation = has_conversation_object(sent.api_version)

    def schedule(status: str, delay_ms: int, **extra: Any) -> None:
        item = status_item(
            sent.wamid,
            status,
            now + delay_ms / 1000,
            sent.wa_id,
            callback_data=callback_data,
            **extra,
        )
        update = Update(
            number.waba_id, "messages", item, "statuses", number.metadata(), wamid=sent.wamid
        )
        sim.webhooks.schedule(update, delay_ms / 1000)

    if error_code is None and sim.rng.random() < config.failure_rate:
        error_code = 131026
    if error_code is not None:
        schedule("failed", config.sent_delay_ms, error_code=error_code)
        return
    price = pricing(category, pricing_type)

    def conv(expires: float | None) -> dict[str, Any] | None:
        if not with_conversation:
            return None
        return conversation(sent.phone_number_id, sent.wa_id, category, expires)

    schedule("sent", config.sent_delay_ms, pricing=price, conversation=conv(now + 86_400))
    # Pricing rides on `sent` and on one of delivered/read, never both (reference §3.3).
    schedule("delivered", config.delivered_delay_ms, pricing=price, conversation=conv(None))
    if sim.rng.random() < config.read_probability:
        schedule("read", config.read_delay_ms)
