"""Operator command for IP blocks: `python -m gateway.blocks list|unblock IP|block IP --seconds N`.

It talks to the same Redis keys as the running gateways (settings.redis_url and
settings.redis_prefix), so a change takes effect on every replica at once.
Exit status: 0 when the command did what was asked, 1 otherwise (bad IP, IP not blocked,
Redis unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import redis.asyncio as aioredis

from gateway.abuse import IpBlocker
from gateway.client_ip import normalize_ip
from majlis.ratelimit import RedisUnavailable
from majlis.settings import Settings, load_settings

# A manual block longer than this is a typo or a job for the firewall, not for Redis.
MAX_BLOCK_SECONDS = 30 * 86_400


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gateway.blocks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="print blocked IPs and the seconds left on each")
    unblock = sub.add_parser("unblock", help="lift the block on an IP")
    unblock.add_argument("ip")
    block = sub.add_parser("block", help="block an IP for a number of seconds")
    block.add_argument("ip")
    block.add_argument("--seconds", type=int, required=True)
    return parser


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Carry out one parsed command against the configured Redis; returns the exit status."""
    ip = ""
    if args.command in {"unblock", "block"}:
        try:
            ip = normalize_ip(args.ip)
        except ValueError:
            _err(f"not an IP address: {args.ip!r}")
            return 1
    if args.command == "block" and not 1 <= args.seconds <= MAX_BLOCK_SECONDS:
        _err(f"--seconds must be between 1 and {MAX_BLOCK_SECONDS}")
        return 1
    client = aioredis.Redis.from_url(
        settings.redis_url.get_secret_value(), socket_timeout=5.0, socket_connect_timeout=5.0
    )
    blocker = IpBlocker(client, settings.redis_prefix)
    try:
        if args.command == "list":
            blocks = await blocker.list_blocks()
            for blocked_ip, seconds in blocks:
                _out(f"{blocked_ip}\t{seconds}")
            _err(f"{len(blocks)} blocked")
            return 0
        if args.command == "unblock":
            if await blocker.unblock(ip):
                _out(f"unblocked {ip}")
                return 0
            _out(f"{ip} was not blocked")
            return 1
        await blocker.block(ip, args.seconds)
        _out(f"blocked {ip} for {args.seconds}s")
        return 0
    except RedisUnavailable:
        _err("Redis is unreachable")
        return 1
    finally:
        await client.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse arguments, load settings once, run the command."""
    args = _parser().parse_args(argv)
    return asyncio.run(run(args, load_settings()))


if __name__ == "__main__":
    sys.exit(main())
