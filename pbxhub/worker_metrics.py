"""The worker process's Prometheus metrics: activity failures by kind, recording downloads by
result, outbound PBX actions by result — counted by one activity interceptor, so no activity
carries metrics code.

The worker is its own process (often on other machines than the API, several of them), so it
serves its own registry on its own port (PBXHUB_WORKER_METRICS_PORT), each replica scraped as
its own target; prometheus-client's multiprocess mode is for forked servers sharing one port,
which pbxhub does not run. `pbxhub dev` runs the worker beside the API: there both write to the
API's registry and /metrics shows all.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, start_http_server
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from api.metrics import process_registry
from contracts.messages import FetchedRecording, PbxActionResult

__all__ = ["WorkerMetrics", "serve_worker_metrics"]

log = logging.getLogger(__name__)


class WorkerMetrics(Interceptor):
    """Counters in `registry`, and the interceptor (pass it to the Worker) that counts."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.activity_failures = Counter(
            "pbxhub_activity_failures",
            "Activity attempts that raised, by activity and kind (the error's type); Temporal "
            "retries most of them.",
            ["activity", "kind"],
            registry=registry,
        )
        self.recording_downloads = Counter(
            "pbxhub_recording_downloads",
            "Recording fetches, by result (kept, refused, failed; error: the attempt raised "
            "and is retried).",
            ["result"],
            registry=registry,
        )
        self.pbx_actions = Counter(
            "pbxhub_pbx_actions",
            "Requests pbxhub made to PBXs (click-to-call and other actions), by result "
            "(accepted, refused, not_sent, unreachable, error).",
            ["result"],
            registry=registry,
        )

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Counting(next, self)

    def finished(self, name: str, result: Any) -> None:
        if isinstance(result, FetchedRecording) and result.status is not None:
            self.recording_downloads.labels(result.status).inc()
        elif isinstance(result, PbxActionResult):
            sent = "refused" if result.status is not None else "not_sent"
            self.pbx_actions.labels("accepted" if result.ok else sent).inc()

    def failed(self, name: str, error: BaseException) -> None:
        kind = error.type if isinstance(error, ApplicationError) and error.type else None
        self.activity_failures.labels(name, kind or type(error).__name__).inc()
        if name == "fetch_recording":
            self.recording_downloads.labels("error").inc()
        elif name == "send_pbx_action":
            unreachable = kind == "PbxUnreachable"
            self.pbx_actions.labels("unreachable" if unreachable else "error").inc()


class _Counting(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, metrics: WorkerMetrics) -> None:
        super().__init__(next)
        self._metrics = metrics

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        name = activity.info().activity_type
        try:
            result = await self.next.execute_activity(input)
        except BaseException as error:
            self._metrics.failed(name, error)
            raise
        self._metrics.finished(name, result)
        return result


def serve_worker_metrics(host: str, port: int) -> WorkerMetrics:
    """Counters on a registry of their own, served at http://host:port/metrics (a thread).
    A port already taken (another worker on the machine) leaves them unserved, said in the log:
    metrics never keep a worker from recording calls (it would crash and restart for ever)."""
    metrics = WorkerMetrics(process_registry())
    try:
        start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as error:
        log.error(
            "worker metrics not served at %s:%d (PBXHUB_WORKER_METRICS_PORT): %s; "
            "the worker goes on without them",
            host,
            port,
            error.strerror or error,
        )
    return metrics
