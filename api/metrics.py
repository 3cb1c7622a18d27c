"""The API process's Prometheus metrics (prometheus-client): webhooks by provider, endpoint and
outcome, ingress latency, and the calls the store holds by outcome.

Each `ApiMetrics` has its own registry, so two apps in one process (tests, `pbxhub dev`'s
worker beside its API) never mix their counts. The store's counts are read at scrape time, so
every API replica tells the same (in PromQL take `max without (instance)`, not `sum`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from crm import Store

__all__ = ["ApiMetrics", "StoreCounts", "process_registry", "webhook_outcome"]

# Webhook handling from the first byte to the reply: 2 ms .. 10 s (a 503 waits out Temporal).
INGRESS_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Labels of a request that names no provider or endpoint pbxhub has: bounded, whatever is sent.
UNKNOWN = "unknown"


def process_registry() -> CollectorRegistry:
    """A registry of its own holding this process's RSS, CPU, GC and Python version."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # RSS, CPU, open files of this process
    for shared in (GC_COLLECTOR, PLATFORM_COLLECTOR):
        registry.register(shared)
    return registry


@dataclass(eq=False)
class ApiMetrics:
    registry: CollectorRegistry = field(default_factory=process_registry)

    def __post_init__(self) -> None:
        self.webhooks = Counter(
            "pbxhub_webhooks",
            "PBX webhooks answered, by provider, endpoint and outcome (accepted, rejected, "
            "spec_error, unavailable) with the HTTP status.",
            ["provider", "endpoint", "outcome", "status"],
            registry=self.registry,
        )
        self.ingress_seconds = Histogram(
            "pbxhub_ingress_seconds",
            "Time from a webhook's arrival to its reply, by provider and outcome.",
            ["provider", "outcome"],
            buckets=INGRESS_BUCKETS,
            registry=self.registry,
        )

    def webhook_answered(
        self, provider: str, endpoint: str, outcome: str, status: int, seconds: float
    ) -> None:
        self.webhooks.labels(provider, endpoint, outcome, str(status)).inc()
        self.ingress_seconds.labels(provider, outcome).observe(seconds)


def webhook_outcome(status: int, *, refused: bool = False) -> str:
    """What a webhook's answer came to: `refused` is a rejection replied in the spec's own words
    (whatever its status)."""
    if refused or 400 <= status < 500:
        return "rejected"
    if status == 501:
        return "spec_error"
    if status >= 500:
        return "unavailable"
    return "accepted"


class StoreCounts(Collector):
    """Calls by outcome as the store holds them: recorded (by kind: call, missed), incomplete,
    skipped by reason; `pbxhub_store_up` 0 when the store did not answer."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        labels = ["channel_id", "provider"]
        calls = CounterMetricFamily(
            "pbxhub_calls",
            "Calls recorded, by channel and kind (call, missed).",
            labels=[*labels, "kind"],
        )
        incomplete = CounterMetricFamily(
            "pbxhub_incomplete_calls",
            "Calls recorded incomplete (no finish within the longest call), by channel.",
            labels=labels,
        )
        skipped = CounterMetricFamily(
            "pbxhub_skipped_calls",
            "Calls not recorded on purpose, by channel and reason (see /api/v1/skipped-calls).",
            labels=[*labels, "reason"],
        )
        up = GaugeMetricFamily("pbxhub_store_up", "1 when the store answered this scrape.")
        try:
            call_counts = self._store.call_counts()
            incomplete_counts = self._store.incomplete_call_counts()
            skipped_counts = self._store.skipped_call_counts()
        except Exception:  # the in-process metrics still tell what the ingress saw
            up.add_metric([], 0)
            yield up
            return
        for channel_id, provider, kind, count in call_counts:
            calls.add_metric([str(channel_id), provider, kind], count)
        for channel_id, provider, count in incomplete_counts:
            incomplete.add_metric([str(channel_id), provider], count)
        for channel_id, provider, reason, count in skipped_counts:
            skipped.add_metric([str(channel_id), provider, reason], count)
        up.add_metric([], 1)
        yield from (calls, incomplete, skipped, up)
