"""What events recorded before a canonical field existed said in `extra` instead.

Calls still running from then replay on today's code and must decide as they did: the old
parameter names are data (legacy_event_fields.json, beside the specs that now map them into
the fields), never a provider's name written in Python.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from contracts.events import CallEvent

_FIELDS: Final[dict[str, dict[str, str]]] = {
    name: said
    for name, said in json.loads(
        (Path(__file__).parent / "legacy_event_fields.json").read_text(encoding="utf-8")
    ).items()
    if isinstance(said, dict)
}


def said_in_extra(event: CallEvent, field_name: str) -> bool:
    """Whether `event` set the canonical flag `field_name` the way events did before it existed."""
    said = _FIELDS.get(field_name)
    return said is not None and event.extra.get(said["extra"]) == said["value"]
