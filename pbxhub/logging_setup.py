"""pbxhub's log lines: one line per record, whatever a request puts into it.

Log lines carry values a PBX sent (a session id, an endpoint path, a rejected field): a value
holding a line break or a terminal escape must not start a forged record or repaint the
operator's terminal. Every record passes through `SingleLineFormatter`, installed on the root
handler by `configure_logging`, so pbxhub's loggers, uvicorn's and Temporal's are all covered.
"""

from __future__ import annotations

import logging
import os

from api.log_text import escape_controls
from pbxhub.log_records import JsonFormatter, mask_phones

__all__ = [
    "LOG_FORMAT",
    "SingleLineFormatter",
    "configure_logging",
    "escape_controls",
    "forward_temporal_core_logs",
]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class SingleLineFormatter(logging.Formatter):
    """A record is one line starting at column 0: its message with control characters escaped.

    A traceback or stack still follows on its own lines (readable), each indented, with its
    control characters escaped too: an exception message from a request cannot start a line that
    looks like a record. Phone numbers are masked unless `show_phones` (DEBUG).
    """

    def __init__(self, fmt: str | None = None, *, show_phones: bool = True) -> None:
        super().__init__(fmt)
        self._show_phones = show_phones

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if not self._show_phones:
            record.message = mask_phones(record.message)
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = escape_controls(self.formatMessage(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        stack = self.formatStack(record.stack_info) if record.stack_info else ""
        for text in (record.exc_text or "", stack):
            # split on "\n" only: every other control inside a line is escaped, not followed
            for detail in text.split("\n"):
                if detail:
                    line += "\n    " + escape_controls(detail)
        return line


def configure_logging(
    level: str | None = None, log_format: str | None = None, *, workflow_id_prefix: str = "call"
) -> None:
    """Lines at `level` or PBXHUB_LOG_LEVEL (INFO), as `log_format` or PBXHUB_LOG_FORMAT says:
    "text" (`SingleLineFormatter`: time, level, logger, message) or "json" (`JsonFormatter`:
    one object a line, with the call's channel, session and workflow id). Phone numbers are
    shown whole only at DEBUG."""
    level = (level or os.environ.get("PBXHUB_LOG_LEVEL") or "INFO").upper()
    log_format = log_format or os.environ.get("PBXHUB_LOG_FORMAT") or "text"
    show_phones = level == "DEBUG"
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter(workflow_id_prefix=workflow_id_prefix, show_phones=show_phones)
        if log_format == "json"
        else SingleLineFormatter(LOG_FORMAT, show_phones=show_phones)
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # uvicorn's records reach the handler above: pbxhub starts it with log_config=None, so it
    # installs no handlers (and formatters) of its own.
    # Migrations narrate every plugin they load; only their problems are worth a line.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every request's full URL at INFO: a PBX link or API query may carry a key.
    # pbxhub's own lines name only the host (OutboundRequest.describe, the download guard).
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def forward_temporal_core_logs() -> None:
    """The Temporal client's own log lines (its Rust core: connection retries, worker
    problems) through Python logging as `temporalio.core`, so the formatter above writes them
    too, instead of the core writing colour-coded lines straight to stderr.

    Call it before the first Temporal client or worker is made: they keep the runtime they
    were made with."""
    from temporalio.runtime import (
        LogForwardingConfig,
        LoggingConfig,
        Runtime,
        TelemetryConfig,
        TelemetryFilter,
    )

    # the core's module path is kept in the message, not in the logger's name
    forwarding = LogForwardingConfig(
        logger=logging.getLogger("temporalio.core"), append_target_to_name=False
    )
    logs = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"), forwarding=forwarding
    )
    Runtime.set_default(
        Runtime(telemetry=TelemetryConfig(logging=logs)), error_if_already_set=False
    )
