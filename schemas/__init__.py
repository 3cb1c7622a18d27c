"""JSON Schemas shipped with pbxhub: the provider-spec meta-schema, the canonical call event
and the per-provider payload schemas, addressed by their path under this folder."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMAS_DIR = Path(__file__).resolve().parent
# Every schema's `$id` is this base plus its path under SCHEMAS_DIR, so relative `$ref`s between
# files resolve offline through a registry; nothing is ever fetched from this host.
SCHEMA_BASE_URI = "https://pbxhub.dev/schemas/"
PROVIDER_SPEC_SCHEMA = "provider-spec.schema.json"
CALL_EVENT_SCHEMA = "call-event.schema.json"


def schema_path(name: str) -> Path:
    """The file of schema `name` (a path relative to this folder, e.g. "uis/call_finished.json")."""
    path = (SCHEMAS_DIR / name).resolve()
    if SCHEMAS_DIR not in path.parents:
        raise ValueError(f"schema {name!r} is outside {SCHEMAS_DIR}")
    return path


def schema_uri(name: str) -> str:
    """The `$id` a schema file under this folder carries."""
    return SCHEMA_BASE_URI + Path(name).as_posix()


def iter_schema_names() -> list[str]:
    """Every JSON schema file under this folder, as names for `load_schema`."""
    return sorted(p.relative_to(SCHEMAS_DIR).as_posix() for p in SCHEMAS_DIR.rglob("*.json"))


@cache
def _load_text(name: str) -> str:
    return schema_path(name).read_text(encoding="utf-8")


def load_schema(name: str) -> dict[str, Any]:
    """A fresh copy of schema `name`; callers may mutate it."""
    loaded: dict[str, Any] = json.loads(_load_text(name))
    return loaded
