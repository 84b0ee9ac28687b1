"""Typed application keys of the audit service."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from audit.appender import ChainAppender
from audit.heads import HeadSigner

WRITER_POOL: web.AppKey[asyncpg.Pool[Any]] = web.AppKey("audit_writer_pool", asyncpg.Pool)
SIGNING_KEY: web.AppKey[bytes] = web.AppKey("audit_signing_key", bytes)
HEAD_SIGNER: web.AppKey[HeadSigner] = web.AppKey("audit_head_signer", HeadSigner)
APPENDER: web.AppKey[ChainAppender] = web.AppKey("audit_appender", ChainAppender)
