"""The API and the worker as separate services, for deployments that scale them apart."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import uvicorn
from temporalio.client import Client

from api.app import create_app
from api.temporal import TemporalGateway
from pbxhub.settings import Settings
from pbxhub.temporal_setup import ensure_search_attributes
from pbxhub.wiring import (
    api_context,
    api_server_config,
    call_worker,
    load_provider_specs,
    open_store,
)
from pbxhub.worker_metrics import serve_worker_metrics


async def serve_api(settings: Settings) -> None:
    specs = load_provider_specs(settings)
    store = open_store(settings)
    temporal = TemporalGateway.for_address(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        connect_timeout=timedelta(seconds=settings.temporal_connect_timeout_seconds),
    )
    config = api_server_config(settings, create_app(api_context(settings, store, temporal, specs)))
    try:
        await uvicorn.Server(config).serve()
    finally:
        await temporal.aclose()
        store.close()


async def run_worker(settings: Settings) -> None:
    specs = load_provider_specs(settings)
    store = open_store(settings)
    client = await _connect(settings)
    await ensure_search_attributes(client, settings.temporal_namespace)
    port = settings.worker_metrics_port
    metrics = serve_worker_metrics(settings.worker_metrics_host, port) if port else None
    try:
        async with call_worker(settings, client, store, specs, metrics):
            await asyncio.Event().wait()
    finally:
        store.close()


async def setup_temporal(settings: Settings) -> list[str]:
    """The search attributes registered in the namespace; the names that were missing."""
    return await ensure_search_attributes(await _connect(settings), settings.temporal_namespace)


async def _connect(settings: Settings) -> Client:
    # In a fresh deployment the Temporal server may still be starting.
    for _ in range(60):
        try:
            return await Client.connect(
                settings.temporal_address, namespace=settings.temporal_namespace
            )
        except RuntimeError:
            await asyncio.sleep(2)
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
