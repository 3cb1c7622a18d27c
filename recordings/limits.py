"""A channel's own recording download limits (`settings.recording_max_bytes`,
`recording_fetch_attempts`, `recording_retry_seconds`): each one, when set, replaces the
installation's default (PBXHUB_RECORDING_MAX_BYTES, ..._FETCH_ATTEMPTS, ..._RETRY_SECONDS)
for that channel's calls. Read and checked in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "MAX_FETCH_ATTEMPTS",
    "RECORDING_LIMIT_SETTINGS",
    "ChannelRecordingLimits",
    "check_recording_limit_settings",
    "recording_limits",
]

# The most attempts a channel may ask for: the workflow's own bound on one recording's fetch.
MAX_FETCH_ATTEMPTS: Final = 50
# name → (the number's type, least, greatest)
RECORDING_LIMIT_SETTINGS: Final[dict[str, tuple[type, float, float]]] = {
    "recording_max_bytes": (int, 1, 10 * 1024**3),
    "recording_fetch_attempts": (int, 1, MAX_FETCH_ATTEMPTS),
    "recording_retry_seconds": (float, 1, 3600),
}


@dataclass(frozen=True)
class ChannelRecordingLimits:
    """What the channel sets; None: the installation's default."""

    max_bytes: int | None = None
    fetch_attempts: int | None = None
    retry_seconds: float | None = None


def check_recording_limit_settings(settings: Mapping[str, Any]) -> None:
    """ValueError naming the setting when a limit is not a number in its range."""
    for name, (kind, least, greatest) in RECORDING_LIMIT_SETTINGS.items():
        value = settings.get(name)
        if value is None:
            continue
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if not numeric or (kind is int and not float(value).is_integer()):
            wanted = "a whole number" if kind is int else "a number"
            raise ValueError(f"{name} must be {wanted}, not {value!r}")
        if not least <= value <= greatest:
            raise ValueError(f"{name} must be {least:g} to {greatest:g}, not {value!r}")


def recording_limits(settings: Mapping[str, Any]) -> ChannelRecordingLimits:
    """The channel's limits; a value that does not check (never saved so) is the default."""
    values: dict[str, Any] = {}
    for name, (kind, least, greatest) in RECORDING_LIMIT_SETTINGS.items():
        value = settings.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if least <= value <= greatest:
                values[name] = kind(value)
    return ChannelRecordingLimits(
        max_bytes=values.get("recording_max_bytes"),
        fetch_attempts=values.get("recording_fetch_attempts"),
        retry_seconds=values.get("recording_retry_seconds"),
    )
