"""Faults under load (`make chaos`): the platform on private stores, killed and cut in turn."""

from majlis.testing.chaos.scenario import SHORT, Options, Report, run

__all__ = ["SHORT", "Options", "Report", "run"]
