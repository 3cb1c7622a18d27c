"""The REST call filters read a `phone` as the channel the request names reads it: a Ukrainian
line's caller, typed as the line's people dial it, finds the call without `country=UA`."""

from __future__ import annotations

from typing import Any

from conftest import Pbxhub
from test_telephony_api import create_call, eventually, update_call

NATIONAL = "044 123 45 67"  # Kyiv, as a Ukrainian dials it
E164 = "+380441234567"


async def test_a_phone_filter_is_read_by_the_country_of_the_channel_it_names(
    pbxhub: Pbxhub,
) -> None:
    channel = await pbxhub.create_channel("telephony_api", default_country="UA")
    created = await create_call(pbxhub, channel, phone=NATIONAL, pbx_call_id="kyiv-1")
    await update_call(pbxhub, channel, call_id=created["call_id"], call_status="answered")

    async def listed(**params: Any) -> list[Any]:
        response = await pbxhub.http.get("/api/v1/calls", params=params, headers=pbxhub.admin)
        assert response.status_code == 200, response.text
        items: list[Any] = response.json()["items"]
        assert items, response.text
        return items

    by_channel = await eventually(lambda: listed(channel_id=channel["id"], phone=NATIONAL))
    assert [call["contact_phone"] for call in by_channel] == [E164]
    # a country given still wins over the channel's
    assert await listed(channel_id=channel["id"], phone="+380 44 123 45 67", country="PL")
    ru = await pbxhub.http.get(
        "/api/v1/calls",
        params={"channel_id": channel["id"], "phone": NATIONAL, "country": "RU"},
        headers=pbxhub.admin,
    )
    assert ru.status_code == 422 or ru.json()["items"] == []
