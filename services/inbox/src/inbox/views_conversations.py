"""Conversations: list, detail, messages, status, bot/human ownership, assignment, labels."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    """Mount these routes."""
    del app
