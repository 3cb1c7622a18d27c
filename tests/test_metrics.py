"""/metrics as Prometheus reads it (prometheus-client's exposition, parsed by its own parser):
webhooks by provider, endpoint and outcome, the ingress latency histogram, calls by outcome
from the store, and the worker's counts (recording downloads, activity failures) — end to end,
webhooks through the real Temporal server. The worker's own port is checked too."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from conftest import Pbxhub, scenario
from file_host import Reply, file_host
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment
from test_recordings import MP3, SESSION, custody, deliver, uis_call
from test_recordings import uis_line as uis_recording_line
from test_uis_calls import ANSWERED, uis_line

from pbxhub.worker_metrics import serve_worker_metrics

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(hub: Pbxhub) -> Samples:
    response = await hub.http.get("/metrics", headers=hub.admin)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_webhooks_are_counted_by_provider_endpoint_and_outcome_with_their_latency(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await uis_line(pbxhub)
    bodies = scenario("uis", "inbound_answered")

    await pbxhub.deliver(channel, bodies)
    await pbxhub.call_result(channel, ANSWERED)
    wrong_key = await pbxhub.http.post("/hooks/uis/not-a-key/notify", content=b"{}")
    no_provider = await pbxhub.http.post(f"/hooks/nobody-{'x' * 40}/key/notify", content=b"{}")
    bad_body = await pbxhub.post_hook(channel, "notify", b"{not json")

    assert (wrong_key.status_code, no_provider.status_code) == (404, 404)
    assert bad_body.status_code in (400, 422)
    metrics = await scrape(pbxhub)
    accepted = {"provider": "uis", "endpoint": "notify", "outcome": "accepted", "status": "200"}
    assert value(metrics, "pbxhub_webhooks_total", **accepted) == len(bodies)
    rejected = {"provider": "uis", "endpoint": "notify", "outcome": "rejected"}
    assert value(metrics, "pbxhub_webhooks_total", **rejected, status="404") == 1
    assert value(metrics, "pbxhub_webhooks_total", **rejected, status=str(bad_body.status_code))
    # a provider nobody has is one "unknown" label, not a label value per URL sent
    unknown = {"provider": "unknown", "endpoint": "unknown", "outcome": "rejected"}
    assert value(metrics, "pbxhub_webhooks_total", **unknown, status="404") == 1
    timed = {"provider": "uis", "outcome": "accepted"}
    assert value(metrics, "pbxhub_ingress_seconds_count", **timed) == len(bodies)
    assert value(metrics, "pbxhub_ingress_seconds_bucket", **timed, le="+Inf") == len(bodies)
    assert 0 < value(metrics, "pbxhub_ingress_seconds_sum", **timed) < 10 * len(bodies)
    # calls by outcome, from the store
    call = {"channel_id": str(channel["id"]), "provider": "uis"}
    assert value(metrics, "pbxhub_calls_total", **call, kind="call") == 1
    assert value(metrics, "pbxhub_store_up") == 1
    assert value(metrics, "process_resident_memory_bytes") > 0


async def test_a_skipped_call_is_counted_with_its_reason(pbxhub: Pbxhub) -> None:
    channel, _, _ = await uis_line(pbxhub)

    await pbxhub.deliver(channel, scenario("uis", "unknown_employee"))
    result = await pbxhub.call_result(channel, 3410000104)

    assert result.outcome == "skipped"
    metrics = await scrape(pbxhub)
    labels = {"channel_id": str(channel["id"]), "provider": "uis", "reason": "unknown_employee"}
    assert value(metrics, "pbxhub_skipped_calls_total", **labels) == 1


async def test_a_recording_not_ready_once_counts_one_failure_then_one_kept_download(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with file_host() as host:
        link = host.serve("/r/1.mp3", Reply(503), Reply(200, MP3))
        async with custody(temporal_env, tmp_path) as hub:
            channel = await uis_recording_line(hub, allowed_pbx_hosts=[f"127.0.0.1:{host.port}"])

            await deliver(hub, channel, uis_call(SESSION, link))
            result = await hub.call_result(channel, SESSION)

            assert result.recording_status == "kept"
            metrics = await scrape(hub)
    assert value(metrics, "pbxhub_recording_downloads_total", result="error") == 1
    assert value(metrics, "pbxhub_recording_downloads_total", result="kept") == 1
    failures = {
        labels: count
        for (name, labels), count in metrics.items()
        if name == "pbxhub_activity_failures_total"
    }
    [(labels, count)] = failures.items()
    assert dict(labels)["activity"] == "fetch_recording"
    assert count == 1


async def test_the_metrics_need_the_admin_key(pbxhub: Pbxhub) -> None:
    assert (await pbxhub.http.get("/metrics")).status_code == 401


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_a_separate_worker_serves_its_counts_on_its_own_port() -> None:
    port = free_port()
    metrics = serve_worker_metrics("127.0.0.1", port)
    metrics.recording_downloads.labels("kept").inc()

    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{port}/metrics")

    assert response.status_code == 200
    samples = parse(response.text)
    assert value(samples, "pbxhub_recording_downloads_total", result="kept") == 1
    assert value(samples, "process_resident_memory_bytes") > 0
    # the API's counters are not this process's
    assert not any(name.startswith("pbxhub_webhooks") for name, _ in samples)


async def test_a_worker_whose_metrics_port_is_taken_goes_on_counting_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]

        metrics = serve_worker_metrics("127.0.0.1", port)

    metrics.recording_downloads.labels("kept").inc()  # counting still works
    assert f"worker metrics not served at 127.0.0.1:{port}" in caplog.text
    assert "PBXHUB_WORKER_METRICS_PORT" in caplog.text
