"""pbxhub's API over the real store and the real Temporal server, with specs written by a test
beside the shipped ones: for the ingress mechanisms a test shows on a PBX of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.context import ApiContext
from api.temporal import TemporalGateway
from crm import Store
from providers.spec import ProviderSpec
from providers.spec_loader import load_spec, load_specs
from workflows.starter import CallSettings, call_workflow_id

ADMIN = {"X-API-Key": "test-admin-key"}


def write_spec(tmp_path: Path, document: Mapping[str, Any]) -> ProviderSpec:
    """The spec `document` as providers/<id>.yaml would hold it, loaded as pbxhub loads it."""
    path = tmp_path / f"{document['id']}.yaml"
    path.write_text(yaml.safe_dump(dict(document), allow_unicode=True, sort_keys=False), "utf-8")
    return load_spec(path)


@dataclass
class SpecHub:
    http: httpx.AsyncClient
    env: WorkflowEnvironment
    workflow_id_prefix: str

    async def create_channel(self, provider: str, **fields: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/api/v1/channels",
            json={"provider": provider, "name": f"{provider} line", **fields},
            headers=ADMIN,
        )
        assert response.status_code == 201, response.text
        channel: dict[str, Any] = response.json()
        return channel

    async def signals(self, channel: Mapping[str, Any], session_id: str) -> list[str]:
        """The names of the signals the call's workflow received (no worker runs it)."""
        workflow_id = call_workflow_id(channel["id"], session_id, prefix=self.workflow_id_prefix)
        handle = self.env.client.get_workflow_handle(workflow_id)
        return [
            event.workflow_execution_signaled_event_attributes.signal_name
            async for event in handle.fetch_history_events()
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        ]


@asynccontextmanager
async def spec_hub(
    env: WorkflowEnvironment, tmp_path: Path, *specs: ProviderSpec
) -> AsyncIterator[SpecHub]:
    """The API with the shipped specs and `specs`, on a fresh SQLite store; events reach the real
    Temporal server on a task queue no worker polls (their workflows wait, signals recorded)."""
    store = Store(f"sqlite:///{tmp_path / 'pbxhub.db'}")
    store.migrate()
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    context = ApiContext(
        store=store,
        temporal=TemporalGateway.for_client(env.client),
        specs={**load_specs(), **{spec.id: spec for spec in specs}},
        admin_key=ADMIN["X-API-Key"],
        public_base_url="http://testserver",
        task_queue=f"unpolled-{prefix}",
        call_settings=CallSettings(
            recording_wait_seconds=5, max_call_seconds=3600, workflow_id_prefix=prefix
        ),
        temporal_rpc_timeout=timedelta(seconds=3),
    )
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield SpecHub(http, env, prefix)
    store.close()
