"""escape_control: what a terminal would obey is shown as text instead."""

from __future__ import annotations

import pytest

from winnow.transforms.terminal import escape_control

# The payloads of issue 10 item 6, and what each must become.
PAYLOADS = {
    "osc_title": ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),
    "clear_screen": ("\x1b[2J", "\\x1b[2J"),
    "cr_erase_line": ("ok\r\x1b[K", "ok\\x0d\\x1b[K"),
    "c1_csi": ("\x9b2J", "\\x9b2J"),
    "del_and_nul": ("a\x7fb\x00", "a\\x7fb\\x00"),
    "bidi_override": ("abc\u202edcba", "abc\\u202edcba"),
    "bidi_isolate": ("\u2066x\u2069", "\\u2066x\\u2069"),
}


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_each_payload_is_shown_as_its_escape(name):
    text, shown = PAYLOADS[name]
    assert escape_control(text) == shown
    assert escape_control(text, keep_newlines=True) == shown


def test_every_control_character_is_escaped():
    controls = [*range(0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
    for code in controls:
        out = escape_control(chr(code))
        assert out.startswith("\\") and out.isascii() and out.isprintable(), hex(code)


def test_newlines_and_tabs_are_kept_only_where_a_display_has_several_lines():
    assert escape_control("a\nb\tc") == "a\\x0ab\\x09c"
    assert escape_control("a\nb\tc", keep_newlines=True) == "a\nb\tc"
    assert escape_control("a\r\nb", keep_newlines=True) == "a\\x0d\nb"


def test_ordinary_text_is_unchanged():
    for text in ["unknown_role: conversations[1] has role 'wizard'", "C:\\data\\x1b.jsonl", "café 用户 ٱلعربية 🙂", ""]:
        assert escape_control(text) == text


def test_escaping_twice_changes_nothing_more():
    text = "\x1b]0;t\x07\u202e\r"
    assert escape_control(escape_control(text)) == escape_control(text)
