"""``majlis sim send``, ``echo``, ``contact`` and ``history``: play the customer, or the
business on the WhatsApp Business app on its phone (answering, editing its address book, its
chat history shared at onboarding), against a running simulator."""

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
    """Add ``sim send``, ``echo``, ``contact`` and ``history`` to the ``majlis`` command."""
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
    contact = actions.add_parser(
        "contact",
        help="add, edit or remove a contact in the WhatsApp Business app (smb_app_state_sync)",
    )
    contact.add_argument("--phone", required=True, help="the contact's number, E.164")
    contact.add_argument("--name", help="the name the business gave the contact")
    contact.add_argument("--remove", action="store_true", help="remove it from the app")
    contact.add_argument("--phone-number-id", help="business number (default: the simulator's)")
    contact.add_argument("--sim-url", help="simulator URL (default from settings)")
    history = actions.add_parser(
        "history", help="share a chat of the WhatsApp Business app's history (history webhook)"
    )
    history.add_argument("--with", dest="customer", required=True, help="customer, E.164")
    history.add_argument("--text", required=True, help="what the customer wrote")
    history.add_argument("--reply", help="what the business answered from the app")
    history.add_argument("--days-ago", type=float, default=30.0, help="when (default 30)")
    history.add_argument("--phone-number-id", help="business number (default: the simulator's)")
    history.add_argument("--sim-url", help="simulator URL (default from settings)")


def run_sim_command(args: argparse.Namespace) -> int:
    """Run a ``majlis sim`` subcommand; prints what the simulator did (wamids, or the address
    book's action), returns the exit status."""
    url = args.sim_url or f"http://127.0.0.1:{load_settings().graph_simulator_port}"
    body: dict[str, Any]
    if args.sim_command == "echo":
        path, body = "/_sim/echo", {"to": args.to, "text": args.text}
    elif args.sim_command == "contact":
        path, body = "/_sim/app-contacts", {"phone": args.phone}
        if args.remove:
            body["action"] = "remove"
        elif args.name:
            body["name"] = args.name
    elif args.sim_command == "history":
        path, body = "/_sim/history", {"threads": [_history_thread(args)]}
    else:
        path, body = "/_sim/inbound", _inbound_body(args)
    if args.phone_number_id:
        body["phone_number_id"] = args.phone_number_id
    try:
        status, answer = asyncio.run(_post(f"{url.rstrip('/')}{path}", body))
    except (aiohttp.ClientError, TimeoutError) as error:
        sys.stderr.write(f"majlis sim: cannot reach the simulator at {url}: {error}\n")
        return 1
    # What to print: the message's wamid; a history chat's wamids; an address-book action.
    shown = (
        (answer.get("wamid") or answer.get("wamids") or answer.get("action"))
        if isinstance(answer, dict)
        else None
    )
    if status != 201 or not shown:
        sys.stderr.write(f"majlis sim: the simulator answered {status}: {answer}\n")
        return 1
    sys.stdout.write(
        "".join(f"{line}\n" for line in ([shown] if isinstance(shown, str) else shown))
    )
    return 0


def _history_thread(args: argparse.Namespace) -> dict[str, Any]:
    ago = args.days_ago * 86400
    messages = [{"by": "customer", "text": args.text, "ago_s": ago}]
    if args.reply:
        messages.append({"by": "business", "text": args.reply, "ago_s": ago - 60})
    return {"with": args.customer, "messages": messages}


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
