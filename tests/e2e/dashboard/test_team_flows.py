"""Two agents on one conversation (the 409 collision), a CSV import, sign-in refusals."""

from __future__ import annotations

from typing import Any

from majlis.testing.dashboard_e2e import (
    PASSWORD,
    Business,
    Platform,
    customer_writes,
    sign_in,
    team_member,
)


async def test_a_reply_written_on_a_stale_view_shows_who_replied_meanwhile(
    platform: Platform, business: Business, new_context: Any
) -> None:
    agent_email, agent_name = await team_member(platform, business, "agent")
    await customer_writes(platform, business, "Can I change my delivery address?")
    owner = await (await new_context()).new_page()
    # The owner's live stream is held back (as on a slow network), so their view goes stale.
    await owner.route_web_socket("**/api/v1/stream", lambda ws: None)
    agent = await (await new_context()).new_page()
    await sign_in(agent, platform, agent_email)
    await sign_in(owner, platform, business.email)

    await agent.get_by_test_id("conversation-item").first.click()
    await agent.get_by_test_id("take-over").click()
    composer = agent.get_by_placeholder("Type a reply")
    # The take-over is done before the owner loads the conversation: the owner's view (which
    # no live update reaches) must show the agent as assignee, or the owner's take-over would
    # go without `force` and be refused.
    await composer.wait_for()
    await owner.get_by_test_id("conversation-item").first.click()
    await owner.get_by_text("Can I change my delivery address?").wait_for()

    await composer.fill("Of course, send me the new address.")
    await composer.press("Enter")
    await agent.get_by_test_id("ticks").first.wait_for()

    await owner.get_by_test_id("take-over").click()  # an owner may take over from an agent
    owner_composer = owner.get_by_placeholder("Type a reply")
    await owner_composer.wait_for()
    await owner_composer.fill("Hi! Which address?")
    await owner_composer.press("Enter")
    collision = owner.get_by_test_id("collision")
    await collision.wait_for()
    text = await collision.inner_text()
    assert f"{agent_name} replied while you were typing" in text
    assert "Of course, send me the new address." in text
    # Their draft is kept; sending it now (having seen the other reply) goes through.
    assert await owner_composer.input_value() == "Hi! Which address?"
    await owner.get_by_role("button", name="Send mine now").click()
    await owner.get_by_test_id("message").filter(has_text="Hi! Which address?").wait_for()
    assert await collision.count() == 0


async def test_csv_import_reports_each_row(
    platform: Platform, business: Business, new_context: Any, tmp_path: Any
) -> None:
    csv = tmp_path / "contacts.csv"
    csv.write_text(
        "phone,name,email,tags\n"
        "+971501110001,Aisha Rahman,aisha@example.test,vip;perfume\n"
        "+971501110002,Omar Haddad,,\n"
        "not-a-phone,Broken Row,,\n",
        encoding="utf-8",
    )
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Contacts").click()
    await page.get_by_role("button", name="Import CSV").click()
    await page.get_by_test_id("csv-input").set_input_files(str(csv))
    report = page.get_by_test_id("import-report")
    await report.wait_for()
    text = await report.inner_text()
    assert "2 created" in text
    assert "1 invalid" in text
    assert "Row 3" in text or "Row 4" in text
    table = page.get_by_test_id("contacts-table")
    await table.get_by_text("Aisha Rahman").wait_for()
    await table.get_by_text("Omar Haddad").wait_for()


async def test_sign_in_refusals_say_what_happened_and_when_to_retry(
    platform: Platform, business: Business, new_context: Any
) -> None:
    page = await (await new_context()).new_page()
    await page.goto(f"{platform.base}/app/signin")
    error = page.get_by_test_id("signin-error")
    for attempt in range(6):
        await page.get_by_label("Email").fill(business.email)
        await page.get_by_label("Password").fill(f"wrong password {attempt}")
        await page.get_by_role("button", name="Sign in").click()
        await error.wait_for()
        if attempt < 5:
            await page.wait_for_function("() => !document.querySelector('button[disabled]')")
    # The sixth attempt from this address hits the per-IP limit (5 per 15 minutes).
    assert "Too many attempts from this address. Try again in" in await error.inner_text()
    # From elsewhere, even the right password meets the lock the five failures set.
    other = await (await new_context()).new_page()
    await other.goto(f"{platform.base}/app/signin")
    await other.get_by_label("Email").fill(business.email)
    await other.get_by_label("Password").fill(PASSWORD)
    await other.get_by_role("button", name="Sign in").click()
    locked = other.get_by_test_id("signin-error")
    await locked.wait_for()
    assert "This account is locked; try again in" in await locked.inner_text()
