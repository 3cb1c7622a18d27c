"""The integers the API takes: ids and offsets the store can hold. One bound, one type each,
used by every route and body model and by the generic telephony API's reader."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

from providers.canonical import MAX_INTEGER

# Ids are INTEGER columns (crm.tables): 32-bit on PostgreSQL, the smaller of the two stores.
MAX_ID: Final = MAX_INTEGER

# An id of a row: a positive integer the store can hold (a larger one names nothing).
StoredId = Annotated[
    int, Field(ge=1, le=MAX_ID, description=f"An id (1 to {MAX_ID})", examples=[1])
]
# How many rows a page skips: no more than there can be rows.
Offset = Annotated[int, Field(ge=0, le=MAX_ID, description="How many rows to skip")]
