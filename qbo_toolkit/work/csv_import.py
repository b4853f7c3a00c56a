"""Load clients, invoices, payments, tax rates, credit notes, credit applications and refunds from CSV
files into the WORK store.

The columns are documented in ``docs/work-csv.md``. Each import checks every row, loads the rows
that are fine in one transaction, and reports each bad row by file, line and column
(:class:`RowError`), so one typo never blocks a thousand good rows and is never silently dropped
either.

Streamed (issue 14): a file is decoded as it is read and its rows are checked and written
:data:`CHUNK_ROWS` at a time, so memory grows with the file only by what must be remembered per row
(a 1,000,000-row clients file: about 105 MB at the peak, where reading it whole took 3.1 GB). That
is: the report's ids (a list, about 36 bytes a loaded record) and, for clients, the line of each
loaded row (8 bytes); the reported errors; the names that rows give as a parent and the lines of
rows waiting for a parent in the file; a credit note's or tax rate's number and line (to refuse a
repeat, about 100 bytes each); for invoices the last line of each number (its rows need not be
adjacent, about 130 bytes an invoice) and the rows of invoices not yet complete. The contract is
unchanged: all the writes of one import are one transaction, so it loads every good row or, if it
is interrupted or the file turns out unusable further down (not UTF-8, changed while being read),
nothing; importing again after a crash loads each row once.

What is strict, and why:

* Dates are ISO ``YYYY-MM-DD`` only. ``03/04/2026`` is March 4th in one country and April 3rd in
  another; guessing would put invoices in the wrong month.
* Money is plain digits with an optional sign and at most two decimals (``1234.50``): no currency
  symbols, no thousands separators, no fractions of a cent.
* Text is taken exactly as written, surrounding spaces included; references (``client``, ``item``,
  ``invoice_number``, ``parent_display_name``, ``tax_rate``, ``credit_note_number``) must match a
  name or number exactly.
* A line, credit note or refund with a ``tax_rate`` has its tax computed by WORK from that rate; a
  ``tax_amount`` given beside it must agree (blank is best). Without rates ``tax_amount`` is the tax.
* No cell may hold a control character (a NUL, an escape, ...: :mod:`qbo_toolkit.control_chars`);
  tab and line breaks only in the columns of several lines (``notes``, ``description``, address
  lines 1 and 2). Such a row is refused, naming the column; an invoice with such a row is not loaded.
* The header must name known columns (case and surrounding spaces are forgiven there): a misspelt
  column would otherwise be ignored and its data lost. A file that cannot be used at all (unknown or
  missing required columns, no header, not UTF-8) raises :class:`WorkDataError` and loads nothing.

Imports only add records; importing the same file twice adds the clients twice (their names need not
be unique) and reports every invoice number as already used.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any, Final, TypeVar

from ..control_chars import control_problem
from ..errors import WorkDataError
from .store import (
    CLIENT_TEXT_FIELDS,
    MULTILINE_TEXT_FIELDS,
    WorkStore,
    validate_client,
    validate_credit_note,
    validate_invoice,
    validate_payment,
    validate_refund,
)

__all__ = [
    "CLIENT_COLUMNS",
    "CREDIT_APPLICATION_COLUMNS",
    "CREDIT_NOTE_COLUMNS",
    "INVOICE_COLUMNS",
    "PAYMENT_COLUMNS",
    "REFUND_COLUMNS",
    "TAX_RATE_COLUMNS",
    "ImportReport",
    "RowError",
    "import_clients",
    "import_credit_applications",
    "import_credit_notes",
    "import_invoices",
    "import_payments",
    "import_refunds",
    "import_tax_rates",
]

# the store's client text fields, then what only a file has: the active flag and the parent's name
CLIENT_COLUMNS: Final = (*CLIENT_TEXT_FIELDS, "active", "parent_display_name")
INVOICE_COLUMNS: Final = (
    "number",
    "client",
    "issue_date",
    "due_date",
    "status",
    "item",
    "description",
    "qty",
    "unit_price",
    "taxable",
    "tax_amount",
    "terms",
    "tax_rate",
)
PAYMENT_COLUMNS: Final = ("invoice_number", "date", "amount", "method", "reference")
TAX_RATE_COLUMNS: Final = ("name", "rate", "active")
CREDIT_NOTE_COLUMNS: Final = ("number", "client", "date", "description", "item", "amount", "tax_rate", "tax_amount")
CREDIT_APPLICATION_COLUMNS: Final = ("credit_note_number", "invoice_number", "date", "amount")
REFUND_COLUMNS: Final = (
    "client", "date", "description", "item", "amount", "tax_rate", "tax_amount", "method", "reference"
)  # fmt: skip

_CLIENT_REQUIRED: Final = ("display_name",)
#: the client columns the store takes as they are (active is parsed, parent_display_name resolved)
_CLIENT_STORE_COLUMNS: Final = frozenset(CLIENT_COLUMNS) - {"active", "parent_display_name"}
#: Rows written per store call (and looked up per query batch) by a streamed import: large enough that
#: the per-call cost vanishes, small enough that a chunk's rows take a few megabytes.
CHUNK_ROWS: Final = 5000
T = TypeVar("T")
_INVOICE_REQUIRED: Final = ("number", "client", "issue_date")
_PAYMENT_REQUIRED: Final = ("invoice_number", "date", "amount")
#: Invoice columns that describe the whole invoice: repeated (or left blank) on its other lines.
_INVOICE_HEADER: Final = ("client", "issue_date", "due_date", "status", "tax_amount", "terms")

_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONEY: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_TRUE: Final = frozenset({"true", "yes", "y", "1", "t"})
_FALSE: Final = frozenset({"false", "no", "n", "0", "f"})
#: "lines[2].qty" in a store error -> line 2 of the invoice, CSV column "qty".
_LINE_FIELD: Final = re.compile(r"lines\[(\d+)\]\.(\w+)")
_STORE_TO_CSV: Final = {
    "client_id": "client",
    "item_id": "item",
    "invoice_id": "invoice_number",
    "credit_note_id": "credit_note_number",
    "total": "amount",
}


@dataclass(frozen=True)
class RowError:
    """One problem in one row: ``field`` is the CSV column (None when the row as a whole is bad)."""

    file: str
    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


@dataclass(frozen=True)
class ImportReport:
    """What one import did: ``loaded`` records (clients, invoices or payments), their ``ids``, the errors."""

    file: str
    loaded: int
    errors: list[RowError] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return f"{self.file}: {self.loaded} loaded, {len(self.errors)} error(s)"


class _BadValue(Exception):
    """A cell that does not parse; carries the column and a message for the RowError."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


