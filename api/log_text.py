"""Text from a request made safe for one log line: control characters written as escapes, so a
value a PBX sent cannot start a forged record or repaint a terminal. Used by the ingress's own
messages and by pbxhub's log formatter, so both escape alike."""

from __future__ import annotations

__all__ = ["escape_controls", "printable"]


def _control_escapes() -> dict[int, str]:
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    table: dict[int, str] = {}
    # C0, DEL and C1 controls (ESC starts terminal sequences, NEL breaks lines in some viewers),
    # and the Unicode line and paragraph separators that str.splitlines() also breaks on.
    for code in [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]:
        char = chr(code)
        table[code] = named.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return table


_ESCAPES = _control_escapes()


def escape_controls(text: str) -> str:
    """`text` with every control character written as its Python escape (`\\n`, `\\x1b`)."""
    return text.translate(_ESCAPES)


def printable(text: str, limit: int = 200) -> str:
    """`text` escaped and bounded: a quoted URL part or reason, not the sender's whole essay."""
    return escape_controls(text[:limit]) + ("…" if len(text) > limit else "")
