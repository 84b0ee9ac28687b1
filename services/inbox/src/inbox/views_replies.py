"""Replying: outbound messages and private notes, collision protection, canned responses."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    """Mount these routes."""
    del app
