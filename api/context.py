"""What the API process is wired with; built by the composition root and handed to `create_app`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from anyio import CapacityLimiter

from api.proxies import DEFAULT_TRUSTED_PROXIES, Network, parse_networks
from api.temporal import TemporalGateway
from crm import Store
from crm.recording_files import LocalFolder, RecordingFiles
from providers.spec import ProviderSpec
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
    # Where the telephony API keeps uploaded call audio (None: uploads are refused with 503).
    recordings_dir: Path | None = None
    max_upload_bytes: int = 100 * 1024 * 1024
    # Where recordings are read from, by storage name ("local", "s3"); None: the local folder
    # `recordings_dir` only.
    recording_stores: Mapping[str, RecordingFiles] | None = None

    def recording_store(self, name: str) -> RecordingFiles | None:
        """The storage a recording row names, or None when this process cannot read it."""
        if self.recording_stores is not None:
            return self.recording_stores.get(name)
        if name == "local" and self.recordings_dir is not None:
            return LocalFolder(self.recordings_dir)
        return None
