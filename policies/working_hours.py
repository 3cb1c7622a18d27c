"""Whether a moment falls in an employee's working hours (in the shape the store checks and
keeps: `crm.check_working_hours`)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from crm.store.validation import WEEKDAYS


def is_working_at(working_hours: Mapping[str, Any], moment: datetime) -> bool:
    """Whether an aware `moment` falls in these (checked) working hours, in their own zone."""
    local = moment.astimezone(zoneinfo.ZoneInfo(working_hours["timezone"]))
    intervals = working_hours["days"].get(WEEKDAYS[local.weekday()], [])
    now = local.strftime("%H:%M")
    return any(start <= now < end for start, end in intervals)
