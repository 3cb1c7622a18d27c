"""Record real workflow histories from the current workflow code into tests/histories/.

Calls in flight when a new version deploys must finish on it: tests/test_history_replay.py
replays every history saved here against the workflow code of the day, so a change that would
break a running call fails the suite. Each scenario drives the real stack exactly as the tests
do (a real Temporal dev server, a real SQLite store, webhooks over HTTP through the ASGI app)
and saves every run of every workflow it started, as `WorkflowHistory.to_json()` gives it.

Record again (from a checkout whose workflow code is the one running in production):

    .venv/bin/python scripts/record_histories.py            # every scenario
    .venv/bin/python scripts/record_histories.py uis_        # those whose name starts so

Old files are kept: a history recorded from an older version must go on replaying until a
documented deprecation drops the `workflow.patched` site it depends on.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
sys.path[:0] = [str(ROOT), str(TESTS)]

import test_binotel_calls as binotel  # noqa: E402
import test_call_time as call_time  # noqa: E402
import test_callgear_calls as callgear  # noqa: E402
import test_recordings as recordings  # noqa: E402
import test_telephony_api as telephony  # noqa: E402
import test_uis_calls as uis  # noqa: E402
import test_zadarma_calls as zadarma  # noqa: E402
from conftest import Pbxhub, running_pbxhub, scenario, start_dev_server  # noqa: E402
from file_host import Reply, file_host  # noqa: E402
from pbx_simulator import pbx_simulator  # noqa: E402
from temporalio.client import WorkflowExecutionStatus  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402
from test_planfix_calls import deliver as planfix_deliver  # noqa: E402
from test_planfix_calls import planfix_line  # noqa: E402
from test_skipped_calls import with_uis_contact  # noqa: E402

from workflows.call import CallWorkflow  # noqa: E402

HISTORIES = TESTS / "histories"
Drive = Callable[[Pbxhub], Awaitable[None]]


def provider_call(provider: str, folder: str) -> Drive:
    """A whole call of a provider's fixtures, posted as that provider's tests post it."""

    async def drive(hub: Pbxhub) -> None:
        if provider == "planfix_api":
            channel, _ = await planfix_line(hub)
            items = [(name, body, "") for name, body in scenario(provider, folder)]
            await planfix_deliver(hub, channel, items)
            return
        line, post = {
            "uis": (uis.uis_line, uis.deliver),
            "callgear": (callgear.callgear_line, callgear.deliver),
            "binotel": (binotel.binotel_line, binotel.deliver),
            "zadarma": (zadarma.zadarma_line, zadarma.deliver),
        }[provider]
        channel, _, _ = await line(hub)
        await post(hub, channel, scenario(provider, folder))

    return drive


async def recording_after_the_call_is_written(hub: Pbxhub) -> None:
    """UIS: the call is written and its run closed; the recording comes after (amended run)."""
    channel, _, _ = await uis.uis_line(hub)
    bodies = scenario("uis", "inbound_answered")
    await uis.deliver(hub, channel, bodies[:-1])
    await hub.call_result(channel, uis.ANSWERED)
    await uis.deliver(hub, channel, bodies[-1:])


async def telephony_api_answered(hub: Pbxhub) -> None:
    """The generic telephony API: create_call, in-progress, answered (workflow updates)."""
    channel = await telephony.api_line(hub)
    anna, _, _, _ = await telephony.people(hub, channel)
    created = await telephony.create_call(hub, channel, pbx_call_id="c-1", **{"user_ids[]": [anna]})
    await telephony.update_call(hub, channel, pbx_call_id="c-1", call_status="in-progress")
    await telephony.update_call(
        hub, channel, call_id=created["call_id"], call_status="answered", comment="done"
    )


async def telephony_api_missed(hub: Pbxhub) -> None:
    channel = await telephony.api_line(hub)
    created = await telephony.create_call(hub, channel, direction="incoming")
    await telephony.update_call(hub, channel, call_id=created["call_id"], call_status="missed")


async def internal_call(hub: Pbxhub) -> None:
    """UIS: Anna dials 102, Boris's extension: kept as a skipped internal call."""
    channel, _, _ = await uis.uis_line(hub)
    await uis.deliver(hub, channel, with_uis_contact(scenario("uis", "outbound_answered"), "102"))


async def record_continued_as_new(env: WorkflowEnvironment, name: str) -> list[Path]:
    """A second recording comes while the first is being kept: the run continues as new and
    the new run amends the call (test_recordings' second-recording test, recorded)."""
    gate = recordings.OutcomeHeldStore.gate
    gate.close()
    try:
        with tempfile.TemporaryDirectory() as folder, file_host() as host:
            tmp = Path(folder)
            first = host.serve("/records/1.mp3", Reply(200, recordings.MP3))
            second = host.serve("/records/1-again.wav", Reply(200, recordings.wav(2)))
            async with running_pbxhub(
                env,
                tmp,
                store_class=recordings.OutcomeHeldStore,
                recording_activities=recordings.keeping(tmp),
            ) as hub:
                channel = await recordings.uis_line(hub, recording_hosts=["127.0.0.1"])
                bodies = recordings.uis_call(recordings.SESSION, first)
                await recordings.deliver(hub, channel, bodies)
                assert await gate.wait_reached()
                late = recordings.uis_call(recordings.SESSION, second)[-1:]
                await recordings.deliver(hub, channel, late)
                workflow = hub.workflow(channel, recordings.SESSION)
                while (await workflow.query(CallWorkflow.state)).events <= len(bodies):
                    await asyncio.sleep(0.1)
                gate.open()
                return await save(hub, name)
    finally:
        gate.open()


