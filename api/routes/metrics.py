"""`/metrics` for Prometheus (prometheus-client's text exposition): this API process's webhook
counters and ingress latency, and the calls the store holds by outcome (`api/metrics.py`).

A rise of `pbxhub_skipped_calls_total{reason="unknown_employee"}` is the alert that an
extension is missing or mistyped. The admin key is needed (Prometheus sends it as
`authorization: {credentials: <key>}`, a Bearer token). The worker's own metrics (activities,
recording downloads, PBX actions) are served by the worker process (PBXHUB_WORKER_METRICS_PORT).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from api.deps import AdminDep, ContextDep
from api.errors import AUTHENTICATED
from api.metrics import StoreCounts

# the text format every Prometheus reads (names here need no escaping of the 1.0.0 format)
router = APIRouter(tags=["ops"], dependencies=[AdminDep], responses=AUTHENTICATED)


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={200: {"content": {CONTENT_TYPE_PLAIN_0_0_4: {}}}},
)
def metrics(context: ContextDep) -> Response:
    # the store is read at scrape time, on this worker thread (a sync route)
    store_counts = CollectorRegistry(auto_describe=True)
    store_counts.register(StoreCounts(context.store))
    text = generate_latest(context.metrics.registry) + generate_latest(store_counts)
    return Response(text, media_type=CONTENT_TYPE_PLAIN_0_0_4)
