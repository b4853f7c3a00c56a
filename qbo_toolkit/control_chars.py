"""Control characters in people's text: found, named, and refused with a sentence.

A NUL, an escape or a backspace in a client's name is never meant: it comes from a broken export
or from someone probing. It cannot be shown in a report, Excel refuses to store it, and QBO must
never receive it. The CSV import, the WORK store and the sync's name checks all refuse text that
holds one, through :func:`control_problem`, so the rule and its wording are the same everywhere.

What counts: the C0 controls (U+0000 to U+001F) and DEL (U+007F). Tab, line feed and carriage
return are allowed only in fields that hold several lines (``multiline=True``: notes, a line's
description, an address line); everywhere else they are refused too.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["LINE_CONTROLS", "NOT_LINE_CONTROLS", "control_name", "control_problem", "find_control"]

#: The controls a multi-line field may hold.
LINE_CONTROLS: Final = "\t\n\r"
_ANY: Final = re.compile("[\x00-\x1f\x7f]")
#: Every control character but :data:`LINE_CONTROLS` (what a multi-line field may not hold).
NOT_LINE_CONTROLS: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NAMES: Final = {
    0x00: "NUL", 0x07: "bell", 0x08: "backspace", 0x09: "tab", 0x0A: "line break", 0x0B: "vertical tab",
    0x0C: "form feed", 0x0D: "carriage return", 0x1B: "escape", 0x7F: "DEL",
}


def control_name(char: str) -> str:
    """``"NUL (U+0000)"``, ``"tab (U+0009)"``, ``"U+001F"``."""
    code = ord(char)
    name = _NAMES.get(code)
    return f"{name} (U+{code:04X})" if name else f"U+{code:04X}"


def find_control(text: str, *, multiline: bool = False) -> tuple[int, str] | None:
    """(index, character) of the first control character ``text`` may not hold, or None."""
    if text.isprintable():  # the fast path: no control (nor any other non-printable) character
        return None
    match = (NOT_LINE_CONTROLS if multiline else _ANY).search(text)
    return None if match is None else (match.start(), match.group())


def control_problem(text: str, *, multiline: bool = False) -> str | None:
    """What is wrong, as the end of a sentence that starts with the field (``"holds a control
    character, NUL (U+0000), at character 4; remove it ..."``), or None when ``text`` holds no
    control character it may not."""
    found = find_control(text, multiline=multiline)
    if found is None:
        return None
    index, char = found
    return (f"holds a control character, {control_name(char)}, at character {index + 1}; remove it (control "
            "characters cannot be shown in reports or sent to QuickBooks)")
