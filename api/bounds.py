"""What the API takes that the store must keep: ids and offsets it can hold, text and JSON with
nothing PostgreSQL refuses. One bound, one type each, used by every route and body model; the
generic telephony API's reader uses the same bounds (providers.canonical)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Final

from pydantic import AfterValidator, Field

from providers.canonical import MAX_INTEGER, text_problem

# Ids are INTEGER columns (crm.tables): 32-bit on PostgreSQL, the smaller of the two stores.
MAX_ID: Final = MAX_INTEGER

# An id of a row: a positive integer the store can hold (a larger one names nothing).
StoredId = Annotated[
    int, Field(ge=1, le=MAX_ID, description=f"An id (1 to {MAX_ID})", examples=[1])
]
# How many rows a page holds at most.
PageLimit = Annotated[int, Field(ge=1, le=1000, description="How many rows at most")]
# How many rows a page skips: no more than there can be rows.
Offset = Annotated[int, Field(ge=0, le=MAX_ID, description="How many rows to skip")]


def _storable_text(text: str) -> str:
    problem = text_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


def _storable_json(value: Any) -> Any:
    """The value, when every string, key and number in it can be kept as JSON on PostgreSQL."""
    pending = [value]
    while pending:  # no recursion: a deep document is walked without the stack
        node = pending.pop()
        if isinstance(node, dict):
            for key in node:
                _storable_text(str(key))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, str):
            _storable_text(node)
        elif isinstance(node, float) and not math.isfinite(node):
            raise ValueError(f"{node} is not a JSON number")
    return value


# Text kept as is in the store.
StoredText = Annotated[str, AfterValidator(_storable_text)]
# A JSON object kept as is (settings, working hours).
StoredJson = Annotated[dict[str, Any], AfterValidator(_storable_json)]
