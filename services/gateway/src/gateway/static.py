"""The dashboard: the built browser app served from the gateway's own origin.

`/` and every `/app/...` path that is not a file answer `index.html` (the app routes in the
browser), never cached; hashed files under `/app/assets/` are immutable and cached for a year.
Every answer carries a strict Content-Security-Policy: no inline script or style, and the
only connections allowed are to this origin (HTTP and its WebSocket).

It runs as a middleware ahead of the edge: static files need neither identity nor Redis, and
the per-IP limit of unknown paths (120 a minute) would otherwise throttle a page's own assets.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from majlis.http.middlewares import Handler

DIST_DIR: web.AppKey[Path] = web.AppKey("dashboard_dist", Path)
# services/gateway/src/gateway/static.py -> services/dashboard/dist
DEFAULT_DIST = Path(__file__).resolve().parents[3] / "dashboard" / "dist"
APP_PREFIX = "/app"
_ASSETS = "/app/assets/"
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
_IMMUTABLE = "public, max-age=31536000, immutable"
_NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Majlis: dashboard not built</title></head>
<body><h1>The dashboard has not been built</h1>
<p>Build it with <code>make dashboard</code> (<code>make run</code> does this for you), or by
hand: <code>cd services/dashboard &amp;&amp; npm ci &amp;&amp; npm run build</code>.
The API works meanwhile under <code>/api/v1/</code>.</p></body></html>
"""


def content_security_policy(host: str | None) -> str:
    """The page's CSP; WebSocket connections only to the host the page came from."""
    sockets = f" ws://{host} wss://{host}" if host and _HOST.match(host) else ""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; "  # audio/video of messages, fetched with the token as blobs
        f"font-src 'self'; connect-src 'self'{sockets}; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


def _secure(response: web.StreamResponse, request: web.Request) -> web.StreamResponse:
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(request.host)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), geolocation=(), microphone=()"
    return response


def is_dashboard_path(path: str) -> bool:
    """Whether the path belongs to the browser app rather than the API."""
    # /invite is the link in invitation e-mails (its token travels in the fragment).
    return path in ("/", "/invite", APP_PREFIX) or path.startswith(APP_PREFIX + "/")


def _file_under(root: Path, relative: str) -> Path | None:
    """The regular file at `relative` inside `root`, refusing any way out of it."""
    if not relative or "\x00" in relative:
        return None
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root.resolve()) or not candidate.is_file():
        return None
    return candidate


def _index(dist: Path) -> web.StreamResponse:
    index = dist / "index.html"
    if not index.is_file():
        return web.Response(
            status=503,
            text=_NOT_BUILT,
            content_type="text/html",
            headers={"Cache-Control": "no-store"},
        )
    return web.FileResponse(index, headers={"Cache-Control": "no-cache"})


def _answer(request: web.Request, dist: Path) -> web.StreamResponse:
    path = request.path
    if path.startswith(_ASSETS):
        asset = _file_under(dist / "assets", path[len(_ASSETS) :])
        if asset is None:
            return web.Response(status=404, text="Not found", content_type="text/plain")
        return web.FileResponse(asset, headers={"Cache-Control": _IMMUTABLE})
    if path.startswith(APP_PREFIX + "/"):
        # Unhashed files beside index.html (the icon): cached briefly.
        name = path[len(APP_PREFIX) + 1 :]
        top_level = _file_under(dist, name) if "/" not in name and name != "index.html" else None
        if top_level is not None:
            return web.FileResponse(top_level, headers={"Cache-Control": "public, max-age=3600"})
    return _index(dist)


@web.middleware
async def dashboard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Serve the app's files and its index; every other path goes on to the API."""
    if not is_dashboard_path(request.path):
        return await handler(request)
    if request.method not in ("GET", "HEAD"):
        response = web.Response(
            status=405, text="Method not allowed", headers={"Allow": "GET, HEAD"}
        )
        return _secure(response, request)
    return _secure(_answer(request, request.app.get(DIST_DIR, DEFAULT_DIST)), request)
