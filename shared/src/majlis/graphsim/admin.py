"""``/_sim/*``: the simulator's own controls. "Play the customer", open windows, register numbers,
and look at what was sent. Plain JSON errors here: this is not Meta's API."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeGuard

from aiohttp import web

from majlis.graphsim.config import KnownNumber
from majlis.graphsim.context import Simulator, simulator
from majlis.graphsim.payloads import Update, contact
from majlis.graphsim.state import Number, digits, new_wamid
from majlis.logging import get_logger

log = get_logger(__name__)
# A 1x1 PNG, the picture a simulated customer sends when the request brings none.
_PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _bad(reason: str, status: int = 400) -> web.HTTPException:
    kind = web.HTTPNotFound if status == 404 else web.HTTPBadRequest
    return kind(text=json.dumps({"error": reason}), content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object")
    return body


def _number_for(sim: Simulator, body: dict[str, Any]) -> Number:
    phone_number_id = body.get("phone_number_id")
    if phone_number_id is None:
        known = sim.config.known_numbers
        phone_number_id = known[0].phone_number_id if known else sim.config.default_phone_number_id
    number = sim.state.number(str(phone_number_id))
    if number is None:
        raise _bad("unknown phone_number_id (strict mode)", 404)
    return number


async def inbound(request: web.Request) -> web.Response:
    """Play the customer: deliver a signed inbound message webhook and open the 24 h window."""
    sim = simulator(request)
    body = await _body(request)
    number = _number_for(sim, body)
    wa_id = digits(str(body.get("from", "")))
    if not 7 <= len(wa_id) <= 15:
        raise _bad("from must be a phone number")
    message, media_id = _message(sim, body, number, wa_id)
    name = body.get("name") if isinstance(body.get("name"), str) else "Simulated Customer"
    sim.state.open_window(number.phone_number_id, wa_id)
    sim.webhooks.schedule(
        Update(
            number.waba_id,
            "messages",
            message,
            "messages",
            number.metadata(),
            contact(wa_id, str(name)),
            wamid=message["id"],
        )
    )
    log.info(
        "graphsim.inbound", phone_number_id=number.phone_number_id, message_type=message["type"]
    )
    answer: dict[str, Any] = {"wamid": message["id"]}
    if media_id is not None:
        answer["media_id"] = media_id
    return web.json_response(answer, status=201)


def _message(
    sim: Simulator, body: dict[str, Any], number: Number, wa_id: str
) -> tuple[dict[str, Any], str | None]:
    common = {"from": wa_id, "id": new_wamid(wa_id), "timestamp": str(int(sim.clock()))}
    if isinstance(body.get("message"), dict):
        message = {**common, **body["message"]}
        if not isinstance(message.get("type"), str):
            raise _bad("message.type is required")
        return message, None
    if isinstance(body.get("image"), dict):
        image = body["image"]
        try:
            data = base64.b64decode(image["data"], validate=True) if "data" in image else _PIXEL
        except (binascii.Error, TypeError) as error:
            raise _bad("image.data must be base64") from error
        mime_type = str(image.get("mime_type", "image/png"))
        item = sim.media.add(
            data, mime_type, number.phone_number_id, sim.config.inbound_media_ttl_s
        )
        # Webhooks carry the hash base64-encoded (GET /{media_id} reports hex) [UNCONFIRMED].
        picture: dict[str, Any] = {
            "id": item.id,
            "mime_type": mime_type,
            "sha256": base64.b64encode(bytes.fromhex(item.sha256)).decode(),
        }
        if isinstance(image.get("caption"), str):
            picture["caption"] = image["caption"]
        return {**common, "type": "image", "image": picture}, item.id
    text = body.get("text")
    if not isinstance(text, str) or not text:
        raise _bad("one of text, image or message is required")
    return {**common, "type": "text", "text": {"body": text}}, None


async def echo(request: web.Request) -> web.Response:
    """Play the business on the WhatsApp Business app (coexistence): deliver a signed
    ``smb_message_echoes`` webhook of a message it sent from the phone to ``to``.

    The echo does not open or extend the customer-service window: only the customer can.
    """
    sim = simulator(request)
    body = await _body(request)
    number = _number_for(sim, body)
    wa_id = digits(str(body.get("to", "")))
    if not 7 <= len(wa_id) <= 15:
        raise _bad("to must be a phone number")
    business = digits(number.display_phone_number) or number.phone_number_id
    common = {
        "from": business,
        "to": wa_id,
        "id": new_wamid(wa_id),
        "timestamp": str(int(sim.clock())),
    }
    if isinstance(body.get("message"), dict):
        item = {**common, **body["message"]}
        if not isinstance(item.get("type"), str):
            raise _bad("message.type is required")
    elif isinstance(body.get("text"), str) and body["text"]:
        item = {**common, "type": "text", "text": {"body": body["text"]}}
    else:
        raise _bad("one of text or message is required")
    sim.webhooks.schedule(
        Update(
            number.waba_id,
            "smb_message_echoes",
            item,
            "message_echoes",
            number.metadata(),
            wamid=item["id"],
        )
    )
    log.info("graphsim.echo", phone_number_id=number.phone_number_id, message_type=item["type"])
    return web.json_response({"wamid": item["id"]}, status=201)


async def app_contact(request: web.Request) -> web.Response:
    """Play the business editing the WhatsApp Business app's address book (coexistence):
    deliver a signed ``smb_app_state_sync`` webhook for ``phone`` (``action`` "add", the
    default, with ``name``; or "remove")."""
    sim = simulator(request)
    body = await _body(request)
    number = _number_for(sim, body)
    wa_id = digits(str(body.get("phone", "")))
    if not 7 <= len(wa_id) <= 15:
        raise _bad("phone must be a phone number")
    action = body.get("action", "add")
    if action not in ("add", "remove"):
        raise _bad("action must be add or remove")
    person: dict[str, Any] = {"phone_number": wa_id}
    name = body.get("name")
    if action == "add" and isinstance(name, str) and name.strip():
        person["full_name"] = name.strip()
        person["first_name"] = name.strip().split()[0]
    item = {
        "type": "contact",
        "contact": person,
        "action": action,
        "metadata": {"timestamp": str(int(sim.clock()))},
    }
    sim.webhooks.schedule(
        Update(number.waba_id, "smb_app_state_sync", item, "state_sync", number.metadata())
    )
    log.info("graphsim.app_contact", phone_number_id=number.phone_number_id, action=action)
    return web.json_response({"action": action}, status=201)


_HISTORY_DECLINED = {
    "code": 2593109,
    "title": "History sync is turned off by the business from the WhatsApp Business App",
    "message": "History sync is turned off by the business from the WhatsApp Business App",
    "error_data": {"details": "History sharing is turned off by the business"},
}


async def history(request: web.Request) -> web.Response:
    """Play Meta sharing the WhatsApp Business app's chat history (coexistence): deliver one
    signed ``history`` webhook chunk. ``threads``: [{"with": customer number, "messages":
    [{"by": "customer" | "business", "text": ..., "ago_s": seconds before now, "status":
    "READ"...}]}] (or a ``message`` object instead of ``text``); ``phase``, ``chunk_order``,
    ``progress``; or ``{"declined": true}`` for a business that turned sharing off."""
    sim = simulator(request)
    body = await _body(request)
    number = _number_for(sim, body)
    business = digits(number.display_phone_number) or number.phone_number_id
    if body.get("declined") is True:
        chunk: dict[str, Any] = {"errors": [_HISTORY_DECLINED]}
        wamids: list[str] = []
    else:
        threads, wamids = [], []
        for thread in body.get("threads") or []:
            customer = digits(str(thread.get("with", ""))) if isinstance(thread, dict) else ""
            if not 7 <= len(customer) <= 15:
                raise _bad("each thread needs with: a phone number")
            messages = []
            for spec in thread.get("messages") or []:
                if not isinstance(spec, dict):
                    raise _bad("messages must be objects")
                by_business = spec.get("by") == "business"
                item: dict[str, Any] = {
                    "from": business if by_business else customer,
                    "id": new_wamid(customer),
                    "timestamp": str(int(sim.clock() - float(spec.get("ago_s", 3600)))),
                }
                if by_business:
                    item["to"] = customer
                if isinstance(spec.get("message"), dict):
                    item.update(spec["message"])
                elif isinstance(spec.get("text"), str):
                    item.update({"type": "text", "text": {"body": spec["text"]}})
                else:
                    raise _bad("each message needs text or message")
                item["history_context"] = {"status": str(spec.get("status", "READ"))}
                messages.append(item)
                wamids.append(item["id"])
            threads.append({"id": customer, "messages": messages})
        chunk = {
            "metadata": {
                "phase": int(body.get("phase", 0)),
                "chunk_order": int(body.get("chunk_order", 1)),
                "progress": int(body.get("progress", 100)),
            },
            "threads": threads,
        }
    sim.webhooks.schedule(Update(number.waba_id, "history", chunk, "history", number.metadata()))
    log.info("graphsim.history", phone_number_id=number.phone_number_id, messages=len(wamids))
    return web.json_response({"wamids": wamids}, status=201)


async def open_window(request: web.Request) -> web.Response:
    """Open the 24 h customer-service window as if the customer had just written."""
    sim = simulator(request)
    body = await _body(request)
    number = _number_for(sim, body)
    wa_id = digits(str(body.get("wa_id", "")))
    if not wa_id:
        raise _bad("wa_id is required")
    sim.state.open_window(number.phone_number_id, wa_id)
    return web.json_response({"phone_number_id": number.phone_number_id, "wa_id": wa_id})


async def register_number(request: web.Request) -> web.Response:
    """Register a number with its token and WABA (what strict mode accepts)."""
    body = await _body(request)
    try:
        known = KnownNumber(
            str(body["phone_number_id"]),
            str(body["token"]),
            str(body["waba_id"]),
            str(body.get("display_phone_number", "")),
            str(body.get("verified_name", "Majlis Simulator")),
        )
    except KeyError as error:
        raise _bad("phone_number_id, token and waba_id are required") from error
    number = simulator(request).state.register(known)
    return web.json_response(
        {
            "phone_number_id": number.phone_number_id,
            "waba_id": number.waba_id,
            "display_phone_number": number.display_phone_number,
        },
        status=201,
    )


async def add_faults(request: web.Request) -> web.Response:
    """Fail the next ``count`` sends of a number with Meta's ``code`` (HTTP ``status``, 400)."""
    sim = simulator(request)
    body = await _body(request)
    number = _number_for(sim, body)
    code, status, count = body.get("code"), body.get("status", 400), body.get("count", 1)
    if not (_is_int(code) and _is_int(status) and _is_int(count)):
        raise _bad("code, status and count must be integers")
    if not (400 <= status <= 599 and 1 <= count <= 10_000):
        raise _bad("status must be 4xx/5xx and count 1..10000")
    sim.state.add_faults(number.phone_number_id, code, status, count)
    return web.json_response({"phone_number_id": number.phone_number_id, "queued": count})


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


async def list_sent(request: web.Request) -> web.Response:
    """Accepted sends, oldest first; filter with ``phone_number_id`` and ``to`` (digits)."""
    sent = simulator(request).state.sent.values()
    query = request.query
    items = [
        s.public()
        for s in sent
        if query.get("phone_number_id", s.phone_number_id) == s.phone_number_id
        and digits(query.get("to", s.wa_id)) == s.wa_id
    ]
    return web.json_response({"data": items})


async def webhook_stats(request: web.Request) -> web.Response:
    """Webhook delivery counters and how many updates are still pending."""
    webhooks = simulator(request).webhooks
    return web.json_response({**vars(webhooks.stats), "pending": webhooks.pending})


async def inbound_deliveries(request: web.Request) -> web.Response:
    """Each inbound message's webhook: attempts, the first answer, delivered or dropped."""
    records = simulator(request).webhooks.inbound.values()
    return web.json_response({"data": [vars(record) for record in records]})


async def healthz(_request: web.Request) -> web.Response:
    """Liveness."""
    return web.json_response({"status": "ok"})
