"""Values from a PBX that pbxhub cannot read or keep: a number too long to be one is the request's
fault (422 naming the field), not a spec bug (501); NUL characters, which the store's text cannot
hold, never reach a call's `extra` (they are removed, by the rule the meta-schema states)."""

from __future__ import annotations

from pathlib import Path

from spec_hub import write_spec
from test_spec_runtime_errors import MOSCOW, acme, finished, post, refused, spec_bug

from providers.engine import handle_request


def test_an_integer_of_5000_digits_is_the_requests_fault_naming_its_field(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, acme(finished(map={"talk_seconds": "body.talk | as_int"})))
    rejected = refused(spec, {"call_id": 1, "talk": "9" * 5000})
    assert (rejected.status, rejected.field) == (422, "talk")
    assert "not an integer" in rejected.message
    assert len(rejected.message) < 500  # the PBX's value is quoted, not copied whole


def test_an_impossible_date_is_the_requests_fault_naming_its_field(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path, acme(finished(map={"ended_at": "body.at | local_time('%d.%m.%Y %H:%M')"}))
    )
    rejected = refused(spec, {"call_id": 1, "at": "30.02.2024 10:00"})
    assert (rejected.status, rejected.field) == (422, "at")


def test_nul_characters_are_removed_from_the_values_and_names_kept_in_extra(
    tmp_path: Path,
) -> None:
    spec = write_spec(tmp_path, acme(finished()))
    body = {"call_id": 1, "utm_source": "ya\x00ndex", "note\x00": "hi", "nothing": "\x00\x00"}

    (event,) = handle_request(spec, "hook", post(body), MOSCOW).events

    assert event.extra == {"utm_source": "yandex", "note": "hi"}


def test_nul_characters_inside_a_nested_parameter_kept_as_json_are_removed(
    tmp_path: Path,
) -> None:
    spec = write_spec(tmp_path, acme(finished(extra={"flatten": False})))
    body = {"call_id": 1, "tags": {"a\x00": ["x\x00y"]}}

    (event,) = handle_request(spec, "hook", post(body), MOSCOW).events

    assert event.extra == {"tags": '{"a": ["xy"]}'}


def test_a_time_zone_the_spec_names_wrongly_is_a_spec_bug_not_the_pbxs_time(
    tmp_path: Path,
) -> None:
    spec = write_spec(
        tmp_path, acme(finished(map={"ended_at": "body.at | local_time(none, 'Mars/Base')"}))
    )
    bug = spec_bug(spec, {"call_id": 1, "at": "2024-03-01 10:00:00"})
    assert bug.path == "endpoints.hook.events[0].map.ended_at"
    assert "unknown time zone 'Mars/Base'" in bug.message


def test_half_a_surrogate_pair_in_a_session_id_is_refused_naming_the_field(
    tmp_path: Path,
) -> None:
    spec = write_spec(tmp_path, acme(finished()))
    # json.dumps escapes it as \ud800: valid JSON text, yet no character UTF-8 or a store keeps
    rejected = refused(spec, {"call_id": "77\ud800"})
    assert (rejected.status, rejected.field) == (400, "call_id")
    assert "surrogate" in rejected.message


def test_half_a_surrogate_pair_deep_in_an_unmapped_parameter_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    spec = write_spec(tmp_path, acme(finished()))
    rejected = refused(spec, {"call_id": 1, "legs": [{"note": "ok"}, {"note": "\udfff!"}]})
    assert (rejected.status, rejected.field) == (400, "legs[1].note")


def test_a_whole_surrogate_pair_is_one_character_and_kept(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, acme(finished()))
    (event,) = handle_request(spec, "hook", post({"call_id": 1, "mood": "🙂"}), MOSCOW).events
    assert event.extra == {"mood": "🙂"}
