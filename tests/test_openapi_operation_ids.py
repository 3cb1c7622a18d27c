"""Every operation of the OpenAPI description has its own id: client generators name functions
by it, and FastAPI warns at start-up about each one repeated."""

from __future__ import annotations

import warnings
from collections import Counter

from conftest import Pbxhub

WEBHOOK = "/hooks/{provider}/{channel_key}/{endpoint}"


async def test_every_operation_id_is_unique_and_each_webhook_method_has_its_own(
    pbxhub: Pbxhub,
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = await pbxhub.http.get("/openapi.json")
    assert response.status_code == 200

    assert [str(w.message) for w in caught if "Operation ID" in str(w.message)] == []
    paths = response.json()["paths"]
    ids = Counter(op["operationId"] for item in paths.values() for op in item.values())
    assert [name for name, times in ids.items() if times > 1] == []
    webhook = paths[WEBHOOK]
    assert sorted(webhook) == ["get", "post", "put"]
    assert len({op["operationId"] for op in webhook.values()}) == 3
