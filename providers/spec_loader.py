"""Reading provider specs: safe YAML (duplicate keys refused), `extends` merged, the meta-schema
checked; then providers.spec_compiler compiles the document. A spec that cannot be used is a
SpecError naming file, path and problem, all of them at once."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from providers.spec import ProviderSpec, SpecError, SpecProblem, display_path, format_path
from providers.spec_compiler import compile_spec
from schemas import PROVIDER_SPEC_SCHEMA, load_schema

__all__ = ["DEFAULT_SPECS_DIR", "load_spec", "load_specs"]

DEFAULT_SPECS_DIR = Path(__file__).resolve().parent


def load_spec(path: str | Path) -> ProviderSpec:
    """Load, validate and compile one spec file; raises SpecError."""
    file = Path(path)
    document = _load_merged(file, ())
    problems = _meta_problems(display_path(file), document)
    if problems:
        raise SpecError(problems)
    return compile_spec(file, document)


def load_specs(directory: str | Path = DEFAULT_SPECS_DIR) -> dict[str, ProviderSpec]:
    """Every `*.yaml` spec of `directory` by id; all problems of all files in one SpecError."""
    specs: dict[str, ProviderSpec] = {}
    problems: list[SpecProblem] = []
    for file in sorted(Path(directory).glob("*.yaml")):
        try:
            spec = load_spec(file)
        except SpecError as exc:
            problems.extend(exc.problems)
            continue
        if spec.id in specs:
            problems.append(
                SpecProblem(display_path(file), "id", f"duplicate provider id {spec.id!r}")
            )
            continue
        specs[spec.id] = spec
    if problems:
        raise SpecError(problems)
    return specs


def _read_yaml(file: Path) -> dict[str, Any]:
    shown = display_path(file)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([SpecProblem(shown, "", f"cannot read: {exc.strerror or exc}")]) from exc
    # What yaml.safe_load does, in its two steps, so that the node tree can be checked for
    # duplicate keys in between (safe_load silently keeps the last one; in a spec that is always
    # a mistake). libyaml's safe loader when present: specs are read at every start-up.
    loader = _SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        duplicates = _duplicate_keys(node)
        document = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError([SpecProblem(shown, where, f"invalid YAML: {problem}")]) from exc
    finally:
        loader.dispose()
    if duplicates:
        raise SpecError(
            [SpecProblem(shown, where, f"duplicate key {key!r}") for where, key in duplicates]
        )
    if not isinstance(document, dict):
        raise SpecError([SpecProblem(shown, "", "a spec must be a YAML mapping")])
    return document


_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _duplicate_keys(node: yaml.Node | None) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        found.append((f"line {key.start_mark.line + 1}", key.value))
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return found


def _load_merged(file: Path, chain: tuple[str, ...]) -> dict[str, Any]:
    document = _read_yaml(file)
    parent_id = document.get("extends")
    if parent_id is None:
        return document
    shown = display_path(file)
    if not isinstance(parent_id, str):
        raise SpecError([SpecProblem(shown, "extends", "must be a provider id")])
    if parent_id in chain or parent_id == document.get("id"):
        raise SpecError([SpecProblem(shown, "extends", f"circular extends via {parent_id!r}")])
    parent_file = file.parent / f"{parent_id}.yaml"
    if not parent_file.exists():
        raise SpecError([SpecProblem(shown, "extends", f"no spec {parent_file.name} to extend")])
    base = _load_merged(parent_file, (*chain, str(document.get("id"))))
    base.pop("extends", None)
    merged = _deep_merge(base, document)
    return merged


def _deep_merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        result = dict(base)
        for key, value in over.items():
            if value is None:
                result.pop(key, None)
            elif key in result:
                result[key] = _deep_merge(result[key], value)
            else:
                result[key] = copy.deepcopy(value)
        return result
    if isinstance(base, list) and isinstance(over, list) and _named(base) and _named(over):
        merged = list(base)
        index = {item["name"]: i for i, item in enumerate(merged)}
        for item in over:
            if item["name"] in index:
                merged[index[item["name"]]] = _deep_merge(merged[index[item["name"]]], item)
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(over)


def _named(items: list[Any]) -> bool:
    return all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items)


@lru_cache(maxsize=1)
def _meta_validator() -> Draft202012Validator:
    return Draft202012Validator(load_schema(PROVIDER_SPEC_SCHEMA))


def _meta_problems(shown: str, document: Mapping[str, Any]) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    errors = sorted(
        _meta_validator().iter_errors(document), key=lambda e: list(map(str, e.absolute_path))
    )
    for error in errors:
        # descend into anyOf/oneOf to the most specific branch's complaint
        specific = best_match([error]) if not error.context else best_match(error.context)
        if specific is None or len(specific.absolute_path) < len(error.absolute_path):
            specific = error
        path = format_path(specific.absolute_path)
        problems.append(SpecProblem(shown, path, _meta_message(specific)))
    return problems


def _meta_message(error: ValidationError) -> str:
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in (error.instance or {})]
        return f"missing required key {missing[0]!r}" if missing else error.message
    if error.validator == "not" and isinstance(error.validator_value, dict):
        together = error.validator_value.get("required")
        if together:
            return f"use either {' or '.join(map(repr, together))}, not both"
    # jsonschema quotes the whole offending instance; a spec author needs the gist
    return error.message if len(error.message) <= 300 else error.message[:300] + "…"
