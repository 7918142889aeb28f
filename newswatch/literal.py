"""Text from the network or a user, made safe to show: control characters and bidi overrides
written as visible escapes (`\\x1b`, `\\u202e`) so that nothing in a value drives the terminal or
reorders what is shown. Used by the CLI (cli/show.py) and the run report (report.py)."""

from __future__ import annotations

from newswatch.redaction import redact

# C0 controls, DEL and C1 controls: a terminal acts on them (ESC starts colour/OSC 8 sequences,
# CR overwrites the line, BEL rings); bidi overrides and isolates reorder what is shown
_INVISIBLE = [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F),
              *range(0x2066, 0x206A)]
_VISIBLE = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _INVISIBLE}
# in CSV a newline or tab inside a quoted field is data, not a terminal command
_VISIBLE_CSV = {c: v for c, v in _VISIBLE.items() if c not in (0x09, 0x0A)}


def visible(value: object, *, csv: bool = False) -> str:
    """`value` as text with every control character written as a visible escape, and every
    configured secret masked (newswatch.redaction)."""
    text = "" if value is None else str(value)
    return redact(text).translate(_VISIBLE_CSV if csv else _VISIBLE)
