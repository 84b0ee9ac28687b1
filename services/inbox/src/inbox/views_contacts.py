"""Contacts (CRM): CRUD, tags, custom attributes, merge, consent, CSV, deletion, PDPL."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    """Mount these routes."""
    del app
