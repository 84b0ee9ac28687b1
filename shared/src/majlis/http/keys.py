"""Typed application keys shared by the base app and the resource contexts."""

from aiohttp import web

from majlis.settings import Settings

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
SERVICE_NAME: web.AppKey[str] = web.AppKey("service_name", str)
