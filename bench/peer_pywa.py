"""The peer for webhook-ingest benchmarks: pywa's webhook handler behind uvicorn (bench only).

Runs in a virtualenv of its own (`bench/.peer-venv`, made by `bench/run.py` from
`bench/peer-requirements.txt`): pywa, FastAPI and uvicorn are never dependencies of the
services. Wired as pywa's README "Plug Into Your Own Server" shows and as
../shared/reference/peer-bench.md measured it: a FastAPI app, `WhatsApp(server=app,
app_secret=..., validate_updates=True)` with one `on_message` handler that counts, no token,
so pywa never calls Meta; one uvicorn worker, uvloop + httptools, no access log.

pywa answers 200 once the HMAC checks and handles the update afterwards in a background task,
so its 200 does not mean the handler ran (peer-bench.md: it drops batches past the first
message and payloads without `contacts[].user_id`). Its figure is requests answered, not
messages handled; compare with the ceiling, not with the ingest's confirmed publishes.

    bench/.peer-venv/bin/python bench/peer_pywa.py PORT
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import uvicorn  # type: ignore[import-not-found,unused-ignore]
from fastapi import FastAPI  # type: ignore[import-not-found,unused-ignore]
from pywa import WhatsApp  # type: ignore[import-not-found,unused-ignore]

PATH = "/webhooks/whatsapp"

app = FastAPI()
_lock = threading.Lock()
handled = 0
wa = WhatsApp(
    phone_id="106540352242922",
    server=app,
    webhook_endpoint=PATH,
    verify_token=os.environ.get("MAJLIS_META_VERIFY_TOKEN", "bench-verify-token"),
    app_secret=os.environ["MAJLIS_META_APP_SECRET"],
    validate_updates=True,
)


@wa.on_message()  # type: ignore[untyped-decorator,misc,unused-ignore]
def count(_client: Any, _message: Any) -> None:
    """The handler only counts, like the peer bench's."""
    global handled
    with _lock:
        handled += 1


def main() -> None:
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        workers=1,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
