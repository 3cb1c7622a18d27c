"""Calls in flight when a new version deploys must finish on it: every history recorded from an
earlier version (tests/histories/, by scripts/record_histories.py) replays on today's workflow
code without non-determinism. A history that fails here is a running call a deploy would break:
guard the change with `workflow.patched` instead of editing the history."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from pbxhub.worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_of_every_provider_are_kept() -> None:
    names = {path.name for path in HISTORIES}
    for provider in ("uis", "callgear", "binotel", "zadarma", "planfix_api", "telephony_api"):
        assert any(name.startswith(f"{provider}_") for name in names), provider


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_a_recorded_history_replays_on_todays_workflow_code(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())

    result = await Replayer(workflows=list(WORKFLOWS)).replay_workflow(
        history, raise_on_replay_failure=False
    )

    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
