"""Run the inbox service: `python -m inbox`."""

from inbox.app import create_app
from majlis.http import run_service
from majlis.settings import ServiceName, load_settings


def main() -> None:
    """Composition root: settings are read once here and passed down."""
    settings = load_settings()
    run_service(ServiceName.INBOX, settings, create_app(settings))


if __name__ == "__main__":
    main()
