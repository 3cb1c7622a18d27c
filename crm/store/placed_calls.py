"""Calls placed from the pages (click-to-call) in the store: where each was placed from, until
the outbound call the PBX reports for it is found and claimed (once)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select

from crm.store.engine import StoreCore
from crm.tables import PlacedCallRow, utcnow

# How long after a click the PBX's outbound call still counts as that click's: it rings the
# employee first, who may pick up late.
PLACED_CALL_WINDOW: Final = timedelta(minutes=5)


@dataclass(frozen=True)
class PlacedCall:
    id: int
    channel_id: int
    employee_id: int
    phone: str
    contact_id: int | None
    task_id: int | None
    placed_at: datetime
    call_id: int | None


def _record(row: PlacedCallRow) -> PlacedCall:
    return PlacedCall(
        row.id,
        row.channel_id,
        row.employee_id,
        row.phone,
        row.contact_id,
        row.task_id,
        row.placed_at,
        row.call_id,
    )


class PlacedCallStore(StoreCore):
    """Placed calls, newest first when one is looked for."""

    def record_placed_call(
        self,
        *,
        channel_id: int,
        employee_id: int,
        phone: str,
        contact_id: int | None = None,
        task_id: int | None = None,
    ) -> PlacedCall:
        with self._writes.begin() as session:
            row = PlacedCallRow(
                channel_id=channel_id,
                employee_id=employee_id,
                phone=phone,
                contact_id=contact_id,
                task_id=task_id,
                placed_at=utcnow(),
            )
            session.add(row)
            session.flush()
            return _record(row)

    def claim_placed_call(
        self, *, call_id: int, channel_id: int, employee_id: int, phone: str, at: datetime
    ) -> PlacedCall | None:
        """The placed call `call_id` came of (already claimed by it, or the newest unclaimed
        one of the same line, employee and number within the window before `at`), claimed."""
        with self._writes.begin() as session:
            claimed = session.scalar(select(PlacedCallRow).where(PlacedCallRow.call_id == call_id))
            if claimed is not None:
                return _record(claimed)
            row = session.scalar(
                select(PlacedCallRow)
                .where(
                    PlacedCallRow.channel_id == channel_id,
                    PlacedCallRow.employee_id == employee_id,
                    PlacedCallRow.phone == phone,
                    PlacedCallRow.call_id.is_(None),
                    PlacedCallRow.placed_at >= at - PLACED_CALL_WINDOW,
                    PlacedCallRow.placed_at <= at + timedelta(minutes=1),
                )
                .order_by(PlacedCallRow.placed_at.desc())
                .limit(1)
            )
            if row is None:
                return None
            row.call_id = call_id
            session.flush()
            return _record(row)