@dataclass
class _Row:
    line: int
    cells: dict[str, str]
    #: a cell holds a control character (reported): the row is not loaded
    refused: bool = False

    def get(self, column: str) -> str:
        return self.cells.get(column, "")


class _Collector:
    """Errors of one file, at most one per (line, column), in line order."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[RowError] = []
        self.bad_lines: set[int] = set()

    def add(self, line: int, column: str | None, message: str) -> None:
        self.errors.append(RowError(self.file, line, column, message))
        self.bad_lines.add(line)

    def sorted(self) -> list[RowError]:
        return sorted(self.errors, key=lambda error: error.line)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _snapshot(path: str | os.PathLike[str], file: str) -> tuple[int, int]:
    """Size and modification time of ``path``: an import that reads it more than once checks that the
    file did not change in between (it would load a mix of two files)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise WorkDataError(f"cannot read {file}: {exc.strerror}", file=file) from None
    return info.st_size, info.st_mtime_ns


def _unchanged(path: str | os.PathLike[str], file: str, snapshot: tuple[int, int]) -> None:
    if _snapshot(path, file) != snapshot:
        raise WorkDataError(
            f"{file} changed while it was being imported; nothing was loaded, import it again", file=file
        )


def _first_bad_utf8_line(path: str | os.PathLike[str]) -> int:
    """The line of the first byte sequence that is not UTF-8 (1 when it cannot be found again).

    A line break never occurs inside a UTF-8 character, so decoding line by line fails on the same line
    as decoding the whole file: read one line at a time, whatever the file's size.
    """
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                return number
    return 1


