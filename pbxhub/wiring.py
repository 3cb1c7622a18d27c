"""Builds the parts from `Settings`: the store, the provider specs, the worker, the API context."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import uvicorn
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.worker import Worker

from activities.recordings import RecordingActivities
from api.context import ApiContext
from api.proxies import parse_networks
from api.temporal import TemporalGateway
from crm import Store
from pbxhub.private_files import private_folder, restrict_files, sqlite_files
from pbxhub.settings import Settings
from pbxhub.worker import build_worker
from pbxhub.worker_metrics import WorkerMetrics
from providers.spec import ProviderSpec, SpecError
from providers.spec_loader import load_specs
from recordings.download import DownloadLimits
from recordings.storage import LocalFolder, RecordingFiles, RecordingStorage, S3Bucket, S3Settings
from workflows.starter import CallSettings


def open_store(settings: Settings) -> Store:
    private_folder(settings.data_dir)
    if not settings.database_url:
        # the default database, in the data folder: pbxhub's own file, holding channel secrets
        restrict_files(*sqlite_files(settings.data_dir / "pbxhub.db"))
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
        recording_retry_seconds=settings.recording_retry_seconds,
        recording_fetch_attempts=settings.recording_fetch_attempts,
    )


def recording_storage(settings: Settings) -> RecordingStorage:
    """Where recordings are kept: new files (downloaded or uploaded) in the configured storage
    (`recording_storage`); the local folder is always read from and spools every file."""
    local = LocalFolder(private_folder(settings.data_dir / "recordings"))
    current: RecordingFiles = local
    if settings.recording_storage == "s3":
        if not settings.recording_s3_bucket:
            raise SystemExit("pbxhub cannot start: PBXHUB_RECORDING_S3_BUCKET is not set")
        current = S3Bucket(
            S3Settings(
                bucket=settings.recording_s3_bucket,
                prefix=settings.recording_s3_prefix,
                endpoint_url=settings.recording_s3_endpoint_url or None,
                region=settings.recording_s3_region or None,
                access_key_id=settings.recording_s3_access_key_id or None,
                secret_access_key=settings.recording_s3_secret_access_key or None,
            )
        )
    return RecordingStorage.keeping_in(current, local)


def recording_activities(
    settings: Settings, store: Store, specs: Mapping[str, ProviderSpec]
) -> RecordingActivities:
    return RecordingActivities(
        store,
        specs,
        storage=recording_storage(settings),
        limits=DownloadLimits(
            max_bytes=settings.recording_max_bytes,
            connect_seconds=settings.recording_connect_timeout_seconds,
            read_seconds=settings.recording_read_timeout_seconds,
            total_seconds=settings.recording_download_timeout_seconds,
        ),
    )


def call_worker(
    settings: Settings,
    client: Client,
    store: Store,
    specs: Mapping[str, ProviderSpec],
    metrics: WorkerMetrics | None = None,
) -> Worker:
    """The worker of calls and PBX actions as the settings configure it (`async with` it)."""
    return build_worker(
        client,
        store,
        task_queue=settings.task_queue,
        specs=specs,
        recordings=recording_activities(settings, store, specs),
        metrics=metrics,
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
        recordings=recording_storage(settings),
        max_upload_bytes=settings.max_upload_bytes,
        routing_timeout=timedelta(seconds=settings.routing_timeout_seconds),
        trusted_proxy_header=settings.trusted_proxy_header.strip() or None,
        trusted_proxies=parse_networks(settings.trusted_proxies),
    )


def api_server_config(
    settings: Settings, app: FastAPI, *, log_level: str | None = None
) -> uvicorn.Config:
    """How the API is served, by `pbxhub api` and `pbxhub dev` alike."""
    return uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        timeout_keep_alive=settings.keep_alive_seconds,
        access_log=False,  # access logs would carry channel keys, which are secrets
        log_config=None,  # its records go through pbxhub's one formatter (logging_setup)
        # who sent a request is PBXHUB_TRUSTED_PROXY_HEADER's business, not uvicorn's own
        proxy_headers=False,
        log_level=log_level,
    )
