"""The Graph API simulator, driven over HTTP on 127.0.0.1 with a signature-checking receiver."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from majlis.graphsim import SimulatorConfig, config_from_settings
from majlis.graphsim.testing import WebhookReceiver, running_simulator
from majlis.settings import Settings

SECRET = "graphsim-test-secret"
TOKEN = "EAAGraphSimTestToken"
PHONE = "106540352242922"
CUSTOMER = "+971501234567"
DEFAULT_WABA = "102290129340398"  # lax mode: the WABA of numbers nobody registered
FAST: dict[str, Any] = {
    "sent_delay_ms": 10,
    "delivered_delay_ms": 30,
    "read_delay_ms": 50,
    "read_probability": 1.0,
    "template_approval_delay_ms": 30,
    "webhook_retry_base_ms": 30,
    "webhook_retry_max_ms": 150,
    "webhook_max_attempts": 30,
    "webhook_batch_window_ms": 5,
    "seed": 7,
}
TEMPLATE = {
    "name": "order_update",
    "language": "en_US",
    "category": "UTILITY",
    "components": [
        {
            "type": "BODY",
            "text": "Hi {{1}}, order {{2}} shipped",
            "example": {"body_text": [["A", "1"]]},
        }
    ],
}


@dataclass
class Sim:
    """A running simulator and a session to call it."""

    url: str
    session: aiohttp.ClientSession

    async def call(
        self, method: str, path: str, token: str | None = TOKEN, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(
            method, self.url + path, headers=headers, **kwargs
        ) as response:
            return response.status, await response.json(content_type=None)

    async def send(self, payload: dict[str, Any], phone: str = PHONE, **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", f"/v21.0/{phone}/messages", json=payload, **kw)

    async def text(self, body: str = "hello", to: str = CUSTOMER, phone: str = PHONE) -> Any:
        payload = {
            "messaging_product": "whatsapp",
            "to": to,
            "type": "text",
            "text": {"body": body},
        }
        return await self.send(payload, phone)

    async def open_window(self, wa_id: str = CUSTOMER, phone: str = PHONE) -> None:
        status, _ = await self.call(
            "POST", "/_sim/window", None, json={"phone_number_id": phone, "wa_id": wa_id}
        )
        assert status == 200

    async def approved_template(self, receiver: WebhookReceiver, **template: Any) -> None:
        status, body = await self.call(
            "POST", f"/v21.0/{DEFAULT_WABA}/message_templates", json=TEMPLATE | template
        )
        assert status == 200, body
        await receiver.wait_for(
            lambda: any(
                v["message_template_id"] == int(body["id"])
                for v in receiver.values("message_template_status_update")
            )
        )


StartSim = Callable[..., Awaitable[Sim]]


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    webhook = WebhookReceiver(SECRET)
    await webhook.start()
    yield webhook
    await webhook.stop()


@pytest.fixture
async def start_sim(receiver: WebhookReceiver) -> AsyncIterator[StartSim]:
    async with AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())

        async def start(**overrides: Any) -> Sim:
            config = SimulatorConfig(
                app_secret=SECRET, webhook_url=receiver.url, **FAST | overrides
            )
            return Sim(await stack.enter_async_context(running_simulator(config)), session)

        yield start


def assert_meta_error(body: Any, code: int) -> None:
    error = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["type"]
    assert error["fbtrace_id"]


async def test_text_send_returns_wamid_then_signed_statuses_in_order(
    start_sim: StartSim, receiver: WebhookReceiver
) -> None:
    sim = await start_sim()
    await sim.open_window()
    status, body = await sim.text("مرحبا")
    assert status == 200
    wamid = body["messages"][0]["id"]
    assert wamid.startswith("wamid.")
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": CUSTOMER, "wa_id": "971501234567"}]
    await receiver.wait_for(lambda: len(receiver.statuses(wamid)) == 3)
    statuses = receiver.statuses(wamid)
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    assert all(s["recipient_id"] == "971501234567" for s in statuses)
    assert all(isinstance(s["timestamp"], str) and s["timestamp"].isdigit() for s in statuses)
    assert statuses[0]["pricing"]["type"] == "free_customer_service"
    assert statuses[0]["conversation"]["expiration_timestamp"].isdigit()  # v21 still has it
    assert "pricing" not in statuses[2]
    payload = receiver.payloads[0]
    assert payload["object"] == "whatsapp_business_account"
    value = payload["entry"][0]["changes"][0]["value"]
    assert value["metadata"]["phone_number_id"] == PHONE
    assert receiver.rejected == 0
    _, sent = await sim.call("GET", "/_sim/sent", None)
    assert sent["data"][0]["id"] == wamid
    assert sent["data"][0]["statuses"] == ["sent", "delivered", "read"]
    assert TOKEN not in str(sent)


@pytest.mark.parametrize(
    "payload",
    [
        {"to": CUSTOMER, "type": "text", "text": {"body": "x"}},
        {"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}},
        {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "fax", "fax": {}},
        {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {}},
        {"messaging_product": "whatsapp", "to": CUSTOMER, "text": {"body": "x" * 4097}},
        {
            "messaging_product": "whatsapp",
            "to": CUSTOMER,
            "type": "template",
            "template": {"name": "t"},
        },
        {
            "messaging_product": "whatsapp",
            "to": CUSTOMER,
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "pick"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": f"b{i}", "title": f"B{i}"}}
                        for i in range(4)
                    ]
                },
            },
        },
        {
            "messaging_product": "whatsapp",
            "to": CUSTOMER,
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "pick"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "b", "title": "x" * 21}}]},
            },
        },
        {
            "messaging_product": "whatsapp",
            "to": CUSTOMER,
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": "pick"},
                "action": {
                    "button": "Menu",
                    "sections": [{"rows": [{"id": f"r{i}", "title": f"R{i}"} for i in range(11)]}],
                },
            },
        },
        {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "image", "image": {}},
        {
            "messaging_product": "whatsapp",
            "to": CUSTOMER,
            "type": "image",
            "image": {"id": "1", "link": "https://example.com/a.jpg"},
        },
        {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "image", "image": {"id": "404"}},
        {
            "messaging_product": "whatsapp",
            "to": CUSTOMER,
            "type": "location",
            "location": {"latitude": 91, "longitude": 0},
        },
    ],
)
async def test_bad_shapes_are_code_100(start_sim: StartSim, payload: dict[str, Any]) -> None:
    sim = await start_sim()
    await sim.open_window()
    status, body = await sim.send(payload)
    assert status == 400
    assert_meta_error(body, 100)


async def test_unparsable_body_and_unknown_path_are_meta_errors(start_sim: StartSim) -> None:
    sim = await start_sim()
    status, body = await sim.call("POST", f"/v21.0/{PHONE}/messages", data=b"{not json")
    assert (status, body["error"]["code"]) == (400, 100)
    status, body = await sim.call("GET", f"/v21.0/{PHONE}/nothing/here")
    assert status == 400
    assert_meta_error(body, 2500)


@pytest.mark.parametrize("token", [None, "not-a-meta-token", "EAA"])
async def test_bad_or_missing_token_is_401_code_190(start_sim: StartSim, token: str | None) -> None:
    sim = await start_sim()
    status, body = await sim.call("GET", f"/v21.0/{PHONE}", token)
    assert status == 401
    assert_meta_error(body, 190)
    assert body["error"]["type"] == "OAuthException"


async def test_strict_mode_accepts_only_registered_number_and_token(start_sim: StartSim) -> None:
    sim = await start_sim(strict=True)
    for number, token, waba in ((PHONE, "EAAone", "501"), ("200", "EAAtwo", "502")):
        body = {"phone_number_id": number, "token": token, "waba_id": waba}
        assert (await sim.call("POST", "/_sim/numbers", None, json=body))[0] == 201
    status, body = await sim.call("GET", f"/v21.0/{PHONE}?fields=verified_name", "EAAone")
    assert status == 200
    assert body == {"verified_name": "Majlis Simulator", "id": PHONE}
    assert (await sim.call("GET", f"/v21.0/{PHONE}", "EAAunknown"))[0] == 401
    status, body = await sim.call("GET", f"/v21.0/{PHONE}", "EAAtwo")  # another number's token
    assert status == 400
    assert (body["error"]["code"], body["error"]["error_subcode"]) == (100, 33)
    status, body = await sim.call("GET", "/v21.0/999/message_templates", "EAAone")
    assert (status, body["error"]["code"]) == (400, 100)


async def test_a_wabas_numbers_are_listed_for_a_token_that_manages_it(
    start_sim: StartSim,
) -> None:
    """``GET /{waba_id}/phone_numbers``: strict mode lists the registered numbers of the
    account for its token only; lax mode lets a made-up number join the first account asked
    about, and keeps it there."""
    sim = await start_sim(strict=True)
    for number, token, waba in ((PHONE, "EAAone", "501"), ("200", "EAAtwo", "502")):
        body = {"phone_number_id": number, "token": token, "waba_id": waba}
        assert (await sim.call("POST", "/_sim/numbers", None, json=body))[0] == 201
    status, body = await sim.call("GET", "/v21.0/501/phone_numbers?fields=id", "EAAone")
    assert status == 200, body
    assert [n["id"] for n in body["data"]] == [PHONE]
    status, body = await sim.call("GET", "/v21.0/501/phone_numbers", "EAAtwo")
    assert (status, body["error"]["code"]) == (400, 100)

    lax = await start_sim()
    assert (await lax.call("GET", "/v21.0/300"))[0] == 200  # made up on first use
    status, body = await lax.call("GET", "/v21.0/777/phone_numbers?fields=id")
    assert (status, [n["id"] for n in body["data"]]) == (200, ["300"])
    status, body = await lax.call("GET", "/v21.0/778/phone_numbers?fields=id")
    assert (status, body["data"]) == (200, [])


async def test_phone_number_fields(start_sim: StartSim) -> None:
    sim = await start_sim()
    fields = "display_phone_number,verified_name,quality_rating"
    status, body = await sim.call("GET", f"/v21.0/{PHONE}?fields={fields}")
    assert status == 200
    assert set(body) == {"display_phone_number", "verified_name", "quality_rating", "id"}
    assert body["quality_rating"] == "GREEN"
    status, body = await sim.call("GET", f"/v21.0/{PHONE}?fields=secret_stuff")
    assert (status, body["error"]["code"]) == (400, 100)


async def test_throughput_limit_is_130429(start_sim: StartSim) -> None:
    sim = await start_sim(throughput_mps=5, pair_burst=100)
    await sim.open_window()
    results = [await sim.text() for _ in range(6)]
    assert [status for status, _ in results] == [200] * 5 + [400]
    assert_meta_error(results[-1][1], 130429)
    assert results[-1][1]["error"]["error_data"]["details"]


async def test_pair_limit_is_131056_and_only_for_that_recipient(start_sim: StartSim) -> None:
    sim = await start_sim(pair_burst=2)
    other = "+971509999999"
    await sim.open_window()
    await sim.open_window(other)
    assert [(await sim.text())[0] for _ in range(2)] == [200, 200]
    status, body = await sim.text()
    assert status == 400
    assert_meta_error(body, 131056)
    assert (await sim.text(to=other))[0] == 200


async def test_free_form_outside_window_is_131047_but_templates_go(
    start_sim: StartSim, receiver: WebhookReceiver
) -> None:
    sim = await start_sim()
    status, body = await sim.text()
    assert status == 400
    assert_meta_error(body, 131047)
    template = {"name": "order_update", "language": {"code": "en_US"}}
    payload = {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "template",
        "template": template,
    }
    status, body = await sim.send(payload)
    assert (status, body["error"]["code"]) == (400, 132001)  # not created yet
    await sim.approved_template(receiver)
    params: dict[str, Any] = {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}
    status, body = await sim.send(payload | {"template": template | {"components": [params]}})
    assert (status, body["error"]["code"]) == (400, 132000)  # two parameters expected
    params["parameters"].append({"type": "text", "text": "4411"})
    status, body = await sim.send(payload | {"template": template | {"components": [params]}})
    assert status == 200, body
    wamid = body["messages"][0]["id"]
    await receiver.wait_for(lambda: len(receiver.statuses(wamid)) >= 1)
    assert receiver.statuses(wamid)[0]["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "type": "regular",
        "category": "utility",
    }
    await sim.open_window()
    assert (await sim.text())[0] == 200


async def test_window_errors_can_arrive_as_failed_status(
    start_sim: StartSim, receiver: WebhookReceiver
) -> None:
    sim = await start_sim(window_errors_async=True)
    status, body = await sim.text()
    assert status == 200
    wamid = body["messages"][0]["id"]
    await receiver.wait_for(lambda: bool(receiver.statuses(wamid)))
    (failed,) = receiver.statuses(wamid)
    assert failed["status"] == "failed"
    assert failed["errors"][0]["code"] == 131047


async def test_failure_rate_gives_failed_status_131026(
    start_sim: StartSim, receiver: WebhookReceiver
) -> None:
    sim = await start_sim(failure_rate=1.0)
    await sim.open_window()
    _, body = await sim.text()
    wamid = body["messages"][0]["id"]
    await receiver.wait_for(lambda: bool(receiver.statuses(wamid)))
    await asyncio.sleep(0.08)  # nothing else follows a failure
    (failed,) = receiver.statuses(wamid)
    assert failed["errors"][0]["code"] == 131026
    assert "pricing" not in failed


async def test_receiver_down_then_up_gets_everything_in_order(
    start_sim: StartSim, receiver: WebhookReceiver
) -> None:
    port = int(receiver.url.split(":")[2].split("/")[0])
    sim = await start_sim()
    await receiver.stop()
    await sim.open_window()
    _, body = await sim.text()
    wamid = body["messages"][0]["id"]
    await asyncio.sleep(0.15)  # statuses fall due and the first attempts are refused
    _, stats = await sim.call("GET", "/_sim/webhooks", None)
    assert stats["failed_attempts"] >= 1
    await receiver.start(port)
    await receiver.wait_for(lambda: len(receiver.statuses(wamid)) == 3)
    assert [s["status"] for s in receiver.statuses(wamid)] == ["sent", "delivered", "read"]


async def test_non_200_answers_are_retried(start_sim: StartSim, receiver: WebhookReceiver) -> None:
    sim = await start_sim()
    receiver.fail_next = 2
    await sim.open_window()
    _, body = await sim.text()
    wamid = body["messages"][0]["id"]
    await receiver.wait_for(lambda: len(receiver.statuses(wamid)) == 3)
    assert [s["status"] for s in receiver.statuses(wamid)] == ["sent", "delivered", "read"]
    _, stats = await sim.call("GET", "/_sim/webhooks", None)
    assert stats["failed_attempts"] == 2
    assert stats["dropped_updates"] == 0


async def test_retries_are_capped(start_sim: StartSim, receiver: WebhookReceiver) -> None:
    sim = await start_sim(webhook_max_attempts=2, read_probability=0.0)
    receiver.fail_next = 100
    await sim.open_window()
    await sim.text()
    await asyncio.sleep(0.3)
    _, stats = await sim.call("GET", "/_sim/webhooks", None)
    assert stats["dropped_updates"] == 2
    assert stats["pending"] == 0


async def test_statuses_falling_due_together_share_one_post(
    start_sim: StartSim, receiver: WebhookReceiver
) -> None:
    sim = await start_sim(webhook_batch_window_ms=100, read_probability=0.0)
    await sim.call(
        "POST",
        "/_sim/numbers",
        None,
        json={"phone_number_id": "300", "token": TOKEN, "waba_id": "777"},
    )
    customers = ["+971500000001", "+971500000002", "+971500000003"]
    for customer in customers:
        await sim.open_window(customer)
    await sim.open_window(customers[0], phone="300")
    results = await asyncio.gather(
        *(sim.text(to=c) for c in customers), sim.text(to=customers[0], phone="300")
    )
    assert all(status == 200 for status, _ in results)
    await receiver.wait_for(lambda: len(receiver.statuses()) == 8)
    largest = max(
        receiver.payloads,
        key=lambda p: sum(
            len(c["value"].get("statuses", [])) for e in p["entry"] for c in e["changes"]
        ),
    )
    entries = {entry["id"]: entry for entry in largest["entry"]}
    assert set(entries) == {DEFAULT_WABA, "777"}
    statuses = entries[DEFAULT_WABA]["changes"][0]["value"]["statuses"]
    assert len({s["id"] for s in statuses}) == 3
    assert len(receiver.payloads) < 8


async def test_template_create_then_approved_webhook_then_list_and_delete(
    start_sim: StartSim, receiver: WebhookReceiver
) -> None:
    sim = await start_sim()
    path = "/v21.0/555/message_templates"
    status, created = await sim.call("POST", path, json=TEMPLATE)
    assert status == 200
    assert created["status"] == "PENDING"
    assert created["category"] == "UTILITY"
    _, listed = await sim.call("GET", path)
    assert listed["data"][0]["status"] == "PENDING"
    await receiver.wait_for(lambda: bool(receiver.values("message_template_status_update")))
    entry = receiver.payloads[-1]["entry"][0]
    assert entry["id"] == "555"
    assert isinstance(entry["time"], int)
    value = entry["changes"][0]["value"]
    assert value["event"] == "APPROVED"
    assert value["message_template_id"] == int(created["id"])
    assert value["message_template_name"] == "order_update"
    assert value["message_template_language"] == "en_US"
    status, listed = await sim.call("GET", path)
    assert [t["status"] for t in listed["data"]] == ["APPROVED"]
    assert "next" not in listed["paging"]
    status, body = await sim.call("POST", path, json=TEMPLATE)
    assert (status, body["error"]["code"], body["error"]["error_subcode"]) == (400, 100, 2388024)
    assert (await sim.call("POST", path, json=TEMPLATE | {"language": "ar"}))[0] == 200
    status, _ = await sim.call("DELETE", path + "?name=order_update")
    assert status == 200
    assert (await sim.call("GET", path))[1]["data"] == []
    assert (await sim.call("DELETE", path + "?name=order_update"))[0] == 400


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Order Update"},
        {"category": "GOSSIP"},
        {"language": ""},
        {"components": []},
        {"components": [{"type": "BODY", "text": "Hi {{1}}"}]},  # no example
        {"components": [{"type": "FOOTER", "text": "no body"}]},
    ],
)
async def test_bad_templates_are_code_100(start_sim: StartSim, change: dict[str, Any]) -> None:
    sim = await start_sim()
    status, body = await sim.call("POST", "/v21.0/555/message_templates", json=TEMPLATE | change)
    assert status == 400
    assert_meta_error(body, 100)


async def test_template_reject_path(start_sim: StartSim, receiver: WebhookReceiver) -> None:
    sim = await start_sim()
    status, created = await sim.call(
        "POST", "/v21.0/555/message_templates", json=TEMPLATE | {"name": "promo_reject_me"}
    )
    assert status == 200
    await receiver.wait_for(lambda: bool(receiver.values("message_template_status_update")))
    (value,) = receiver.values("message_template_status_update")
    assert value["event"] == "REJECTED"
    assert value["reason"] == "INVALID_FORMAT"
    assert value["rejection_info"]["reason"]
    _, template = await sim.call("GET", f"/v21.0/{created['id']}")
    assert template["status"] == "REJECTED"


async def test_media_upload_url_and_download_with_token(start_sim: StartSim) -> None:
    sim = await start_sim()
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    form = aiohttp.FormData()
    form.add_field("messaging_product", "whatsapp")
    form.add_field("type", "image/png")
    form.add_field("file", picture, filename="a.png", content_type="image/png")
    status, body = await sim.call("POST", f"/v21.0/{PHONE}/media", data=form)
    assert status == 200, body
    media_id = body["id"]
    status, info = await sim.call("GET", f"/v21.0/{media_id}")
    assert status == 200
    assert info["mime_type"] == "image/png"
    assert info["file_size"] == len(picture)
    assert info["messaging_product"] == "whatsapp"
    assert info["url"].startswith(sim.url + "/_sim/media/")
    async with sim.session.get(info["url"], headers={"Authorization": f"Bearer {TOKEN}"}) as got:
        assert got.status == 200
        assert got.content_type == "image/png"
        assert await got.read() == picture
    async with sim.session.get(info["url"]) as got:
        assert got.status == 401
    async with sim.session.get(
        info["url"].replace("hash=", "hash=0"), headers={"Authorization": f"Bearer {TOKEN}"}
    ) as got:
        assert got.status == 404
    await sim.open_window()
    payload = {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "image",
        "image": {"id": media_id},
    }
    assert (await sim.send(payload))[0] == 200


async def test_media_upload_rejects_unsupported_type(start_sim: StartSim) -> None:
    sim = await start_sim()
    form = aiohttp.FormData()
    form.add_field("messaging_product", "whatsapp")
    form.add_field("file", b"MZ", filename="a.exe", content_type="application/x-msdownload")
    status, body = await sim.call("POST", f"/v21.0/{PHONE}/media", data=form)
    assert status == 400
    assert_meta_error(body, 131053)


async def test_media_upload_rejects_a_file_that_is_not_its_declared_type(
    start_sim: StartSim,
) -> None:
    sim = await start_sim()
    form = aiohttp.FormData()
    form.add_field("messaging_product", "whatsapp")
    form.add_field("type", "image/jpeg")
    form.add_field("file", b"\x89PNG\r\n\x1a\n" + bytes(64), filename="a.jpg")
    status, body = await sim.call("POST", f"/v21.0/{PHONE}/media", data=form)
    assert status == 400
    assert_meta_error(body, 131053)


async def test_expired_media_id_is_gone(start_sim: StartSim) -> None:
    sim = await start_sim(media_ttl_s=0.05)
    form = aiohttp.FormData()
    form.add_field("messaging_product", "whatsapp")
    form.add_field("file", b"hello", filename="a.txt", content_type="text/plain")
    _, body = await sim.call("POST", f"/v21.0/{PHONE}/media", data=form)
    await asyncio.sleep(0.1)
    status, gone = await sim.call("GET", f"/v21.0/{body['id']}")
    assert status == 400
    assert (gone["error"]["code"], gone["error"]["error_subcode"]) == (100, 33)
    await sim.open_window()
    payload = {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "document",
        "document": {"id": body["id"]},
    }
    assert (await sim.send(payload))[1]["error"]["code"] == 100


async def test_inbound_text_is_a_signed_webhook_and_opens_the_window(
    start_sim: StartSim, receiver: WebhookReceiver
) -> None:
    sim = await start_sim()
    body = {"from": CUSTOMER, "text": "مرحبا", "phone_number_id": PHONE, "name": "Layla"}
    status, answer = await sim.call("POST", "/_sim/inbound", None, json=body)
    assert status == 201
    await receiver.wait_for(lambda: bool(receiver.messages()))
    (value,) = receiver.values()
    assert value["contacts"] == [{"profile": {"name": "Layla"}, "wa_id": "971501234567"}]
    (message,) = value["messages"]
    assert message["id"] == answer["wamid"]
    assert message["from"] == "971501234567"
    assert message["type"] == "text"
    assert message["text"] == {"body": "مرحبا"}
    assert message["timestamp"].isdigit()
    assert value["metadata"]["phone_number_id"] == PHONE
    assert receiver.rejected == 0
    assert (await sim.text())[0] == 200  # the customer wrote: free-form is allowed now


async def test_inbound_image_creates_fetchable_media(
    start_sim: StartSim, receiver: WebhookReceiver
) -> None:
    sim = await start_sim()
    body = {"from": CUSTOMER, "image": {"caption": "my receipt"}}
    status, answer = await sim.call("POST", "/_sim/inbound", None, json=body)
    assert status == 201
    await receiver.wait_for(lambda: bool(receiver.messages()))
    (message,) = receiver.messages()
    assert message["type"] == "image"
    assert message["image"]["id"] == answer["media_id"]
    assert message["image"]["caption"] == "my receipt"
    status, info = await sim.call("GET", f"/v21.0/{answer['media_id']}")
    assert status == 200
    assert info["mime_type"] == "image/png"


async def test_injected_5xx_has_meta_error_body(start_sim: StartSim) -> None:
    sim = await start_sim(error_rate=1.0)
    status, body = await sim.text()
    assert status == 500
    assert body["error"]["is_transient"] is True
    assert body["error"]["code"] == 1
    assert (await sim.call("GET", "/healthz", None))[0] == 200


async def test_sim_send_command_plays_the_customer(
    start_sim: StartSim, receiver: WebhookReceiver
) -> None:
    sim = await start_sim()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "majlis.cli",
        "sim",
        "send",
        "--from",
        CUSTOMER,
        "--text",
        "مرحبا",
        "--name",
        "Omar",
        "--sim-url",
        sim.url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    wamid = out.decode().strip()
    await receiver.wait_for(lambda: bool(receiver.messages()))
    assert receiver.messages()[0]["id"] == wamid
    assert receiver.values()[0]["contacts"][0]["profile"]["name"] == "Omar"


def test_config_from_settings_flags_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAJLIS_GRAPHSIM_THROUGHPUT_MPS", "5")
    monkeypatch.setenv("MAJLIS_GRAPHSIM_STRICT", "true")
    monkeypatch.setenv("MAJLIS_GRAPHSIM_NUMBER", "1:EAAx:9,2:EAAy:9:971400000000")
    settings = Settings(webhook_ingest_port=9001, graph_simulator_port=9002)
    config = config_from_settings(settings, ["--throughput-mps", "7", "--no-strict"])
    assert config.throughput_mps == 7
    assert config.strict is False
    assert config.port == 9002
    assert config.webhook_url == "http://127.0.0.1:9001/webhooks/whatsapp"
    assert [n.phone_number_id for n in config.known_numbers] == ["1", "2"]
    assert "EAAx" not in repr(config)
