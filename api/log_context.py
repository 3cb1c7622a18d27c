"""Which call a log line is about: the channel, PBX session and workflow id a request is
handling, kept in a context variable so every line written meanwhile (the ingress's, the
engine's on its worker thread, Temporal's client's) carries them without being handed them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

__all__ = ["bind_call", "call_fields", "call_scope"]

_EMPTY: Mapping[str, str] = MappingProxyType({})
_CALL: ContextVar[Mapping[str, str]] = ContextVar("pbxhub_call_log_fields", default=_EMPTY)


def call_fields() -> Mapping[str, str]:
    """channel_id, session_id, workflow_id, as far as they are known here."""
    return _CALL.get()


def bind_call(**fields: object) -> None:
    """Add to the current call's fields (None values are left out)."""
    given = {name: str(value) for name, value in fields.items() if value is not None}
    _CALL.set(MappingProxyType({**_CALL.get(), **given}))


@contextmanager
def call_scope() -> Iterator[None]:
    """Fields bound inside are forgotten at the end: the next request starts with none."""
    token = _CALL.set(_EMPTY)
    try:
        yield
    finally:
        _CALL.reset(token)
