"""Platform settings: one pydantic-settings model, read from ``MAJLIS_*`` once in main()."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[3]


class ServiceName(StrEnum):
    """The six processes of the platform, by import name."""

    GATEWAY = "gateway"
    WEBHOOK_INGEST = "webhook_ingest"
    INBOX = "inbox"
    CHATFLOW = "chatflow"
    BROADCAST = "broadcast"
    AUDIT = "audit"


DEFAULT_PORTS: dict[ServiceName, int] = {
    ServiceName.GATEWAY: 8080,
    ServiceName.WEBHOOK_INGEST: 8081,
    ServiceName.INBOX: 8082,
    ServiceName.CHATFLOW: 8083,
    ServiceName.BROADCAST: 8084,
    ServiceName.AUDIT: 8085,
}


class Settings(BaseSettings):
    """Every setting of every service. Secrets are ``SecretStr`` so they never print by accident."""

    model_config = SettingsConfigDict(
        env_prefix="MAJLIS_", extra="ignore", frozen=True, validate_default=True
    )

    env: Literal["dev", "test", "prod"] = "dev"
    host: str = "127.0.0.1"
    gateway_port: int = Field(default=8080, ge=1, le=65535)
    webhook_ingest_port: int = Field(default=8081, ge=1, le=65535)
    inbox_port: int = Field(default=8082, ge=1, le=65535)
    chatflow_port: int = Field(default=8083, ge=1, le=65535)
    broadcast_port: int = Field(default=8084, ge=1, le=65535)
    audit_port: int = Field(default=8085, ge=1, le=65535)

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"

    # PostgreSQL: the application role for services, the owner for migrations,
    # and a superuser-ish admin used only by `make` set-up to create roles and the database.
    database_url: SecretStr = SecretStr("postgresql://majlis_app@127.0.0.1:5432/majlis")
    database_owner_url: SecretStr = SecretStr("postgresql://majlis_owner@127.0.0.1:5432/majlis")
    # The outbox relay's narrow role: reads and deletes committed outbox rows, nothing else.
    outbox_relay_database_url: SecretStr = SecretStr(
        "postgresql://majlis_outbox_relay@127.0.0.1:5432/majlis"
    )
    # The audit service's writer: appends to the audit log, never changes or deletes it.
    audit_writer_database_url: SecretStr = SecretStr(
        "postgresql://majlis_audit_writer@127.0.0.1:5432/majlis"
    )
    database_admin_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/postgres")
    db_pool_min: int = Field(default=2, ge=0)
    db_pool_max: int = Field(default=10, ge=1)
    db_command_timeout: float = Field(default=10.0, gt=0)
    migrations_dir: Path = REPO_ROOT / "deploy" / "migrations"

    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    redis_prefix: str = "majlis:"

    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    # Prefix for every exchange and queue name, so a test run never touches `make run`'s bus.
    bus_prefix: str = ""
    bus_prefetch: int = Field(default=32, ge=1)
    bus_retry_delays_ms: tuple[int, ...] = (1000, 5000, 25000)
    bus_publish_timeout: float = Field(default=10.0, gt=0)
    outbox_poll_interval: float = Field(default=0.5, gt=0)
    outbox_batch_size: int = Field(default=200, ge=1)

    # Field encryption: "kid:base64(32 bytes),kid2:..." and the id of the key new values use.
    encryption_keys: SecretStr = SecretStr("")
    encryption_active_key_id: str = ""
    # Master key (base64, 32 bytes) from which per-tenant blind-index keys are derived.
    blind_index_key: SecretStr = SecretStr("")
    default_phone_region: str = "AE"

    # Access tokens (RS256). Signing keys: "kid:base64(PEM private key),..." (gateway only);
    # public keys "kid:base64(PEM public key),..." for services that only verify (derived from
    # the signing keys when unset). New tokens use the active key; every listed key verifies.
    jwt_signing_keys: SecretStr = SecretStr("")
    jwt_active_key_id: str = ""
    jwt_public_keys: str = ""
    jwt_issuer: str = "https://majlis.local"
    jwt_audience: str = "majlis-api"
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    # Access-token lifetime (MAJLIS_ACCESS_TOKEN_TTL_SECONDS, 15 minutes; 1 to 60 minutes). The
    # dashboard renews silently a minute before expiry, or a quarter of the lifetime ahead when
    # that is shorter (a 60-second token is renewed after 45 seconds).
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # File uploads (CSV imports) are streamed, never held whole, up to this size.
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    # Gateway: a base64 32-byte secret from which the CSRF, refresh-token and API-key hashing
    # keys are derived (HKDF); peers whose X-Forwarded-For is trusted; the back ends it proxies.
    gateway_secret: SecretStr = SecretStr("")
    trusted_proxies: tuple[str, ...] = ()
    public_base_url: str = "http://127.0.0.1:8080"
    inbox_url: str = "http://127.0.0.1:8082"
    chatflow_url: str = "http://127.0.0.1:8083"
    # Chatflows: node logs kept this many days; due timers (wait nodes, question timeouts)
    # polled this often.
    chatflow_log_retention_days: int = Field(default=30, ge=1, le=3650)
    chatflow_timer_interval_ms: int = Field(default=1000, ge=50, le=60_000)
    # Outbound HTTP to tenant-chosen URLs (chatflow http_request nodes, webhooks) may reach
    # loopback: for local development only, never in production.
    outbound_allow_loopback: bool = False
    # Outbound webhooks (broadcast.integrations): the retry schedule's delays are multiplied
    # by the scale (tests make it tiny); Retry-After is honoured up to the cap; an endpoint
    # whose last `disable_after_exhausted` messages all failed for good, the first of them at
    # least `disable_after_seconds` ago, is disabled.
    webhook_retry_scale: float = Field(default=1.0, gt=0, le=1.0)
    webhook_retry_after_cap_seconds: int = Field(default=3600, ge=0, le=86_400)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_disable_after_exhausted: int = Field(default=10, ge=1)
    webhook_disable_after_seconds: int = Field(default=5 * 86_400, ge=0)
    webhook_worker_interval_ms: int = Field(default=500, ge=10, le=60_000)
    webhook_log_retention_days: int = Field(default=30, ge=1, le=3650)
    broadcast_url: str = "http://127.0.0.1:8084"
    audit_url: str = "http://127.0.0.1:8085"
    proxy_timeout_seconds: float = Field(default=15.0, gt=0)
    # Streamed uploads (a 50,000-row CSV import takes tens of seconds to process).
    proxy_upload_timeout_seconds: float = Field(default=180.0, gt=0)
    refresh_token_lifetime_days: int = Field(default=30, ge=1, le=365)
    refresh_grace_seconds: int = Field(default=10, ge=0, le=120)
    invite_ttl_hours: int = Field(default=72, ge=1, le=720)
    # Account lockout after 5 failed sign-ins: the first lock lasts this long, each new lock
    # doubles it, up to the cap.
    lockout_base_seconds: int = Field(default=60, ge=1)
    lockout_max_seconds: int = Field(default=3600, ge=1)
    # An IP that hits rate limits this many times in the window is blocked for block seconds.
    ip_block_strikes: int = Field(default=10, ge=1)
    ip_block_window_seconds: int = Field(default=600, ge=1)
    ip_block_seconds: int = Field(default=900, ge=1)
    user_rate_limit_per_minute: int = Field(default=600, ge=1)
    tenant_rate_limit_per_minute: int = Field(default=3000, ge=1)

    # Meta: the app secret that signs webhooks, the verify token of the subscription
    # handshake, and secrets of tenants' own Meta apps ("app_id:secret,...").
    meta_app_secret: SecretStr = SecretStr("")
    meta_verify_token: SecretStr = SecretStr("")
    meta_app_secrets: SecretStr = SecretStr("")
    webhook_max_body_bytes: int = Field(default=3 * 1024 * 1024, ge=1024)
    # Worker processes of webhook-ingest on its one port (majlis.http.run_workers): one per
    # core on a host of its own; 1 where an orchestrator scales replicas instead.
    webhook_ingest_workers: int = Field(default=1, ge=1, le=64)
    # Graph API base URL (e.g. https://graph.facebook.com); empty means the local simulator
    # (`make run` starts it on graph_simulator_port).
    graph_api_url: str = ""
    graph_api_version: str = "v21.0"
    graph_api_timeout_seconds: float = Field(default=10.0, gt=0)
    graph_simulator_port: int = Field(default=8090, ge=1, le=65535)

    # Audit: a base64 32-byte HMAC key of its own that signs the chain heads (kept outside the
    # database, so a database administrator cannot forge a signed head), and how often.
    audit_signing_key: SecretStr = SecretStr("")
    audit_head_interval_seconds: int = Field(default=60, ge=1)

    # Data residency: the region the deployment's data lives in (shown to auditors by
    # GET /api/v1/platform/residency) and, per store, where it runs (defaults to data_region).
    data_region: str = Field(default="ae", min_length=1, max_length=64)
    postgres_region: str | None = None
    redis_region: str | None = None
    rabbitmq_region: str | None = None
    # Egress allow-list: the only hosts ("host" or "host:port") the platform's own outbound
    # HTTP may reach (majlis.net.egress). None: Meta's Graph API and media hosts, the AI
    # providers, plus the hosts of the configured Graph API / AI base URLs (the local
    # simulator in dev and test). Tenant-chosen targets use the SSRF guard instead.
    egress_allowed_hosts: tuple[str, ...] | None = None
    # API keys: requests a minute per key (user sessions have user_rate_limit_per_minute).
    api_key_rate_limit_per_minute: int = Field(default=600, ge=1)

    @property
    def graph_base_url(self) -> str:
        """Where Graph API calls go: Meta, or the local simulator when none is configured."""
        return self.graph_api_url or f"http://127.0.0.1:{self.graph_simulator_port}"

    def store_regions(self) -> dict[str, str]:
        """The region of each data store, as configured (data_region unless set per store)."""
        return {
            "postgresql": self.postgres_region or self.data_region,
            "redis": self.redis_region or self.data_region,
            "rabbitmq": self.rabbitmq_region or self.data_region,
        }

    def port_for(self, service: ServiceName) -> int:
        """The port a service listens on."""
        port: int = getattr(self, f"{service.value}_port")
        return port


def load_settings() -> Settings:
    """Read the environment once; call from a composition root, never at import time."""
    return Settings()
