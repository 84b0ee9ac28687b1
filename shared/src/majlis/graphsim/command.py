"""``majlis sim send`` and ``majlis sim echo``: play the customer, or the business answering
from the WhatsApp Business app on its phone, against a running simulator."""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
from pathlib import Path
from typing import Any

import aiohttp

from majlis.settings import load_settings

_TIMEOUT = aiohttp.ClientTimeout(total=10)


def add_sim_commands(commands: Any) -> None:
    """Add ``sim send`` and ``sim echo`` to the ``majlis`` command's subparsers."""
    sim = commands.add_parser("sim", help="drive the local Graph API simulator")
    actions = sim.add_subparsers(dest="sim_command", required=True)
    send = actions.add_parser("send", help="send a message as a customer (inbound webhook)")
    send.add_argument("--from", dest="sender", required=True, help="customer number, E.164")
    content = send.add_mutually_exclusive_group(required=True)
    content.add_argument("--text", help="message text")
    content.add_argument("--image", type=Path, help="a JPEG or PNG file to send")
    send.add_argument("--caption", help="caption of --image")
    send.add_argument("--phone-number-id", help="business number (default: the simulator's)")
    send.add_argument("--name", help="customer profile name")
    send.add_argument("--sim-url", help="simulator URL (default from settings)")
    echo = actions.add_parser(
        "echo", help="send a message from the WhatsApp Business app (smb_message_echoes webhook)"
    )
    echo.add_argument("--to", required=True, help="customer number, E.164")
    echo.add_argument("--text", required=True, help="message text")
    echo.add_argument("--phone-number-id", help="business number (default: the simulator's)")
    echo.add_argument("--sim-url", help="simulator URL (default from settings)")


def run_sim_command(args: argparse.Namespace) -> int:
    """Run a ``majlis sim`` subcommand; prints the wamid, returns the exit status."""
    url = args.sim_url or f"http://127.0.0.1:{load_settings().graph_simulator_port}"
    body: dict[str, Any]
    if args.sim_command == "echo":
        path, body = "/_sim/echo", {"to": args.to, "text": args.text}
    else:
        path, body = "/_sim/inbound", _inbound_body(args)
    if args.phone_number_id:
        body["phone_number_id"] = args.phone_number_id
    try:
        status, answer = asyncio.run(_post(f"{url.rstrip('/')}{path}", body))
    except (aiohttp.ClientError, TimeoutError) as error:
        sys.stderr.write(f"majlis sim: cannot reach the simulator at {url}: {error}\n")
        return 1
    if status != 201 or not isinstance(answer, dict) or "wamid" not in answer:
        sys.stderr.write(f"majlis sim: the simulator answered {status}: {answer}\n")
        return 1
    sys.stdout.write(f"{answer['wamid']}\n")
    return 0


def _inbound_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"from": args.sender}
    if args.text is not None:
        body["text"] = args.text
    else:
        mime_type = "image/png" if args.image.suffix.lower() == ".png" else "image/jpeg"
        image: dict[str, Any] = {
            "data": base64.b64encode(args.image.read_bytes()).decode(),
            "mime_type": mime_type,
        }
        if args.caption:
            image["caption"] = args.caption
        body["image"] = image
    if args.name:
        body["name"] = args.name
    return body


async def _post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(timeout=_TIMEOUT) as session,
        session.post(url, json=body) as response,
    ):
        return response.status, await response.json(content_type=None)
