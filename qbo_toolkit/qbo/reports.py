"""Read a QBO report (``GET .../reports/NAME``) into a typed :class:`ReportTable`.

QBO's report service answers one JSON document per report, the same shape for every report
(Intuit's report docs, e.g. AgedReceivables and CustomerBalance)::

    {"Header":  {"ReportName": "AgedReceivables", "Currency": "USD", "Time": "...",
                 "Option": [{"Name": "report_date", "Value": "2026-03-31"},
                            {"Name": "NoReportData", "Value": "false"}], ...},
     "Columns": {"Column": [{"ColType": "Customer", "ColTitle": ""},
                            {"ColType": "Money", "ColTitle": "Current"}, ...,
                            {"ColType": "Money", "ColTitle": "Total"}]},
     "Rows":    {"Row": [{"ColData": [{"id": "4", "value": "Jane Litigious"}, {"value": ""}, ...]},
                         {"type": "Section", "Header": {...}, "Rows": {"Row": [...]},
                          "Summary": {"ColData": [...]}},
                         {"type": "Section", "group": "GrandTotal",
                          "Summary": {"ColData": [{"value": "TOTAL"}, {"value": "37.50"}, ...]}}]}}

What the parser copes with, because real replies vary:

* **Sections.** A parent customer with sub-customers (jobs) is a ``Section`` whose ``Rows`` hold
  the parent's own row and its children's; every data row is kept once, with the labels of the
  sections around it (``ReportRow.section``). A section header that carries the parent's id and
  amounts while no row inside repeats that id counts as the parent's own row. Summaries of inner
  sections are subtotals and are not rows; the ``GrandTotal`` summary becomes
  :attr:`ReportTable.totals`.
* **Cells.** ``""`` is "nothing" (an amount of 0 for :meth:`ReportRow.amount`, ``None`` in
  :attr:`ReportRow.amounts`); money may come as ``"1593.50"``, ``"-37.50"``, ``"(37.50)"``,
  ``"1,593.50"`` or a JSON number, and is read exactly as a ``Decimal`` (never a float). A cell
  that is not an amount in a Money column is refused with the report, row and column named.
* **Columns** are found by meaning, not position: each gets a ``key`` from its title (the aging
  columns ``current``, ``1-30``, ``31-60``, ``61-90``, ``91+`` and ``total``, whatever the
  spacing), else from ``MetaData`` ``ColKey``, else the title in lower case.
* **No data.** ``NoReportData`` true, or no ``Rows`` at all, is an empty table (no rows, no totals).

:func:`read_report` sends the request through the client's own session, so it is rate limited and
retried like every other call (429/5xx only), counted by the transport (a report is a metered
CorePlus read), and a Fault becomes the toolkit's error (``UnsupportedOperation`` when the company
has no such report) naming the report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from qbo_toolkit.errors import QboError

from .query import validate_name

if TYPE_CHECKING:
    from .client import QboClient

__all__ = ["AGING_KEYS", "ReportColumn", "ReportRow", "ReportTable", "parse_report", "read_report"]

#: The keys of an aged-receivables report's money columns, in order (titles "Current", "1 - 30",
#: "31 - 60", "61 - 90", "91 and over", "Total").
AGING_KEYS: Final = ("current", "1-30", "31-60", "61-90", "91+", "total")

_TITLE_KEYS: Final[Mapping[str, str]] = {
    "current": "current",
    "1-30": "1-30",
    "31-60": "31-60",
    "61-90": "61-90",
    "91andover": "91+",
    "91+": "91+",
    "over90": "91+",
    ">90": "91+",
    "total": "total",
    "amount": "total",
}
_MONEY_TYPES: Final = frozenset({"money", "amount"})
_THOUSANDS: Final = re.compile(r"^-?\(?-?\d{1,3}(,\d{3})+(\.\d+)?\)?$")


def _key(title: str, meta: Any) -> str:
    squeezed = re.sub(r"\s+", "", title).lower()
    if squeezed in _TITLE_KEYS:
        return _TITLE_KEYS[squeezed]
    if isinstance(meta, Sequence) and not isinstance(meta, str):
        for item in meta:
            if isinstance(item, Mapping) and str(item.get("Name", "")).lower() == "colkey" and item.get("Value"):
                value = str(item["Value"]).strip().lower()
                return _TITLE_KEYS.get(re.sub(r"\s+", "", value), value)
    return " ".join(title.split()).lower()


@dataclass(frozen=True, slots=True)
class ReportColumn:
    """One column: QBO's ``ColTitle`` and ``ColType``, and the ``key`` it is found by."""

    title: str
    type: str
    key: str

    @property
    def money(self) -> bool:
        return self.type.strip().lower() in _MONEY_TYPES


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One data row: the first cell's ``id`` (a customer's Id on a customer report; None when the
    row has none) and text (``label``), every cell's raw text (``values``), the amounts of the money
    columns (``None`` for a blank cell and for the other columns), and the enclosing sections'
    labels (outermost first)."""

    id: str | None
    label: str
    values: tuple[str, ...]
    amounts: tuple[Decimal | None, ...]
    section: tuple[str, ...] = ()
    keys: tuple[str, ...] = field(default=(), repr=False)
    money: tuple[bool, ...] = field(default=(), repr=False)

    def amount(self, key: str) -> Decimal:
        """The amount in the column ``key`` (``Decimal("0")`` for a blank cell); KeyError if the
        report has no such money column."""
        try:
            index = self.keys.index(key)
        except ValueError:
            raise KeyError(f"no column {key!r}; columns: {', '.join(self.keys)}") from None
        if not self.money[index]:
            raise KeyError(f"column {key!r} is not a money column")
        value = self.amounts[index]
        return value if value is not None else Decimal("0")


@dataclass(frozen=True)
class ReportTable:
    """A parsed report. ``header`` is QBO's Header as sent, ``options`` its ``Option`` list as a
    mapping; ``rows`` the data rows in report order; ``totals`` the GrandTotal line's amounts by
    column key (empty when the report has none)."""

    name: str
    header: Mapping[str, Any]
    options: Mapping[str, str]
    columns: tuple[ReportColumn, ...]
    rows: tuple[ReportRow, ...]
    totals: Mapping[str, Decimal]

    @property
    def currency(self) -> str:
        return str(self.header.get("Currency") or "")

    @property
    def report_date(self) -> date | None:
        """The ``report_date`` option (or the header's ``EndPeriod``), when QBO states one."""
        text = self.options.get("report_date") or self.header.get("EndPeriod") or ""
        try:
            return date.fromisoformat(str(text)[:10]) if text else None
        except ValueError:
            return None

    @property
    def no_data(self) -> bool:
        return self.options.get("NoReportData", "").strip().lower() == "true" or not self.rows

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.columns)

    @property
    def money_keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.columns if c.money)

    def has(self, key: str) -> bool:
        return key in self.keys

    def by_id(self) -> dict[str, ReportRow]:
        """Data rows by their ``id`` (rows without one are left out). A customer listed twice (QBO
        does not do that) keeps its first row."""
        found: dict[str, ReportRow] = {}
        for row in self.rows:
            if row.id is not None:
                found.setdefault(row.id, row)
        return found

    def sum(self, key: str) -> Decimal:
        """The sum of the data rows in the money column ``key``."""
        return sum((row.amount(key) for row in self.rows), Decimal("0"))


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


