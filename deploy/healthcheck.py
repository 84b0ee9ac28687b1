"""Container health check: GET /healthz of the service this container runs.

Standard library only (the image has no curl). Exit 0 when the service answers 200, 1
otherwise. The ``migrate`` job has no HTTP endpoint and always reports healthy.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_PORTS = {
    "gateway": 8080,
    "webhook_ingest": 8081,
    "inbox": 8082,
    "chatflow": 8083,
    "broadcast": 8084,
    "audit": 8085,
}
TIMEOUT_SECONDS = 3.0


def main() -> int:
    service = os.environ.get("MAJLIS_SERVICE", "")
    if service == "migrate":
        return 0
    if service not in DEFAULT_PORTS:
        return 1
    try:
        port = int(os.environ.get(f"MAJLIS_{service.upper()}_PORT", DEFAULT_PORTS[service]))
    except ValueError:
        return 1
    host = os.environ.get("MAJLIS_HOST", "")
    if host in {"", "0.0.0.0", "::"}:  # noqa: S104 - comparing, not binding
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    # No proxy: an HTTP(S)_PROXY in the environment must not receive the probe.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{host}:{port}/healthz", timeout=TIMEOUT_SECONDS) as resp:
            return 0 if resp.status == 200 else 1
    except (OSError, ValueError):  # URLError/HTTPError are OSErrors; non-2xx raises HTTPError
        return 1


if __name__ == "__main__":
    sys.exit(main())
