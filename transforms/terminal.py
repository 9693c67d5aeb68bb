"""Text from data, made safe to show on a terminal or store as a message.

File names, row fields, role names and error messages come from the data, and a
terminal obeys what it is sent: an OSC sequence retitles the window, ESC[2J
clears the screen, a carriage return followed by erase-line hides what was
printed, and a bidi override reorders the characters after it. So every
control character is shown as its escape (ESC as the four characters \\x1b,
U+202E as \\u202e) instead of being sent. Backslashes are left as they are,
so Windows paths and regular expressions read unchanged.
"""

from __future__ import annotations

# C0 controls, DEL, C1 controls, and the bidi embeddings, overrides and isolates.
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_ONE_LINE = {code: _escape(code) for code in _CONTROLS}
_LINES = {code: text for code, text in _ONE_LINE.items() if code not in (0x09, 0x0A)}


def escape_control(text: str, keep_newlines: bool = False) -> str:
    """`text` with every control character written as its escape.

    keep_newlines: a multi-line display (an error message that quotes a YAML
    error, say) keeps its newlines and tabs; anything shown as one line
    escapes them too, so a name cannot start a line of its own.
    """
    return text.translate(_LINES if keep_newlines else _ONE_LINE)
