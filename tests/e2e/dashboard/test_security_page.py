"""The Security page and two-factor sign-in in the dashboard: an owner sets up an
authenticator app (QR code, key, confirming code, recovery codes shown once), then signs in with
a code from the app, with a recovery code, and is told when a code is wrong; an owner resets the
two-factor sign-in of an agent who lost their phone, from the Team page; a business that
requires it holds an agent until set up; and the page lists where the owner is signed in and
signs out everywhere else."""

from __future__ import annotations

from typing import Any

from gateway.two_factor import code_at, current_step
from majlis.testing.dashboard_e2e import (
    PASSWORD,
    Business,
    Platform,
    api_login,
    json_of,
    sign_in,
    team_member,
)


async def _password_step(page: Any, email: str) -> None:
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_test_id("two-factor-code").wait_for()


async def _sign_out(page: Any) -> None:
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_role("button", name="Sign in").wait_for()


async def test_set_up_an_authenticator_then_sign_in_with_a_code_or_a_recovery_code(
    platform: Platform, business: Business, new_context: Any
) -> None:
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Security", exact=True).click()
    section = page.get_by_test_id("two-factor")
    assert await section.get_by_test_id("two-factor-state").inner_text() == "Off"
    await section.get_by_role("button", name="Set up").click()
    await section.get_by_label("Your password, to confirm it is you").fill(PASSWORD)
    await section.get_by_role("button", name="Continue").click()
    qr = section.get_by_test_id("two-factor-qr")
    await qr.wait_for()
    assert (await qr.get_attribute("src") or "").startswith("data:image/svg+xml")
    secret = (await section.get_by_test_id("two-factor-secret").inner_text()).strip()

    await section.get_by_test_id("two-factor-confirm").fill("000000" if code_at(
        secret, current_step()) != "000000" else "111111")  # fmt: skip
    await section.get_by_role("button", name="Turn on").click()
    await section.get_by_test_id("two-factor-error").wait_for()
    await section.get_by_test_id("two-factor-confirm").fill(code_at(secret, current_step()))
    await section.get_by_role("button", name="Turn on").click()
    codes_box = section.get_by_test_id("recovery-codes")
    await codes_box.wait_for()
    codes = await codes_box.locator("li").all_inner_texts()
    assert len(set(codes)) == 10
    # Every other sign-in (the fixture's own, through the API) ended, and the list says so.
    await page.wait_for_function("document.querySelectorAll('[data-testid=sign-in]').length === 1")
    await section.get_by_role("button", name="I have saved them").click()
    state = section.get_by_test_id("two-factor-state")
    await state.get_by_text("Recovery codes left: 10").wait_for()
    assert (await state.inner_text()).startswith("On")

    # Signing in now takes a code from the app; a wrong one is refused with a clear message.
    await _sign_out(page)
    await _password_step(page, business.email)
    valid = {code_at(secret, current_step() + d) for d in (-1, 0, 1, 2)}
    wrong = next(c for c in ("123456", "654321", "111111") if c not in valid)
    await page.get_by_test_id("two-factor-code").fill(wrong)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_test_id("signin-error").get_by_text("That code is not correct").wait_for()
    await page.get_by_test_id("two-factor-code").fill(code_at(secret, current_step() + 1))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/app/inbox")

    # Without the phone: a recovery code, once.
    await _sign_out(page)
    await _password_step(page, business.email)
    await page.get_by_role("button", name="Use a recovery code instead").click()
    await page.get_by_label("Recovery code").fill(codes[0])
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/app/inbox")
    await page.get_by_role("link", name="Security", exact=True).click()
    await page.get_by_test_id("two-factor-state").get_by_text("Recovery codes left: 9").wait_for()


async def test_an_owner_resets_an_agents_two_factor_from_the_team_page(
    platform: Platform, business: Business, new_context: Any
) -> None:
    agent_email, agent_name = await team_member(platform, business, "agent")
    agent = await api_login(platform, agent_email)
    async with platform.session.post(
        f"{platform.base}/api/v1/auth/two-factor/setup", json={"password": PASSWORD}, headers=agent
    ) as response:
        secret = (await json_of(response, 200))["secret"]
    async with platform.session.post(
        f"{platform.base}/api/v1/auth/two-factor/enable",
        json={"code": code_at(secret, current_step())},
        headers=agent,
    ) as response:
        await json_of(response, 200)

    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Team", exact=True).click()
    row = page.get_by_test_id("team-table").locator("tr").filter(has_text=agent_name)
    assert await row.get_by_test_id("member-two-factor").inner_text() == "On"
    asked: list[str] = []

    async def confirm(dialog: Any) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    # First, sign the agent out everywhere (a lost laptop): their API sign-in ends.
    page.once("dialog", confirm)
    await row.get_by_role("button", name="Sign out everywhere").click()
    await (
        page.get_by_test_id("signed-out-note")
        .get_by_text(f"Sign-ins ended for {agent_name}: 1.")
        .wait_for()
    )
    async with platform.session.get(f"{platform.base}/api/v1/me", headers=agent) as response:
        assert response.status == 401

    page.once("dialog", confirm)
    await row.get_by_role("button", name="Reset two-factor").click()
    await row.get_by_test_id("member-two-factor").get_by_text("Off").wait_for()
    assert await row.get_by_role("button", name="Reset two-factor").count() == 0
    assert agent_name in asked[0]
    assert agent_name in asked[1]
    # The agent signs in with the password alone again.
    await api_login(platform, agent_email)


