"""Prometheus counters of the ingest, registered in the app's own registry."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter


@dataclass(frozen=True, slots=True)
class IngestMetrics:
    """Rejected requests by reason, and webhook items by kind and outcome."""

    rejected: Counter
    items: Counter
    # The "published" child per kind, kept: labels() costs more than the increment.
    _published: dict[str, Counter] = field(default_factory=dict)

    def published(self, kind: str) -> Counter:
        """The counter of published items of `kind` (an ItemKind value: a bounded set)."""
        child = self._published.get(kind)
        if child is None:
            child = self._published[kind] = self.items.labels(kind, "published")
        return child

    @classmethod
    def register(cls, registry: CollectorRegistry) -> IngestMetrics:
        """Create the counters in `registry` (once per app)."""
        return cls(
            rejected=Counter(
                "majlis_webhook_rejected_total",
                "Webhook requests refused (bad signature, unknown app, too large, bad body)",
                ["reason"],
                registry=registry,
            ),
            items=Counter(
                "majlis_webhook_items_total",
                "Webhook items by kind and outcome (published, unrouted, unknown_kind, ...)",
                ["kind", "outcome"],
                registry=registry,
            ),
        )
