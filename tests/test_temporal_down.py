"""Temporal down: a PBX gets its 503 at once (not after the client's retries), a routing question
still gets its answer within the routing deadline, and Temporal coming back is noticed in the
background, not by a request.

Bounds are asyncio.wait_for limits far below the configured RPC timeout (30 s) and below the
Temporal client's own retries (~6-10 s against a stopped server): the point is that nothing waits
for either, not how fast a loaded machine is."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from conftest import BIN, Pbxhub, running_pbxhub, scenario, unreachable_temporal
from temporalio.testing import WorkflowEnvironment
from test_zadarma_calls import CALLER, TRANSFER, post, signed, zadarma_line_taking_fixture_times

from api.temporal import TemporalGateway
from workflows.search_attributes import SEARCH_ATTRIBUTES

RPC_TIMEOUT = timedelta(seconds=30)
# Far below RPC_TIMEOUT and the client's retries; far above a check of a refused port.
BOUND = 3.0
ZADARMA = scenario("zadarma", "inbound_answered")  # 01 is NOTIFY_START, a routing question


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def dev_server(port: int) -> WorkflowEnvironment:
    """A real Temporal dev server on `port`, so that one can be started again at the address."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
        ui=False,
        port=port,
    )


async def routed_zadarma_line(hub: Pbxhub) -> dict[str, Any]:
    """A Zadarma line whose known caller is routed to Boris at 102."""
    channel, _, boris = await zadarma_line_taking_fixture_times(hub, forward_to_responsible="on")
    contact, _ = hub.store.find_or_create_contact(phone=CALLER, phone_raw="380671234567")
    hub.store.set_contact_responsibles(contact.id, [boris["id"]])
    return channel


async def within_bound(request: Any) -> httpx.Response:
    response: httpx.Response = await asyncio.wait_for(request, BOUND)
    return response


async def test_when_temporal_goes_away_the_pbx_gets_503_without_waiting_out_the_retries(
    tmp_path: Path,
) -> None:
    env = await dev_server(free_port())
    gateway = TemporalGateway.for_client(env.client)
    bodies = scenario("uis", "inbound_answered")
    async with running_pbxhub(
        env, tmp_path, temporal=gateway, temporal_rpc_timeout=RPC_TIMEOUT
    ) as hub:
        channel, _ = await hub.create_line("uis", {})
        assert (await hub.post_hook(channel, "notify", bodies[0][1])).status_code == 200
        await env.shutdown()

        first = await within_bound(hub.post_hook(channel, "notify", bodies[1][1]))
        assert first.status_code == 503
        assert not gateway.available  # known down: the next PBX is not even tried for
        second = await within_bound(hub.post_hook(channel, "notify", bodies[2][1]))
        assert second.status_code == 503
    await gateway.aclose()


async def test_a_routing_question_is_answered_while_temporal_is_unreachable(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_pbxhub(
        temporal_env, tmp_path, temporal=unreachable_temporal(), temporal_rpc_timeout=RPC_TIMEOUT
    ) as hub:
        channel = await routed_zadarma_line(hub)

        # the caller is put through to the responsible: routing reads the store, not Temporal
        start = await within_bound(post(hub, channel, ZADARMA[0][1]))
        assert (start.status_code, json.loads(start.text)) == (200, {"redirect": "102"})

        # an event that is no routing question is not taken without Temporal: retry later
        ringing = await within_bound(post(hub, channel, ZADARMA[1][1]))
        assert ringing.status_code == 503
        assert await hub.calls_and_missed() == ([], [])


async def test_temporal_coming_back_is_noticed_and_the_call_is_recorded_without_its_start(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = await dev_server(port)
    gateway = TemporalGateway.for_client(env.client)
    async with running_pbxhub(
        env, tmp_path, temporal=gateway, temporal_rpc_timeout=RPC_TIMEOUT
    ) as hub:
        channel = await routed_zadarma_line(hub)
        await env.shutdown()

        # Temporal has just gone: found out beside the routing question, within its deadline
        start = await within_bound(post(hub, channel, ZADARMA[0][1]))
        assert (start.status_code, json.loads(start.text)) == (200, {"redirect": "102"})
        assert not gateway.available

        again = await dev_server(port)
        try:
            # no request asks: the gateway's own background checks find Temporal back
            async with asyncio.timeout(30):
                while not gateway.available:
                    await asyncio.sleep(0.1)

            # The start was answered but never durable; the rest of the call carries what the
            # record needs, and its finish without a start is recorded as the whole call.
            await hub.deliver(channel, ZADARMA[1:], sign=signed)
            result = await hub.call_result(channel, TRANSFER)
            assert result.outcome == "call"
        finally:
            await gateway.aclose()
            await again.shutdown()
