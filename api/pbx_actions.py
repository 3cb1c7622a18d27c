"""The API's side of PBX actions (providers.actions): what a channel's provider generates for it,
when its PBX is to be told about it (`channel_setup`), and asking the PBX while a person waits
(click-to-call, a recording's fresh link). The request itself runs in PbxActionWorkflow."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from functools import partial
from typing import Any

from fastapi import HTTPException
from temporalio.service import RPCError

from api.context import ApiContext
from api.ingress import channel_context
from api.temporal import TemporalUnavailable
from contracts.messages import PbxActionInput, PbxActionResult
from crm import Channel
from providers.actions import RECORDING_LINK, ActionError, render_action
from providers.spec import ProviderSpec
from recordings.policy import KEEP_AUTHORIZED_LINK, RECORDING_STORAGE_SETTING
from workflows.pbx_action import start_pbx_action

log = logging.getLogger("pbxhub.pbx_actions")

__all__ = [
    "ask_pbx",
    "check_recording_mode",
    "gives_fresh_links",
    "setup_changed",
    "start_channel_setup",
    "with_generated_secrets",
]


async def ask_pbx(context: ApiContext, data: PbxActionInput, *, timeout: float) -> PbxActionResult:
    """Run an action someone waits on and return the PBX's answer; 503 when Temporal cannot
    run it now or the answer takes longer than `timeout` seconds."""
    start = partial(
        start_pbx_action, data=data, task_queue=context.task_queue, prefix=_prefix(context)
    )
    try:
        result = await asyncio.wait_for(context.temporal.call(start), timeout)
    except (TemporalUnavailable, RPCError, TimeoutError) as error:
        raise HTTPException(503, detail=f"temporarily unavailable, retry later: {error}") from None
    assert result is not None  # an action waited on is not recorded on the channel
    return result


def check_recording_mode(
    spec: ProviderSpec | None, provider: str, settings: Mapping[str, Any]
) -> None:
    """422 when the settings keep links that need the PBX's authorisation and the provider has
    no way to give a fresh one (no recording_link action): playback could never work."""
    if settings.get(RECORDING_STORAGE_SETTING) != KEEP_AUTHORIZED_LINK:
        return
    if not gives_fresh_links(spec):
        raise HTTPException(
            422,
            detail=(
                f"settings.{RECORDING_STORAGE_SETTING}: {provider} gives no fresh recording links "
                f"(its spec has no recording_link action), so {KEEP_AUTHORIZED_LINK} could never "
                "play; keep the file or the PBX's link"
            ),
        )


def gives_fresh_links(spec: ProviderSpec | None) -> bool:
    """Whether the provider's API can be asked for a recording link that works now."""
    return spec is not None and RECORDING_LINK in spec.actions


def with_generated_secrets(
    spec: ProviderSpec | None, settings: Mapping[str, Any]
) -> dict[str, Any]:
    """The settings with every secret the spec has pbxhub generate (e.g. the key the PBX sends
    with its requests) filled in where the admin gave none."""
    result = dict(settings)
    wanted = [name for name, generate in (spec.channel_secrets if spec else {}).items() if generate]
    given = result.get("secrets")
    kept = dict(given) if isinstance(given, Mapping) else {}
    for name in wanted:
        if not kept.get(name):
            kept[name] = secrets.token_hex(16)
    if wanted or given is not None:
        result["secrets"] = kept
    return result


def setup_changed(
    spec: ProviderSpec | None,
    before: Channel,
    after: Channel,
    webhook_urls: Mapping[str, str],
) -> bool:
    """Whether the channel_setup request the PBX would get differs after a change (a key, the
    PBX's address): what it says is what decides, whatever setting changed."""
    return _setup_request(spec, before, webhook_urls) != _setup_request(spec, after, webhook_urls)


async def start_channel_setup(
    context: ApiContext, channel: Channel, webhook_urls: Mapping[str, str]
) -> bool:
    """Send the provider's channel_setup to the channel's PBX in the background; its outcome is
    kept as the channel's `last_error`. False when there is nothing to send (no such action, no
    PBX address yet) or Temporal is down (logged: the admin can save the settings again)."""
    spec = context.specs.get(channel.provider)
    if _setup_request(spec, channel, webhook_urls) is None:
        return False
    data = PbxActionInput(
        channel_id=channel.id,
        action="channel_setup",
        webhook_urls=dict(webhook_urls),
        record_on_channel=True,
    )
    start = partial(
        start_pbx_action, data=data, task_queue=context.task_queue, prefix=_prefix(context)
    )
    try:
        await context.temporal.call(start)
    except Exception as error:  # Temporal down: the channel is saved all the same
        log.error("channel %s: setup not sent, Temporal unavailable: %s", channel.id, error)
        return False
    return True


def _prefix(context: ApiContext) -> str:
    return f"{context.call_settings.workflow_id_prefix}-pbx"


def _setup_request(
    spec: ProviderSpec | None, channel: Channel, webhook_urls: Mapping[str, str]
) -> tuple[str, str, bytes] | None:
    action = spec.actions.get("channel_setup") if spec is not None else None
    if spec is None or action is None:
        return None
    try:
        request = render_action(
            action,
            channel=channel_context(channel),
            provider=spec.id,
            args={"webhook_urls": dict(webhook_urls)},
        )
    except ActionError:
        return None  # no PBX address yet (or a spec bug, which sending would report)
    return request.method, request.url, request.body
