"""What events recorded before a canonical field existed said in `extra` instead.

Calls still running from then replay on today's code and must decide as they did. Which PBX
parameter meant the field is the data of the spec that sent it (its `legacy_extra`, e.g.
providers/planfix_api.yaml), read here from the spec files: no provider's name in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

import yaml

from contracts.events import CallEvent

# The built-in specs (installed beside this package): the only ones old runs were mapped by.
SPECS_DIR: Final = Path(__file__).resolve().parent.parent / "providers"


def declared_in(specs_dir: Path) -> Mapping[str, frozenset[tuple[str, str]]]:
    """Each canonical field some spec of `specs_dir` declares a legacy `extra` for, with every
    (parameter, value) that meant it."""
    fields: dict[str, set[tuple[str, str]]] = {}
    for file in sorted(specs_dir.glob("*.yaml")):
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
        legacy = document.get("legacy_extra") if isinstance(document, dict) else None
        for name, said in (legacy or {}).items():
            fields.setdefault(name, set()).add((str(said["extra"]), str(said["value"])))
    return {name: frozenset(said) for name, said in fields.items()}


# Read once, when the worker imports the workflows (never inside a workflow's run).
_DECLARED: Final = declared_in(SPECS_DIR)


def said_in_extra(event: CallEvent, field_name: str) -> bool:
    """Whether `event` set the canonical flag `field_name` the way events did before it existed
    (whichever spec said it: the old runs read the parameter whatever their provider)."""
    return any(event.extra.get(extra) == value for extra, value in _DECLARED.get(field_name, ()))
