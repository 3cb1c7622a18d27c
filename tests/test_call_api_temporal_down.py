"""Temporal going away under the generic call API and PBX actions: a PBX (or a person waiting on
click-to-call) gets its 503 at once through the API's Temporal circuit (`api.temporal`), not
after the Temporal client's own retries (~6-10 s against a stopped server), as webhooks do."""

from __future__ import annotations

from pathlib import Path

from conftest import running_pbxhub
from pbx_simulator import pbx_simulator
from test_pbx_addresses import click
from test_planfix_calls import PBX_TOKEN, pbx_host_port, planfix_line
from test_telephony_api import CALLER, api_line, create_call, post
from test_temporal_down import RPC_TIMEOUT, dev_server, free_port, within_bound

from api.temporal import TemporalGateway


async def test_when_temporal_goes_away_the_call_api_answers_503_without_waiting_out_the_retries(
    tmp_path: Path,
) -> None:
    env = await dev_server(free_port())
    gateway = TemporalGateway.for_client(env.client)
    async with running_pbxhub(
        env, tmp_path, temporal=gateway, temporal_rpc_timeout=RPC_TIMEOUT
    ) as hub:
        channel = await api_line(hub)
        created = await create_call(hub, channel, pbx_call_id="gone-1")
        assert created["call_id"] is not None
        await env.shutdown()

        update = {"action": "update_call", "pbx_call_id": "gone-1", "call_status": "answered"}
        first = await within_bound(post(hub, channel, update))
        assert first.status_code == 503, first.text
        assert not gateway.available  # the circuit is open: the next request is not even tried
        again = {"action": "create_call", "direction": "incoming", "phone": CALLER}
        second = await within_bound(post(hub, channel, again))
        assert second.status_code == 503, second.text


async def test_when_temporal_goes_away_click_to_call_answers_503_without_waiting_out_the_retries(
    tmp_path: Path,
) -> None:
    env = await dev_server(free_port())
    gateway = TemporalGateway.for_client(env.client)
    with pbx_simulator() as pbx:
        async with running_pbxhub(
            env, tmp_path, temporal=gateway, temporal_rpc_timeout=RPC_TIMEOUT
        ) as hub:
            channel, (anna, _, _) = await planfix_line(
                hub,
                pbx_url=pbx.url,
                secrets={"pbx_token": PBX_TOKEN},
                allowed_pbx_hosts=[pbx_host_port(pbx.url)],
            )
            await env.shutdown()

            first = await within_bound(click(hub, channel, anna))
            assert first.status_code == 503, first.text
            assert not gateway.available
