"""`make run`'s launcher starts all six services, each ready, and Ctrl-C stops them cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import aiohttp

from majlis.settings import ServiceName


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


async def test_devrun_starts_every_service_and_stops_on_ctrl_c() -> None:
    free = _free_ports(len(ServiceName) + 1)
    ports = dict(zip(ServiceName, free, strict=False))
    env = os.environ | {f"MAJLIS_{s.value.upper()}_PORT": str(p) for s, p in ports.items()}
    # The Graph API simulator that `make run` starts gets a free port too.
    env |= {"MAJLIS_GRAPH_SIMULATOR_PORT": str(free[-1]), "MAJLIS_GRAPH_API_URL": ""}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "majlis.devrun",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output: list[str] = []
    try:
        async with asyncio.timeout(60):
            while True:
                line = (await process.stdout.readline()).decode()
                assert line, "launcher exited before the platform was ready:\n" + "".join(output)
                output.append(line)
                if "Press Ctrl-C to stop" in line:
                    break
        banner = "".join(output)
        async with aiohttp.ClientSession() as session:
            for service, port in ports.items():
                assert f"http://127.0.0.1:{port}" in banner
                async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                    body = await response.json()
                    assert response.status == 200, (service, body)
                    assert body["checks"] == {"postgres": True, "redis": True, "rabbitmq": True}
                async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                    assert response.status == 200
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            rest = (await process.stdout.read()).decode()
            assert await process.wait() == 0
        assert "stopped." in rest
        assert rest.count("service.stopped") == len(ServiceName)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
