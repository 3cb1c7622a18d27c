"""Provider specs as data: the meta-schema, loading every spec, running its examples, and the
errors an integrator sees for a broken spec (file, path inside it, problem)."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from contracts.events import CallEvent, EventKind
from pbxhub.cli_providers import main as providers_cli
from providers.bodies import parse_body
from providers.canonical import MAPPABLE_FIELDS
from providers.examples import run_examples
from providers.spec import SpecError
from providers.spec_loader import DEFAULT_SPECS_DIR, load_spec, load_specs
from schemas import (
    CALL_EVENT_SCHEMA,
    PROVIDER_SPEC_SCHEMA,
    iter_schema_names,
    load_schema,
    schema_uri,
)

SPEC_FILES = sorted(DEFAULT_SPECS_DIR.glob("*.yaml"))


# --- the schemas themselves ------------------------------------------------------------------


@pytest.mark.parametrize("name", iter_schema_names())
def test_every_shipped_json_schema_is_valid_and_named_by_its_path(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema.get("$id") in (None, schema_uri(name))


def test_meta_schema_maps_exactly_the_fields_a_spec_may_set() -> None:
    meta = load_schema(PROVIDER_SPEC_SCHEMA)
    assert set(meta["$defs"]["map"]["properties"]) == set(MAPPABLE_FIELDS)
    assert meta["$defs"]["kind"]["enum"] == [k.value for k in EventKind]


def test_call_event_schema_matches_the_dataclass() -> None:
    schema = load_schema(CALL_EVENT_SCHEMA)
    assert set(schema["properties"]) == {f.name for f in dataclasses.fields(CallEvent)}
    assert schema["properties"]["kind"]["enum"] == [k.value for k in EventKind]


@pytest.mark.parametrize("spec_file", SPEC_FILES, ids=lambda p: p.name)
def test_every_spec_file_validates_against_the_meta_schema(spec_file: Path) -> None:
    document = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    if "extends" in document:
        # a spec that extends another is validated as what runs: merged over its base
        document = copy.deepcopy(dict(load_spec(spec_file).document))
    errors = list(Draft202012Validator(load_schema(PROVIDER_SPEC_SCHEMA)).iter_errors(document))
    assert errors == []


# --- the recorded PBX requests of tests/fixtures ------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures"
# tests/fixtures/<provider>/<scenario>/NN_<event>.json, or .txt for a form-encoded body
FIXTURE_FILES = sorted(
    path
    for path in FIXTURES.glob("*/*/*")
    if path.suffix in (".json", ".txt") and path.parts[-3] in {p.stem for p in SPEC_FILES}
)
_FIXTURE_CONTENT_TYPES = {".json": "application/json", ".txt": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    "path", FIXTURE_FILES, ids=lambda p: "/".join(p.parts[-3:]) if isinstance(p, Path) else p
)
def test_every_fixture_validates_against_its_endpoints_event_schema(path: Path) -> None:
    """The file's name says the event (`NN_<event>`); every endpoint of the provider that
    declares that event parses the body by its format and must find it valid."""
    spec = load_spec(DEFAULT_SPECS_DIR / f"{path.parts[-3]}.yaml")
    event_name = path.stem.split("_", 1)[1]
    declared = [
        (endpoint, event)
        for endpoint in spec.endpoints.values()
        for event in endpoint.events
        if event.name == event_name
    ]
    assert declared, f"{spec.id} declares no event {event_name!r}"
    raw = path.read_bytes()
    if path.suffix == ".txt":
        raw = raw.rstrip(b"\r\n")
    for endpoint, event in declared:
        body = parse_body(
            endpoint.body, body=raw, content_type=_FIXTURE_CONTENT_TYPES[path.suffix], query={}
        )
        errors = [
            f"{list(e.absolute_path)}: {e.message}" for e in event.validator.iter_errors(body)
        ]
        assert errors == [], f"{endpoint.name}/{event.name} ({event.schema_name})"


def test_all_specs_in_providers_load_at_start_up() -> None:
    specs = load_specs()
    assert "uis" in specs
    assert specs["uis"].endpoints["notify"].methods == {"POST"}


@pytest.mark.parametrize("spec_file", SPEC_FILES, ids=lambda p: p.name)
def test_every_spec_passes_its_own_examples(spec_file: Path) -> None:
    # how fast is a benchmark's business (bench/), not a timed test's on a shared machine
    run = run_examples(load_spec(spec_file))
    failures = [f"{r.name}\n{r.error}{r.diff}" for r in run.results if not r.passed]
    assert failures == []
    assert run.results, "a spec must carry examples"


# --- broken specs --------------------------------------------------------------------------


MINIMAL: dict[str, Any] = {
    "id": "acme",
    "title": "ACME PBX",
    "sources": {"doc": "ACME webhook docs"},
    "endpoints": {
        "notify": {
            "methods": ["POST"],
            "body": {"format": "json"},
            "session_id": "{{ body.call_id }}",
            "idempotency_key": "{{ session_id }}:{{ event }}",
            "events": [
                {
                    "name": "started",
                    "recognize": {"field": "event", "values": ["start"]},
                    "schema": {"type": "object", "required": ["call_id"]},
                    "kind": "call_started",
                    "map": {"direction": "'in'", "contact_phone": "body.from | e164"},
                }
            ],
        }
    },
}


def write_spec(directory: Path, document: dict[str, Any], name: str = "acme") -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def broken(tmp_path: Path, change: Any) -> SpecError:
    document = copy.deepcopy(MINIMAL)
    change(document)
    path = write_spec(tmp_path, document)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert "acme.yaml" in str(caught.value)
    return caught.value


def event0(document: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = document["endpoints"]["notify"]["events"][0]
    return event


def test_a_minimal_spec_loads(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, MINIMAL))
    assert spec.id == "acme"
    assert spec.endpoints["notify"].events[0].name == "started"


def test_invalid_yaml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text("id: acme\ntitle: [unclosed\n", "utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert caught.value.file.endswith("acme.yaml")
    assert caught.value.path.startswith("line ")
    assert "invalid YAML" in caught.value.problem


def test_a_duplicate_key_is_refused_rather_than_silently_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    text = yaml.safe_dump(MINIMAL, sort_keys=False).replace("title:", "title: First\ntitle:", 1)
    path.write_text(text, "utf-8")
    with pytest.raises(SpecError, match="duplicate key 'title'"):
        load_spec(path)


def test_a_missing_required_key_is_named_with_its_path(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda d: event0(d).pop("schema"))
    assert error.path == "endpoints.notify.events[0]"
    assert "missing required key 'schema'" in error.problem


def test_a_misspelled_map_field_is_named(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda d: event0(d)["map"].update(dirction="'in'"))
    assert error.path == "endpoints.notify.events[0].map"
    assert "dirction" in error.problem


def test_a_jinja_syntax_error_is_reported_at_its_path(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda d: event0(d)["map"].update(direction="body.dir |"))
    assert error.path == "endpoints.notify.events[0].map.direction"
    assert "Jinja syntax error" in error.problem
    assert str(error).startswith(f"{error.file}: endpoints.notify.events[0].map.direction: ")


def test_a_template_syntax_error_in_the_idempotency_key_is_reported(tmp_path: Path) -> None:
    error = broken(
        tmp_path, lambda d: d["endpoints"]["notify"].update(idempotency_key="{{ session_id ")
    )
    assert error.path == "endpoints.notify.idempotency_key"


def test_an_unknown_filter_is_refused_at_load(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda d: event0(d)["map"].update(contact_phone="body.f | e165"))
    assert error.path == "endpoints.notify.events[0].map.contact_phone"
    assert "no filter named 'e165'" in error.problem


def test_a_misspelled_variable_is_refused_at_load(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda d: event0(d)["map"].update(contact_phone="bdy.from"))
    assert "unknown name(s) bdy" in error.problem


def test_a_sandbox_escape_is_refused_at_load(tmp_path: Path) -> None:
    escape = "''.__class__.__mro__[1].__subclasses__()"
    error = broken(tmp_path, lambda d: event0(d)["map"].update(contact_name=escape))
    assert error.path == "endpoints.notify.events[0].map.contact_name"
    assert "not allowed (sandbox)" in error.problem


def test_an_invalid_embedded_json_schema_is_reported(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda d: event0(d).update(schema={"type": "objekt"}))
    assert error.path.startswith("endpoints.notify.events[0].schema")
    assert "not a valid JSON Schema" in error.problem


def test_a_schema_file_that_does_not_exist_is_reported(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda d: event0(d).update(schema="acme/nothing.json"))
    assert error.path == "endpoints.notify.events[0].schema"
    assert "no schema file" in error.problem


def test_an_unresolvable_schema_ref_is_reported(tmp_path: Path) -> None:
    schema = {"$ref": "uis/common.json#/$defs/nothing"}
    error = broken(tmp_path, lambda d: event0(d).update(schema=schema))
    assert error.path == "endpoints.notify.events[0].schema"
    assert "unresolvable" in error.problem


def test_an_event_without_an_idempotency_key_is_reported(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda d: d["endpoints"]["notify"].pop("idempotency_key"))
    assert error.path == "endpoints.notify.events[0]"
    assert "no idempotency_key" in error.problem


def test_a_spec_id_must_match_its_file_name(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda d: d.update(id="other"))
    assert error.path == "id"


def test_two_events_claiming_the_same_explicit_value_are_reported(tmp_path: Path) -> None:
    def twin(document: dict[str, Any]) -> None:
        events = document["endpoints"]["notify"]["events"]
        events.append({**copy.deepcopy(events[0]), "name": "started_again"})

    error = broken(tmp_path, twin)
    assert "already recognises event 'started'" in error.problem


def test_an_example_for_an_unknown_endpoint_is_reported(tmp_path: Path) -> None:
    example = {"name": "x", "endpoint": "nope", "request": {}, "expect": {"events": []}}
    error = broken(tmp_path, lambda d: d.update(examples=[example]))
    assert error.path == "examples[0].endpoint"


def test_all_problems_of_a_spec_are_reported_together(tmp_path: Path) -> None:
    def two_bad_templates(document: dict[str, Any]) -> None:
        event0(document)["map"].update(direction="(", contact_name="bdy.x")

    error = broken(tmp_path, two_bad_templates)
    paths = {p.path for p in error.problems}
    assert paths == {
        "endpoints.notify.events[0].map.direction",
        "endpoints.notify.events[0].map.contact_name",
    }


def test_load_specs_aggregates_the_broken_files(tmp_path: Path) -> None:
    write_spec(tmp_path, MINIMAL)
    bad = copy.deepcopy(MINIMAL)
    bad["id"] = "broken"
    event0(bad)["map"]["direction"] = "{{"
    write_spec(tmp_path, bad, name="broken")
    with pytest.raises(SpecError) as caught:
        load_specs(tmp_path)
    assert [p.file.endswith("broken.yaml") for p in caught.value.problems] == [True]


# --- extends ----------------------------------------------------------------------------------


def test_a_spec_extending_uis_shares_its_events_and_examples(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_SPECS_DIR / "uis.yaml", tmp_path / "uis.yaml")
    child = {
        "id": "callgear",
        "extends": "uis",
        "title": "CallGear — HTTP notifications",
        "sources": {"seed-000": "Planfix help, CallGear integration"},
        "endpoints": {"notify": {"events": [{"name": "lost_call", "map": {"direction": "'in'"}}]}},
    }
    spec = load_spec(write_spec(tmp_path, child, name="callgear"))
    assert spec.id == "callgear"
    assert set(spec.sources) >= {"seed-001", "seed-000"}
    events = [e.name for e in spec.endpoints["notify"].events]
    assert events[:3] == ["call_recording", "lost_call", "call_finished"]
    run = run_examples(spec)
    assert run.passed, [r.diff for r in run.results if not r.passed]


def test_circular_extends_is_reported(tmp_path: Path) -> None:
    a = {**copy.deepcopy(MINIMAL), "id": "a", "extends": "b"}
    b = {**copy.deepcopy(MINIMAL), "id": "b", "extends": "a"}
    write_spec(tmp_path, b, name="b")
    with pytest.raises(SpecError, match="circular extends"):
        load_spec(write_spec(tmp_path, a, name="a"))


# --- the command line ---------------------------------------------------------------------------


def test_providers_validate_exits_0_for_the_shipped_specs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert providers_cli(["providers", "validate"]) == 0
    assert "ok   uis" in capsys.readouterr().out


def test_providers_validate_exits_1_and_names_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = copy.deepcopy(MINIMAL)
    event0(document)["map"]["direction"] = "{{"
    path = write_spec(tmp_path, document)
    assert providers_cli(["providers", "validate", str(path)]) == 1
    assert "endpoints.notify.events[0].map.direction" in capsys.readouterr().err


def test_providers_test_prints_a_unified_diff_on_mismatch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = copy.deepcopy(MINIMAL)
    document["examples"] = [
        {
            "name": "a start",
            "endpoint": "notify",
            "request": {"json": {"event": "start", "call_id": "c1", "from": "79161234567"}},
            "expect": {
                "events": [
                    {
                        "kind": "call_started",
                        "session_id": "c1",
                        "idempotency_key": "c1:started",
                        "direction": "out",
                        "contact_phone": "+79161234567",
                        "extra": {"event": "start"},
                    }
                ]
            },
        }
    ]
    path = write_spec(tmp_path, document)
    assert providers_cli(["providers", "test", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL a start" in out
    assert "-  direction: out\n" in out.replace("       ", "")
    assert "+  direction: in\n" in out.replace("       ", "")
    event0(document)["map"]["direction"] = "'out'"
    write_spec(tmp_path, document)
    assert providers_cli(["providers", "test", str(path)]) == 0


def test_example_requests_are_json_serialisable_fixtures() -> None:
    # examples double as documentation: their bodies must be plain JSON data
    for spec_file in SPEC_FILES:
        for example in load_spec(spec_file).examples:
            json.dumps(dict(example.request), ensure_ascii=False)