async def planfix_channel_setup(hub: Pbxhub) -> None:
    """PbxActionWorkflow: a new planfix_api channel sends its PBX the setup command."""
    with pbx_simulator() as pbx:
        await planfix_line(hub, pbx_url=pbx.url, secrets={"pbx_token": "202cb962ac59075b964b07"})
        await closed_runs(hub)


async def call_time_actions(hub: Pbxhub) -> None:
    """UIS: while the call rings Anna makes the caller's contact; while she talks she attaches
    the call to its task, asks for a second task (refused once the call is written: it hangs on
    the first) and comments; then the call ends (workflow updates, pending actions applied)."""
    channel, anna, _ = await call_time.uis_line(hub)
    bodies = scenario("uis", "inbound_answered")
    as_anna = await call_time.token_of(hub, anna)
    await hub.deliver(channel, bodies[:2])
    made = await hub.http.post(
        call_time.during(channel, "contact"), json={"name": "Ivan Petrov"}, headers=as_anna
    )
    assert made.status_code in (201, 202), made.text
    task = hub.store.create_task(title="Quote", contact_id=made.json()["contact_id"])
    await hub.deliver(channel, bodies[2:3])
    for what, body in (
        ("tasks", {"task_id": task.id}),
        ("tasks", {"title": "Second task"}),
        ("comments", {"text": "Wants a quote"}),
    ):
        sent = await hub.http.post(call_time.during(channel, what), json=body, headers=as_anna)
        assert sent.status_code == 202, sent.text
    await hub.deliver(channel, bodies[3:])


SCENARIOS: dict[str, Drive] = {
    **{
        f"{provider}_{folder}": provider_call(provider, folder)
        for provider, folders in {
            "uis": ["inbound_answered", "inbound_lost", "outbound_answered", "unknown_employee"],
            "callgear": ["inbound_answered", "inbound_missed", "outbound_answered"],
            "binotel": ["inbound_answered", "inbound_missed", "outbound_answered"],
            "zadarma": ["inbound_answered", "inbound_missed", "outbound_answered"],
            "planfix_api": [
                "inbound_answered",
                "inbound_missed",
                "inbound_record_later",
                "group_sequential",
                "outgoing_busy",
            ],
        }.items()
        for folder in folders
    },
    "uis_recording_after_the_call_is_written": recording_after_the_call_is_written,
    "telephony_api_answered": telephony_api_answered,
    "telephony_api_missed": telephony_api_missed,
    "uis_internal_call": internal_call,
    "pbx_action_planfix_channel_setup": planfix_channel_setup,
    "uis_call_time_actions": call_time_actions,
}


async def closed_runs(hub: Pbxhub, seconds: float = 60) -> list[tuple[str, str]]:
    """(workflow id, run id) of every run on the hub's task queue, once all have closed."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        runs = [
            (run.id, run.run_id, run.status)
            async for run in hub.client.list_workflows(f"TaskQueue = '{hub.task_queue}'")
        ]
        if runs and all(s != WorkflowExecutionStatus.RUNNING for _, _, s in runs):
            return sorted((wid, rid) for wid, rid, _ in runs)
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"runs still open on {hub.task_queue}: {runs}")
        await asyncio.sleep(0.5)


async def record(env: WorkflowEnvironment, name: str, drive: Drive) -> list[Path]:
    with tempfile.TemporaryDirectory() as folder:
        async with running_pbxhub(env, Path(folder), recording_wait_seconds=3) as hub:
            await drive(hub)
            return await save(hub, name)


async def save(hub: Pbxhub, name: str) -> list[Path]:
    """Every run on the hub's task queue, once closed, as tests/histories/<name>.<n>.json."""
    written = []
    for index, (workflow_id, run_id) in enumerate(await closed_runs(hub), start=1):
        history = await hub.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        path = HISTORIES / f"{name}.{index}.json"
        path.write_text(history.to_json() + "\n")
        written.append(path)
    return written


async def record_restart(env: WorkflowEnvironment, name: str) -> list[Path]:
    """A UIS call half-way through when pbxhub (API and worker) stops; it ends on a new one."""
    with tempfile.TemporaryDirectory() as folder:
        bodies = scenario("uis", "inbound_answered")
        async with running_pbxhub(env, Path(folder), recording_wait_seconds=3) as hub:
            channel, _, _ = await uis.uis_line(hub)
            await uis.deliver(hub, channel, bodies[:3])
            while (await hub.workflow(channel, uis.ANSWERED).query(CallWorkflow.state)).events < 3:
                await asyncio.sleep(0.2)
            queue, prefix = hub.task_queue, hub.workflow_id_prefix
        async with running_pbxhub(
            env,
            Path(folder),
            recording_wait_seconds=3,
            task_queue=queue,
            workflow_id_prefix=prefix,
        ) as hub:
            await uis.deliver(hub, channel, bodies[3:])
            return await save(hub, name)


async def main(prefixes: list[str]) -> None:
    HISTORIES.mkdir(exist_ok=True)
    env = await start_dev_server()
    try:
        for name, drive in SCENARIOS.items():
            if prefixes and not any(name.startswith(p) for p in prefixes):
                continue
            for path in await record(env, name, drive):
                print(f"{path.relative_to(ROOT)}  {path.stat().st_size} bytes")
        for name, special in (
            ("uis_call_open_across_a_restart", record_restart),
            ("uis_recording_while_closing_continued_as_new", record_continued_as_new),
        ):
            if not prefixes or any(name.startswith(p) for p in prefixes):
                for path in await special(env, name):
                    print(f"{path.relative_to(ROOT)}  {path.stat().st_size} bytes")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
