"""Run the chatflow service: `python -m chatflow`."""

from chatflow.app import create_app
from majlis.http import run_service
from majlis.settings import ServiceName, load_settings


def main() -> None:
    """Composition root: settings are read once here and passed down."""
    settings = load_settings()
    run_service(ServiceName.CHATFLOW, settings, create_app(settings))


if __name__ == "__main__":
    main()
