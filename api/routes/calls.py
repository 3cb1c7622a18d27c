"""Calls and missed calls, filterable by phone, employee, channel and time; as JSON pages with
their reference analytics, or as CSV of those analytics. The admin sees every call; an employee
(their token) the calls they may hear (`policies.access`), in lists, counts and exports alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.access import call_for
from api.analytics import (
    CALL_FIELDS,
    MISSED_CALL_FIELDS,
    call_analytics,
    contact_phone_display,
    custom_fields,
    line_of,
    virtual_number_display,
)
from api.bounds import Offset, PageLimit, StoredId
from api.call_filters import CallFilterDep
from api.csv_export import CONTENT_TYPE, csv_chunks
from api.deps import Caller, CallerDep, StoreDep
from api.errors import AUTHENTICATED, errors
from api.rest_models import AnalyticsFieldOut, CallOut, LineOut, Page
from crm import CallFilter, Channel, Store, StoredCall

router = APIRouter(prefix="/api/v1", tags=["calls"], responses=AUTHENTICATED)

# The CSV exports' answer as the OpenAPI tells it (a file, not JSON).
CSV_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The calls' analytics, a row each (UTF-8 with BOM)",
        "content": {CONTENT_TYPE: {"schema": {"type": "string"}}},
    }
}
# The most rows one CSV export holds (page further with offset).
CSV_MAX_ROWS = 100_000


@dataclass(frozen=True)
class Names:
    """What a call's analytics show besides the call: its channel, employee and contact."""

    channels: dict[int, Channel]
    employees: dict[int, str]
    contacts: dict[int, str | None]


def read_names(store: Store, calls: Sequence[StoredCall]) -> Names:
    """One read for a page of calls (sync: run it in a thread)."""
    return Names(
        channels={channel.id: channel for channel in store.list_channels()},
        employees=store.employee_names([c.employee_id for c in calls if c.employee_id]),
        contacts=store.contact_names([c.contact_id for c in calls if c.contact_id]),
    )


def call_out(call: StoredCall, names: Names) -> CallOut:
    # legs as the store keeps them (times in ISO 8601 as written), not re-serialised by pydantic
    out = CallOut.model_validate({**asdict(call), "legs": [leg.as_json() for leg in call.legs]})
    channel = names.channels.get(call.channel_id)
    if channel is None:  # a channel is never deleted under its calls; show the bare call
        return out
    analytics = call_analytics(
        call,
        channel,
        employee_name=names.employees.get(call.employee_id) if call.employee_id else None,
        contact_name=names.contacts.get(call.contact_id) if call.contact_id else None,
    )
    line = line_of(channel, call.virtual_number, call.line_name)
    return out.model_copy(
        update={
            "analytics": [AnalyticsFieldOut(name=f.name, value=f.value) for f in analytics],
            "contact_phone_display": contact_phone_display(channel, call),
            "virtual_number_display": virtual_number_display(channel, call),
            "line": LineOut(number=line.number, name=line.name, color=line.color) if line else None,
        }
    )


def _page(
    caller: Caller, store: Store, kind: str | None, which: CallFilter, limit: int, offset: int
) -> Page[CallOut]:
    where = replace(which, kind=kind, heard_by=caller.employee)
    calls, total = store.page_calls(where, limit=limit, offset=offset)
    names = read_names(store, calls)
    return Page[CallOut](
        items=[call_out(call, names) for call in calls], total=total, limit=limit, offset=offset
    )


# The two kinds of call record, by the URL that lists them and what the list is called; each
# has its JSON list and its CSV export (their operation ids as when they were written out).
_KINDS: Final = (("call", "calls", "Answered calls"), ("missed", "missed-calls", "Missed calls"))


# What `GET /api/v1/calls` (and its CSV) lists by `kind`, the calls page's outcome: answered
# calls unless asked, so a client written before the filter reads what it did.
CallKindParam = Annotated[
    Literal["call", "missed", "active", "any"],
    Query(
        alias="kind",
        description="The outcome, as the calls page's `kind`: `call` answered (the default), "
        "`missed`, `active` in progress, `any` every kind",
    ),
]
# The file a CSV export is named by the kind it holds (None: every kind).
CSV_FILENAMES: Final = {"call": "calls.csv", "missed": "missed-calls.csv"}


def _kind_asked(kind: str) -> str | None:
    return None if kind == "any" else kind


def _lister(kind: str) -> Callable[..., Page[CallOut]]:
    if kind != "call":

        def list_route(
            caller: CallerDep,
            store: StoreDep,
            which: CallFilterDep,
            limit: PageLimit = 100,
            offset: Offset = 0,
        ) -> Page[CallOut]:
            return _page(caller, store, kind, which, limit, offset)

        return list_route

    def list_calls_route(
        caller: CallerDep,
        store: StoreDep,
        which: CallFilterDep,
        kind_asked: CallKindParam = "call",
        limit: PageLimit = 100,
        offset: Offset = 0,
    ) -> Page[CallOut]:
        return _page(caller, store, _kind_asked(kind_asked), which, limit, offset)

    return list_calls_route


