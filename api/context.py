"""What the API process is wired with; built by the composition root and handed to `create_app`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from api.temporal import TemporalGateway
from crm import Store
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
    temporal_rpc_timeout: timedelta = timedelta(seconds=5)
