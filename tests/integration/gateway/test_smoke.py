"""The gateway starts, registers, signs in and answers /me."""

from majlis.testing.browser import GatewayUnderTest


async def test_register_login_me(gateway: GatewayUnderTest) -> None:
    browser, email, tenant_id = await gateway.owner()
    status, body, _ = await browser.request("GET", "/api/v1/me")
    assert status == 200, body
    assert body["user"]["email"] == email
    assert body["tenant"]["id"] == str(tenant_id)
    assert body["tenant"]["plan"] == "starter"
