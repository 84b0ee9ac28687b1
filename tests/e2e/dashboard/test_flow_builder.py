"""The visual flow builder: build a flow on the canvas (add, connect, configure, publish) and see
it answer a simulated customer; validation errors on the node they concern; the loop-limit stop
of a real run as a badge on its node; the test panel; Arabic (the panels mirror, the canvas stays
left to right). Screenshots flows-en/flows-ar (to docs/screenshots/ with
MAJLIS_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from majlis.testing.dashboard_e2e import (
    Business,
    Platform,
    customer_writes,
    eventually,
    json_of,
    sign_in,
    team_member,
)

ROOT = Path(__file__).resolve().parents[3]
LOOP = {
    "start": "a",
    "nodes": [
        {"id": "a", "type": "set_variable", "variable": "n", "value": "x"},
        {"id": "b", "type": "jump", "target": "a"},
    ],
    "edges": [{"from": "a", "to": "b"}],
    "layout": {"a": {"x": 80, "y": 40}, "b": {"x": 80, "y": 260}},
}
QUIZ = {
    "start": "ask",
    "nodes": [
        {"id": "ask", "type": "ask_question", "text": "Your e-mail please, {{contact.name}}?",
         "variable": "email",
         "validation": {"type": "email"}},
        {"id": "thanks", "type": "send_text", "text": "Thanks, we will write to {{email}}"},
        {"id": "done", "type": "end"},
    ],
    "edges": [{"from": "ask", "to": "thanks"}, {"from": "thanks", "to": "done"}],
    "layout": {"ask": {"x": 60, "y": 20}, "thanks": {"x": 60, "y": 220},
               "done": {"x": 60, "y": 400}},
}  # fmt: skip


def _shots(tmp_path: Path) -> Path:
    if os.environ.get("MAJLIS_UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots"
    return tmp_path


async def _api(platform: Platform, business: Business, method: str, path: str, status: int,
               body: Any = None) -> Any:  # fmt: skip
    async with platform.session.request(
        method, f"{platform.base}{path}", json=body, headers=business.headers
    ) as response:
        return await json_of(response, status)


async def _sent_texts(platform: Platform, business: Business) -> list[str]:
    async with platform.session.get(
        f"{platform.sim}/_sim/sent", params={"phone_number_id": business.phone_number_id}
    ) as response:
        data = (await response.json())["data"]
    return [
        str(item["payload"].get("text", {}).get("body")) for item in data if item["type"] == "text"
    ]


async def _connect(page: Any, source: str, target: str) -> None:
    """Drag from an output handle to a node's input handle, as a person does."""
    start = await page.get_by_test_id(source).bounding_box()
    end = await page.get_by_test_id(target).bounding_box()
    assert start is not None
    assert end is not None
    await page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(end["x"] + 20, end["y"] + 40, steps=8)
    await page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=8)
    await page.mouse.up()


async def test_build_connect_configure_publish_and_the_customer_is_answered(
    platform: Platform, business: Business, new_context: Any
) -> None:
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Flows", exact=True).click()
    await page.get_by_test_id("new-flow-name").fill("Opening hours")
    await page.get_by_test_id("create-flow").click()
    await page.get_by_test_id("node-welcome").wait_for()
    canvas = page.get_by_test_id("flow-canvas")

    # A step added from the palette but not yet connected: the API's errors land on it.
    await page.get_by_test_id("add-send_text").click()
    await page.get_by_test_id("node-send_text_1").wait_for()
    await page.get_by_test_id("save-flow").click()
    errors = page.get_by_test_id("errors-send_text_1")
    await errors.wait_for()
    assert "Unreachable" in await errors.inner_text()
    assert "Missing edge" in await errors.inner_text()
    assert await canvas.locator(".flow-node.has-errors").count() == 1

    # Connect welcome -> new step -> done (the new edge replaces welcome -> done).
    await _connect(page, "out-welcome-next", "target-send_text_1")
    await _connect(page, "out-send_text_1-next", "target-done")
    # Configure: a text with a variable offered by the form.
    await page.get_by_test_id("node-send_text_1").click()
    form = page.get_by_test_id("node-form")
    await form.locator("[data-field=text]").fill("We are open 9 to 5. You wrote: ")
    await form.get_by_role("button", name="{{last_input}}").click()
    await page.get_by_test_id("node-welcome").click()
    await form.locator("[data-field=text]").fill("Hello from the canvas")
    await page.get_by_test_id("tab-settings").click()
    await page.get_by_test_id("add-trigger").click()
    await page.get_by_test_id("trigger-value-0").fill("hours")
    await page.get_by_test_id("save-flow").click()
    await page.get_by_text("Draft saved.").wait_for()
    assert await canvas.locator(".flow-node.has-errors").count() == 0
    await page.get_by_test_id("publish-flow").click()
    await page.get_by_text("Version 1 is live.").wait_for()

    flow_id = page.url.rstrip("/").split("/")[-1]
    flow = await _api(platform, business, "GET", f"/api/v1/flows/{flow_id}", 200)
    edges = {(e["from"], e.get("handle", "next"), e["to"]) for e in flow["document"]["edges"]}
    assert edges == {("welcome", "next", "send_text_1"), ("send_text_1", "next", "done")}
    assert set(flow["document"]["layout"]) == {"welcome", "send_text_1", "done"}
    assert flow["triggers"] == [{"type": "keyword", "match": "exact", "value": "hours"}]

    await customer_writes(platform, business, "hours", "+971501112233")

    expected = ["Hello from the canvas", "We are open 9 to 5. You wrote: hours"]
    sent: list[str] = []

    async def answered() -> bool:
        sent[:] = await _sent_texts(platform, business)
        return sent == expected

    try:
        await eventually(answered, 20)
    except TimeoutError:
        raise AssertionError(f"the customer got {sent!r}, expected {expected!r}") from None

    # The version history lists what was published.
    await page.reload()
    await page.get_by_test_id("node-send_text_1").wait_for()
    await page.get_by_test_id("tab-versions").click()
    await page.get_by_test_id("versions").get_by_text("Version 1").wait_for()

    # An agent reads the flow but has no palette, no save, no publish and no test panel.
    agent_email, _ = await team_member(platform, business, "agent")
    agent = await (await new_context()).new_page()
    await sign_in(agent, platform, agent_email)
    await agent.goto(f"{platform.base}/app/flows/{flow_id}")
    await agent.get_by_test_id("node-send_text_1").wait_for()
    for hidden in ("add-send_text", "save-flow", "publish-flow", "tab-test"):
        assert await agent.get_by_test_id(hidden).count() == 0, hidden


