"""The AI screen: provider and model chosen, a provider key saved and shown masked only (never
in the DOM or the page's HTML afterwards), replaced and removed; knowledge-base entries in
English and Arabic and a document added, edited and deleted; "try a question" answered by the
built-in answerer with the passage it used, sending nothing; the owner companion registered
and confirmed with the code the simulator received; the page in Arabic, mirrored. Screenshots
ai-en/ai-ar (to docs/screenshots/ with MAJLIS_UPDATE_SCREENSHOTS=1)."""

# Arabic text (its alef and Arabic-Indic digits) is what this test types, on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from majlis.testing.dashboard_e2e import (
    Business,
    Platform,
    eventually,
    json_of,
    sign_in,
    team_member,
)

ROOT = Path(__file__).resolve().parents[3]
OPENAI_KEY = "sk-live-" + "Zq7Xw2Vb9Nc4Md1Lf8Kg"
GEMINI_KEY = "AIzaSyE2e" + "Qw3Er4Ty5Ui6Op7As8Df9Gh"
OWNER_PHONE = "+971 50 765 4321"


def _shots(tmp_path: Path) -> Path:
    if os.environ.get("MAJLIS_UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots"
    return tmp_path


async def _api(platform: Platform, business: Business, path: str) -> Any:
    async with platform.session.get(f"{platform.base}{path}", headers=business.headers) as r:
        return await json_of(r, 200)


async def _sent(platform: Platform, business: Business) -> list[dict[str, Any]]:
    async with platform.session.get(
        f"{platform.sim}/_sim/sent", params={"phone_number_id": business.phone_number_id}
    ) as response:
        data: list[dict[str, Any]] = (await response.json())["data"]
    return data


async def _assert_key_nowhere(page: Any, *keys: str) -> None:
    html = await page.content()
    values = await page.evaluate(
        "Array.from(document.querySelectorAll('input, textarea')).map(e => e.value).join(' ')"
    )
    for key in keys:
        assert key not in html
        assert key not in values
        assert key[-10:] not in html  # not even most of it


async def test_settings_knowledge_try_and_companion(
    platform: Platform, business: Business, new_context: Any, tmp_path: Path
) -> None:
    shots = _shots(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="AI", exact=True).click()
    await page.get_by_role("heading", name="AI assistant", exact=True).wait_for()

    # Provider, model and a key: saved, then shown only as the API's masked hint.
    await page.get_by_test_id("ai-provider").select_option("openai")
    await page.get_by_test_id("ai-model").fill("gpt-4.1")
    await page.get_by_test_id("ai-key-input").fill(OPENAI_KEY)
    await page.get_by_test_id("ai-save").click()
    await page.get_by_test_id("ai-saved").wait_for()
    assert await page.get_by_test_id("ai-key-hint").inner_text() == "sk-…f8Kg"
    assert await page.get_by_test_id("ai-key-input").count() == 0
    await _assert_key_nowhere(page, OPENAI_KEY)
    saved = await _api(platform, business, "/api/v1/ai/settings")
    assert (saved["provider"], saved["model"], saved["has_key"]) == ("openai", "gpt-4.1", True)
    # After a reload too: the page has nothing but the hint.
    await page.reload()
    await page.get_by_test_id("ai-key-hint").wait_for()
    await _assert_key_nowhere(page, OPENAI_KEY)
    assert await page.get_by_test_id("ai-model").input_value() == "gpt-4.1"

    # Replace: Gemini with its own key; the old and the new key are both absent afterwards.
    await page.get_by_test_id("ai-provider").select_option("gemini")
    await page.get_by_test_id("ai-key-replace").click()
    await page.get_by_test_id("ai-key-input").fill(GEMINI_KEY)
    await page.get_by_test_id("ai-save").click()
    await page.get_by_test_id("ai-key-hint").filter(has_text="f9Gh").wait_for()
    assert await page.get_by_test_id("ai-key-hint").inner_text() == "AIz…f9Gh"
    await _assert_key_nowhere(page, OPENAI_KEY, GEMINI_KEY)
    saved = await _api(platform, business, "/api/v1/ai/settings")
    assert (saved["provider"], saved["model"]) == ("gemini", None)

    # Remove: back to the built-in answerer, no key stored.
    await page.get_by_test_id("ai-key-remove").click()
    await page.get_by_text("No key saved.").wait_for()
    saved = await _api(platform, business, "/api/v1/ai/settings")
    assert (saved["provider"], saved["has_key"], saved["key_hint"]) == ("builtin", False, None)
    assert await page.get_by_test_id("ai-provider").input_value() == "builtin"

    # Knowledge base: an entry in both languages, one in Arabic only, a document.
    entries = page.get_by_test_id("kb-entries")
    await page.get_by_test_id("kb-questions").fill(
        "What are your opening hours?\nما هي ساعات العمل؟"
    )
    await page.get_by_test_id("kb-answer-en").fill("We open 9am to 10pm, every day.")
    await page.get_by_test_id("kb-answer-ar").fill("نفتح من ٩ صباحًا حتى ١٠ مساءً يوميًا.")
    await page.get_by_test_id("kb-entry-save").click()
    await entries.get_by_text("We open 9am to 10pm, every day.").wait_for()
    await page.get_by_test_id("kb-questions").fill("هل يوجد موقف سيارات؟")
    await page.get_by_test_id("kb-answer-ar").fill("نعم، الموقف مجاني للعملاء.")
    await page.get_by_test_id("kb-entry-save").click()
    parking = page.get_by_test_id("kb-entry").filter(has_text="هل يوجد موقف سيارات؟")
    await parking.wait_for()
    # Edit the Arabic-only entry, then delete it (with its confirmation step).
    await parking.get_by_test_id("kb-entry-edit").click()
    await page.get_by_test_id("kb-answer-ar").fill("نعم، الموقف مجاني.")
    await page.get_by_test_id("kb-entry-save").click()
    await entries.get_by_text("نعم، الموقف مجاني.", exact=True).wait_for()
    await parking.get_by_test_id("kb-entry-delete").click()
    await parking.get_by_test_id("kb-entry-delete-yes").click()
    await parking.wait_for(state="detached")
    listed = (await _api(platform, business, "/api/v1/knowledge/entries"))["items"]
    assert [e["answer"] for e in listed] == [
        {"en": "We open 9am to 10pm, every day.", "ar": "نفتح من ٩ صباحًا حتى ١٠ مساءً يوميًا."}
    ]
    await page.get_by_test_id("kb-tab-documents").click()
    await page.get_by_test_id("kb-doc-title").fill("Delivery policy")
    await page.get_by_test_id("kb-doc-text").fill("We deliver across the UAE within two days.")
    await page.get_by_test_id("kb-document-save").click()
    document = page.get_by_test_id("kb-document").filter(has_text="Delivery policy")
    await document.wait_for()
    await document.get_by_test_id("kb-document-edit").click()
    await page.get_by_role("heading", name="Edit document").wait_for()  # its text is fetched
    assert await page.get_by_test_id("kb-doc-text").input_value() == (
        "We deliver across the UAE within two days."
    )
    await page.get_by_test_id("kb-doc-text").fill("We deliver across the UAE within 48 hours.")
    await page.get_by_test_id("kb-document-save").click()
    await eventually(
        lambda: _doc_text_is(platform, business, "We deliver across the UAE within 48 hours.")
    )
    await page.get_by_test_id("kb-tab-entries").click()

    # Try a question: the built-in answerer's answer and the entry it came from.
    await page.get_by_test_id("try-question").fill("Do you sell bitcoin?")
    await page.get_by_test_id("try-ask").click()
    await page.get_by_test_id("try-handoff").wait_for()
    await page.get_by_test_id("try-question").fill("متى ساعات العمل؟")
    await page.get_by_test_id("try-ask").click()
    answer = page.get_by_test_id("try-answer-text")
    await answer.filter(has_text="نفتح من ٩ صباحًا").wait_for()
    await page.get_by_test_id("try-question").fill("what are your opening hours?")
    await page.get_by_test_id("try-ask").click()
    await answer.filter(has_text="We open").wait_for()
    assert await answer.inner_text() == "We open 9am to 10pm, every day."
    used = page.get_by_test_id("try-passage-used")
    assert "What are your opening hours?" in await used.inner_text()

    # The owner companion: a code sent to the number through the simulator, confirmed. A code
    # is free text, which WhatsApp delivers only inside the 24-hour window: the owner wrote to
    # the business number first (as the page tells them to).
    async with platform.session.post(
        f"{platform.sim}/_sim/window",
        json={"phone_number_id": business.phone_number_id, "wa_id": "971507654321"},
    ) as response:
        await json_of(response, 200)
    assert await page.get_by_text("write any message to the business number").count() == 1
    await page.get_by_test_id("companion-phone").fill(OWNER_PHONE)
    await page.get_by_test_id("companion-register").click()
    await page.get_by_test_id("companion-status").filter(has_text="Waiting for the code").wait_for()
    # No Authentication template: the page says the free-text code needs the 24-hour window.
    hint = await page.get_by_test_id("companion-delivery-hint").inner_text()
    assert "last 24 hours" in hint
    assert "Authentication template" in hint

    async def code_arrived() -> bool:
        return any(m["wa_id"] == "971507654321" for m in await _sent(platform, business))

    await eventually(code_arrived)
    sent = await _sent(platform, business)
    # Trying questions sent nothing: the code is the only message of this business.
    assert len(sent) == 1
    match = re.search(r"\b(\d{6})\b", sent[0]["payload"]["text"]["body"])
    assert match is not None
    code = match.group(1)
    wrong = "000000" if code != "000000" else "111111"
    await page.get_by_test_id("companion-code").fill(wrong)
    await page.get_by_test_id("companion-verify").click()
    await page.get_by_test_id("companion-wrong").wait_for()
    await page.get_by_test_id("companion-code").fill(code)
    await page.get_by_test_id("companion-verify").click()
    status = page.get_by_test_id("companion-status")
    await status.filter(has_text="Confirmed").wait_for()
    assert "+971…4321" in await status.inner_text()
    assert "7654321" not in await page.content()  # the number is shown masked only
    companion = await _api(platform, business, "/api/v1/companion")
    assert companion["status"] == "verified"
    await page.set_viewport_size({"width": 1280, "height": 1700})  # the whole screen
    await page.screenshot(path=str(shots / "ai-en.png"))

    # Arabic: the same screen, mirrored.
    await page.get_by_test_id("language-switch").click()
    await page.get_by_role("heading", name="المساعد الذكي", exact=True).wait_for()
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    sidebar = await page.locator("nav.sidebar").bounding_box()
    main = await page.locator("main").bounding_box()
    assert sidebar is not None
    assert main is not None
    assert sidebar["x"] > main["x"]  # the navigation is on the right
    label = await page.get_by_text("المجيب ومزوّد الخدمة").bounding_box()
    card = await page.locator("section.card").first.bounding_box()
    assert label is not None
    assert card is not None
    # The heading starts at the card's right edge.
    assert label["x"] + label["width"] > card["x"] + card["width"] * 0.6
    await page.get_by_test_id("kb-entries").get_by_text("نفتح من ٩ صباحًا").wait_for()
    await page.screenshot(path=str(shots / "ai-ar.png"))

    # Remove the companion.
    await page.get_by_test_id("companion-remove").click()
    await page.get_by_test_id("companion-phone").wait_for()
    assert (await _api(platform, business, "/api/v1/companion"))["status"] == "none"


async def _doc_text_is(platform: Platform, business: Business, text: str) -> bool:
    [document] = (await _api(platform, business, "/api/v1/knowledge/documents"))["items"]
    full = await _api(platform, business, f"/api/v1/knowledge/documents/{document['id']}")
    return bool(full["text"] == text)


async def test_agents_read_and_try_viewers_read(
    platform: Platform, business: Business, new_context: Any
) -> None:
    entry = {"questions": ["Do you deliver?"], "answer": {"en": "Yes, across the UAE."}}
    async with platform.session.post(
        f"{platform.base}/api/v1/knowledge/entries", json=entry, headers=business.headers
    ) as response:
        await json_of(response, 201)
    agent_email, _ = await team_member(platform, business, "agent")
    viewer_email, _ = await team_member(platform, business, "viewer")

    page = await (await new_context()).new_page()
    await sign_in(page, platform, agent_email)
    await page.get_by_role("link", name="AI", exact=True).click()
    await page.get_by_test_id("kb-entries").get_by_text("Yes, across the UAE.").wait_for()
    # Agents read the knowledge base and try questions; settings, edits and the companion
    # are not theirs.
    for hidden in ("ai-settings-form", "kb-entry-form", "kb-entry-edit", "companion"):
        assert await page.get_by_test_id(hidden).count() == 0
    await page.get_by_text("Only owners and admins see and change").wait_for()
    await page.get_by_test_id("try-question").fill("Do you deliver?")
    await page.get_by_test_id("try-ask").click()
    await page.get_by_test_id("try-answer-text").filter(has_text="Yes, across the UAE.").wait_for()

    page = await (await new_context()).new_page()
    await sign_in(page, platform, viewer_email)
    await page.get_by_role("link", name="AI", exact=True).click()
    await page.get_by_test_id("kb-entries").get_by_text("Yes, across the UAE.").wait_for()
    assert await page.get_by_test_id("try-question").count() == 0
