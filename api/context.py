"""What the API process is wired with; built by the composition root and handed to `create_app`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from anyio import CapacityLimiter

from api.metrics import ApiMetrics
from api.proxies import DEFAULT_TRUSTED_PROXIES, Network, parse_networks
from api.temporal import TemporalGateway
from crm import Store
from providers.spec import ProviderSpec
from recordings.storage import RecordingFiles, RecordingStorage
from workflows.starter import CallSettings


@dataclass(frozen=True, kw_only=True)
class ApiContext:
    store: Store
    temporal: TemporalGateway
    specs: Mapping[str, ProviderSpec]
    admin_key: str
    public_base_url: str
    task_queue: str
    call_settings: CallSettings
    max_body_bytes: int = 256 * 1024
    # Worker threads that read, check and map webhooks off the event loop (others wait without
    # blocking it). One: the work is CPU under one GIL, and each more thread only takes turns
    # from the event loop (bench/bodies.py: its stalls doubled with two).
    webhook_workers: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(1))
    temporal_rpc_timeout: timedelta = timedelta(seconds=5)
    # How long a synchronous reply (routing) waits for the store before the fallback reply.
    routing_timeout: timedelta = timedelta(seconds=0.8)
    # The header our reverse proxy names the client in (e.g. "X-Forwarded-For", "X-Real-IP"),
    # believed only from `trusted_proxies`; None: the TCP peer is the client.
    trusted_proxy_header: str | None = None
    trusted_proxies: tuple[Network, ...] = parse_networks(DEFAULT_TRUSTED_PROXIES)
    # Where recordings are kept: uploaded call audio goes to its configured storage, and
    # recordings are read from the storage their row names (None: uploads are refused with 503).
    recordings: RecordingStorage | None = None
    max_upload_bytes: int = 100 * 1024 * 1024
    # this process's Prometheus metrics (/metrics); the worker in `pbxhub dev` adds to them
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    # How often a call card stream with nothing to say sends a comment, to keep proxies open.
    card_keepalive_seconds: float = 15.0

    def recording_store(self, name: str) -> RecordingFiles | None:
        """The storage a recording row names, or None when this process cannot read it."""
        return self.recordings.reader(name) if self.recordings is not None else None
