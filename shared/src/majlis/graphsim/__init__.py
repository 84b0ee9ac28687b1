"""A local WhatsApp Cloud API (Graph API) simulator: ``python -m majlis.graphsim``."""

from majlis.graphsim.app import create_app
from majlis.graphsim.config import KnownNumber, SimulatorConfig, config_from_settings

__all__ = ["KnownNumber", "SimulatorConfig", "config_from_settings", "create_app"]
