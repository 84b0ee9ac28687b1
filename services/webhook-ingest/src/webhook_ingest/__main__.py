"""Run the webhook-ingest service: `python -m webhook_ingest`."""

from majlis.http import run_workers
from majlis.settings import ServiceName, load_settings
from webhook_ingest.app import create_app


def main() -> None:
    """Composition root: settings are read once here and passed down."""
    settings = load_settings()
    run_workers(
        ServiceName.WEBHOOK_INGEST,
        settings,
        lambda: create_app(settings),
        settings.webhook_ingest_workers,
    )


if __name__ == "__main__":
    main()
