"""Channels: one connected PBX account each, with the secret key inside its webhook URLs."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, HTTPException, status

from api.context import ApiContext
from api.deps import AdminDep, ContextDep
from api.models import ChannelCreate, ChannelOut
from crm import Channel

router = APIRouter(prefix="/api/v1/channels", tags=["channels"], dependencies=[AdminDep])


def channel_out(context: ApiContext, channel: Channel) -> ChannelOut:
    spec = context.specs.get(channel.provider)
    endpoints = list(spec.endpoints) if spec is not None else []
    base = f"{context.public_base_url}/hooks/{channel.provider}/{channel.secret_key}"
    return ChannelOut(
        id=channel.id,
        provider=channel.provider,
        name=channel.name,
        secret_key=channel.secret_key,
        default_country=channel.default_country,
        timezone=channel.timezone,
        settings=channel.settings,
        created_at=channel.created_at,
        webhook_urls={name: f"{base}/{name}" for name in endpoints},
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ChannelOut)
async def create_channel(body: ChannelCreate, context: ContextDep) -> ChannelOut:
    if body.provider not in context.specs:
        known = ", ".join(sorted(context.specs))
        raise HTTPException(422, detail=f"provider: unknown provider {body.provider!r} ({known})")

    def create() -> Channel:
        return context.store.create_channel(
            provider=body.provider,
            name=body.name,
            default_country=body.default_country,
            timezone=body.timezone,
            settings=body.settings,
        )

    return channel_out(context, await anyio.to_thread.run_sync(create))


@router.get("", response_model=list[ChannelOut])
async def list_channels(context: ContextDep) -> list[ChannelOut]:
    channels = await anyio.to_thread.run_sync(context.store.list_channels)
    return [channel_out(context, channel) for channel in channels]


@router.get("/{channel_id}", response_model=ChannelOut)
async def get_channel(channel_id: int, context: ContextDep) -> ChannelOut:
    channel = await anyio.to_thread.run_sync(context.store.get_channel, channel_id)
    if channel is None:
        raise HTTPException(404, detail="no such channel")
    return channel_out(context, channel)