async def _set_up_by_api(platform: Platform, headers: dict[str, str]) -> str:
    """Two-factor sign-in on for the holder of `headers`; returns the secret."""
    async with platform.session.post(
        f"{platform.base}/api/v1/auth/two-factor/setup",
        json={"password": PASSWORD},
        headers=headers,
    ) as response:
        secret: str = (await json_of(response, 200))["secret"]
    async with platform.session.post(
        f"{platform.base}/api/v1/auth/two-factor/enable",
        json={"code": code_at(secret, current_step())},
        headers=headers,
    ) as response:
        await json_of(response, 200)
    return secret


async def test_a_business_that_requires_two_factor_holds_an_agent_until_set_up(
    platform: Platform, business: Business, new_context: Any
) -> None:
    agent_email, _ = await team_member(platform, business, "agent")
    secret = await _set_up_by_api(platform, business.headers)

    # The owner turns the policy on in Settings.
    page = await (await new_context()).new_page()
    await page.goto(f"{platform.base}/")
    await _password_step(page, business.email)
    await page.get_by_test_id("two-factor-code").fill(code_at(secret, current_step() + 1))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/app/inbox")
    await page.get_by_role("link", name="Settings", exact=True).click()
    policy = page.get_by_test_id("sign-in-policy")
    # The box shows the policy the server holds: it ticks once the change is stored.
    await policy.get_by_test_id("require-two-factor").click()
    await policy.locator("[data-testid=require-two-factor]:checked").wait_for()
    await policy.get_by_text("Members without two-factor sign-in: 1").wait_for()

    # The agent signs in with the password alone and can only set it up.
    agent_page = await (await new_context()).new_page()
    await agent_page.goto(f"{platform.base}/")
    await agent_page.get_by_label("Email").fill(agent_email)
    await agent_page.get_by_label("Password").fill(PASSWORD)
    await agent_page.get_by_role("button", name="Sign in").click()
    await agent_page.get_by_test_id("two-factor-required").wait_for()
    assert await agent_page.get_by_role("link", name="Inbox").count() == 0
    section = agent_page.get_by_test_id("two-factor")
    await section.get_by_role("button", name="Set up").click()
    await section.get_by_label("Your password, to confirm it is you").fill(PASSWORD)
    await section.get_by_role("button", name="Continue").click()
    agent_secret = (await section.get_by_test_id("two-factor-secret").inner_text()).strip()
    await section.get_by_test_id("two-factor-confirm").fill(code_at(agent_secret, current_step()))
    await section.get_by_role("button", name="Turn on").click()
    await section.get_by_test_id("recovery-codes").wait_for()  # seen before the page moves on
    assert await agent_page.get_by_test_id("two-factor-required").count() == 1
    await section.get_by_role("button", name="I have saved them").click()
    await agent_page.get_by_role("link", name="Inbox", exact=True).wait_for()
    await agent_page.get_by_role("link", name="Team", exact=True).click()
    row = agent_page.get_by_test_id("team-table").locator("tr").filter(has_text=agent_email)
    assert await row.get_by_test_id("member-two-factor").inner_text() == "On"


async def test_the_security_page_lists_sign_ins_and_signs_out_everywhere_else(
    platform: Platform, business: Business, new_context: Any
) -> None:
    elsewhere = await api_login(platform, business.email)
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Security", exact=True).click()
    section = page.get_by_test_id("sign-ins")
    items = section.get_by_test_id("sign-in")
    await items.nth(2).wait_for()  # the fixture's sign-in, the one above, and this browser
    assert await items.count() == 3
    here = items.filter(has_text="This device")
    assert (await here.locator("strong").inner_text()) == "Chrome on Linux"
    await section.get_by_role("button", name="Sign out everywhere else").click()
    await section.get_by_text("Other sign-ins ended: 2.").wait_for()
    await page.wait_for_function("document.querySelectorAll('[data-testid=sign-in]').length === 1")
    async with platform.session.get(f"{platform.base}/api/v1/me", headers=elsewhere) as response:
        assert response.status == 401
    async with platform.session.get(
        f"{platform.base}/api/v1/me", headers=business.headers
    ) as response:
        assert response.status == 401
