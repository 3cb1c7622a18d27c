"""Calls still running when pbxhub is upgraded replay with the new workflow code: a history
recorded by the code before a change (tests/histories) replays without a
nondeterminism error, and so does one the code records now.

planfix_api_one_time_link_before_recording_link_once.1.json: the telephony API's answered call whose
`record` (is_temp=1, so fetched the moment it came, before the call was written) arrived while
it rang, recorded by the workflow that read `extra["is_temp"]` and left recording attempts to
its retry policy alone (before the patches "recording-link-once-field" and
"channel-recording-limits")."""

from __future__ import annotations

from pathlib import Path

from file_host import Reply, file_host
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from test_recording_link_modes import call_with_a_one_time_link, planfix_line
from test_recordings import custody, wav

from pbxhub.worker import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"


async def replay(history: WorkflowHistory) -> None:
    """Raises when the current code would decide otherwise than the history says it did."""
    await Replayer(workflows=list(WORKFLOWS)).replay_workflow(history)


async def test_a_one_time_link_call_recorded_before_the_canonical_field_replays() -> None:
    text = (HISTORIES / "planfix_api_one_time_link_before_recording_link_once.1.json").read_text()
    history = WorkflowHistory.from_json("one-time-link-before", text)
    # what that run did: the link fetched before the call was written (no call id yet)
    kinds = [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events]
    fetched, saved = kinds.index("fetch_recording"), kinds.index("save_call")
    assert fetched < saved

    await replay(history)


async def test_a_one_time_link_call_recorded_now_replays(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with file_host() as host:
        link = host.serve("/once/pf-1002.wav", Reply(200, wav(1)), Reply(410, b"used"))
        async with custody(temporal_env, tmp_path) as hub:
            channel = await planfix_line(hub, host, "keep_link")
            await call_with_a_one_time_link(hub, channel, link)
            result = await hub.call_result(channel, "pf-1002")
            assert result.recording_status == "kept"

            history = await hub.workflow(channel, "pf-1002").fetch_history()

    await replay(history)
