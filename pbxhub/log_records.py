"""What every log line of pbxhub carries beyond its message: the call it is about (channel,
session, workflow id: from the request's context in the API, from Temporal's activity or
workflow info in the worker), and phone numbers masked unless the level is DEBUG.

`JsonFormatter` writes one JSON object per line for log collectors (PBXHUB_LOG_FORMAT=json);
the text formatter (logging_setup) stays the readable default of `pbxhub dev`'s console.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from api.log_context import call_fields

__all__ = ["JsonFormatter", "call_of_record", "mask_phones"]

# E.164 as pbxhub writes numbers (phonenumbers' format): a plus and 7..15 digits.
_PHONE = re.compile(r"\+\d{7,15}(?!\d)")


def mask_phones(text: str) -> str:
    """Each phone number cut to its country and operator code and last two digits."""
    return _PHONE.sub(lambda m: m[0][:5] + "*" * (len(m[0]) - 7) + m[0][-2:], text)


def _temporal_workflow_id(record: logging.LogRecord) -> tuple[str | None, str | None]:
    """(workflow id, activity type) from temporalio's loggers' extras, or the running activity."""
    for extra in ("temporal_activity", "temporal_workflow"):
        info = getattr(record, extra, None)
        if isinstance(info, dict) and info.get("workflow_id"):
            return str(info["workflow_id"]), info.get("activity_type")
    if activity.in_activity():  # a plain logger inside an activity (its own thread or task)
        current = activity.info()
        return current.workflow_id, current.activity_type
    return None, None


def call_of_record(record: logging.LogRecord, workflow_id_prefix: str) -> dict[str, str]:
    """channel_id, session_id, workflow_id (and activity) of the call a record is about."""
    fields = dict(call_fields())
    workflow_id, activity_type = _temporal_workflow_id(record)
    if workflow_id and "workflow_id" not in fields:
        fields["workflow_id"] = workflow_id
    if activity_type:
        fields["activity"] = activity_type
    if workflow_id and "channel_id" not in fields:
        # a call's workflow id is `<prefix>-<channel id>-<session id>` (call_workflow_id)
        found = re.fullmatch(re.escape(workflow_id_prefix) + r"-(\d+)-(.+)", workflow_id, re.S)
        if found:
            fields["channel_id"], fields["session_id"] = found[1], found[2]
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the call's fields, exception."""

    def __init__(self, *, workflow_id_prefix: str = "call", show_phones: bool = False) -> None:
        super().__init__()
        self._prefix = workflow_id_prefix
        self._show_phones = show_phones

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._shown(message),
            **call_of_record(record, self._prefix),
        }
        if record.exc_info:
            line["exception"] = self._shown(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # ASCII only: no raw line or paragraph separator can split the line in a viewer
        return json.dumps(line, ensure_ascii=True, default=str)

    def _shown(self, text: str) -> str:
        return text if self._show_phones else mask_phones(text)