Delimiter = Annotated[
    Literal[",", ";"],
    Query(description="';' for a spreadsheet in a locale whose decimal mark is a comma"),
]
# The column a list of every kind of call says each row's kind in ("call", "missed").
KIND_COLUMN: Final = "kind"
CsvLimit = Annotated[int, Query(ge=1, le=CSV_MAX_ROWS, description="At most this many rows")]


def calls_csv(
    caller: Caller,
    store: Store,
    which: CallFilter,
    *,
    limit: int,
    offset: int,
    delimiter: str,
    filename: str,
) -> StreamingResponse:
    """The calls' analytics, one row each in the reference order, then the call's id. The
    custom fields' columns are those of the channels exported, in channel order. Calls of one
    kind have that kind's columns; a list of every kind has both kinds' (and the kind first)."""
    standard: tuple[str, ...]
    if which.kind == "call":
        standard = CALL_FIELDS
    elif which.kind is not None:
        standard = MISSED_CALL_FIELDS
    else:
        standard = (KIND_COLUMN, *dict.fromkeys((*MISSED_CALL_FIELDS[:1], *CALL_FIELDS)))
        standard += tuple(name for name in MISSED_CALL_FIELDS if name not in standard)
    # one query, so that calls written meanwhile neither repeat nor skip a row
    where = replace(which, heard_by=caller.employee)
    calls = store.list_calls(where, limit=limit, offset=offset)
    names = read_names(store, calls)
    custom = list(
        dict.fromkeys(
            name
            for channel in names.channels.values()
            if which.channel_id is None or channel.id == which.channel_id
            for name in custom_fields(channel)
        )
    )
    columns = (*standard, *custom)

    def rows() -> Iterator[list[object]]:
        for call in calls:
            values: dict[str, object] = {
                item.name: item.value for item in call_out(call, names).analytics
            }
            values[KIND_COLUMN] = call.kind
            yield [*(values.get(name) for name in columns), call.id]

    return StreamingResponse(
        csv_chunks([*columns, "id"], rows(), delimiter=delimiter),
        media_type=CONTENT_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _exporter(kind: str) -> Callable[..., StreamingResponse]:
    def export(
        caller: Caller,
        store: Store,
        which: CallFilter,
        kind: str | None,
        limit: int,
        offset: int,
        delimiter: str,
    ) -> StreamingResponse:
        return calls_csv(
            caller,
            store,
            replace(which, kind=kind),
            limit=limit,
            offset=offset,
            delimiter=delimiter,
            filename=CSV_FILENAMES.get(kind or "", f"{kind or 'all'}-calls.csv"),
        )

    if kind != "call":

        def export_route(
            caller: CallerDep,
            store: StoreDep,
            which: CallFilterDep,
            limit: CsvLimit = CSV_MAX_ROWS,
            offset: Offset = 0,
            delimiter: Delimiter = ",",
        ) -> StreamingResponse:
            return export(caller, store, which, kind, limit, offset, delimiter)

        return export_route

    def export_calls_route(
        caller: CallerDep,
        store: StoreDep,
        which: CallFilterDep,
        kind_asked: CallKindParam = "call",
        limit: CsvLimit = CSV_MAX_ROWS,
        offset: Offset = 0,
        delimiter: Delimiter = ",",
    ) -> StreamingResponse:
        return export(caller, store, which, _kind_asked(kind_asked), limit, offset, delimiter)

    return export_calls_route


for _kind, _path, _what in _KINDS:
    _name = _path.replace("-", "_")
    router.add_api_route(
        f"/{_path}",
        _lister(_kind),
        methods=["GET"],
        response_model=Page[CallOut],
        summary=_what,
        operation_id=f"list_{_name}_api_v1_{_name}_get",
    )
    router.add_api_route(
        f"/{_path}.csv",
        _exporter(_kind),
        methods=["GET"],
        response_class=StreamingResponse,
        responses=CSV_ANSWER,
        summary=f"{_what}' analytics as CSV (UTF-8 with BOM)",
        operation_id=f"export_{_name}_api_v1_{_name}_csv_get",
    )


@router.get("/calls/{call_id}", response_model=CallOut, responses=errors(404))
def get_call(call_id: StoredId, caller: CallerDep, store: StoreDep) -> CallOut:
    """404 when there is no such call; 403 for an employee who may not hear it, saying where
    it hangs."""
    call = call_for(caller, store, call_id)
    return call_out(call, read_names(store, [call]))
