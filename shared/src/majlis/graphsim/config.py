"""Simulator configuration: a frozen dataclass built from settings, CLI flags and the environment.

Every flag ``--foo-bar`` may also come from ``MAJLIS_GRAPHSIM_FOO_BAR`` (flags win).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from majlis.settings import Settings

DAY = 86_400.0
ENV_PREFIX = "MAJLIS_GRAPHSIM_"


@dataclass(frozen=True)
class KnownNumber:
    """A registered business number: its token and WABA (strict mode accepts only these)."""

    phone_number_id: str
    token: str = field(repr=False)
    waba_id: str
    display_phone_number: str = ""
    verified_name: str = "Majlis Simulator"

    @classmethod
    def parse(cls, spec: str) -> KnownNumber:
        """Parse ``PHONE_NUMBER_ID:TOKEN:WABA_ID[:DISPLAY_NUMBER[:NAME]]``."""
        parts = spec.split(":")
        if len(parts) < 3 or not all(parts[:3]):
            raise ValueError("a number is PHONE_NUMBER_ID:TOKEN:WABA_ID[:DISPLAY[:NAME]]")
        return cls(parts[0], parts[1], parts[2], *parts[3:5])


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulated Graph API behaves; times in milliseconds unless named otherwise."""

    app_secret: str = field(repr=False)
    webhook_url: str
    host: str = "127.0.0.1"
    port: int = 8090
    # Meta's defaults (reference §6): 80 messages/s per number, 1 message per 6 s per pair
    # with bursts up to 45 "borrowed" messages.
    throughput_mps: int = 80
    pair_interval_s: float = 6.0
    pair_burst: int = 45
    window_seconds: float = DAY
    # Real Meta often reports 131047 through a failed status instead of the send response.
    window_errors_async: bool = False
    sent_delay_ms: int = 300
    delivered_delay_ms: int = 1000
    read_delay_ms: int = 3000
    read_probability: float = 0.8
    failure_rate: float = 0.0
    latency_ms: int = 0
    error_rate: float = 0.0
    strict: bool = False
    known_numbers: tuple[KnownNumber, ...] = ()
    # Used in lax mode for numbers nobody registered, and by `/_sim/inbound` without a number.
    default_waba_id: str = "102290129340398"
    default_phone_number_id: str = "106540352242922"
    # Templates must exist (approved, in that language) to be sent, as at Meta.
    require_templates: bool = True
    template_approval_delay_ms: int = 2000
    template_decision: str = "approve"
    template_reject_reason: str = "INVALID_FORMAT"
    media_ttl_s: float = 30 * DAY
    inbound_media_ttl_s: float = 7 * DAY
    media_url_ttl_s: float = 300.0
    webhook_timeout_s: float = 5.0
    webhook_max_attempts: int = 8
    webhook_retry_base_ms: int = 500
    webhook_retry_max_ms: int = 30_000
    webhook_batch_window_ms: int = 20
    webhook_max_batch: int = 1000
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.sent_delay_ms <= self.delivered_delay_ms <= self.read_delay_ms:
            raise ValueError("status delays must be ordered: sent <= delivered <= read")
        for name in ("read_probability", "failure_rate", "error_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if min(self.throughput_mps, self.pair_burst, self.webhook_max_attempts) < 1:
            raise ValueError("throughput_mps, pair_burst and webhook_max_attempts must be >= 1")
        if self.template_decision not in {"approve", "reject"}:
            raise ValueError("template_decision is approve or reject")


_FLAGGED = {f.name for f in fields(SimulatorConfig)} - {"app_secret", "known_numbers", "seed"}


def build_parser() -> argparse.ArgumentParser:
    """The flags of ``python -m majlis.graphsim``; one per config field."""
    parser = argparse.ArgumentParser(
        prog="python -m majlis.graphsim", description="Local WhatsApp Cloud API simulator"
    )
    for item in fields(SimulatorConfig):
        if item.name not in _FLAGGED:
            continue
        flag = "--" + item.name.replace("_", "-")
        if item.type == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            kind = {"int": int, "float": float}.get(str(item.type), str)
            parser.add_argument(flag, type=kind, default=None)
    parser.add_argument(
        "--number",
        action="append",
        default=[],
        metavar="ID:TOKEN:WABA[:DISPLAY[:NAME]]",
        help="register a business number (repeatable; env: comma-separated)",
    )
    parser.add_argument("--seed", type=int, default=None)
    return parser


def _env_argv(parser: argparse.ArgumentParser) -> list[str]:
    argv: list[str] = []
    for action in parser._actions:  # argparse has no public way to list its actions
        if not action.option_strings or action.dest == "help":
            continue
        value = os.environ.get(ENV_PREFIX + action.dest.upper())
        if value is None or value == "":
            continue
        flag = action.option_strings[0]
        if isinstance(action, argparse.BooleanOptionalAction):
            on = value.strip().lower() in {"1", "true", "yes", "on"}
            argv.append(flag if on else "--no-" + flag[2:])
        elif action.dest == "number":
            for spec in value.split(","):
                argv += [flag, spec.strip()]
        else:
            argv += [flag, value]
    return argv


def config_from_settings(settings: Settings, argv: Sequence[str] | None = None) -> SimulatorConfig:
    """Settings first, then ``MAJLIS_GRAPHSIM_*`` variables, then command-line flags."""
    parser = build_parser()
    args = parser.parse_args([*_env_argv(parser), *(argv or [])])
    values = {k: v for k, v in vars(args).items() if k in _FLAGGED and v is not None}
    values.setdefault("port", settings.graph_simulator_port)
    values.setdefault(
        "webhook_url", f"http://127.0.0.1:{settings.webhook_ingest_port}/webhooks/whatsapp"
    )
    try:
        numbers = tuple(KnownNumber.parse(spec) for spec in args.number)
        return SimulatorConfig(
            app_secret=settings.meta_app_secret.get_secret_value(),
            known_numbers=numbers,
            seed=args.seed,
            **values,
        )
    except ValueError as error:
        parser.error(str(error))