class _Problem(ValueError):
    pass


def _money(text: Any, where: str) -> Decimal | None:
    """A report cell as an exact Decimal; None for a blank cell."""
    if text is None:
        return None
    if isinstance(text, bool):
        raise _Problem(f"{where}: {text!r} is not an amount")
    if isinstance(text, int | Decimal):
        return Decimal(text)
    if isinstance(text, float):
        return Decimal(str(text))
    raw = str(text).strip()
    if not raw:
        return None
    cleaned = raw.replace("$", "").replace("\u00a0", "").replace(" ", "")
    negative = cleaned.startswith("(") and cleaned.endswith(")")
    if negative:
        cleaned = cleaned[1:-1]
    if "," in cleaned:
        if not _THOUSANDS.match(cleaned):
            raise _Problem(f"{where}: {raw!r} is not an amount")
        cleaned = cleaned.replace(",", "")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise _Problem(f"{where}: {raw!r} is not an amount") from None
    if not number.is_finite():
        raise _Problem(f"{where}: {raw!r} is not an amount")
    return -number if negative else number


def _cells(data: Any) -> list[Mapping[str, Any]]:
    if not isinstance(data, Sequence) or isinstance(data, str):
        return []
    return [cell if isinstance(cell, Mapping) else {"value": cell} for cell in data]


def _text(cell: Mapping[str, Any] | None) -> str:
    if cell is None:
        return ""
    value = cell.get("value")
    return "" if value is None else str(value)


def _row_list(container: Any) -> list[Mapping[str, Any]]:
    if not isinstance(container, Mapping):
        return []
    rows = container.get("Row")
    if isinstance(rows, Mapping):  # a single row sent as an object
        return [rows]
    if isinstance(rows, Sequence) and not isinstance(rows, str):
        return [row for row in rows if isinstance(row, Mapping)]
    return []