async def test_loop_stop_badge_test_panel_and_arabic(
    platform: Platform, business: Business, new_context: Any, tmp_path: Path
) -> None:
    shots = _shots(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    triggers = [{"type": "keyword", "match": "exact", "value": "loop"}]
    loop = await _api(platform, business, "POST", "/api/v1/flows", 201,
                      {"name": "Loop", "triggers": triggers, "document": LOOP})  # fmt: skip
    await _api(platform, business, "POST", f"/api/v1/flows/{loop['id']}/publish", 201)
    quiz = await _api(platform, business, "POST", "/api/v1/flows", 201,
                      {"name": "Quiz", "document": QUIZ})  # fmt: skip
    await customer_writes(platform, business, "loop", "+971501119999")

    async def stopped() -> bool:
        summary = await _api(
            platform, business, "GET", f"/api/v1/flows/{loop['id']}/logs/summary", 200
        )
        return any(n["outcomes"].get("loop_stopped") for n in summary["nodes"])

    await eventually(stopped, 20)

    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.goto(f"{platform.base}/app/flows/{loop['id']}")
    await page.get_by_test_id("node-a").wait_for()
    await page.get_by_test_id("show-runs").check()
    badge = page.get_by_test_id("loop-a")
    await badge.wait_for()
    assert await badge.inner_text() == "Loop limit: 1"
    assert "loop limit reached (visits)" in await page.get_by_test_id("stats-a").inner_text()
    assert "51 runs" in await page.get_by_test_id("stats-a").inner_text()

    # The test panel plays the draft: nothing reaches WhatsApp.
    await page.goto(f"{platform.base}/app/flows/{quiz['id']}")
    await page.get_by_test_id("node-ask").wait_for()
    await page.get_by_test_id("tab-test").click()
    await page.get_by_text("The pretend customer").click()
    await page.get_by_test_id("test-contact-name").fill("Sara")
    box = page.get_by_test_id("test-input")
    await box.fill("hi")
    await box.press("Enter")
    panel = page.get_by_test_id("test-panel")
    await panel.get_by_text("Your e-mail please, Sara?").wait_for()
    await box.fill("dana@example.test")
    await box.press("Enter")
    await panel.get_by_text("Thanks, we will write to dana@example.test").wait_for()
    assert "email = dana@example.test" in await page.get_by_test_id("test-variables").inner_text()
    assert "Thanks, we will write to dana@example.test" not in await _sent_texts(platform, business)
    await page.get_by_test_id("node-ask").click()
    await page.screenshot(path=str(shots / "flows-en.png"))

    # Arabic: the page is right to left, the palette and the panel swap sides, the canvas
    # keeps its left-to-right layout.
    await page.get_by_test_id("language-switch").click()
    await page.get_by_text("إضافة خطوة").first.wait_for()
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    assert await page.get_by_test_id("flow-canvas").get_attribute("dir") == "ltr"
    palette = await page.locator(".flow-palette").bounding_box()
    side = await page.locator(".flow-side").bounding_box()
    canvas = await page.get_by_test_id("flow-canvas").bounding_box()
    assert palette is not None
    assert side is not None
    assert canvas is not None
    assert palette["x"] > canvas["x"] > side["x"]
    await page.get_by_test_id("tab-test").click()
    await page.get_by_role("button", name="البدء من جديد").click()
    await page.get_by_test_id("test-variables").wait_for(state="detached")
    await page.get_by_test_id("test-input").fill("مرحبا")
    await page.get_by_test_id("test-input").press("Enter")
    await page.get_by_test_id("test-panel").get_by_text("Your e-mail please").wait_for()
    await page.screenshot(path=str(shots / "flows-ar.png"))

    # A palette entry dragged onto the canvas lands where it is dropped (an unsaved change).
    await page.get_by_test_id("add-end").drag_to(
        page.get_by_test_id("flow-canvas"), target_position={"x": 60, "y": 60}
    )
    await page.get_by_test_id("node-end_1").wait_for()
    await page.get_by_test_id("dirty").wait_for()
