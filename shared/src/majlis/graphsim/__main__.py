"""``python -m majlis.graphsim [flags]``: run the simulator until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys

from aiohttp import web

from majlis.graphsim.app import create_app
from majlis.graphsim.config import SimulatorConfig, config_from_settings
from majlis.logging import configure_logging, get_logger
from majlis.settings import load_settings

log = get_logger("majlis.graphsim")


async def serve(config: SimulatorConfig) -> None:
    """Serve until a stop signal; background webhook delivery is cancelled on the way out."""
    runner = web.AppRunner(create_app(config), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
    await site.start()
    log.info("graphsim.listening", address=f"http://{config.host}:{config.port}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("graphsim.stopping")
    await runner.cleanup()
    log.info("graphsim.stopped")


def main(argv: list[str] | None = None) -> None:
    """Entry point: settings, then ``MAJLIS_GRAPHSIM_*``, then flags."""
    settings = load_settings()
    config = config_from_settings(settings, sys.argv[1:] if argv is None else argv)
    configure_logging(settings.log_level, settings.log_format, service="graphsim")
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
