"""The people side of the store: channels (PBX accounts), employees with their phones, their
identity in each channel (`Employee.extension_on` reads their extension there) and their API
tokens, and groups of employees."""

from __future__ import annotations

import copy
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contracts.phones import require_e164
from crm.records import Channel, Employee, EmployeeLink, Group
from crm.store.engine import StoreCore, write_changes
from crm.store.mapping import channel_of, employee_of, group_of
from crm.store.validation import (
    check_channels_exist,
    check_country,
    check_employees_exist,
    check_timezone,
    check_working_hours,
    require_aware,
)
from crm.tables import (
    ChannelRow,
    EmployeeChannelLinkRow,
    EmployeePhoneRow,
    EmployeeRow,
    GroupMemberRow,
    GroupRow,
    utcnow,
)

_CHANNEL_BY_KEY: Final = select(ChannelRow.__table__).where(
    ChannelRow.secret_key == bindparam("secret_key")
)


class ConflictError(Exception):
    """A write would give an extension or a PBX user id a second employee in one channel."""


class ChannelStore(StoreCore):
    """Channels: one PBX account each, found by the secret key its webhooks carry."""

    def create_channel(
        self,
        *,
        provider: str,
        name: str,
        default_country: str = "RU",
        timezone: str = "Europe/Moscow",
        settings: Mapping[str, Any] | None = None,
    ) -> Channel:
        """Connect a PBX account; its webhooks will carry the generated secret key."""
        country = check_country("default_country", default_country)
        check_timezone("timezone", timezone)
        with self._writes.begin() as session:
            row = ChannelRow(
                provider=provider,
                name=name,
                secret_key=secrets.token_urlsafe(24),
                default_country=country,
                timezone=timezone,
                settings=copy.deepcopy(dict(settings or {})),
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            return channel_of(row)

    def get_channel(self, channel_id: int) -> Channel | None:
        return self._get(ChannelRow, channel_id, channel_of)

    def get_channel_by_key(self, secret_key: str) -> Channel | None:
        """The channel a webhook URL names, or None for a wrong key. Read on every webhook, so
        one plain query built once, no ORM object (a quarter of its CPU: bench/routing.py); not
        cached, so an edit by any process counts from the next webhook on."""
        with self._engine.connect() as connection:
            row = connection.execute(_CHANNEL_BY_KEY, {"secret_key": secret_key}).first()
        return None if row is None else channel_of(row)

    def list_channels(self) -> list[Channel]:
        with self._reads() as session:
            rows = session.scalars(select(ChannelRow).order_by(ChannelRow.id))
            return [channel_of(row) for row in rows]

    def update_channel(
        self,
        channel_id: int,
        *,
        name: str | None = None,
        settings_patch: Mapping[str, Any] | None = None,
    ) -> tuple[Channel, Channel] | None:
        """Rename a channel and/or change its settings by a JSON merge patch (RFC 7396: objects
        merge key by key, null removes a key, anything else replaces). Returns the channel before
        and after, or None if there is no such channel. Concurrent patches of different keys
        both survive: the row is locked for the read-modify-write."""
        with self._writes.begin() as session:
            row = session.get(ChannelRow, channel_id, with_for_update=True)
            if row is None:
                return None
            before = channel_of(row)
            if name is not None:
                row.name = name
            if settings_patch:
                row.settings = _merge_patch(copy.deepcopy(row.settings), settings_patch)
            session.flush()
            return before, channel_of(row)


class EmployeeStore(StoreCore):
    """Employees: their own phones, how each channel's PBX names them, their working hours,
    their right to hear recordings and their API token."""

    def create_employee(
        self,
        *,
        name: str,
        phones: Sequence[str] = (),
        links: Sequence[EmployeeLink] = (),
        working_hours: Mapping[str, Any] | None = None,
        hears_recordings: bool = False,
    ) -> Employee:
        """Add an employee with their own phones (E.164), their identity in each channel, and
        whether they have the right to hear recordings.

        Raises ConflictError when an extension or PBX user id already belongs to someone in
        that channel, ValueError for an unknown channel, a channel given twice or working
        hours not in the shape `check_working_hours` accepts.
        """
        hours = None if working_hours is None else check_working_hours(working_hours)
        own_phones = list(dict.fromkeys(require_e164(phone) for phone in phones))
        channel_ids = [link.channel_id for link in links]
        if len(set(channel_ids)) != len(channel_ids):
            raise ValueError("an employee has one link per channel; a channel was given twice")
        try:
            with self._writes.begin() as session:
                check_channels_exist(session, channel_ids)
                _check_links_free(session, links)
                row = EmployeeRow(
                    name=name,
                    created_at=utcnow(),
                    working_hours=hours,
                    hears_recordings=hears_recordings,
                    phones=[EmployeePhoneRow(phone=phone) for phone in own_phones],
                    links=[
                        EmployeeChannelLinkRow(
                            channel_id=link.channel_id,
                            extension=link.extension,
                            pbx_user_id=link.pbx_user_id,
                        )
                        for link in links
                    ],
                )
                session.add(row)
                session.flush()
                return employee_of(row)
        except IntegrityError as error:
            # Someone took the same extension between our check and our insert.
            raise ConflictError(f"an extension or PBX user id is already taken: {error}") from None

    def set_working_hours(
        self, employee_id: int, working_hours: Mapping[str, Any] | None
    ) -> Employee | None:
        """Replace an employee's working hours (None: no schedule); None if no such employee.

        Raises ValueError for hours not in the shape `check_working_hours` accepts.
        """
        hours = None if working_hours is None else check_working_hours(working_hours)
        return self._change_employee(employee_id, working_hours=hours)

    def set_hears_recordings(self, employee_id: int, hears: bool) -> Employee | None:
        """Give or take an employee's right to hear recordings; None if no such employee."""
        return self._change_employee(employee_id, hears_recordings=hears)

    def issue_token(self, employee_id: int, *, expires_at: datetime | None = None) -> str | None:
        """A new API token for the employee, replacing the one they had, valid until
        `expires_at` (None: until revoked or replaced); None if no such employee. Only its
        SHA-256 is kept: this answer is the one time the token is seen. Raises ValueError for
        a naive or past `expires_at`."""
        require_aware("expires_at", expires_at)
        if expires_at is not None and expires_at <= utcnow():
            raise ValueError(f"expires_at {expires_at.isoformat()} is not in the future")
        token = secrets.token_urlsafe(32)
        with self._writes.begin() as session:
            row = session.get(EmployeeRow, employee_id)
            if row is None:
                return None
            row.token_sha256 = _token_digest(token)
            row.token_expires_at = expires_at
            session.flush()
        return token

    def revoke_token(self, employee_id: int) -> bool | None:
        """Forget the employee's API token: True if they had one; None if no such employee."""
        with self._writes.begin() as session:
            row = session.get(EmployeeRow, employee_id)
            if row is None:
                return None
            had = row.token_sha256 is not None
            row.token_sha256 = None
            row.token_expires_at = None
            session.flush()
            return had

    def employee_by_token(self, token: str, *, now: datetime | None = None) -> Employee | None:
        """The employee whose API token this is (found by its SHA-256) and has not expired by
        `now` (default: this moment), or None."""
        require_aware("now", now)
        query = select(EmployeeRow).where(
            EmployeeRow.token_sha256 == _token_digest(token),
            or_(
                EmployeeRow.token_expires_at.is_(None),
                EmployeeRow.token_expires_at > (now or utcnow()),
            ),
        )
        return self._first(query, employee_of)

    def get_employee(self, employee_id: int) -> Employee | None:
        return self._get(EmployeeRow, employee_id, employee_of)

    def list_employees(self, *, channel_id: int | None = None) -> list[Employee]:
        """All employees, or those who work in one channel."""
        query = select(EmployeeRow).order_by(EmployeeRow.id)
        if channel_id is not None:
            in_channel = select(EmployeeChannelLinkRow.employee_id).where(
                EmployeeChannelLinkRow.channel_id == channel_id
            )
            query = query.where(EmployeeRow.id.in_(in_channel))
        with self._reads() as session:
            return [employee_of(row) for row in session.scalars(query)]

    def find_employee(
        self, channel_id: int, *, extension: str | None = None, pbx_user_id: str | None = None
    ) -> Employee | None:
        """Who the PBX of a channel means; its own user id is trusted over a short number."""
        with self._reads() as session:
            for column, value in (
                (EmployeeChannelLinkRow.pbx_user_id, pbx_user_id),
                (EmployeeChannelLinkRow.extension, extension),
            ):
                if value is None:
                    continue
                row = session.scalar(
                    select(EmployeeRow)
                    .join(EmployeeRow.links)
                    .where(EmployeeChannelLinkRow.channel_id == channel_id, column == value)
                )
                if row is not None:
                    return employee_of(row)
            return None

    def find_employee_by_phone(self, phone: str) -> Employee | None:
        """The employee whose own phone this is (their calls are not calls with a contact)."""
        return self._first(
            select(EmployeeRow)
            .join(EmployeeRow.phones)
            .where(EmployeePhoneRow.phone == phone)
            .order_by(EmployeeRow.id)
            .limit(1),
            employee_of,
        )

    def employee_names(self, employee_ids: Sequence[int]) -> dict[int, str]:
        """The names of these employees, by id (unknown ids left out)."""
        wanted = list(set(employee_ids))
        if not wanted:
            return {}
        query = select(EmployeeRow.id, EmployeeRow.name).where(EmployeeRow.id.in_(wanted))
        with self._reads() as session:
            return {employee_id: name for employee_id, name in session.execute(query)}

    def _change_employee(self, employee_id: int, **columns: Any) -> Employee | None:
        """Set columns of an employee's row (written only when they differ); None if no such
        employee."""
        with self._writes.begin() as session:
            row = session.get(EmployeeRow, employee_id)
            if row is None:
                return None
            if write_changes(row, columns):
                session.flush()
            return employee_of(row)


class GroupStore(StoreCore):
    """Named groups of employees (whom a task rule may assign to)."""

    def create_group(self, *, name: str, employee_ids: Sequence[int] = ()) -> Group:
        """A named group of employees; ValueError for an unknown employee."""
        members = list(dict.fromkeys(employee_ids))
        with self._writes.begin() as session:
            check_employees_exist(session, members)
            row = GroupRow(
                name=name,
                created_at=utcnow(),
                members=[GroupMemberRow(employee_id=employee_id) for employee_id in members],
            )
            session.add(row)
            session.flush()
            return group_of(row)

    def get_group(self, group_id: int) -> Group | None:
        return self._get(GroupRow, group_id, group_of)

    def list_groups(self) -> list[Group]:
        with self._reads() as session:
            return [
                group_of(row) for row in session.scalars(select(GroupRow).order_by(GroupRow.id))
            ]

    def add_to_group(self, group_id: int, employee_id: int) -> Group | None:
        """Make an employee a member (once); None if no such group, ValueError if no employee."""
        with self._writes.begin() as session:
            row = session.get(GroupRow, group_id, with_for_update=True)
            if row is None:
                return None
            check_employees_exist(session, [employee_id])
            if employee_id not in {member.employee_id for member in row.members}:
                row.members.append(GroupMemberRow(employee_id=employee_id))
                session.flush()
            return group_of(row)

    def employees_in_groups(self, group_ids: Sequence[int]) -> list[Employee]:
        """The members of these groups, each once, by id; ValueError naming an unknown group."""
        wanted = list(dict.fromkeys(group_ids))
        with self._reads() as session:
            known = set(session.scalars(select(GroupRow.id).where(GroupRow.id.in_(wanted))))
            unknown = [group_id for group_id in wanted if group_id not in known]
            if unknown:
                raise ValueError(f"no group with id {unknown[0]}")
            members = select(GroupMemberRow.employee_id).where(GroupMemberRow.group_id.in_(wanted))
            rows = session.scalars(
                select(EmployeeRow).where(EmployeeRow.id.in_(members)).order_by(EmployeeRow.id)
            )
            return [employee_of(row) for row in rows]


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch of `target` by `patch`."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _check_links_free(session: Session, links: Sequence[EmployeeLink]) -> None:
    for link in links:
        for what, column, value in (
            ("extension", EmployeeChannelLinkRow.extension, link.extension),
            ("PBX user id", EmployeeChannelLinkRow.pbx_user_id, link.pbx_user_id),
        ):
            if value is None:
                continue
            owner = session.scalar(
                select(EmployeeChannelLinkRow.employee_id).where(
                    EmployeeChannelLinkRow.channel_id == link.channel_id, column == value
                )
            )
            if owner is not None:
                raise ConflictError(
                    f"{what} {value!r} in channel {link.channel_id} belongs to employee {owner}"
                )


def _token_digest(token: str) -> str:
    # A token is random and long: a plain SHA-256 of it cannot be turned back into it.
    return hashlib.sha256(token.encode()).hexdigest()