class _Parser:
    def __init__(self, name: str, columns: tuple[ReportColumn, ...]) -> None:
        self.name = name
        self.columns = columns
        self.keys = tuple(c.key for c in columns)
        self.money = tuple(c.money and index > 0 for index, c in enumerate(columns))
        self.rows: list[ReportRow] = []
        self.totals: dict[str, Decimal] = {}
        self.count = 0

    def data_row(self, data: Any, section: tuple[str, ...]) -> ReportRow:
        cells = _cells(data)
        self.count += 1
        label = _text(cells[0]) if cells else ""
        where_row = f"{self.name} report, row {self.count}" + (f" ({label})" if label else "")
        values: list[str] = []
        amounts: list[Decimal | None] = []
        for index, column in enumerate(self.columns):
            cell = cells[index] if index < len(cells) else None
            values.append(_text(cell))
            if column.money and index > 0:
                raw = cell.get("value") if cell is not None else None
                amounts.append(_money(raw, f"{where_row}, column {column.title or column.key!r}"))
            else:
                amounts.append(None)
        first = cells[0] if cells else {}
        row_id = first.get("id")
        return ReportRow(
            id=str(row_id).strip() if row_id not in (None, "") else None,
            label=label.strip(),
            values=tuple(values),
            amounts=tuple(amounts),
            section=section,
            keys=self.keys,
            money=self.money,
        )

    def walk(self, rows: Iterable[Mapping[str, Any]], section: tuple[str, ...]) -> None:
        for row in rows:
            kind = str(row.get("type") or "").strip().lower()
            inner = _row_list(row.get("Rows"))
            if row.get("ColData") is not None and kind != "section" and not inner:
                self.rows.append(self.data_row(row["ColData"], section))
                continue
            header = row.get("Header")
            header_cells = _cells(header.get("ColData")) if isinstance(header, Mapping) else []
            label = _text(header_cells[0]).strip() if header_cells else ""
            before = len(self.rows)
            self.walk(inner, (*section, label) if label else section)
            if header_cells and header_cells[0].get("id") not in (None, ""):
                own_id = str(header_cells[0]["id"]).strip()
                repeated = any(r.id == own_id for r in self.rows[before:])
                has_amounts = any(_text(c).strip() for c in header_cells[1:])
                if not repeated and has_amounts:
                    self.rows.insert(before, self.data_row(header_cells, section))
            summary = row.get("Summary")
            if str(row.get("group") or "").strip().lower() == "grandtotal" and isinstance(summary, Mapping):
                total = self.data_row(summary.get("ColData"), section)
                self.count -= 1
                self.totals = {key: value for key, value in zip(self.keys, total.amounts, strict=True)
                               if value is not None}


def parse_report(raw: Mapping[str, Any], *, name: str | None = None) -> ReportTable:
    """A report reply (the JSON document) as a :class:`ReportTable`; see the module docstring.

    ``name`` (the report asked for) names the report in messages when its Header does not. A reply
    that is not a report, or a Money cell that is not an amount, raises :class:`~qbo_toolkit.errors.QboError`
    naming the report, the row and the column."""
    if not isinstance(raw, Mapping):
        raise QboError(f"the {name or 'QBO'} report reply is not a JSON object", entity=name, record="report")
    found = raw.get("Header")
    header: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    report = str(header.get("ReportName") or name or "QBO")
    options: dict[str, str] = {}
    for option in header.get("Option") or ():
        if isinstance(option, Mapping) and option.get("Name"):
            options[str(option["Name"])] = "" if option.get("Value") is None else str(option.get("Value"))
    columns_raw = raw.get("Columns")
    listed = columns_raw.get("Column") if isinstance(columns_raw, Mapping) else None
    if not isinstance(listed, Sequence) or isinstance(listed, str) or not listed:
        raise QboError(f"the {report} report has no Columns: QBO's reply is not a report", entity=report,
                       record="report")
    columns = tuple(
        ReportColumn(title=str(c.get("ColTitle") or "").strip(), type=str(c.get("ColType") or "").strip(),
                     key=_key(str(c.get("ColTitle") or ""), c.get("MetaData")) or f"column {index}")
        for index, c in enumerate(col if isinstance(col, Mapping) else {} for col in listed)
    )
    parser = _Parser(report, columns)
    try:
        parser.walk(_row_list(raw.get("Rows")), ())
    except _Problem as problem:
        raise QboError(str(problem), entity=report, record="report") from None
    return ReportTable(
        name=report,
        header=MappingProxyType(dict(header)),
        options=MappingProxyType(options),
        columns=columns,
        rows=tuple(parser.rows),
        totals=MappingProxyType(parser.totals),
    )


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _param(name: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        raise ValueError(f"report parameter {name}: give a date, not a datetime")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | str | Decimal):
        return str(value)
    if isinstance(value, Iterable):
        return ",".join(_param(name, item) for item in value)
    raise ValueError(f"report parameter {name}: {value!r} is neither text, a number, a date nor a list")


def read_report(client: QboClient, name: str, /, **params: object) -> ReportTable:
    """Read report ``name`` (``"AgedReceivables"``, ``"CustomerBalance"``, ...) with the query
    parameters ``params`` (``report_date=date(2026, 3, 31)``, ``aging_method="Report_Date"``,
    ``customer=["58", "59"]``: dates as ISO text, lists joined by commas, booleans as true/false;
    None values are left out) and parse it (:func:`parse_report`).

    The request goes through ``client``'s session: rate limited, retried only for 429/5xx, counted,
    and a Fault raised as the toolkit's error naming the report."""
    validate_name(name, entity=True)
    query = {key: _param(key, value) for key, value in params.items() if value is not None}
    with client._boundary(name, "report"):  # the one error boundary of the qbo package
        reply = client.qb.get_report(name, qs=query)
    return parse_report(reply, name=name)