def _batches(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    """``rows`` in lists of at most ``size``, in order."""
    batch: list[T] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _read(
    path: str | os.PathLike[str], columns: Sequence[str], required: Sequence[str], errors: _Collector
) -> Iterator[_Row]:
    """Rows of ``path`` as column -> text, with the line each row starts on, read as they are needed.

    The file is decoded as it is read (one buffer at a time, never held whole): a file that is not
    UTF-8 raises :class:`WorkDataError` when the bad bytes are reached, so an import that has
    written rows by then rolls them back (every import writes in one transaction). Blank lines are
    skipped; a row with the wrong number of cells is reported and skipped; a row the csv module
    cannot parse at all ends the file there (what follows cannot be trusted).
    """
    with _csv(path, columns, required, errors.file) as (reader, names):
        yield from _rows(reader, names, errors)


@contextmanager
def _csv(
    path: str | os.PathLike[str], columns: Sequence[str], required: Sequence[str], file: str
) -> Iterator[tuple[Any, list[str]]]:
    """A csv reader on ``path`` past its checked header, and the header's column names."""
    try:
        binary = open(path, "rb")
    except OSError as exc:
        raise WorkDataError(f"cannot read {file}: {exc.strerror}", file=file) from None
    # newline="": the csv module sees line breaks as written (quoted ones stay in the cell); utf-8-sig:
    # Excel writes a byte-order mark
    with binary, io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as handle:
        try:
            reader = csv.reader(handle)
            yield reader, _header(reader, columns, required, file)
        except UnicodeDecodeError:
            # A wrong encoding garbles every accented name: refuse the file rather than load half of it.
            line = _first_bad_utf8_line(path)
            raise WorkDataError(
                f"{file} is not UTF-8 text (line {line}); save it as CSV UTF-8 and import again", file=file, line=line
            ) from None


def _header(reader: Any, columns: Sequence[str], required: Sequence[str], file: str) -> list[str]:
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise WorkDataError(f"{file} has no readable header: {exc}", file=file, line=1) from None
    if header is None:
        raise WorkDataError(f"{file} is empty (expected a header row)", file=file, line=1)
    names = [name.strip().lower() for name in header]
    while names and not names[-1]:  # spreadsheets export empty trailing columns
        names.pop()
    unknown = [name for name in names if name not in columns]
    if unknown:
        raise WorkDataError(
            f"{file} has unknown column(s) {', '.join(map(repr, unknown))}; known columns: {', '.join(columns)}",
            file=file,
            line=1,
            field=unknown[0],
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise WorkDataError(f"{file} repeats column(s) {', '.join(repeated)}", file=file, line=1, field=repeated[0])
    missing = [name for name in required if name not in names]
    if missing:
        raise WorkDataError(
            f"{file} lacks required column(s) {', '.join(missing)}", file=file, line=1, field=missing[0]
        )
    return names


def _rows(reader: Any, names: list[str], errors: _Collector) -> Iterator[_Row]:
    previous_end = reader.line_num
    width = len(names)
    while True:
        start = previous_end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.add(start, None, f"cannot be read as CSV ({exc}); the rest of the file was not read")
            return
        previous_end = reader.line_num
        joined = "".join(cells)  # one string per row: its checks in one call each, not one per cell
        if not joined.strip():
            continue
        if len(cells) > width and not any(cell.strip() for cell in cells[width:]):
            cells = cells[:width]
        if len(cells) != width:
            errors.add(start, None, f"has {len(cells)} fields, the header has {width}")
            continue
        row = _Row(start, dict(zip(names, cells, strict=True)))
        if not joined.isprintable():  # the cells one by one only when one holds a control character
            for name, cell in row.cells.items():
                problem = None if cell.isprintable() else control_problem(cell, multiline=name in MULTILINE_TEXT_FIELDS)
                if problem is not None:
                    errors.add(start, name, problem)
                    row.refused = True
        yield row


def _values(
    path: str | os.PathLike[str], column: str, columns: Sequence[str], required: Sequence[str], file: str
) -> set[str]:
    """The non-empty cells of ``column`` in ``path``, quickly (no row checked: a superset of the good
    rows' values; rows after one the csv module cannot read are left out, as the import leaves them)."""
    found: set[str] = set()
    with _csv(path, columns, required, file) as (reader, names):
        if column not in names:
            return found
        index = names.index(column)
        while True:
            try:
                cells = next(reader)
            except (StopIteration, csv.Error):
                return found
            if len(cells) > index and cells[index]:
                found.add(cells[index])


def _date(row: _Row, column: str, *, required: bool) -> dt.date | None:
    text = row.get(column).strip()
    if not text:
        if required:
            raise _BadValue(column, "is required")
        return None
    if not _DATE.fullmatch(text):
        raise _BadValue(column, f"{text!r} is not a date as YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise _BadValue(column, f"{text!r} is not a real date") from None


def _money(row: _Row, column: str, *, default: Decimal | None = None) -> Decimal:
    text = row.get(column).strip()
    if not text:
        if default is None:
            raise _BadValue(column, "is required")
        return default
    if not _MONEY.fullmatch(text):
        raise _BadValue(column, f"{text!r} is not an amount (digits and a decimal point only, e.g. 1234.50)")
    amount = Decimal(text)
    if amount != amount.quantize(Decimal("0.01")):
        raise _BadValue(column, f"{text!r} has fractions of a cent")
    return amount


def _optional_money(row: _Row, column: str) -> Decimal | None:
    """An amount, or None for a blank cell."""
    return _money(row, column, default=Decimal("0.00")) if row.get(column).strip() else None


def _number(row: _Row, column: str, default: Decimal) -> Decimal:
    text = row.get(column).strip()
    if not text:
        return default
    if not _MONEY.fullmatch(text):
        raise _BadValue(column, f"{text!r} is not a number")
    return Decimal(text)


def _flag(row: _Row, column: str, default: bool) -> bool:
    text = row.get(column).strip().lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _BadValue(column, f"{row.get(column)!r} is not true or false (true/false, yes/no, 1/0)")


def _store_field(name: str | None) -> tuple[int | None, str | None]:
    """A store error's field as (line index within an invoice or None, CSV column or None)."""
    if name is None or name in ("lines", "total"):  # about the invoice as a whole
        return None, None
    match = _LINE_FIELD.fullmatch(name)
    if match:
        return int(match.group(1)), _STORE_TO_CSV.get(match.group(2), match.group(2))
    return None, _STORE_TO_CSV.get(name, name)


def _label(path: str | os.PathLike[str]) -> str:
    return os.fspath(path)


# --------------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------------


def import_clients(store: WorkStore, path: str | os.PathLike[str]) -> ImportReport:
    """Add the clients of a CSV file; see ``docs/work-csv.md`` for the columns.

    ``parent_display_name`` names the parent (for a site or sub-client): a client already in the
    store or another row of the file (in any order). It must match exactly one client.

    Streamed, so memory stays flat whatever the file's size: a first reading collects the parent
    names rows give (names only); when there are none, a second reading checks each row and writes
    the good ones, :data:`CHUNK_ROWS` at a time. With parents, the second reading checks each row and
    counts the rows called by a parent name, a third writes the rows whose parent is absent or
    already in the store, and each further reading writes the children of the rows loaded so far.
    Every write is in one transaction: the import loads all its good rows or, interrupted, nothing.
    """
    errors = _Collector(_label(path))
    snapshot = _snapshot(path, errors.file)
    # 1. the parent names the file's rows give (none without the column: no reading then)
    parents = _values(path, "parent_display_name", CLIENT_COLUMNS, _CLIENT_REQUIRED, errors.file)
    # 2. with parents, check every row first and note which good rows carry a parent's name
    in_file: dict[str, list[int]] = {}  # a parent's name -> [first line, count] of the good rows so called
    if parents:
        _unchanged(path, errors.file, snapshot)
        for row, fields in _checked_clients(path, errors):
            seen = in_file.get(fields["display_name"]) if fields["display_name"] in parents else None
            if seen is not None:
                seen[1] += 1
            elif fields["display_name"] in parents:
                in_file[fields["display_name"]] = [row.line, 1]
    parent_lines = {first for first, _ in in_file.values()}
    loaded = _Loaded(parent_lines)
    with store.begin() as conn:
        in_store = store.client_ids_by_name(parents, conn=conn)
        # 3. every good row whose parent is absent or in the store, in file order; the others wait
        waiting: set[int] = set()
        if parents:
            _unchanged(path, errors.file, snapshot)
            rows = _known_clients(path, errors)
        else:
            rows = _checked_clients(path, errors)
        ready: list[tuple[int, dict[str, Any]]] = []
        for row, fields in rows:
            parent = row.get("parent_display_name")
            if parent:
                found = in_file.get(parent)
                matches = len(in_store.get(parent, ())) + (found[1] if found is not None else 0)
                if matches == 0:
                    errors.add(row.line, "parent_display_name", f"no client is called {parent!r}")
                    continue
                if matches > 1:
                    errors.add(
                        row.line, "parent_display_name", f"{matches} clients are called {parent!r}; it is ambiguous"
                    )
                    continue
                if parent not in in_store:
                    waiting.add(row.line)
                    continue
                fields["parent_id"] = in_store[parent][0]
            ready.append((row.line, fields))
            if len(ready) >= CHUNK_ROWS:
                loaded.add(store, ready, conn)
                ready = []
        loaded.add(store, ready, conn)
        loaded.end_round()
        # 4. in rounds: the rows whose parent was loaded in an earlier round, then their children...
        while waiting:
            _unchanged(path, errors.file, snapshot)
            ready, later = [], set()
            for row, fields in _known_clients(path, errors):
                if row.line not in waiting:
                    continue
                parent_line = in_file[row.get("parent_display_name")][0]
                if parent_line in loaded.parent_ids:
                    ready.append((row.line, {**fields, "parent_id": loaded.parent_ids[parent_line]}))
                    if len(ready) >= CHUNK_ROWS:
                        loaded.add(store, ready, conn)
                        ready = []
                elif parent_line in errors.bad_lines:
                    errors.add(row.line, "parent_display_name", f"its parent (line {parent_line}) was not loaded")
                else:
                    later.add(row.line)
            if not loaded.this_round and not ready:
                for row, _ in _known_clients(path, errors):
                    if row.line in later:
                        parent = row.get("parent_display_name")
                        errors.add(row.line, "parent_display_name", f"the parents starting at {parent!r} form a loop")
                break
            loaded.add(store, ready, conn)
            loaded.end_round()
            waiting = later
        _unchanged(path, errors.file, snapshot)  # still the file read: else roll back rather than load a mix
        ids = loaded.ids_by_line()
    return ImportReport(errors.file, len(ids), errors.sorted(), ids)


def _client_fields(row: _Row) -> dict[str, Any]:
    """A client row's fields for the store (raises _BadValue for the active flag)."""
    # the file's columns only: the store gives the others their default, "" (fewer keys, faster checks)
    fields: dict[str, Any] = {column: text for column, text in row.cells.items() if column in _CLIENT_STORE_COLUMNS}
    fields["active"] = _flag(row, "active", True)
    return fields


def _checked_clients(path: str | os.PathLike[str], errors: _Collector) -> Iterator[tuple[_Row, dict[str, Any]]]:
    """The good client rows of ``path`` with their fields; each bad one reported in ``errors``."""
    for row in _read(path, CLIENT_COLUMNS, _CLIENT_REQUIRED, errors):
        if row.refused:
            continue
        try:
            fields = _client_fields(row)
        except _BadValue as bad:
            errors.add(row.line, bad.column, bad.message)
            continue
        try:
            validate_client(fields, label=f"client {fields['display_name'].strip() or '(no name)'}")
        except WorkDataError as exc:
            errors.add(row.line, exc.field, exc.message)
            continue
        yield row, fields


def _known_clients(path: str | os.PathLike[str], errors: _Collector) -> Iterator[tuple[_Row, dict[str, Any]]]:
    """The rows of ``path`` that :func:`_checked_clients` found good, read again (the problems of the
    others are already reported: they are not reported twice)."""
    bad = errors.bad_lines
    for row in _read(path, CLIENT_COLUMNS, _CLIENT_REQUIRED, _Collector(errors.file)):
        if row.line not in bad and not row.refused:
            yield row, _client_fields(row)


class _Loaded:
    """The clients one import wrote: line -> id of every row as two flat arrays (16 bytes a row, not a
    dict's hundred), and the ids of the rows other rows name as their parent, visible to the next round."""

    def __init__(self, parent_lines: set[int]) -> None:
        self.lines: array[int] = array("q")
        self.ids: array[int] = array("q")
        self.parent_lines = parent_lines
        self.parent_ids: dict[int, int] = {}
        self._new_parents: dict[int, int] = {}
        self.this_round = 0

    def add(self, store: WorkStore, ready: list[tuple[int, dict[str, Any]]], conn: Any) -> None:
        if not ready:
            return
        new_ids = store.bulk_add_clients([fields for _, fields in ready], conn=conn)
        for (line, _), new_id in zip(ready, new_ids, strict=True):
            self.lines.append(line)
            self.ids.append(new_id)
            if line in self.parent_lines:
                self._new_parents[line] = new_id
        self.this_round += len(ready)

    def end_round(self) -> None:
        self.parent_ids.update(self._new_parents)
        self._new_parents.clear()
        self.this_round = 0

    def ids_by_line(self) -> list[int]:
        lines = self.lines
        if all(lines[i] < lines[i + 1] for i in range(len(lines) - 1)):
            return self.ids.tolist()
        return [self.ids[i] for i in sorted(range(len(lines)), key=lines.__getitem__)]


# --------------------------------------------------------------------------------------------
# Invoices
# --------------------------------------------------------------------------------------------


def import_invoices(store: WorkStore, path: str | os.PathLike[str]) -> ImportReport:
    """Add the invoices of a CSV file with one row per invoice line; see ``docs/work-csv.md``.

    The rows of one invoice share its ``number`` (they need not be adjacent); the invoice columns
    (client, dates, status, tax_amount) are given on its first row and either repeated identically
    or left blank on the others. An invoice with any bad row is not loaded at all, and its first row
    says so. ``client`` must match exactly one client's display name; ``item`` an item's name. A
    blank ``unit_price`` takes the item's rate; a blank ``qty`` is 1.

    Streamed: a first bare reading notes the last line of each number; the second holds an
    invoice's rows only until its last one is read, and checks and writes whole invoices in file
    order (of their first rows), about :data:`CHUNK_ROWS` rows at a time, in one transaction.
    """
    errors = _Collector(_label(path))
    snapshot = _snapshot(path, errors.file)
    last = _last_lines(path, "number", INVOICE_COLUMNS, _INVOICE_REQUIRED, errors.file)
    ids: list[int] = []
    with store.begin() as conn:
        items = {item.name: item for item in store.items(conn=conn)}
        rates = store.tax_rate_percents(conn=conn)
        open_groups: dict[str, list[_Row]] = {}  # first-row order: an invoice waits for those before it
        done: list[tuple[str, list[_Row]]] = []
        done_rows = 0
        for row in _read(path, INVOICE_COLUMNS, _INVOICE_REQUIRED, errors):
            number = row.get("number")
            if not number.strip():
                errors.add(row.line, "number", "is required")
                continue
            if last.get(number, 0) < row.line:  # not seen by the first reading, or after its last line
                raise WorkDataError(
                    f"{errors.file} changed while it was being imported; nothing was loaded, import it again",
                    file=errors.file,
                )
            open_groups.setdefault(number, []).append(row)
            while open_groups:
                first = next(iter(open_groups))
                rows = open_groups[first]
                if rows[-1].line != last[first]:
                    break
                del open_groups[first]
                last[first] = 0  # written: a later row with its number would mean the file changed
                done.append((first, rows))
                done_rows += len(rows)
            if done_rows >= CHUNK_ROWS:
                ids.extend(_invoices_chunk(store, conn, done, items, rates, errors))
                done, done_rows = [], 0
        done.extend(open_groups.items())
        ids.extend(_invoices_chunk(store, conn, done, items, rates, errors))
        _unchanged(path, errors.file, snapshot)
    return ImportReport(errors.file, len(ids), errors.sorted(), ids)


def _last_lines(
    path: str | os.PathLike[str], column: str, columns: Sequence[str], required: Sequence[str], file: str
) -> dict[str, int]:
    """``column``'s value -> the line the last row with that value starts on, from a bare csv reading
    (every row :func:`_read` yields is seen; so may be a row it refuses, which only makes the line
    later than needed: an invoice then waits for the end of the file)."""
    last: dict[str, int] = {}
    with _csv(path, columns, required, file) as (reader, names):
        index = names.index(column)
        previous_end = reader.line_num
        while True:
            try:
                cells = next(reader)
            except (StopIteration, csv.Error):
                return last
            if len(cells) > index:
                last[cells[index]] = previous_end + 1
            previous_end = reader.line_num


def _invoices_chunk(
    store: WorkStore,
    conn: Any,
    groups: list[tuple[str, list[_Row]]],
    items: Mapping[str, Any],
    rates: Mapping[str, Decimal],
    errors: _Collector,
) -> list[int]:
    """Check whole invoices (their rows, in file order) and write the good ones; their ids."""
    if not groups:
        return []
    clients = store.client_ids_by_name({rows[0].get("client") for _, rows in groups}, conn=conn)
    taken = store.invoices_by_number([number for number, _ in groups], conn=conn)
    ready: list[dict[str, Any]] = []
    for number, rows in groups:
        if any(row.refused for row in rows):
            _not_loaded(number, rows, errors)
            continue
        invoice = _invoice_fields(number, rows, clients, items, errors)
        if invoice is None:
            continue
        if number in taken:
            errors.add(rows[0].line, "number", f"invoice {number!r} already exists in WORK")
            continue
        try:
            validate_invoice(invoice, label=f"invoice {number}", rates=rates)
        except WorkDataError as exc:
            index, column = _store_field(exc.field)
            errors.add(rows[index or 0].line, column, exc.message)
            _not_loaded(number, rows, errors)
            continue
        ready.append(invoice)
    return store.bulk_add_invoices(ready, conn=conn) if ready else []


def _not_loaded(number: str, rows: Sequence[_Row], errors: _Collector) -> None:
    bad = [row.line for row in rows if row.line in errors.bad_lines]
    if len(rows) > 1:
        listed = ", ".join(map(str, bad))
        message = f"invoice {number!r} was not loaded because of the errors on line(s) {listed}"
        errors.add(rows[0].line, "number", message)


def _invoice_fields(
    number: str,
    rows: Sequence[_Row],
    clients: Mapping[str, list[int]],
    items: Mapping[str, Any],
    errors: _Collector,
) -> dict[str, Any] | None:
    """The add_invoice arguments for one invoice's rows, or None (errors recorded)."""
    first = rows[0]
    failed = False

    def check(row: _Row, parse: Callable[[], Any]) -> Any:
        nonlocal failed
        try:
            return parse()
        except _BadValue as bad:
            errors.add(row.line, bad.column, bad.message)
            failed = True
            return None

    for row in rows[1:]:
        for column in _INVOICE_HEADER:
            value = row.get(column)
            if value.strip() and value != first.get(column):
                errors.add(row.line, column, f"{value!r} differs from {first.get(column)!r} on line {first.line}")
                failed = True

    client_name = first.get("client")
    client_id: int | None = None
    matches = clients.get(client_name, [])
    if not client_name.strip():
        errors.add(first.line, "client", "is required")
        failed = True
    elif not matches:
        errors.add(first.line, "client", f"no client is called {client_name!r}")
        failed = True
    elif len(matches) > 1:
        errors.add(first.line, "client", f"{len(matches)} clients are called {client_name!r}; it is ambiguous")
        failed = True
    else:
        client_id = matches[0]
    issue_date = check(first, partial(_date, first, "issue_date", required=True))
    due_date = check(first, partial(_date, first, "due_date", required=False))
    # blank: computed from the lines' tax rates, or none
    tax_amount = check(first, partial(_optional_money, first, "tax_amount"))
    status = first.get("status").strip().lower() or "open"

    lines: list[dict[str, Any]] = []
    for row in rows:
        item_name = row.get("item")
        item = items.get(item_name) if item_name.strip() else None
        if item_name.strip() and item is None:
            errors.add(row.line, "item", f"no item is called {item_name!r}")
            failed = True
        default_price = item.rate if item is not None else None
        unit_price = check(row, partial(_money, row, "unit_price", default=default_price))
        qty = check(row, partial(_number, row, "qty", Decimal(1)))
        taxable = check(row, partial(_flag, row, "taxable", False))
        lines.append(
            {
                "item_id": item.id if item is not None else None,
                "description": row.get("description"),
                "qty": qty,
                "unit_price": unit_price,
                "taxable": taxable,
                "tax_rate": row.get("tax_rate"),
            }
        )
    if failed:
        _not_loaded(number, rows, errors)
        return None
    return {
        "number": number,
        "client_id": client_id,
        "issue_date": issue_date,
        "due_date": due_date,
        "status": status,
        "tax_amount": tax_amount,
        "terms": first.get("terms"),
        "lines": lines,
    }


# --------------------------------------------------------------------------------------------
# Payments
# --------------------------------------------------------------------------------------------


def import_payments(store: WorkStore, path: str | os.PathLike[str]) -> ImportReport:
    """Add the payments of a CSV file; see ``docs/work-csv.md``.

    ``invoice_number`` names a live invoice (not void, not deleted). Payments on one invoice, those
    already stored plus the file's in order, may not add up to more than its total.

    Streamed: read :data:`CHUNK_ROWS` rows at a time, each chunk's invoices and amounts already paid
    looked up (the earlier chunks' payments included: they were written in the same transaction) and
    its good rows written. Everything is in one transaction: all the good rows or, when the file
    turns out unusable (not UTF-8 further down, changed meanwhile) or the import is interrupted,
    nothing.
    """
    errors = _Collector(_label(path))
    snapshot = _snapshot(path, errors.file)
    ids: list[int] = []
    with store.begin() as conn:
        for chunk in _batches(_read(path, PAYMENT_COLUMNS, _PAYMENT_REQUIRED, errors), CHUNK_ROWS):
            ids.extend(_payments_chunk(store, conn, chunk, errors))
        _unchanged(path, errors.file, snapshot)
    return ImportReport(errors.file, len(ids), errors.sorted(), ids)


def _payments_chunk(store: WorkStore, conn: Any, chunk: list[_Row], errors: _Collector) -> list[int]:
    parsed: list[tuple[_Row, str, dt.date, Decimal]] = []
    for row in chunk:
        if row.refused:
            continue
        number = row.get("invoice_number")
        if not number.strip():
            errors.add(row.line, "invoice_number", "is required")
            continue
        try:
            day = _date(row, "date", required=True)
            amount = _money(row, "amount")
        except _BadValue as bad:
            errors.add(row.line, bad.column, bad.message)
            continue
        assert day is not None
        parsed.append((row, number, day, amount))
    invoices = store.invoices_by_number({number for _, number, _, _ in parsed}, conn=conn)
    wanted = [invoice.id for invoice in invoices.values()]
    paid = store.paid_amounts(wanted, conn=conn)  # the file's earlier chunks included (same transaction)
    for invoice_id, credited in store.credited_amounts(wanted, conn=conn).items():
        paid[invoice_id] = paid.get(invoice_id, Decimal("0.00")) + credited
    ready: list[dict[str, Any]] = []
    for row, number, day, amount in parsed:
        invoice = invoices.get(number)
        if invoice is None:
            errors.add(row.line, "invoice_number", f"no invoice is numbered {number!r}")
            continue
        if invoice.deleted or invoice.status == "void":
            state = "deleted" if invoice.deleted else "void"
            errors.add(row.line, "invoice_number", f"invoice {number!r} is {state}")
            continue
        fields = {
            "invoice_id": invoice.id,
            "date": day,
            "amount": amount,
            "method": row.get("method"),
            "reference": row.get("reference"),
        }
        try:
            validate_payment(fields, label=f"payment on invoice {number}")
        except WorkDataError as exc:
            errors.add(row.line, _store_field(exc.field)[1], exc.message)
            continue
        running = paid.get(invoice.id, Decimal("0.00")) + amount
        if running > invoice.total:
            errors.add(
                row.line,
                "amount",
                f"{amount} would bring payments and applied credits on invoice {number!r} to {running}, "
                f"more than its total {invoice.total}",
            )
            continue
        paid[invoice.id] = running
        ready.append(fields)
    return store.bulk_add_payments(ready, conn=conn) if ready else []


# --------------------------------------------------------------------------------------------
# Tax rates, credit notes, credit applications, refunds (schema version 3)
# --------------------------------------------------------------------------------------------


def _percent(row: _Row, column: str) -> Decimal:
    text = row.get(column).strip()
    if not text:
        raise _BadValue(column, "is required")
    if not _MONEY.fullmatch(text):
        raise _BadValue(column, f"{text!r} is not a percent (digits and a decimal point only, e.g. 8.25)")
    return Decimal(text)


def _one_client(row: _Row, clients: Mapping[str, list[int]]) -> int:
    name = row.get("client")
    matches = clients.get(name, [])
    if not name.strip():
        raise _BadValue("client", "is required")
    if not matches:
        raise _BadValue("client", f"no client is called {name!r}")
    if len(matches) > 1:
        raise _BadValue("client", f"{len(matches)} clients are called {name!r}; it is ambiguous")
    return matches[0]


def _item_id(row: _Row, items: Mapping[str, Any]) -> int | None:
    name = row.get("item")
    if not name.strip():
        return None
    item = items.get(name)
    if item is None:
        raise _BadValue("item", f"no item is called {name!r}")
    return int(item.id)


def import_tax_rates(store: WorkStore, path: str | os.PathLike[str]) -> ImportReport:
    """Add the WORK tax rates of a CSV file (``name``, ``rate`` as a percent such as 8.25, ``active``).

    A name already in WORK, or repeated in the file, is refused on its row.
    """
    errors = _Collector(_label(path))
    ids: list[int] = []
    with store.begin() as conn:
        known = set(store.tax_rate_percents(conn=conn))
        seen: dict[str, int] = {}
        for row in _read(path, TAX_RATE_COLUMNS, ("name", "rate"), errors):
            if row.refused:
                continue
            name = row.get("name")
            try:
                rate = _percent(row, "rate")
                active = _flag(row, "active", True)
            except _BadValue as bad:
                errors.add(row.line, bad.column, bad.message)
                continue
            if name in known:
                errors.add(row.line, "name", f"tax rate {name!r} already exists in WORK")
                continue
            if name in seen:
                errors.add(row.line, "name", f"tax rate {name!r} repeats line {seen[name]}")
                continue
            try:
                ids.append(store.add_tax_rate(name, rate, active, conn=conn).id)
            except WorkDataError as exc:
                errors.add(row.line, exc.field, exc.message)
                continue
            seen[name] = row.line
    return ImportReport(errors.file, len(ids), errors.sorted(), ids)


def import_credit_notes(store: WorkStore, path: str | os.PathLike[str]) -> ImportReport:
    """Add the credit notes of a CSV file, one row each; see ``docs/work-csv.md``.

    ``client`` matches exactly one client's display name, ``item`` an item's name (optional),
    ``tax_rate`` a WORK tax rate (optional: the tax is then computed, leave ``tax_amount`` blank).
    A number already used by a credit note, or repeated in the file, is refused on its row.
    """
    errors = _Collector(_label(path))
    columns, required = CREDIT_NOTE_COLUMNS, ("number", "client", "date", "amount")
    snapshot = _snapshot(path, errors.file)
    ids: list[int] = []
    with store.begin() as conn:
        items = {item.name: item for item in store.items(conn=conn)}
        rates = store.tax_rate_percents(conn=conn)
        seen: dict[str, int] = {}  # number -> its line: the file's numbers (not its rows) stay in memory
        for row, clients in _with_clients(store, conn, _read(path, columns, required, errors)):
            if row.refused:
                continue
            number = row.get("number")
            try:
                if not number.strip():
                    raise _BadValue("number", "is required")
                fields: dict[str, Any] = {
                    "number": number,
                    "client_id": _one_client(row, clients),
                    "date": _date(row, "date", required=True),
                    "description": row.get("description"),
                    "item_id": _item_id(row, items),
                    "amount": _money(row, "amount"),
                    "tax_rate": row.get("tax_rate"),
                    "tax_amount": _optional_money(row, "tax_amount"),
                }
            except _BadValue as bad:
                errors.add(row.line, bad.column, bad.message)
                continue
            if number in seen:
                errors.add(row.line, "number", f"credit note {number!r} repeats line {seen[number]}")
                continue
            if store.credit_note_by_number(number, conn=conn) is not None:
                errors.add(row.line, "number", f"credit note {number!r} already exists in WORK")
                continue
            try:
                validate_credit_note(fields, label=f"credit note {number}", rates=rates)
                ids.append(store.add_credit_note(**fields, conn=conn).id)
            except WorkDataError as exc:
                errors.add(row.line, _store_field(exc.field)[1], exc.message)
                continue
            seen[number] = row.line
        _unchanged(path, errors.file, snapshot)
    return ImportReport(errors.file, len(ids), errors.sorted(), ids)


def _with_clients(store: WorkStore, conn: Any, rows: Iterable[_Row]) -> Iterator[tuple[_Row, Mapping[str, list[int]]]]:
    """Each row with the ids of the clients its chunk names (one lookup per :data:`CHUNK_ROWS` rows)."""
    for chunk in _batches(rows, CHUNK_ROWS):
        clients = store.client_ids_by_name({row.get("client") for row in chunk}, conn=conn)
        for row in chunk:
            yield row, clients


def import_credit_applications(store: WorkStore, path: str | os.PathLike[str]) -> ImportReport:
    """Add the applications of credit notes to invoices of a CSV file, one row each, in file order.

    ``credit_note_number`` and ``invoice_number`` name a live credit note and a live invoice of the
    same client; a note never applies more than its total, and an invoice's payments and applied
    credits never exceed its total (the store's rules, checked row by row).
    """
    errors = _Collector(_label(path))
    columns = CREDIT_APPLICATION_COLUMNS
    snapshot = _snapshot(path, errors.file)
    ids: list[int] = []
    with store.begin() as conn:
        for chunk in _batches(_read(path, columns, columns, errors), CHUNK_ROWS):
            invoices = store.invoices_by_number({row.get("invoice_number") for row in chunk}, conn=conn)
            ids.extend(_applications_chunk(store, conn, chunk, invoices, errors))
        _unchanged(path, errors.file, snapshot)
    return ImportReport(errors.file, len(ids), errors.sorted(), ids)


def _applications_chunk(
    store: WorkStore, conn: Any, rows: list[_Row], invoices: Mapping[str, Any], errors: _Collector
) -> list[int]:
    ids: list[int] = []
    for row in rows:
        if row.refused:
            continue
        note_number, invoice_number = row.get("credit_note_number"), row.get("invoice_number")
        try:
            for column, value in (("credit_note_number", note_number), ("invoice_number", invoice_number)):
                if not value.strip():
                    raise _BadValue(column, "is required")
            day = _date(row, "date", required=True)
            amount = _money(row, "amount")
        except _BadValue as bad:
            errors.add(row.line, bad.column, bad.message)
            continue
        note = store.credit_note_by_number(note_number, conn=conn)
        if note is None:
            errors.add(row.line, "credit_note_number", f"no credit note is numbered {note_number!r}")
            continue
        invoice = invoices.get(invoice_number)
        if invoice is None:
            errors.add(row.line, "invoice_number", f"no invoice is numbered {invoice_number!r}")
            continue
        assert day is not None
        try:
            ids.append(store.add_credit_application(note.id, invoice.id, day, amount, conn=conn).id)
        except WorkDataError as exc:
            errors.add(row.line, _store_field(exc.field)[1], exc.message)
    return ids


def import_refunds(store: WorkStore, path: str | os.PathLike[str]) -> ImportReport:
    """Add the refunds (money paid back outside any invoice) of a CSV file, one row each.

    Importing the same file twice adds its refunds twice: refunds have no number to recognise them.
    """
    errors = _Collector(_label(path))
    columns, required = REFUND_COLUMNS, ("client", "date", "amount")
    snapshot = _snapshot(path, errors.file)
    ids: list[int] = []
    with store.begin() as conn:
        items = {item.name: item for item in store.items(conn=conn)}
        rates = store.tax_rate_percents(conn=conn)
        for row, clients in _with_clients(store, conn, _read(path, columns, required, errors)):
            if row.refused:
                continue
            try:
                fields: dict[str, Any] = {
                    "client_id": _one_client(row, clients),
                    "date": _date(row, "date", required=True),
                    "description": row.get("description"),
                    "item_id": _item_id(row, items),
                    "amount": _money(row, "amount"),
                    "tax_rate": row.get("tax_rate"),
                    "tax_amount": _optional_money(row, "tax_amount"),
                    "method": row.get("method"),
                    "reference": row.get("reference"),
                }
            except _BadValue as bad:
                errors.add(row.line, bad.column, bad.message)
                continue
            try:
                validate_refund(fields, label=f"refund to {row.get('client')}", rates=rates)
                ids.append(store.add_refund(**fields, conn=conn).id)
            except WorkDataError as exc:
                errors.add(row.line, _store_field(exc.field)[1], exc.message)
        _unchanged(path, errors.file, snapshot)
    return ImportReport(errors.file, len(ids), errors.sorted(), ids)
