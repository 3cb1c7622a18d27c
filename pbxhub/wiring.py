"""Builds the parts from `Settings`: the store, the provider specs, the API context."""

from __future__ import annotations

from datetime import timedelta

from api.context import ApiContext
from api.temporal import TemporalGateway
from crm import Store
from pbxhub.settings import Settings
from providers.spec import ProviderSpec, SpecError, load_specs
from workflows.starter import CallSettings


def open_store(settings: Settings) -> Store:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.resolved_database_url)
    store.migrate()
    return store


def load_provider_specs(settings: Settings) -> dict[str, ProviderSpec]:
    """Every spec in the providers folder; a broken one stops start-up naming file and path."""
    try:
        return dict(load_specs(settings.providers_dir))
    except SpecError as error:
        raise SystemExit(f"pbxhub cannot start: broken provider spec\n{error}") from error


def call_settings(settings: Settings) -> CallSettings:
    return CallSettings(
        recording_wait_seconds=settings.recording_wait_seconds,
        max_call_seconds=settings.max_call_seconds,
        workflow_id_prefix=settings.workflow_id_prefix,
        settle_seconds=settings.settle_seconds,
    )


def api_context(
    settings: Settings,
    store: Store,
    temporal: TemporalGateway,
    specs: dict[str, ProviderSpec],
) -> ApiContext:
    return ApiContext(
        store=store,
        temporal=temporal,
        specs=specs,
        admin_key=settings.resolved_admin_key,
        public_base_url=settings.resolved_public_base_url,
        task_queue=settings.task_queue,
        call_settings=call_settings(settings),
        max_body_bytes=settings.max_body_bytes,
        temporal_rpc_timeout=timedelta(seconds=settings.temporal_rpc_timeout_seconds),
    )
