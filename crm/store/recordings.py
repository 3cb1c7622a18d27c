"""Recording rows in the store: the audio files kept for a call (where, how big, their
SHA-256), and what became of a call's recording (its status and why)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.records import Recording, StoredCall
from crm.store.engine import StoreCore, write_changes
from crm.store.mapping import recording_of, stored_call_of
from crm.tables import CallRow, RecordingRow, utcnow
from recordings.policy import RECORDING_STATUSES


class RecordingStore(StoreCore):
    """A call's recordings, each file kept once per call, found by content or by source link."""

    def add_recording(
        self,
        *,
        call_id: int,
        storage: str,
        location: str,
        content_type: str,
        size: int,
        sha256: str,
        source_url: str | None = None,
        duration_seconds: int | None = None,
    ) -> tuple[Recording, bool]:
        """Keep a call's audio; the same file (by sha256) on the same call is kept once.

        True when added; ValueError for an unknown call.
        """
        sha256 = sha256.lower()
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"sha256 {sha256!r} is not a hex SHA-256 digest")

        def write(session: Session) -> tuple[Recording, bool]:
            row = session.scalar(
                select(RecordingRow).where(
                    RecordingRow.call_id == call_id, RecordingRow.sha256 == sha256
                )
            )
            if row is not None:
                return recording_of(row), False
            if session.get(CallRow, call_id) is None:
                raise ValueError(f"no call with id {call_id}")
            row = RecordingRow(
                call_id=call_id,
                storage=storage,
                location=location,
                content_type=content_type,
                size=size,
                sha256=sha256,
                source_url=source_url,
                duration_seconds=duration_seconds,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            return recording_of(row), True

        return self._write_racing(write)

    def list_recordings(self, call_id: int) -> list[Recording]:
        """A call's recordings, oldest first."""
        query = (
            select(RecordingRow).where(RecordingRow.call_id == call_id).order_by(RecordingRow.id)
        )
        with self._reads() as session:
            return [recording_of(row) for row in session.scalars(query)]

    def find_recording(self, sha256: str) -> Recording | None:
        """A recording with this content (the first kept), whatever call it belongs to."""
        query = (
            select(RecordingRow)
            .where(RecordingRow.sha256 == sha256.lower())
            .order_by(RecordingRow.id)
            .limit(1)
        )
        return self._first(query, recording_of)

    def recordings_with_content(self, sha256: str) -> list[Recording]:
        """Every recording of this content, oldest first: one file may be several calls'."""
        query = (
            select(RecordingRow)
            .where(RecordingRow.sha256 == sha256.lower())
            .order_by(RecordingRow.id)
        )
        with self._reads() as session:
            return [recording_of(row) for row in session.scalars(query)]

    def get_recording(self, recording_id: int) -> Recording | None:
        return self._get(RecordingRow, recording_id, recording_of)

    def find_recording_by_source(self, call_id: int, source_url: str) -> Recording | None:
        """The recording a call already keeps from this link (so a link is downloaded once)."""
        query = (
            select(RecordingRow)
            .where(RecordingRow.call_id == call_id, RecordingRow.source_url == source_url)
            .order_by(RecordingRow.id)
            .limit(1)
        )
        return self._first(query, recording_of)

    def set_recording_outcome(
        self,
        call_id: int,
        *,
        status: str,
        error_code: str | None = None,
        error: str | None = None,
        clear_link: bool = False,
        link: str | None = None,
    ) -> StoredCall | None:
        """Record what became of a call's recording (a status of RECORDING_STATUSES, and why
        when it was refused or failed); `clear_link` forgets the PBX's link too (a channel that
        keeps nothing), `link` sets it (one the PBX's API gave). None if there is no such
        call."""
        if status not in RECORDING_STATUSES:
            raise ValueError(
                f"recording status {status!r} is not one of {sorted(RECORDING_STATUSES)}"
            )
        changes: dict[str, Any] = {
            "recording_status": status,
            "recording_error_code": error_code,
            "recording_error": None if error is None else error[:1024],
        }
        if clear_link:
            changes["recording_url"] = None
        elif link is not None:
            changes["recording_url"] = link
        with self._writes.begin() as session:
            row = session.get(CallRow, call_id, with_for_update=True)
            if row is None:
                return None
            if write_changes(row, changes):
                row.updated_at = utcnow()
                session.flush()
            return stored_call_of(row)

    def count_recording_outcomes(
        self, *, channel_id: int | None = None
    ) -> list[tuple[str, str | None, int]]:
        """How many calls' recordings ended how: (status, error code, calls), most first."""
        count = func.count().label("calls")
        query = (
            select(CallRow.recording_status, CallRow.recording_error_code, count)
            .where(CallRow.recording_status.is_not(None))
            .group_by(CallRow.recording_status, CallRow.recording_error_code)
            .order_by(count.desc(), CallRow.recording_status, CallRow.recording_error_code)
        )
        if channel_id is not None:
            query = query.where(CallRow.channel_id == channel_id)
        with self._reads() as session:
            return [(str(status), code, calls) for status, code, calls in session.execute(query)]
