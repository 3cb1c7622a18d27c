"""Runs recorded before a canonical field existed read it where their events carried it then:
which PBX parameter meant the field is the data of the spec that sent it (`legacy_extra`), never
a name in Python; the history that needs it replays in tests/test_history_replay.py."""

from __future__ import annotations

from pathlib import Path

from contracts.events import CallEvent, EventKind
from contracts.legacy_fields import SPECS_DIR, declared_in, said_in_extra
from providers.spec_loader import DEFAULT_SPECS_DIR


def recording_ready(extra: dict[str, str]) -> CallEvent:
    return CallEvent(
        kind=EventKind.RECORDING_READY,
        provider="planfix_api",
        session_id="call-1",
        idempotency_key="call-1:record",
        recording_url="http://127.0.0.1:9/record.mp3",
        extra=extra,
    )


def test_the_crm_apis_spec_says_which_parameter_meant_a_one_time_link() -> None:
    assert declared_in(DEFAULT_SPECS_DIR)["recording_link_once"] == {("is_temp", "1")}
    assert SPECS_DIR == DEFAULT_SPECS_DIR


def test_an_old_event_with_the_parameter_set_said_its_link_works_once() -> None:
    assert said_in_extra(recording_ready({"is_temp": "1"}), "recording_link_once")
    assert not said_in_extra(recording_ready({"is_temp": "0"}), "recording_link_once")
    assert not said_in_extra(recording_ready({}), "recording_link_once")
    assert not said_in_extra(recording_ready({"is_temp": "1"}), "recording_expected")


def test_a_spec_without_legacy_extra_declares_nothing(tmp_path: Path) -> None:
    (tmp_path / "pbx.yaml").write_text("id: pbx\nendpoints: {}\n", encoding="utf-8")
    (tmp_path / "old.yaml").write_text(
        "id: old\nlegacy_extra:\n  recording_link_once: {extra: temporary, value: 'yes'}\n",
        encoding="utf-8",
    )

    assert declared_in(tmp_path) == {"recording_link_once": {("temporary", "yes")}}
