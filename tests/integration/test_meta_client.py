"""GraphClient against the simulator (and two misbehaving servers), all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from majlis.graphsim import SimulatorConfig
from majlis.graphsim.testing import WebhookReceiver, running_simulator
from majlis.meta import GraphApiError, GraphClient, GraphUnavailable, MediaTooLarge
from majlis.settings import Settings

SECRET = "client-test-secret"
TOKEN = "EAAClientTestToken"
PHONE = "106540352242922"
WABA = "102290129340398"
CUSTOMER = "+971501234567"
TEXT = {"to": CUSTOMER, "type": "text", "text": {"body": "hello"}}
TEMPLATE = {
    "name": "welcome",
    "language": "en_US",
    "category": "MARKETING",
    "components": [{"type": "BODY", "text": "Welcome to Majlis"}],
}
FAST: dict[str, Any] = {
    "sent_delay_ms": 10,
    "delivered_delay_ms": 20,
    "read_delay_ms": 30,
    "template_approval_delay_ms": 20,
    "webhook_retry_base_ms": 20,
}

StartClient = Callable[..., Awaitable[tuple[GraphClient, str]]]


@pytest.fixture
async def start_client() -> AsyncIterator[StartClient]:
    async with AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())
        receiver = WebhookReceiver(SECRET)
        await receiver.start()
        stack.push_async_callback(receiver.stop)

        async def start(limit_s: float = 5.0, **overrides: Any) -> tuple[GraphClient, str]:
            config = SimulatorConfig(
                app_secret=SECRET, webhook_url=receiver.url, **FAST | overrides
            )
            url = await stack.enter_async_context(running_simulator(config))
            return GraphClient(session, base_url=url, version="v21.0", timeout=limit_s), url

        yield start


async def open_window(url: str, wa_id: str = CUSTOMER) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/_sim/window", json={"phone_number_id": PHONE, "wa_id": wa_id}) as r,
    ):
        assert r.status == 200


async def test_get_phone_number(start_client: StartClient) -> None:
    client, _ = await start_client()
    number = await client.get_phone_number(PHONE, TOKEN)
    assert number["id"] == PHONE
    assert number["quality_rating"] == "GREEN"
    assert set(number) == {"id", "display_phone_number", "verified_name", "quality_rating"}


async def test_send_message_returns_the_wamid(
    start_client: StartClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client, url = await start_client()
    await open_window(url)
    wamid = await client.send_message(PHONE, TOKEN, TEXT)
    assert wamid.startswith("wamid.")
    assert TOKEN not in capsys.readouterr().out  # nothing logs the token


async def test_templates_round_trip_with_paging(start_client: StartClient) -> None:
    client, _ = await start_client(template_approval_delay_ms=60_000)
    created = await client.create_template(WABA, TOKEN, TEMPLATE)
    assert created["status"] == "PENDING"
    assert created["category"] == "MARKETING"
    # More than one page of 100, so the client must follow the cursor.
    for index in range(100):
        await client.create_template(WABA, TOKEN, TEMPLATE | {"name": f"bulk_{index}"})
    listed = await client.list_templates(WABA, TOKEN)
    assert len(listed) == 101
    assert listed[0]["id"] == created["id"]
    assert len({t["id"] for t in listed}) == 101
    await client.delete_template(WABA, TOKEN, "welcome")
    assert len(await client.list_templates(WABA, TOKEN)) == 100
    with pytest.raises(GraphApiError) as caught:
        await client.create_template(WABA, TOKEN, TEMPLATE | {"name": "Bad Name"})
    assert (caught.value.code, caught.value.is_retryable) == (100, False)


async def test_media_upload_lookup_download(start_client: StartClient) -> None:
    client, _ = await start_client()
    data = b"%PDF-1.7 " + bytes(range(256)) * 64
    media_id = await client.upload_media(PHONE, TOKEN, data, "application/pdf")
    info = await client.get_media_url(media_id, TOKEN)
    assert info.mime_type == "application/pdf"
    assert info.file_size == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert await client.download_media(info.url, TOKEN, max_bytes=len(data)) == data
    with pytest.raises(MediaTooLarge) as caught:
        await client.download_media(info.url, TOKEN, max_bytes=len(data) - 1)
    assert isinstance(caught.value, GraphApiError)
    assert not caught.value.is_retryable
    with pytest.raises(GraphApiError):
        await client.download_media(info.url, "EAAwrong-but-valid-looking", max_bytes=10)


async def test_download_refuses_oversized_stream_without_length() -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(10):
            await response.write(b"x" * 1000)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/blob", chunked)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as session:
            client = GraphClient(session, base_url=url, version="v21.0", timeout=5)
            assert (
                len(await client.download_media(f"{url}/blob", TOKEN, max_bytes=10_000)) == 10_000
            )
            with pytest.raises(MediaTooLarge):
                await client.download_media(f"{url}/blob", TOKEN, max_bytes=9_999)
    finally:
        await runner.cleanup()


async def test_download_never_sends_the_token_over_plain_http_elsewhere(
    start_client: StartClient,
) -> None:
    client, _ = await start_client()
    with pytest.raises(GraphApiError):
        await client.download_media("http://127.0.0.2:9/x", TOKEN, max_bytes=10)


async def test_errors_map_to_codes_and_classes(start_client: StartClient) -> None:
    client, url = await start_client(pair_burst=1)
    with pytest.raises(GraphApiError) as caught:
        await client.send_message(PHONE, TOKEN, TEXT)  # no customer-service window
    assert (caught.value.code, caught.value.status) == (131047, 400)
    assert not caught.value.is_retryable
    assert caught.value.details
    assert caught.value.fbtrace_id
    with pytest.raises(GraphApiError) as caught:
        await client.get_phone_number(PHONE, "garbage")
    assert (caught.value.code, caught.value.status) == (190, 401)
    assert caught.value.is_auth_error
    assert not caught.value.is_retryable
    await open_window(url)
    await client.send_message(PHONE, TOKEN, TEXT)
    with pytest.raises(GraphApiError) as caught:
        await client.send_message(PHONE, TOKEN, TEXT)
    assert caught.value.code == 131056
    assert caught.value.is_retryable
    assert not caught.value.is_auth_error
    with pytest.raises(GraphApiError) as caught:
        await client.send_message(PHONE, TOKEN, {"to": CUSTOMER, "type": "text", "text": {}})
    assert (caught.value.code, caught.value.is_retryable) == (100, False)


@pytest.mark.parametrize("node_id", ["", "../me", "1?fields=x", "١٢٣"])
async def test_malformed_ids_never_reach_the_network(
    start_client: StartClient, node_id: str
) -> None:
    client, _ = await start_client()
    with pytest.raises(GraphApiError) as caught:
        await client.get_phone_number(node_id, TOKEN)
    assert (caught.value.code, caught.value.status, caught.value.is_retryable) == (100, 0, False)


async def test_throughput_limit_is_retryable(start_client: StartClient) -> None:
    client, url = await start_client(throughput_mps=2, pair_burst=10)
    await open_window(url)
    for _ in range(2):
        await client.send_message(PHONE, TOKEN, TEXT)
    with pytest.raises(GraphApiError) as caught:
        await client.send_message(PHONE, TOKEN, TEXT)
    assert (caught.value.code, caught.value.is_retryable) == (130429, True)


async def test_server_errors_are_retryable(start_client: StartClient) -> None:
    client, _ = await start_client(error_rate=1.0)
    with pytest.raises(GraphApiError) as caught:
        await client.get_phone_number(PHONE, TOKEN)
    assert caught.value.status == 500
    assert caught.value.is_retryable
    assert not isinstance(caught.value, GraphUnavailable)


async def test_slow_simulator_times_out_as_unavailable(start_client: StartClient) -> None:
    client, _ = await start_client(limit_s=0.1, latency_ms=1000)
    with pytest.raises(GraphUnavailable) as caught:
        await client.get_phone_number(PHONE, TOKEN)
    assert caught.value.is_retryable


async def test_server_that_never_answers_is_unavailable_after_the_timeout() -> None:
    release = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            client = GraphClient(
                session, base_url=f"http://127.0.0.1:{port}", version="v21.0", timeout=0.2
            )
            started = asyncio.get_running_loop().time()
            with pytest.raises(GraphUnavailable) as caught:
                await client.send_message(PHONE, TOKEN, TEXT)
            assert asyncio.get_running_loop().time() - started < 2
            assert caught.value.is_retryable
    finally:
        release.set()
        server.close()
        await server.wait_closed()


async def test_refused_connection_is_unavailable() -> None:
    server = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with aiohttp.ClientSession() as session:
        client = GraphClient(
            session, base_url=f"http://127.0.0.1:{port}", version="v21.0", timeout=2
        )
        with pytest.raises(GraphUnavailable):
            await client.get_phone_number(PHONE, TOKEN)


async def test_from_settings_uses_the_simulator_when_no_graph_url() -> None:
    async with aiohttp.ClientSession() as session:
        client = GraphClient.from_settings(session, Settings(graph_simulator_port=9123))
        assert client._base == "http://127.0.0.1:9123"
        meta = GraphClient.from_settings(
            session, Settings(graph_api_url="https://graph.facebook.com/")
        )
        assert meta._base == "https://graph.facebook.com"


def test_error_parsing_tolerates_odd_bodies() -> None:
    error = GraphApiError.from_response(
        400,
        {
            "error": {
                "message": "(#131056) pair rate limit hit",
                "type": "OAuthException",
                "code": 131056,
                "error_subcode": 2494055,
                "error_data": {"messaging_product": "whatsapp", "details": "too many"},
                "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
            }
        },
    )
    assert (error.code, error.subcode, error.details, error.fbtrace_id) == (
        131056,
        2494055,
        "too many",
        "Az8or2yhqkZfEZ-_4Qn_Bam",
    )
    for body in (None, "oops", {"error": "x"}, {"error": {"code": "x"}}):
        parsed = GraphApiError.from_response(502, body)
        assert parsed.status == 502
        assert parsed.is_retryable
    assert GraphApiError.from_response(
        400, {"error": {"code": 190, "error_subcode": 463}}
    ).is_auth_error
