"""``python -m majlis.graphsim [flags]``: run the simulator until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import sys

from majlis.graphsim.app import create_app
from majlis.graphsim.config import SimulatorConfig, config_from_settings
from majlis.http.app import serve_app
from majlis.logging import configure_logging
from majlis.settings import load_settings


async def serve(config: SimulatorConfig) -> None:
    """Serve until a stop signal; background webhook delivery is cancelled on the way out."""
    await serve_app(create_app(config), config.host, config.port, name="graphsim")


def main(argv: list[str] | None = None) -> None:
    """Entry point: settings, then ``MAJLIS_GRAPHSIM_*``, then flags."""
    settings = load_settings()
    config = config_from_settings(settings, sys.argv[1:] if argv is None else argv)
    configure_logging(settings.log_level, settings.log_format, service="graphsim")
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
