"""Channels: one connected PBX account each, with the secret key inside its webhook URLs."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, HTTPException, status

from api.bounds import StoredId
from api.call_api_requests import PROVIDER as TELEPHONY_API
from api.call_api_requests import telephony_url
from api.context import ApiContext
from api.deps import AdminDep, ContextDep
from api.errors import AUTHENTICATED, WITH_BODY, errors
from api.pbx_actions import (
    check_recording_mode,
    setup_changed,
    start_channel_setup,
    with_generated_secrets,
)
from api.rest_models import ChannelCreate, ChannelOut, ChannelUpdate
from crm import Channel
from providers.endpoint_paths import webhook_base_url

router = APIRouter(
    prefix="/api/v1/channels", tags=["channels"], dependencies=[AdminDep], responses=AUTHENTICATED
)


def channel_out(context: ApiContext, channel: Channel) -> ChannelOut:
    spec = context.specs.get(channel.provider)
    endpoints = list(spec.endpoints.values()) if spec is not None else []
    base = webhook_base_url(context.public_base_url, channel.provider, channel.secret_key)
    urls = {ep.name: f"{base}/{ep.url_path}" for ep in endpoints}
    if channel.provider == TELEPHONY_API:
        # No spec: the generic telephony API has one URL of its own (see api/call_api_requests.py).
        urls = {"api": telephony_url(context.public_base_url, channel.secret_key)}
    return ChannelOut(
        id=channel.id,
        provider=channel.provider,
        name=channel.name,
        secret_key=channel.secret_key,
        default_country=channel.default_country,
        timezone=channel.timezone,
        settings=channel.settings,
        created_at=channel.created_at,
        last_error=channel.settings.get("last_error"),
        webhook_urls=urls,
        webhook_base_url=base if channel.provider != TELEPHONY_API else None,
    )


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=ChannelOut, responses=WITH_BODY
)
async def create_channel(body: ChannelCreate, context: ContextDep) -> ChannelOut:
    if body.provider not in context.specs and body.provider != TELEPHONY_API:
        known = ", ".join(sorted([*context.specs, TELEPHONY_API]))
        raise HTTPException(422, detail=f"provider: unknown provider {body.provider!r} ({known})")
    department = body.settings.get("default_department")
    if department is not None and not isinstance(department, str):
        raise HTTPException(422, detail="settings.default_department: must be a string")
    check_recording_mode(context.specs.get(body.provider), body.provider, body.settings)

    def create() -> Channel:
        return context.store.create_channel(
            provider=body.provider,
            name=body.name,
            default_country=body.default_country,
            timezone=body.timezone,
            # keys the provider has pbxhub generate (the one its PBX sends back, say)
            settings=with_generated_secrets(context.specs.get(body.provider), body.settings),
        )

    channel = await anyio.to_thread.run_sync(create)
    out = channel_out(context, channel)
    # tell the PBX how to reach us, when the provider has it set up that way (background)
    await start_channel_setup(context, channel, out.webhook_urls)
    return out


@router.patch("/{channel_id}", response_model=ChannelOut, responses={**WITH_BODY, **errors(404)})
async def update_channel(
    channel_id: StoredId, body: ChannelUpdate, context: ContextDep
) -> ChannelOut:
    """Rename the channel and/or change its settings (a JSON merge patch: null removes a key,
    objects such as `secrets` merge key by key). When that changes what the provider's setup
    request would tell the PBX (a key, the PBX's address), it is sent again."""

    if body.settings is not None:
        current = await anyio.to_thread.run_sync(context.store.get_channel, channel_id)
        if current is not None:
            spec = context.specs.get(current.provider)
            check_recording_mode(spec, current.provider, body.settings)

    def update() -> tuple[Channel, Channel] | None:
        return context.store.update_channel(
            channel_id, name=body.name, settings_patch=body.settings
        )

    changed = await anyio.to_thread.run_sync(update)
    if changed is None:
        raise HTTPException(404, detail="no such channel")
    before, after = changed
    out = channel_out(context, after)
    spec = context.specs.get(after.provider)
    if setup_changed(spec, before, after, out.webhook_urls):
        await start_channel_setup(context, after, out.webhook_urls)
    return out


@router.get("", response_model=list[ChannelOut])
def list_channels(context: ContextDep) -> list[ChannelOut]:
    channels = context.store.list_channels()
    return [channel_out(context, channel) for channel in channels]


@router.get("/{channel_id}", response_model=ChannelOut, responses=errors(404))
def get_channel(channel_id: StoredId, context: ContextDep) -> ChannelOut:
    channel = context.store.get_channel(channel_id)
    if channel is None:
        raise HTTPException(404, detail="no such channel")
    return channel_out(context, channel)
