"""The Graph API simulator's AUTHENTICATION templates, over HTTP: created the way Meta takes them
(preset text, one OTP button, expiry 1-90 minutes), listed the way Meta shows them (the copy-code
button as a URL button), and sent only with the code in both the body and the button, also
outside the 24-hour window where free text is 131047."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from majlis.graphsim import SimulatorConfig
from majlis.graphsim.testing import WebhookReceiver, running_simulator

SECRET = "graphsim-auth-test-secret"
HEADERS = {"Authorization": "Bearer EAAGraphSimAuthToken"}
PHONE = "106540352242922"
WABA = "102290129340398"  # lax mode: the WABA of numbers nobody registered
CUSTOMER = "+971501234567"
AUTH: dict[str, Any] = {
    "name": "login_code",
    "language": "en",
    "category": "authentication",
    "components": [
        {"type": "body", "add_security_recommendation": True},
        {"type": "footer", "code_expiration_minutes": 10},
        {"type": "buttons", "buttons": [{"type": "otp", "otp_type": "copy_code"}]},
    ],
}


class Sim:
    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url, self.session = url, session

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(
            method, self.url + path, json=body, headers=HEADERS
        ) as response:
            return response.status, await response.json(content_type=None)

    async def create(self, template: dict[str, Any]) -> tuple[int, Any]:
        return await self.call("POST", f"/v21.0/{WABA}/message_templates", template)

    async def send(self, message: dict[str, Any]) -> tuple[int, Any]:
        payload = {"messaging_product": "whatsapp", "to": CUSTOMER, **message}
        return await self.call("POST", f"/v21.0/{PHONE}/messages", payload)


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    receiver = WebhookReceiver(SECRET)
    await receiver.start()
    config = SimulatorConfig(
        app_secret=SECRET,
        webhook_url=receiver.url,
        template_approval_delay_ms=0,  # approved at once: these tests are about the shapes
        sent_delay_ms=10,
        delivered_delay_ms=20,
        read_probability=0.0,
    )
    async with aiohttp.ClientSession() as session, running_simulator(config) as url:
        yield Sim(url, session)
    await receiver.stop()


def _code_template(body_code: str, button: dict[str, Any] | None) -> dict[str, Any]:
    components: list[dict[str, Any]] = [
        {"type": "body", "parameters": [{"type": "text", "text": body_code}]}
    ]
    if button is not None:
        components.append(button)
    return {
        "type": "template",
        "template": {"name": "login_code", "language": {"code": "en"}, "components": components},
    }


def _button(code: str, **change: Any) -> dict[str, Any]:
    button = {
        "type": "button",
        "sub_type": "url",
        "index": "0",
        "parameters": [{"type": "text", "text": code}],
    }
    return button | change


async def test_authentication_template_is_created_and_listed_as_meta_shows_it(sim: Sim) -> None:
    status, created = await sim.create(AUTH)
    assert (status, created["category"]) == (200, "AUTHENTICATION"), created
    status, listed = await sim.call("GET", f"/v21.0/{WABA}/message_templates?name=login_code")
    assert status == 200
    (template,) = listed["data"]
    body, footer, buttons = template["components"]
    assert (
        body["text"]
        == "{{1}} is your verification code. For your security, do not share this code."
    )
    assert footer["text"] == "This code expires in 10 minutes."
    (button,) = buttons["buttons"]
    assert button["type"] == "URL"  # created as OTP, shown as URL, as Meta does
    assert button["text"] == "Copy code"
    assert button["url"].endswith("otp{{1}}")
    # Without the security sentence and the footer, with a button text of its own.
    minimal = AUTH | {
        "name": "login_code_short",
        "components": [
            {"type": "BODY"},
            {
                "type": "BUTTONS",
                "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy"}],
            },
        ],
    }
    assert (await sim.create(minimal))[0] == 200


@pytest.mark.parametrize(
    "components",
    [
        # Free body text: Meta writes an authentication template's text itself.
        [{"type": "body", "text": "Your code is {{1}}", "example": {"body_text": [["123"]]}},
         {"type": "buttons", "buttons": [{"type": "otp", "otp_type": "copy_code"}]}],
        # No OTP button at all, or a button of another kind.
        [{"type": "body", "add_security_recommendation": True}],
        [{"type": "body"}, {"type": "buttons", "buttons": [{"type": "quick_reply", "text": "Hi"}]}],
        [{"type": "body"}, {"type": "buttons", "buttons": [{"type": "otp", "otp_type": "magic"}]}],
        # One-tap needs the app it fills the code into.
        [{"type": "body"},
         {"type": "buttons", "buttons": [{"type": "otp", "otp_type": "one_tap"}]}],
        # Expiry outside 1-90 minutes, not a whole number, or free footer text.
        [{"type": "body"}, {"type": "footer", "code_expiration_minutes": 0},
         {"type": "buttons", "buttons": [{"type": "otp", "otp_type": "copy_code"}]}],
        [{"type": "body"}, {"type": "footer", "code_expiration_minutes": 91},
         {"type": "buttons", "buttons": [{"type": "otp", "otp_type": "copy_code"}]}],
        [{"type": "body"}, {"type": "footer", "code_expiration_minutes": "10"},
         {"type": "buttons", "buttons": [{"type": "otp", "otp_type": "copy_code"}]}],
        [{"type": "body"}, {"type": "footer", "text": "Expires soon"},
         {"type": "buttons", "buttons": [{"type": "otp", "otp_type": "copy_code"}]}],
        # A header, or a security flag that is not a boolean.
        [{"type": "header", "format": "TEXT", "text": "Code"}, {"type": "body"},
         {"type": "buttons", "buttons": [{"type": "otp", "otp_type": "copy_code"}]}],
        [{"type": "body", "add_security_recommendation": "yes"},
         {"type": "buttons", "buttons": [{"type": "otp", "otp_type": "copy_code"}]}],
    ],
)  # fmt: skip
async def test_bad_authentication_templates_are_code_100(
    sim: Sim, components: list[dict[str, Any]]
) -> None:
    status, body = await sim.create(AUTH | {"components": components})
    assert (status, body["error"]["code"]) == (400, 100), body


async def test_otp_buttons_belong_to_authentication_templates_only(sim: Sim) -> None:
    utility = {
        "name": "order_update",
        "language": "en",
        "category": "UTILITY",
        "components": [
            {"type": "BODY", "text": "Your order shipped"},
            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
        ],
    }
    status, body = await sim.create(utility)
    assert (status, body["error"]["code"]) == (400, 100)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (_code_template("482913", None), 131008),  # no button component
        (_code_template("482913", _button("111111")), 131009),  # another code on the button
        (_code_template("482913", _button("482913", index="1")), 131009),
        (_code_template("482913", _button("482913", sub_type="quick_reply")), 131009),
        (_code_template("482913", _button("482913", parameters=[])), 131008),
        (_code_template("1234567890123456", _button("1234567890123456")), 131009),  # > 15
    ],
)
async def test_authentication_sends_need_the_code_in_body_and_button(
    sim: Sim, message: dict[str, Any], code: int
) -> None:
    assert (await sim.create(AUTH))[0] == 200
    status, body = await sim.send(message)
    assert (status, body["error"]["code"]) == (400, code), body


async def test_authentication_template_goes_outside_the_window_and_free_text_does_not(
    sim: Sim,
) -> None:
    assert (await sim.create(AUTH))[0] == 200
    status, body = await sim.send({"type": "text", "text": {"body": "Your code is 482913"}})
    assert (status, body["error"]["code"]) == (400, 131047)  # the customer never wrote
    status, body = await sim.send(_code_template("482913", _button("482913")))
    assert status == 200, body
    wamid = body["messages"][0]["id"]
    status, sent = await sim.call("GET", f"/_sim/sent?phone_number_id={PHONE}")
    (message,) = [m for m in sent["data"] if m["id"] == wamid]
    components = message["payload"]["template"]["components"]
    assert [c["parameters"][0]["text"] for c in components] == ["482913", "482913"]
