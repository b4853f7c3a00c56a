"""The WORK store: the one module that speaks SQL to the WORK tables.

``WorkStore(url)`` opens any SQLAlchemy URL (default: ``sqlite:///<toolkit home>/work.sqlite3``),
migrates the schema and hands out immutable rows from :mod:`qbo_toolkit.work.models`.

Transactions. Every method takes an optional keyword ``conn=``. Without it the method runs in its own
transaction; with it, it runs on the caller's connection and the caller commits. That is how the sync
engine keeps a WORK write, its id-map row and its activity-log entry in one transaction::

    with store.begin() as conn:
        invoice = store.update_invoice(7, status="open", conn=conn)
        conn.execute(id_map.insert().values(...))

Change tracking. Every insert, update or soft delete of a client, item, invoice or payment bumps the
row's ``version`` (from 1) and gives it the next store-wide ``revision``; ``changed_*(after)`` returns
the rows whose revision is greater (soft-deleted ones included), which is how the sync finds work. A
call that changes nothing writes nothing: same version, same revision.

Validation rules (each failure is a :class:`~qbo_toolkit.errors.WorkDataError` naming the record and
the field; passing a field the record does not have is a ``TypeError``, like any Python call):

* text fields are ``str`` (``None`` is taken as ``""``); a client's ``display_name`` and an item's
  ``name`` must not be blank. They are stored exactly as given, surrounding spaces included: QBO's
  trimming and length limits are the mapping's business, reported per record by the sync.
* text holds no control character (C0 or DEL: a NUL, an escape, ...); tab, line feed and carriage
  return only in fields of several lines (:data:`MULTILINE_TEXT_FIELDS`: notes, a line's
  description, address lines 1 and 2). The text a write sets is checked; a value already stored
  (written by other means) does not block an unrelated change to its record.
* invoice numbers are unique (deleted invoices keep theirs), not blank, without surrounding spaces.
  Their length is not checked here (QBO's 21-character limit is reported by the sync).
* money (``rate``, ``unit_price``, ``tax_amount``, ``amount``) is whole cents: ``Decimal``, ``int``,
  numeric ``str`` or a float whose shortest form has at most 2 places. More places are refused,
  never rounded. ``qty`` has at most 4 places.
* a line's ``qty`` and ``unit_price`` may be negative (a returned part, a discount line), but an
  invoice's subtotal and total may not, and its ``tax_amount`` is zero or more. An invoice has at
  least one line. ``due_date``, when given, is not before ``issue_date``.
* a payment's amount is more than zero, and the live payments of an invoice never add up to more
  than its total. Payments go to live invoices only (not void, not deleted); an invoice with live
  payments cannot be voided, deleted, or lowered below what was paid.
* a void or deleted invoice is final: it cannot be changed again (voiding a void invoice, deleting a
  deleted one, is a no-op that returns the row).
* references (``client_id``, ``parent_id``, ``item_id``, ``invoice_id``) must exist; a client cannot
  be its own ancestor.

Schema version 3 (issue 13) adds:

* tax rates (``add_tax_rate``): a unique name and a percent from 0 to 100 (4 places). A line's
  ``tax_rate`` names one ("" = none); an invoice with rated lines has its ``tax_amount`` computed per
  rate on the sum of that rate's lines, half-up to the cent (QBO's rule), and a given amount must
  agree; a rated line's ``taxable`` flag follows its rate (above zero). Lines without rates keep the
  explicit ``tax_amount`` (US TAX/NON). A rate used by any record keeps its name; changing its percent
  leaves written documents as they are.
* ``Invoice.terms``: the WORK payment term's name ("Net 15"; "" = none), plain text.
* credit notes (unique ``number``, ``amount`` before tax more than zero, tax as for one rated line,
  ``total`` computed) and credit applications: an application uses ``amount`` of a live credit note
  on a live invoice of the same client, dated on or after the note; a note never applies more than
  its total, and an invoice's payments plus applied credits never exceed its total. A note or an
  invoice with live applications cannot be deleted, voided, moved to another client or lowered
  below what is applied.
* refunds: money paid back to a client outside any invoice (``amount`` before tax, tax like a
  credit note's, ``method``, ``reference``); no A/R effect.

All three are tracked (version, revision, soft delete, ``changed_*``) like payments.

SQLite specifics: the database file is created 0600 (its ``-wal`` and ``-shm`` files follow it) and
the default location's folder 0700; WAL journal (readers never wait for the writer), foreign keys
on, a busy timeout, and write transactions opened with ``BEGIN IMMEDIATE`` so two writers queue
instead of failing halfway. An in-memory URL (``sqlite://``) uses one shared connection, so every thread sees the same
database; it is meant for tests and demos, one caller at a time. Inside ``begin()`` pass ``conn=`` to
every call: a call without it opens a second connection that cannot see the uncommitted writes (and,
in memory, shares the first one's transaction).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    MetaData,
    Table,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import URL, CursorResult, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from ..control_chars import control_problem
from ..errors import ConfigError, WorkDataError, WorkStoreBusy
from ..files import FILE_MODE, private_dir
from ..paths import toolkit_home
from . import schema
from .models import (
    Address,
    Client,
    Company,
    CreditApplication,
    CreditNote,
    Invoice,
    InvoiceLine,
    Item,
    Payment,
    Refund,
    TaxRate,
    tax_on,
    utcnow,
)

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "DEFAULT_FILENAME",
    "WorkStore",
    "busy_timeout",
    "default_url",
    "validate_client",
    "validate_credit_note",
    "validate_invoice",
    "validate_payment",
    "validate_refund",
]

DEFAULT_FILENAME: Final = "work.sqlite3"
#: How long a SQLite writer waits for another writer before giving up (the default of
#: :func:`busy_timeout`, which ``QBO_WORK_BUSY_TIMEOUT`` overrides).
BUSY_TIMEOUT_SECONDS: Final = 30.0
#: Ids per ``IN (...)`` list: below SQLite's oldest limit of 999 bound parameters.
_CHUNK: Final = 900
#: Largest magnitude NUMERIC(18, 2) / NUMERIC(18, 4) can hold.
_MONEY_LIMIT: Final = Decimal("1e16")
_QTY_LIMIT: Final = Decimal("1e14")
_ZERO: Final = Decimal("0.00")

ADDRESS_PARTS: Final = ("line1", "line2", "city", "state", "postal_code", "country")

CLIENT_TEXT_FIELDS: Final = (
    "display_name",
    "company_name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "mobile",
    *(f"billing_{part}" for part in ADDRESS_PARTS),
    *(f"service_{part}" for part in ADDRESS_PARTS),
    "notes",
)
_CLIENT_TEXT: Final = CLIENT_TEXT_FIELDS
_CLIENT_TEXT_SET: Final = frozenset(_CLIENT_TEXT)
#: Text that may hold several lines: tab, line feed and carriage return allowed (no other control
#: character is, anywhere: :mod:`qbo_toolkit.control_chars`).
MULTILINE_TEXT_FIELDS: Final = frozenset(
    {"notes", "description", *(f"{which}_{part}" for which in ("billing", "service") for part in ("line1", "line2"))}
)
_CLIENT_COLUMNS: Final = (*_CLIENT_TEXT, "active", "parent_id")
_CLIENT_DEFAULTS: Final[Mapping[str, Any]] = {**dict.fromkeys(_CLIENT_TEXT, ""), "active": True, "parent_id": None}
_ITEM_COLUMNS: Final = ("name", "type", "rate", "active")
_ITEM_TYPES: Final = ("service", "product")
_INVOICE_COLUMNS: Final = ("number", "client_id", "issue_date", "due_date", "status", "tax_amount")
_INVOICE_STATUSES: Final = ("draft", "open", "void")
_LINE_KEYS: Final = ("line_no", "item_id", "description", "qty", "unit_price", "taxable", "tax_rate")
#: Invoice header fields a caller sets (``terms`` came with schema version 3, last in the table).
_INVOICE_FIELDS: Final = (*_INVOICE_COLUMNS, "terms")
_PAYMENT_COLUMNS: Final = ("invoice_id", "date", "amount", "method", "reference")
_MANAGED: Final = frozenset({"id", "version", "revision", "updated_at", "deleted", "total", "lines"})

T = TypeVar("T")


def default_url() -> str:
    """``QBO_WORK_DB`` when set (a URL with a password belongs there, never in a parameters file),
    else ``sqlite:///<toolkit home>/work.sqlite3`` (see :func:`qbo_toolkit.paths.toolkit_home`)."""
    import os

    return os.environ.get("QBO_WORK_DB", "").strip() or f"sqlite:///{toolkit_home() / DEFAULT_FILENAME}"


# --------------------------------------------------------------------------------------------
# Validation (pure): field values in, column values out, WorkDataError naming record and field
# --------------------------------------------------------------------------------------------


class _Record:
    """Which record a validation message is about: "client 17", "new invoice W-1", "payments[3]"."""

    __slots__ = ("label", "record_id")

    def __init__(self, label: str, record_id: int | str | None = None) -> None:
        self.label = label
        self.record_id = record_id

    def error(self, field: str | None, problem: str) -> WorkDataError:
        where = f"{self.label}: {field} {problem}" if field else f"{self.label}: {problem}"
        return WorkDataError(where, record_id=self.record_id, field=field)


def _text(value: Any, rec: _Record, field: str, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise rec.error(field, f"must be text, not {type(value).__name__}")
    if required and not value.strip():
        raise rec.error(field, "must not be empty")
    return value


def _plain(value: str, rec: _Record, field: str, *, multiline: bool = False) -> str:
    """``value`` if it holds no control character it may not (see :data:`MULTILINE_TEXT_FIELDS`)."""
    problem = control_problem(value, multiline=multiline)
    if problem is not None:
        raise rec.error(field, problem)
    return value


def _flag(value: Any, rec: _Record, field: str) -> bool:
    if not isinstance(value, bool):
        raise rec.error(field, f"must be True or False, not {value!r}")
    return value


def _ref(value: Any, rec: _Record, field: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise rec.error(field, f"must be a record id (int), not {value!r}")
    return value


def _day(value: Any, rec: _Record, field: str, *, optional: bool = False) -> dt.date | None:
    if value is None and optional:
        return None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise rec.error(field, f"must be a date (datetime.date), not {value!r}")
    return value


def _number(value: Any, rec: _Record, field: str, what: str) -> Decimal:
    """``value`` as a finite Decimal: Decimal, int, numeric str, or a float through its shortest repr."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str, float)):
        raise rec.error(field, f"must be {what}, not {value!r}")
    try:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, int):
            number = Decimal(value)
        else:  # str, or float via str(): 0.1 stays 0.1, never 0.1000000000000000055...
            number = Decimal(str(value).strip())
    except ArithmeticError:
        raise rec.error(field, f"must be {what}, not {value!r}") from None
    if not number.is_finite():
        raise rec.error(field, f"must be {what}, not {value!r}")
    return number


_CENT: Final = Decimal("0.01")
_QTY_STEP: Final = Decimal("0.0001")


def _money(value: Any, rec: _Record, field: str, *, minimum: Decimal | None = None, positive: bool = False) -> Decimal:
    """A whole-cents amount (the same rule as :func:`qbo_toolkit.types.is_whole_cents`, written with
    ``quantize`` because bulk loads check hundreds of thousands of them)."""
    number = _number(value, rec, field, "an amount (Decimal)")
    if abs(number) >= _MONEY_LIMIT:
        raise rec.error(field, f"is out of range: {value!r}")
    amount = number.quantize(_CENT)
    if amount != number:
        raise rec.error(field, f"must be a whole number of cents, not {value!r}")
    if not amount:
        amount = _ZERO  # also turns -0.00 into 0.00
    if positive and amount <= 0:
        raise rec.error(field, f"must be more than zero, not {amount}")
    if minimum is not None and amount < minimum:
        raise rec.error(field, f"must be at least {minimum}, not {amount}")
    return amount


def _qty(value: Any, rec: _Record, field: str) -> Decimal:
    """A quantity with at most 4 decimal places, without trailing zeros (as the store reads it back)."""
    number = _number(value, rec, field, "a number")
    if abs(number) >= _QTY_LIMIT:
        raise rec.error(field, f"is out of range: {value!r}")
    if number.quantize(_QTY_STEP) != number:
        raise rec.error(field, f"has more than 4 decimal places: {value!r}")
    return number if type(value) is int else schema.trim_decimal(number)


def _unknown(kind: str, keys: Iterable[str]) -> TypeError:
    keys = sorted(keys)
    managed = [key for key in keys if key in _MANAGED]
    if managed:
        return TypeError(f"{kind} field(s) {', '.join(managed)} are managed by the store and cannot be set")
    return TypeError(f"unknown {kind} field(s): {', '.join(keys)}")


def _client_values(fields: Mapping[str, Any], base: Mapping[str, Any], rec: _Record) -> dict[str, Any]:
    """Column values for a client: ``base`` (defaults or the current row) with ``fields`` applied.

    Written for speed (bulk loads validate 100,000 rows): plain strings take the fast path.
    """
    out = dict(base)
    addresses = []
    written: list[str] = []  # the text fields this write sets
    for key, value in fields.items():
        if key in _CLIENT_DEFAULTS:
            out[key] = value
            written.append(key)
        elif key == "billing" or key == "service":
            addresses.append(key)
        else:
            extra = [k for k in fields if k not in _CLIENT_DEFAULTS and k not in ("billing", "service")]
            raise _unknown("client", extra)
    for prefix in addresses:
        address = fields[prefix]
        if any(f"{prefix}_{part}" in fields for part in ADDRESS_PARTS):
            raise TypeError(f"give {prefix}= or {prefix}_* fields, not both")
        if address is None:
            address = Address()
        if not isinstance(address, Address):
            raise rec.error(prefix, f"must be an Address, not {type(address).__name__}")
        for part in ADDRESS_PARTS:
            out[f"{prefix}_{part}"] = getattr(address, part)
            written.append(f"{prefix}_{part}")
    for key in _CLIENT_TEXT:
        if type(out[key]) is not str:
            out[key] = _text(out[key], rec, key)
    for key in written:
        if key in _CLIENT_TEXT_SET and not out[key].isprintable():
            _plain(out[key], rec, key, multiline=key in MULTILINE_TEXT_FIELDS)
    if not out["display_name"].strip():
        raise rec.error("display_name", "must not be empty")
    if type(out["active"]) is not bool:
        raise rec.error("active", f"must be True or False, not {out['active']!r}")
    if out["parent_id"] is not None:
        out["parent_id"] = _ref(out["parent_id"], rec, "parent_id")
    return out


def _item_values(fields: Mapping[str, Any], base: Mapping[str, Any], rec: _Record) -> dict[str, Any]:
    unknown = [key for key in fields if key not in _ITEM_COLUMNS]
    if unknown:
        raise _unknown("item", unknown)
    out = {**base, **fields}
    out["name"] = _text(out["name"], rec, "name", required=True)
    if "name" in fields:
        _plain(out["name"], rec, "name")
    if out["type"] not in _ITEM_TYPES:
        raise rec.error("type", f"must be one of {', '.join(_ITEM_TYPES)}, not {out['type']!r}")
    out["rate"] = _money(out["rate"], rec, "rate", minimum=_ZERO)
    out["active"] = _flag(out["active"], rec, "active")
    return out


def _line(value: Any, position: int, rec: _Record) -> InvoiceLine:
    """One invoice line from an :class:`InvoiceLine` or a mapping; ``line_no`` is its position (1-based)."""
    field = f"lines[{position - 1}]"
    if isinstance(value, InvoiceLine):
        item_id, description, qty, unit_price, taxable, tax_rate = (
            value.item_id, value.description, value.qty, value.unit_price, value.taxable, value.tax_rate
        )  # fmt: skip
    elif isinstance(value, Mapping):
        for key in value:
            if key not in _LINE_KEYS:
                extra = sorted(str(k) for k in value if k not in _LINE_KEYS)
                raise TypeError(f"unknown invoice line field(s): {', '.join(extra)}")
        if "unit_price" not in value:
            raise rec.error(f"{field}.unit_price", "is required")
        item_id, description = value.get("item_id"), value.get("description", "")
        qty, unit_price, taxable = value.get("qty", 1), value["unit_price"], value.get("taxable", False)
        tax_rate = value.get("tax_rate", "")
    else:
        raise rec.error(field, f"must be an InvoiceLine or a mapping, not {type(value).__name__}")
    if item_id is not None:
        _ref(item_id, rec, f"{field}.item_id")
    if type(description) is not str:
        description = _text(description, rec, f"{field}.description")
    if not description.isprintable():
        _plain(description, rec, f"{field}.description", multiline=True)
    if type(taxable) is not bool:
        raise rec.error(f"{field}.taxable", f"must be True or False, not {taxable!r}")
    if type(tax_rate) is not str or tax_rate:
        tax_rate = _plain(_text(tax_rate, rec, f"{field}.tax_rate"), rec, f"{field}.tax_rate")
    return InvoiceLine(
        position,
        item_id,
        description,
        _qty(qty, rec, f"{field}.qty"),
        _money(unit_price, rec, f"{field}.unit_price"),
        taxable,
        tax_rate,
    )


def _invoice_values(
    fields: Mapping[str, Any], base: Mapping[str, Any], rec: _Record
) -> tuple[dict[str, Any], tuple[InvoiceLine, ...] | None]:
    """Header column values (``total`` included) and the normalised lines (None when unchanged)."""
    unknown = [key for key in fields if key not in _INVOICE_FIELDS and key != "lines"]
    if unknown:
        raise _unknown("invoice", unknown)
    out = dict(base)
    out.update((key, value) for key, value in fields.items() if key != "lines")
    number = _text(out["number"], rec, "number", required=True)
    if number != number.strip():
        raise rec.error("number", f"must not start or end with spaces: {number!r}")
    if "number" in fields:
        _plain(number, rec, "number")
    out["number"] = number
    out["client_id"] = _ref(out["client_id"], rec, "client_id")
    out["issue_date"] = _day(out["issue_date"], rec, "issue_date")
    out["due_date"] = _day(out["due_date"], rec, "due_date", optional=True)
    if out["due_date"] is not None and out["due_date"] < out["issue_date"]:
        raise rec.error("due_date", f"{out['due_date']} is before the issue date {out['issue_date']}")
    if out["status"] not in _INVOICE_STATUSES:
        raise rec.error("status", f"must be one of {', '.join(_INVOICE_STATUSES)}, not {out['status']!r}")
    if out["tax_amount"] is not None:  # None: computed from the lines' tax rates (see _settle_tax)
        out["tax_amount"] = _money(out["tax_amount"], rec, "tax_amount", minimum=_ZERO)
    out["terms"] = _text(out.get("terms", ""), rec, "terms")
    if "terms" in fields:
        _plain(out["terms"], rec, "terms")
    lines: tuple[InvoiceLine, ...] | None = None
    if "lines" in fields:
        raw = fields["lines"]
        if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Iterable):
            raise rec.error("lines", "must be a list of lines")
        lines = tuple(_line(line, position, rec) for position, line in enumerate(raw, start=1))
        if not lines:
            raise rec.error("lines", "must have at least one line")
    return out, lines


def _settle_tax(
    values: dict[str, Any],
    lines: Sequence[InvoiceLine],
    rates: Mapping[str, Decimal] | None,
    rec: _Record,
    *,
    given: bool,
) -> tuple[InvoiceLine, ...]:
    """Set ``values["tax_amount"]`` from the lines' WORK tax rates; return the lines (their taxable
    flag follows their rate: above zero is taxable).

    Lines without a rate leave the tax as given (US explicit tax; ``None`` means zero). With rates,
    the tax is computed per rate on the sum of that rate's lines, half-up to the cent (QBO's rule),
    and a ``tax_amount`` the caller gave (``given``) must agree with it. ``rates`` None (a check
    without the database) skips the rate lookup and takes the given amount.
    """
    rated = [line for line in lines if line.tax_rate]
    if not rated or rates is None:
        if values["tax_amount"] is None:
            values["tax_amount"] = _ZERO
        return tuple(lines)
    sums: dict[str, Decimal] = {}
    out: list[InvoiceLine] = []
    for line in lines:
        if line.tax_rate:
            percent = rates.get(line.tax_rate)
            if percent is None:
                raise rec.error(
                    f"lines[{line.line_no - 1}].tax_rate",
                    f"{line.tax_rate!r} is not a WORK tax rate (add it to the tax rates first)",
                )
            sums[line.tax_rate] = sums.get(line.tax_rate, _ZERO) + line.amount
            if line.taxable != (percent > 0):
                line = InvoiceLine(
                    line.line_no, line.item_id, line.description, line.qty, line.unit_price, percent > 0, line.tax_rate
                )
        out.append(line)
    computed = sum((tax_on(amount, rates[name]) for name, amount in sums.items()), _ZERO)
    computed = max(computed, _ZERO) if computed else _ZERO
    if given and values["tax_amount"] is not None and values["tax_amount"] != computed:
        raise rec.error(
            "tax_amount",
            f"{values['tax_amount']} differs from {computed}, the tax of the lines' rates; "
            "leave tax_amount out when the lines have tax rates",
        )
    values["tax_amount"] = computed
    return tuple(out)


def _totals(rec: _Record, lines: Sequence[InvoiceLine], tax_amount: Decimal) -> Decimal:
    subtotal = sum((line.amount for line in lines), _ZERO)
    if subtotal < 0:
        raise rec.error("lines", f"add up to {subtotal}; an invoice's subtotal cannot be negative")
    total = subtotal + tax_amount
    if abs(total) >= _MONEY_LIMIT:
        raise rec.error("lines", f"add up to an out-of-range total {total}")
    return total


def _payment_values(fields: Mapping[str, Any], base: Mapping[str, Any], rec: _Record) -> dict[str, Any]:
    unknown = [key for key in fields if key not in _PAYMENT_COLUMNS]
    if unknown:
        raise _unknown("payment", unknown)
    out = {**base, **fields}
    out["invoice_id"] = _ref(out["invoice_id"], rec, "invoice_id")
    out["date"] = _day(out["date"], rec, "date")
    out["amount"] = _money(out["amount"], rec, "amount", positive=True)
    out["method"] = _text(out["method"], rec, "method")
    out["reference"] = _text(out["reference"], rec, "reference")
    for key in ("method", "reference"):
        if key in fields:
            _plain(out[key], rec, key)
    return out


def validate_client(fields: Mapping[str, Any], *, label: str = "new client") -> None:
    """Raise WorkDataError if :meth:`WorkStore.add_client` would refuse ``fields`` for what they
    hold (references to other records are checked when writing). ``label`` starts the message."""
    rec = _Record(label)
    if "display_name" not in fields:
        raise rec.error("display_name", "is required")
    _client_values(fields, _CLIENT_DEFAULTS, rec)


def validate_invoice(
    fields: Mapping[str, Any], *, label: str = "new invoice", rates: Mapping[str, Decimal] | None = None
) -> Decimal:
    """Check :meth:`WorkStore.add_invoice` arguments on their own; return the invoice total.

    Line problems name the field ``lines[i].qty`` etc. (``i`` counts from 0). ``rates`` (WORK tax
    rate name -> percent, :meth:`WorkStore.tax_rate_percents`) checks the lines' tax rates and
    computes the tax; without it a rated invoice's tax is taken as given.
    """
    rec = _Record(label)
    given = fields.get("tax_amount") is not None
    fields = {"due_date": None, "tax_amount": None, "status": "open", **fields}
    for required in ("number", "client_id", "issue_date", "lines"):
        if required not in fields:
            raise rec.error(required, "is required")
    values, lines = _invoice_values(fields, {}, rec)
    assert lines is not None
    _settle_tax(values, lines, rates, rec, given=given)
    return _totals(rec, lines, values["tax_amount"])


def validate_payment(fields: Mapping[str, Any], *, label: str = "new payment") -> None:
    """Check :meth:`WorkStore.add_payment` arguments on their own (not the invoice's balance)."""
    rec = _Record(label)
    for required in ("invoice_id", "date", "amount"):
        if required not in fields:
            raise rec.error(required, "is required")
    _payment_values({"method": "", "reference": "", **fields}, {}, rec)


# ---- version 3: tax rates, credit notes, credit applications, refunds -----------------------

_TAX_RATE_COLUMNS: Final = ("name", "rate", "active")
_CREDIT_NOTE_COLUMNS: Final = (
    "number", "client_id", "date", "description", "item_id", "amount", "tax_rate", "tax_amount"
)  # fmt: skip
_APPLICATION_COLUMNS: Final = ("credit_note_id", "invoice_id", "date", "amount")
_REFUND_COLUMNS: Final = (
    "client_id", "date", "description", "item_id", "amount", "tax_rate", "tax_amount", "method", "reference"
)  # fmt: skip
_HUNDRED: Final = Decimal(100)


def _tax_rate_values(fields: Mapping[str, Any], base: Mapping[str, Any], rec: _Record) -> dict[str, Any]:
    unknown = [key for key in fields if key not in _TAX_RATE_COLUMNS]
    if unknown:
        raise _unknown("tax rate", unknown)
    out = {**base, **fields}
    name = _text(out["name"], rec, "name", required=True)
    if name != name.strip():
        raise rec.error("name", f"must not start or end with spaces: {name!r}")
    out["name"] = _plain(name, rec, "name")
    rate = _number(out["rate"], rec, "rate", "a percent (Decimal, 8.25 for 8.25 %)")
    if rate.quantize(_QTY_STEP) != rate:
        raise rec.error("rate", f"has more than 4 decimal places: {out['rate']!r}")
    if not _ZERO <= rate <= _HUNDRED:
        raise rec.error("rate", f"must be a percent from 0 to 100, not {rate}")
    out["rate"] = schema.trim_decimal(rate)
    out["active"] = _flag(out["active"], rec, "active")
    return out


def _document_text(out: dict[str, Any], fields: Mapping[str, Any], rec: _Record, keys: Iterable[str]) -> None:
    """The plain text fields of a credit note or refund: text, and checked for control characters
    when this write sets them (``description`` may hold several lines)."""
    for key in keys:
        out[key] = _text(out[key], rec, key)
        if key in fields:
            _plain(out[key], rec, key, multiline=key == "description")


def _credit_note_values(fields: Mapping[str, Any], base: Mapping[str, Any], rec: _Record) -> dict[str, Any]:
    """Column values of a credit note (``tax_amount`` None: computed, or zero without a rate)."""
    unknown = [key for key in fields if key not in _CREDIT_NOTE_COLUMNS]
    if unknown:
        raise _unknown("credit note", unknown)
    out = {**base, **fields}
    number = _text(out["number"], rec, "number", required=True)
    if number != number.strip():
        raise rec.error("number", f"must not start or end with spaces: {number!r}")
    out["number"] = number
    _document_text(out, fields, rec, ("number", "description", "tax_rate"))
    return _one_line_document(out, rec)


def _one_line_document(out: dict[str, Any], rec: _Record) -> dict[str, Any]:
    """The fields a credit note and a refund share (client, date, item, pre-tax amount, tax), checked."""
    out["client_id"] = _ref(out["client_id"], rec, "client_id")
    out["date"] = _day(out["date"], rec, "date")
    out["item_id"] = _ref(out["item_id"], rec, "item_id", optional=True)
    out["amount"] = _money(out["amount"], rec, "amount", positive=True)
    if out["tax_amount"] is not None:
        out["tax_amount"] = _money(out["tax_amount"], rec, "tax_amount", minimum=_ZERO)
    return out


def _refund_values(fields: Mapping[str, Any], base: Mapping[str, Any], rec: _Record) -> dict[str, Any]:
    unknown = [key for key in fields if key not in _REFUND_COLUMNS]
    if unknown:
        raise _unknown("refund", unknown)
    out = {**base, **fields}
    _document_text(out, fields, rec, ("description", "tax_rate", "method", "reference"))
    return _one_line_document(out, rec)


def _application_values(fields: Mapping[str, Any], base: Mapping[str, Any], rec: _Record) -> dict[str, Any]:
    unknown = [key for key in fields if key not in _APPLICATION_COLUMNS]
    if unknown:
        raise _unknown("credit application", unknown)
    out = {**base, **fields}
    out["credit_note_id"] = _ref(out["credit_note_id"], rec, "credit_note_id")
    out["invoice_id"] = _ref(out["invoice_id"], rec, "invoice_id")
    out["date"] = _day(out["date"], rec, "date")
    out["amount"] = _money(out["amount"], rec, "amount", positive=True)
    return out


def _settle_document_tax(
    values: dict[str, Any], rates: Mapping[str, Decimal] | None, rec: _Record, *, given: bool
) -> None:
    """``tax_amount`` and ``total`` of a one-amount document (credit note, refund): computed from
    its ``tax_rate`` when it has one (a given amount must agree), else as given (default zero)."""
    if values["tax_rate"] and rates is not None:
        percent = rates.get(values["tax_rate"])
        if percent is None:
            raise rec.error(
                "tax_rate", f"{values['tax_rate']!r} is not a WORK tax rate (add it to the tax rates first)"
            )
        computed = tax_on(values["amount"], percent)
        if given and values["tax_amount"] is not None and values["tax_amount"] != computed:
            raise rec.error(
                "tax_amount",
                f"{values['tax_amount']} differs from {computed}, the tax at {values['tax_rate']!r}; "
                "leave tax_amount out when a tax rate is given",
            )
        values["tax_amount"] = computed
    elif values["tax_amount"] is None:
        values["tax_amount"] = _ZERO
    values["total"] = values["amount"] + values["tax_amount"]
    if values["total"] >= _MONEY_LIMIT:
        raise rec.error("amount", f"makes an out-of-range total {values['total']}")


def validate_credit_note(
    fields: Mapping[str, Any], *, label: str = "new credit note", rates: Mapping[str, Decimal] | None = None
) -> Decimal:
    """Check :meth:`WorkStore.add_credit_note` arguments on their own; return the total."""
    rec = _Record(label)
    for required in ("number", "client_id", "date", "amount"):
        if required not in fields:
            raise rec.error(required, "is required")
    given = fields.get("tax_amount") is not None
    values = _credit_note_values(
        {"description": "", "item_id": None, "tax_rate": "", "tax_amount": None, **fields}, {}, rec
    )
    _settle_document_tax(values, rates, rec, given=given)
    return values["total"]


def validate_refund(
    fields: Mapping[str, Any], *, label: str = "new refund", rates: Mapping[str, Decimal] | None = None
) -> Decimal:
    """Check :meth:`WorkStore.add_refund` arguments on their own; return the total."""
    rec = _Record(label)
    for required in ("client_id", "date", "amount"):
        if required not in fields:
            raise rec.error(required, "is required")
    given = fields.get("tax_amount") is not None
    values = _refund_values(
        {"description": "", "item_id": None, "tax_rate": "", "tax_amount": None, "method": "", "reference": "",
         **fields}, {}, rec,
    )  # fmt: skip
    _settle_document_tax(values, rates, rec, given=given)
    return values["total"]


# --------------------------------------------------------------------------------------------
# Rows -> records
# --------------------------------------------------------------------------------------------


# Reads build records positionally from whole-table SELECTs: a RowMapping lookup per field costs
# more than the database does on 100,000 rows. The orders below are the tables' column orders
# (checked at import) and, for the dataclasses, their field orders.
_TRACKING: Final = ("version", "revision", "updated_at")
_CLIENT_ORDER: Final = ("id", *_CLIENT_COLUMNS, *_TRACKING)
_ITEM_ORDER: Final = ("id", *_ITEM_COLUMNS, *_TRACKING)
_INVOICE_ORDER: Final = ("id", *_INVOICE_COLUMNS, "total", "deleted", *_TRACKING, "terms")
_PAYMENT_ORDER: Final = ("id", *_PAYMENT_COLUMNS, "deleted", *_TRACKING)
_LINE_ORDER: Final = ("id", "invoice_id", *_LINE_KEYS)
_TAX_RATE_ORDER: Final = ("id", *_TAX_RATE_COLUMNS)
_CREDIT_NOTE_ORDER: Final = ("id", *_CREDIT_NOTE_COLUMNS, "total", "deleted", *_TRACKING)
_APPLICATION_ORDER: Final = ("id", *_APPLICATION_COLUMNS, "deleted", *_TRACKING)
_REFUND_ORDER: Final = (
    "id", "client_id", "date", "description", "item_id", "amount", "tax_rate", "tax_amount", "total", "method",
    "reference", "deleted", *_TRACKING,
)  # fmt: skip
for _table, _order in (
    (schema.tax_rates, _TAX_RATE_ORDER),
    (schema.credit_notes, _CREDIT_NOTE_ORDER),
    (schema.credit_applications, _APPLICATION_ORDER),
    (schema.refunds, _REFUND_ORDER),
    (schema.clients, _CLIENT_ORDER),
    (schema.items, _ITEM_ORDER),
    (schema.invoices, _INVOICE_ORDER),
    (schema.payments, _PAYMENT_ORDER),
    (schema.invoice_lines, _LINE_ORDER),
):
    if tuple(_table.c.keys()) != _order:  # pragma: no cover - a schema edit without this module
        raise RuntimeError(f"{_table.name} columns {tuple(_table.c.keys())} differ from {_order}")


def _client_row(r: Sequence[Any]) -> Client:
    return Client(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7],
        Address(r[8], r[9], r[10], r[11], r[12], r[13]),
        Address(r[14], r[15], r[16], r[17], r[18], r[19]),
        r[20], bool(r[21]), r[22], r[23], r[24], r[25],
    )  # fmt: skip


def _item_row(r: Sequence[Any]) -> Item:
    return Item(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7])


def _invoice_row(r: Sequence[Any], lines: Sequence[InvoiceLine]) -> Invoice:
    return Invoice(
        r[0], r[1], r[2], r[3], r[4], r[5], tuple(lines), r[6], r[7], bool(r[8]), r[9], r[10], r[11], r[12]
    )  # fmt: skip


def _payment_row(r: Sequence[Any]) -> Payment:
    return Payment(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8], r[9])


def _tax_rate_row(r: Sequence[Any]) -> TaxRate:
    return TaxRate(r[0], r[1], r[2], bool(r[3]))


def _credit_note_row(r: Sequence[Any]) -> CreditNote:
    return CreditNote(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], bool(r[10]), r[11], r[12], r[13])


def _application_row(r: Sequence[Any]) -> CreditApplication:
    return CreditApplication(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], r[8])


def _refund_row(r: Sequence[Any]) -> Refund:
    return Refund(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], bool(r[11]), r[12], r[13], r[14]
    )  # fmt: skip


def _client(values: Mapping[Any, Any]) -> Client:
    return _client_row([values[key] for key in _CLIENT_ORDER])


def _item(values: Mapping[Any, Any]) -> Item:
    return _item_row([values[key] for key in _ITEM_ORDER])


def _invoice(values: Mapping[Any, Any], lines: Sequence[InvoiceLine]) -> Invoice:
    return _invoice_row([values[key] for key in _INVOICE_ORDER], lines)


def _payment(values: Mapping[Any, Any]) -> Payment:
    return _payment_row([values[key] for key in _PAYMENT_ORDER])


def _line_rows(invoice_id: int, lines: Iterable[InvoiceLine]) -> list[dict[str, Any]]:
    return [
        {
            "invoice_id": invoice_id,
            "line_no": line.line_no,
            "item_id": line.item_id,
            "description": line.description,
            "qty": line.qty,
            "unit_price": line.unit_price,
            "taxable": line.taxable,
            "tax_rate": line.tax_rate,
        }
        for line in lines
    ]


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _executemany(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows`` (all with the same keys) in one executemany.

    On SQLite the statement goes straight to the driver with each column's own bind processor
    applied column by column: SQLAlchemy's per-row parameter building costs more than SQLite's
    insert itself. Other backends use Core's executemany (insertmanyvalues batches there).
    """
    if not rows:
        return
    dialect = conn.dialect
    if dialect.name != "sqlite" or dialect.paramstyle != "qmark":
        conn.execute(insert(table), list(rows))
        return
    keys = list(rows[0])
    quote = dialect.identifier_preparer.quote
    statement = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({', '.join(quote(key) for key in keys)}) "
        f"VALUES ({', '.join('?' for _ in keys)})"
    )
    columns: list[list[Any]] = []
    for key in keys:
        values = [row[key] for row in rows]
        process = table.c[key].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            first = values[0]
            if all(value is first for value in values):  # e.g. one updated_at for the whole batch
                values = [process(first)] * len(values)
            else:
                values = [process(value) for value in values]
        columns.append(values)
    conn.exec_driver_sql(statement, list(zip(*columns, strict=True)))


def _chunks(values: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _is_memory_sqlite(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or (database.startswith("file:") and "mode=memory" in database)


def _is_lock_timeout(exc: OperationalError) -> bool:
    """SQLite's "database is locked" (the busy timeout ran out) or PostgreSQL's lock timeout."""
    text = str(getattr(exc, "orig", exc)).lower()
    return "database is locked" in text or "database table is locked" in text or "lock timeout" in text


def busy_timeout() -> float:
    """Seconds a SQLite writer waits for another one: ``QBO_WORK_BUSY_TIMEOUT`` when it is a positive
    number (a test or a harness that holds the store locked on purpose), else 30."""
    text = os.environ.get("QBO_WORK_BUSY_TIMEOUT", "").strip()
    try:
        value = float(text) if text else BUSY_TIMEOUT_SECONDS
    except ValueError:
        return BUSY_TIMEOUT_SECONDS
    return value if 0 < value < 86400 else BUSY_TIMEOUT_SECONDS


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


def _private_database(path: Path, *, default: bool) -> None:
    """Create the SQLite file 0600 before SQLite does: it would create it 0644 (less the umask), and
    its ``-wal`` and ``-shm`` files take the database file's mode. The default location's folder
    (the toolkit home) is created 0700, and an existing default file made 0600. An explicit path's
    folder is left as it is (a missing one is reported by SQLite), and so is a file that exists."""
    if default:
        private_dir(path.parent)
    if not path.parent.is_dir():
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        if default:
            for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                try:
                    os.chmod(name, FILE_MODE)
                except OSError:  # absent, or not ours to change
                    pass
    except OSError:  # unwritable folder and the like: SQLite says what is wrong
        pass


class WorkStore:
    """The WORK database behind any SQLAlchemy URL; see the module docstring for the rules."""

    def __init__(self, url: str | None = None, *, clock: Callable[[], dt.datetime] = utcnow) -> None:
        """Open (creating if needed) and migrate the database at ``url``.

        ``clock`` stamps ``updated_at``; tests pass a fixed one. A URL that cannot be opened raises
        :class:`ConfigError` with the password masked.
        """
        explicit = url is not None
        try:
            self.url: URL = make_url(url if url is not None else default_url())
        except ArgumentError:
            raise ConfigError("not a database URL (expected e.g. sqlite:///work.sqlite3)", key="work_url") from None
        self._clock = clock
        self.metadata: MetaData = schema.metadata
        self._sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        if self._sqlite:
            if _is_memory_sqlite(self.url):
                # One shared connection: threads (the widgets' worker) must see the same database.
                kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
            else:
                kwargs["connect_args"] = {"timeout": busy_timeout()}
                if self.url.database and "uri" not in self.url.query:
                    _private_database(Path(self.url.database), default=not explicit)
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except Exception as exc:  # unknown dialect, missing driver
            raise ConfigError(f"cannot use the WORK database {self!r}: {exc}", key="work_url") from None
        if self._sqlite:
            self._configure_sqlite(self.engine, memory=_is_memory_sqlite(self.url))
        try:
            self.migrate()
        except OperationalError as exc:
            self.engine.dispose()
            raise ConfigError(
                f"cannot open the WORK database {self!r}: {exc.orig}", key="work_url"
            ) from None

    @staticmethod
    def _configure_sqlite(engine: Engine, *, memory: bool) -> None:
        """WAL, foreign keys, busy timeout, and SQLAlchemy (not sqlite3) in charge of BEGIN.

        Python's sqlite3 module opens transactions lazily and never for DDL, which would make
        :meth:`migrate` non-atomic and let two writers deadlock on a lock upgrade. So it is told to
        keep out (``isolation_level = None``) and the ``begin`` event emits ``BEGIN`` itself:
        ``BEGIN IMMEDIATE`` for :meth:`begin` (writers queue on the busy timeout), plain ``BEGIN``
        for reads (WAL readers never block).
        """

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA foreign_keys = ON")
                cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout() * 1000)}")
                if not memory:
                    cursor.execute("PRAGMA journal_mode = WAL")
            finally:
                cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = "IMMEDIATE" if conn.get_execution_options().get("work_write") else "DEFERRED"
            conn.exec_driver_sql(f"BEGIN {mode}")

    def __repr__(self) -> str:
        return f"WorkStore({self.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        """Release the connection pool (the database itself stays)."""
        self.engine.dispose()

    def __enter__(self) -> WorkStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- transactions ------------------------------------------------------------------------

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a write transaction: committed when the block ends, rolled back on error.

        Pass it as ``conn=`` to store methods and use it for your own tables on :attr:`engine`.
        """
        try:
            with self.engine.connect() as conn:
                conn.execution_options(work_write=True)
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            if not _is_lock_timeout(exc):
                raise
            where = self.url.render_as_string(hide_password=True)
            raise WorkStoreBusy(
                f"the WORK store {where} stayed locked by another program for more than {busy_timeout():.0f} s, so "
                "this transaction was not written; try again once that program is done", store=where) from None

    @contextmanager
    def _write(self, conn: Connection | None) -> Iterator[Connection]:
        try:
            if conn is not None:
                yield conn
            else:
                with self.begin() as own:
                    yield own
        except IntegrityError as exc:
            # Validation runs first; this is a race (e.g. two writers taking one invoice number).
            raise WorkDataError(f"the database refused the write: {exc.orig}") from None

    @contextmanager
    def _read(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self.engine.connect() as own:
                yield own

    def migrate(self, *, target: int | None = None) -> int:
        """Bring the schema up to ``target`` (default: the latest) in one transaction; return it.

        Idempotent; called by the constructor. ``target`` exists so tests can build an old database.
        """
        with self.begin() as conn:
            return schema.migrate(conn, target=target)

    def schema_version(self, *, conn: Connection | None = None) -> int:
        with self._read(conn) as c:
            return schema.current_version(c)

    def _revisions(self, conn: Connection, count: int = 1) -> int:
        """Reserve ``count`` consecutive revisions; return the first.

        The UPDATE takes the counter row's write lock until commit, so revisions follow commit order:
        once a reader has seen revision N, no row with a lower revision can appear later, which is
        what makes ``changed_*(after_revision)`` safe to resume from.
        """
        counter = schema.revision_counter
        conn.execute(update(counter).where(counter.c.id == 1).values(value=counter.c.value + count))
        last = conn.execute(select(counter.c.value).where(counter.c.id == 1)).scalar_one()
        return int(last) - count + 1

    def max_revision(self, *, conn: Connection | None = None) -> int:
        """The last revision handed out (0 for an untouched store)."""
        counter = schema.revision_counter
        with self._read(conn) as c:
            return int(c.execute(select(counter.c.value).where(counter.c.id == 1)).scalar_one())

    def _now(self) -> dt.datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the store's clock must return an aware datetime")
        return now

    @staticmethod
    def _locked_row(conn: Connection, table: Table, record_id: int, rec: _Record) -> Mapping[Any, Any]:
        if isinstance(record_id, bool) or not isinstance(record_id, int):
            raise rec.error("id", f"must be a record id (int), not {record_id!r}")
        row = conn.execute(select(table).where(table.c.id == record_id).with_for_update()).mappings().first()
        if row is None:
            raise rec.error(None, "does not exist")
        return row

    @staticmethod
    def _missing_ids(conn: Connection, table: Table, ids: Iterable[int]) -> set[int]:
        wanted = sorted(set(ids))
        found: set[int] = set()
        for chunk in _chunks(wanted):
            found.update(conn.execute(select(table.c.id).where(table.c.id.in_(chunk))).scalars())
        return set(wanted) - found

    # ---- company -----------------------------------------------------------------------------

    def company(self, *, conn: Connection | None = None) -> Company | None:
        """The business's own details, or None before :meth:`set_company` was called."""
        table = schema.company
        with self._read(conn) as c:
            row = c.execute(select(table).where(table.c.id == 1)).mappings().first()
        if row is None:
            return None
        return Company(
            name=row["name"], default_state=row["default_state"], country=row["country"], time_zone=row["time_zone"]
        )

    def set_company(self, company: Company, *, conn: Connection | None = None) -> Company:
        """Store ``company`` (there is one row); return it."""
        rec = _Record("company")
        if not isinstance(company, Company):
            raise TypeError(f"set_company() takes a Company, not {type(company).__name__}")
        values = {
            "name": _text(company.name, rec, "name", required=True),
            "default_state": _text(company.default_state, rec, "default_state"),
            "country": _text(company.country, rec, "country"),
            "time_zone": _text(company.time_zone, rec, "time_zone", required=True),
        }
        for key, value in values.items():
            _plain(value, rec, key)
        try:
            ZoneInfo(values["time_zone"])
        except (ValueError, KeyError, OSError):
            raise rec.error("time_zone", f"is not a known time zone: {values['time_zone']!r}") from None
        table = schema.company
        with self._write(conn) as c:
            if c.execute(update(table).where(table.c.id == 1).values(values)).rowcount == 0:
                c.execute(insert(table).values(id=1, **values))
        return Company(**values)

    # ---- clients -----------------------------------------------------------------------------

    def _check_parent(self, conn: Connection, client_id: int | None, parent_id: int | None, rec: _Record) -> None:
        """``parent_id`` exists and does not make ``client_id`` its own ancestor."""
        if parent_id is None:
            return
        table = schema.clients
        seen: set[int] = set()
        current: int | None = parent_id
        while current is not None:
            if current == client_id or current in seen:
                raise rec.error("parent_id", f"{parent_id} would make the client its own ancestor")
            seen.add(current)
            row = conn.execute(select(table.c.parent_id).where(table.c.id == current)).first()
            if row is None:
                raise rec.error("parent_id", f"{current} is not a WORK client")
            current = row[0]

    def add_client(self, *, conn: Connection | None = None, **fields: Any) -> Client:
        """Add a client; ``fields`` are :class:`Client`'s (``billing=Address(...)`` or ``billing_city=...``)."""
        rec = _Record("new client")
        if "display_name" not in fields:
            raise rec.error("display_name", "is required")
        values = _client_values(fields, _CLIENT_DEFAULTS, rec)
        with self._write(conn) as c:
            self._check_parent(c, None, values["parent_id"], rec)
            values.update(version=1, revision=self._revisions(c), updated_at=self._now())
            new_id = _new_id(c.execute(insert(schema.clients).values(values)))
            return _client({"id": new_id, **values})

    def update_client(self, client_id: int, *, conn: Connection | None = None, **changes: Any) -> Client:
        """Change some fields; returns the row (unchanged, same version, when nothing differs)."""
        rec = _Record(f"client {client_id}", client_id)
        table = schema.clients
        with self._write(conn) as c:
            current = self._locked_row(c, table, client_id, rec)
            values = _client_values(changes, {key: current[key] for key in _CLIENT_COLUMNS}, rec)
            diff = {key: value for key, value in values.items() if current[key] != value}
            if not diff:
                return _client(current)
            if "parent_id" in diff:
                self._check_parent(c, client_id, values["parent_id"], rec)
            diff.update(version=current["version"] + 1, revision=self._revisions(c), updated_at=self._now())
            c.execute(update(table).where(table.c.id == client_id).values(diff))
            return _client({**current, **diff})

    def get_client(self, client_id: int, *, conn: Connection | None = None) -> Client | None:
        table = schema.clients
        with self._read(conn) as c:
            row = c.execute(select(table).where(table.c.id == client_id)).first()
        return None if row is None else _client_row(row)

    def clients(self, include_inactive: bool = True, *, conn: Connection | None = None) -> list[Client]:
        """All clients by id, in one query."""
        table = schema.clients
        query = select(table).order_by(table.c.id)
        if not include_inactive:
            query = query.where(table.c.active.is_(True))
        with self._read(conn) as c:
            return [_client_row(row) for row in c.execute(query).all()]

    def changed_clients(self, after_revision: int, *, conn: Connection | None = None) -> list[Client]:
        """Clients written after ``after_revision``, by revision."""
        table = schema.clients
        query = select(table).where(table.c.revision > after_revision).order_by(table.c.revision)
        with self._read(conn) as c:
            return [_client_row(row) for row in c.execute(query).all()]

    def bulk_add_clients(
        self, rows: Iterable[Mapping[str, Any]], *, conn: Connection | None = None
    ) -> list[int]:
        """Add many clients in one transaction with executemany; return their ids in row order.

        Every row is validated before anything is written (the first bad row raises, nothing is
        added). ``parent_id`` must name a client that already exists: load parents in an earlier call.
        Revisions follow row order.
        """
        values: list[dict[str, Any]] = []
        for index, row in enumerate(rows):
            rec = _Record(f"clients[{index}]")
            if "display_name" not in row:
                raise rec.error("display_name", "is required")
            values.append(_client_values(row, _CLIENT_DEFAULTS, rec))
        if not values:
            return []
        with self._write(conn) as c:
            missing = self._missing_ids(c, schema.clients, (v["parent_id"] for v in values if v["parent_id"]))
            if missing:
                index = next(i for i, v in enumerate(values) if v["parent_id"] in missing)
                parent = values[index]["parent_id"]
                raise _Record(f"clients[{index}]").error("parent_id", f"{parent} is not a WORK client")
            first, now = self._revisions(c, len(values)), self._now()
            for offset, value in enumerate(values):
                value.update(version=1, revision=first + offset, updated_at=now)
            return self._insert_many(c, schema.clients, values)

    @staticmethod
    def _insert_many(conn: Connection, table: Table, values: list[dict[str, Any]]) -> list[int]:
        """Insert ``values`` with executemany; return the new ids in row order.

        SQLite cannot promise RETURNING order for a multi-row INSERT, so SQLAlchemy would fall back to
        one statement per row (20x slower). There the ids are assigned here instead: the caller has
        already reserved revisions, which took SQLite's write lock, so nobody else can insert before
        us and ``max(id) + 1 ...`` is exactly what SQLite would have chosen. Elsewhere (PostgreSQL)
        RETURNING with ``sort_by_parameter_order`` is batched and ordered by SQLAlchemy.
        """
        if conn.dialect.name == "sqlite":
            start = int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1
            ids = list(range(start, start + len(values)))
            for new_id, value in zip(ids, values, strict=True):
                value["id"] = new_id
            _executemany(conn, table, values)
            return ids
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(conn.execute(statement, values).scalars())

    # ---- items -------------------------------------------------------------------------------

    def _check_item_name(self, conn: Connection, name: str, item_id: int | None, rec: _Record) -> None:
        table = schema.items
        query = select(table.c.id).where(table.c.name == name)
        if item_id is not None:
            query = query.where(table.c.id != item_id)
        if conn.execute(query).first() is not None:
            raise rec.error("name", f"{name!r} is already used by another item")

    def add_item(
        self,
        name: str,
        type: str = "service",
        rate: Any = _ZERO,
        active: bool = True,
        *,
        conn: Connection | None = None,
    ) -> Item:
        """Add a product or service (``name`` unique)."""
        rec = _Record(f"new item {name!r}")
        values = _item_values({"name": name, "type": type, "rate": rate, "active": active}, {}, rec)
        with self._write(conn) as c:
            self._check_item_name(c, values["name"], None, rec)
            values.update(version=1, revision=self._revisions(c), updated_at=self._now())
            new_id = _new_id(c.execute(insert(schema.items).values(values)))
            return _item({"id": new_id, **values})

    def update_item(self, item_id: int, *, conn: Connection | None = None, **changes: Any) -> Item:
        rec = _Record(f"item {item_id}", item_id)
        table = schema.items
        with self._write(conn) as c:
            current = self._locked_row(c, table, item_id, rec)
            values = _item_values(changes, {key: current[key] for key in _ITEM_COLUMNS}, rec)
            diff = {key: value for key, value in values.items() if current[key] != value}
            if not diff:
                return _item(current)
            if "name" in diff:
                self._check_item_name(c, values["name"], item_id, rec)
            diff.update(version=current["version"] + 1, revision=self._revisions(c), updated_at=self._now())
            c.execute(update(table).where(table.c.id == item_id).values(diff))
            return _item({**current, **diff})

    def get_item(self, item_id: int, *, conn: Connection | None = None) -> Item | None:
        table = schema.items
        with self._read(conn) as c:
            row = c.execute(select(table).where(table.c.id == item_id)).first()
        return None if row is None else _item_row(row)

    def item_by_name(self, name: str, *, conn: Connection | None = None) -> Item | None:
        """The item called exactly ``name`` (case and spaces matter), or None."""
        table = schema.items
        with self._read(conn) as c:
            row = c.execute(select(table).where(table.c.name == name)).first()
        return None if row is None else _item_row(row)

    def items(self, include_inactive: bool = True, *, conn: Connection | None = None) -> list[Item]:
        table = schema.items
        query = select(table).order_by(table.c.id)
        if not include_inactive:
            query = query.where(table.c.active.is_(True))
        with self._read(conn) as c:
            return [_item_row(row) for row in c.execute(query).all()]

    def changed_items(self, after_revision: int, *, conn: Connection | None = None) -> list[Item]:
        table = schema.items
        query = select(table).where(table.c.revision > after_revision).order_by(table.c.revision)
        with self._read(conn) as c:
            return [_item_row(row) for row in c.execute(query).all()]

    # ---- invoices ----------------------------------------------------------------------------

    def _paid(self, conn: Connection, invoice_id: int, *, excluding: int | None = None) -> Decimal:
        """Sum of the live payments of ``invoice_id`` (optionally leaving one payment out)."""
        table = schema.payments
        query = select(func.sum(table.c.amount)).where(table.c.invoice_id == invoice_id, table.c.deleted.is_(False))
        if excluding is not None:
            query = query.where(table.c.id != excluding)
        paid = conn.execute(query).scalar()
        return _ZERO if paid is None else paid

    def _check_invoice_refs(
        self, conn: Connection, values: Mapping[str, Any], lines: Sequence[InvoiceLine] | None, rec: _Record
    ) -> None:
        if self._missing_ids(conn, schema.clients, [values["client_id"]]):
            raise rec.error("client_id", f"{values['client_id']} is not a WORK client")
        if lines:
            missing = self._missing_ids(conn, schema.items, (line.item_id for line in lines if line.item_id))
            for line in lines:
                if line.item_id in missing:
                    raise rec.error(f"lines[{line.line_no - 1}].item_id", f"{line.item_id} is not a WORK item")

    def _check_number(self, conn: Connection, number: str, invoice_id: int | None, rec: _Record) -> None:
        table = schema.invoices
        query = select(table.c.id).where(table.c.number == number)
        if invoice_id is not None:
            query = query.where(table.c.id != invoice_id)
        if conn.execute(query).first() is not None:
            raise rec.error("number", f"{number!r} is already used by another invoice")

    def _lines(self, conn: Connection, where: ColumnElement[bool] | None) -> dict[int, list[InvoiceLine]]:
        """Lines of the invoices matching ``where``, grouped by invoice id (one query)."""
        lines = schema.invoice_lines
        query = select(lines).order_by(lines.c.invoice_id, lines.c.line_no)
        if where is not None:
            query = query.where(lines.c.invoice_id.in_(select(schema.invoices.c.id).where(where)))
        grouped: dict[int, list[InvoiceLine]] = {}
        for _id, invoice_id, line_no, item_id, description, qty, unit_price, taxable, rate in conn.execute(query).all():
            line = InvoiceLine(line_no, item_id, description, qty, unit_price, bool(taxable), rate)
            bucket = grouped.get(invoice_id)
            if bucket is None:
                grouped[invoice_id] = [line]
            else:
                bucket.append(line)
        return grouped

    def _select_invoices(
        self, conn: Connection, where: ColumnElement[bool] | None, order: Any = None
    ) -> list[Invoice]:
        """Invoices with their lines in two queries, however many there are."""
        table = schema.invoices
        query = select(table).order_by(order if order is not None else table.c.id)
        if where is not None:
            query = query.where(where)
        rows = conn.execute(query).all()
        if not rows:
            return []
        grouped = self._lines(conn, where)
        return [_invoice_row(row, grouped.get(row[0], ())) for row in rows]

    def add_invoice(
        self,
        number: str,
        client_id: int,
        issue_date: dt.date,
        due_date: dt.date | None = None,
        lines: Iterable[InvoiceLine | Mapping[str, Any]] = (),
        tax_amount: Any = None,
        status: str = "open",
        terms: str = "",
        *,
        conn: Connection | None = None,
    ) -> Invoice:
        """Add an invoice with its lines (renumbered 1, 2, ...); ``total`` = subtotal + tax, computed.

        Lines with a ``tax_rate`` (a WORK tax rate's name) have their tax computed here, per rate on
        the sum of that rate's lines; ``tax_amount`` is then left out (or must agree). Lines without
        one carry the tax given in ``tax_amount`` (US explicit tax; default none).
        """
        rec = _Record(f"new invoice {number!r}")
        fields = {
            "number": number,
            "client_id": client_id,
            "issue_date": issue_date,
            "due_date": due_date,
            "status": status,
            "tax_amount": tax_amount,
            "terms": terms,
            "lines": lines,
        }
        values, new_lines = _invoice_values(fields, {}, rec)
        assert new_lines is not None
        with self._write(conn) as c:
            rates = self.tax_rate_percents(conn=c) if any(line.tax_rate for line in new_lines) else None
            new_lines = _settle_tax(values, new_lines, rates, rec, given=tax_amount is not None)
            values["total"] = _totals(rec, new_lines, values["tax_amount"])
            self._check_invoice_refs(c, values, new_lines, rec)
            self._check_number(c, values["number"], None, rec)
            values.update(deleted=False, version=1, revision=self._revisions(c), updated_at=self._now())
            new_id = _new_id(c.execute(insert(schema.invoices).values(values)))
            c.execute(insert(schema.invoice_lines), _line_rows(new_id, new_lines))
            return _invoice({"id": new_id, **values}, new_lines)

    def update_invoice(self, invoice_id: int, *, conn: Connection | None = None, **changes: Any) -> Invoice:
        """Change header fields and/or replace ``lines``; the total is recomputed.

        Returns the row unchanged (same version) when nothing differs. A void or deleted invoice is
        final; an invoice with payments cannot drop below what was paid, nor be voided.
        """
        rec = _Record(f"invoice {invoice_id}", invoice_id)
        table = schema.invoices
        with self._write(conn) as c:
            current_row = self._locked_row(c, table, invoice_id, rec)
            current = _invoice(current_row, self._lines(c, table.c.id == invoice_id).get(invoice_id, ()))
            values, new_lines = _invoice_values(changes, {key: current_row[key] for key in _INVOICE_FIELDS}, rec)
            lines = current.lines if new_lines is None else new_lines
            if new_lines is not None and any(line.tax_rate for line in new_lines):
                lines = _settle_tax(
                    values, lines, self.tax_rate_percents(conn=c), rec, given=changes.get("tax_amount") is not None
                )
            elif "tax_amount" in changes and values["tax_amount"] is None:
                values["tax_amount"] = _ZERO
            elif new_lines is not None and "tax_amount" not in changes and any(ln.tax_rate for ln in current.lines):
                values["tax_amount"] = _ZERO  # the rates' tax went with the rated lines
            elif (
                "tax_amount" in changes
                and any(line.tax_rate for line in lines)
                and values["tax_amount"] != current_row["tax_amount"]
            ):
                raise rec.error("tax_amount", "is computed from the lines' tax rates; change the lines instead")
            values["total"] = _totals(rec, lines, values["tax_amount"])
            diff = {key: value for key, value in values.items() if current_row[key] != value}
            lines_changed = lines != current.lines
            if not diff and not lines_changed:
                return current
            self._check_changeable(current, rec)
            self._check_invoice_refs(c, values, new_lines if lines_changed else None, rec)
            if "number" in diff:
                self._check_number(c, values["number"], invoice_id, rec)
            paid = self._paid(c, invoice_id)
            if paid and values["status"] == "void":
                raise rec.error("status", f"cannot be void: {paid} has been paid on it (delete the payments first)")
            credited = self._credited(c, invoice_id)
            if credited and values["status"] == "void":
                raise rec.error(
                    "status",
                    f"cannot be void: {credited} of credit notes is applied to it (remove the applications first)",
                )
            if credited and "client_id" in diff:
                raise rec.error("client_id", "cannot change: credit notes of the client are applied to the invoice")
            if paid + credited > values["total"]:
                settled = f"the {paid} already paid" if not credited else f"the {paid + credited} paid and credited"
                raise rec.error("total", f"{values['total']} would be less than {settled}")
            diff.update(version=current.version + 1, revision=self._revisions(c), updated_at=self._now())
            c.execute(update(table).where(table.c.id == invoice_id).values(diff))
            if lines_changed:
                c.execute(delete(schema.invoice_lines).where(schema.invoice_lines.c.invoice_id == invoice_id))
                c.execute(insert(schema.invoice_lines), _line_rows(invoice_id, lines))
            return _invoice({**current_row, **diff}, lines)

    @staticmethod
    def _check_changeable(invoice: Invoice, rec: _Record) -> None:
        if invoice.deleted:
            raise rec.error(None, "is deleted and cannot be changed")
        if invoice.status == "void":
            raise rec.error("status", "is void; a void invoice cannot be changed")

    def void_invoice(self, invoice_id: int, *, conn: Connection | None = None) -> Invoice:
        """Mark the invoice void (its lines stay for the record). No-op if it already is."""
        with self._write(conn) as c:
            current = self.get_invoice(invoice_id, conn=c)
            if current is not None and current.status == "void" and not current.deleted:
                return current
            return self.update_invoice(invoice_id, status="void", conn=c)

    def delete_invoice(self, invoice_id: int, *, conn: Connection | None = None) -> Invoice:
        """Soft delete: ``deleted=True``, a new version and revision; hidden from :meth:`invoices`."""
        rec = _Record(f"invoice {invoice_id}", invoice_id)
        table = schema.invoices
        with self._write(conn) as c:
            row = self._locked_row(c, table, invoice_id, rec)
            lines = self._lines(c, table.c.id == invoice_id).get(invoice_id, ())
            if row["deleted"]:
                return _invoice(row, lines)
            paid = self._paid(c, invoice_id)
            if paid:
                raise rec.error(None, f"has {paid} of payments; delete them before the invoice")
            credited = self._credited(c, invoice_id)
            if credited:
                raise rec.error(
                    None, f"has {credited} of credit notes applied; remove the applications before the invoice"
                )
            diff = {
                "deleted": True,
                "version": row["version"] + 1,
                "revision": self._revisions(c),
                "updated_at": self._now(),
            }
            c.execute(update(table).where(table.c.id == invoice_id).values(diff))
            return _invoice({**row, **diff}, lines)

    def get_invoice(self, invoice_id: int, *, conn: Connection | None = None) -> Invoice | None:
        """The invoice (deleted or not) with its lines, or None."""
        with self._read(conn) as c:
            found = self._select_invoices(c, schema.invoices.c.id == invoice_id)
        return found[0] if found else None

    def invoice_by_number(self, number: str, *, conn: Connection | None = None) -> Invoice | None:
        """The invoice numbered exactly ``number`` (deleted or not), or None."""
        with self._read(conn) as c:
            found = self._select_invoices(c, schema.invoices.c.number == number)
        return found[0] if found else None

    def invoices(
        self,
        *,
        include_deleted: bool = False,
        client_id: int | None = None,
        status: str | None = None,
        conn: Connection | None = None,
    ) -> list[Invoice]:
        """Invoices by id (without deleted ones unless asked), each with its lines, in two queries."""
        table = schema.invoices
        conditions: list[ColumnElement[bool]] = []
        if not include_deleted:
            conditions.append(table.c.deleted.is_(False))
        if client_id is not None:
            conditions.append(table.c.client_id == client_id)
        if status is not None:
            conditions.append(table.c.status == status)
        where = and_(*conditions) if conditions else None
        with self._read(conn) as c:
            return self._select_invoices(c, where)

    def changed_invoices(self, after_revision: int, *, conn: Connection | None = None) -> list[Invoice]:
        """Invoices written after ``after_revision`` (deleted ones included), by revision."""
        table = schema.invoices
        with self._read(conn) as c:
            return self._select_invoices(c, table.c.revision > after_revision, order=table.c.revision)

    def bulk_add_invoices(
        self, rows: Iterable[Mapping[str, Any]], *, conn: Connection | None = None
    ) -> list[int]:
        """Add many invoices (each a mapping of :meth:`add_invoice`'s arguments) in one transaction.

        All rows are validated first (numbers unique in the batch and the store, clients and items
        existing); the first bad row raises and nothing is added. Returns ids in row order.
        """
        headers: list[dict[str, Any]] = []
        all_lines: list[tuple[InvoiceLine, ...]] = []
        numbers: dict[str, int] = {}
        rates: Mapping[str, Decimal] | None = None
        for index, row in enumerate(rows):
            rec = _Record(f"invoices[{index}]")
            given = row.get("tax_amount") is not None
            fields = {"due_date": None, "tax_amount": None, "status": "open", **row}
            for required in ("number", "client_id", "issue_date", "lines"):
                if required not in fields:
                    raise rec.error(required, "is required")
            values, lines = _invoice_values(fields, {}, rec)
            assert lines is not None
            if any(line.tax_rate for line in lines):
                if rates is None:
                    rates = self.tax_rate_percents(conn=conn)
                lines = _settle_tax(values, lines, rates, rec, given=given)
            elif values["tax_amount"] is None:
                values["tax_amount"] = _ZERO
            values["total"] = _totals(rec, lines, values["tax_amount"])
            if values["number"] in numbers:
                raise rec.error("number", f"{values['number']!r} repeats invoices[{numbers[values['number']]}]")
            numbers[values["number"]] = index
            headers.append(values)
            all_lines.append(lines)
        if not headers:
            return []
        table = schema.invoices
        with self._write(conn) as c:
            missing_clients = self._missing_ids(c, schema.clients, (h["client_id"] for h in headers))
            missing_items = self._missing_ids(
                c, schema.items, (line.item_id for lines in all_lines for line in lines if line.item_id)
            )
            for index, (values, lines) in enumerate(zip(headers, all_lines, strict=True)):
                rec = _Record(f"invoices[{index}]")
                if values["client_id"] in missing_clients:
                    raise rec.error("client_id", f"{values['client_id']} is not a WORK client")
                for line in lines:
                    if line.item_id in missing_items:
                        raise rec.error(f"lines[{line.line_no - 1}].item_id", f"{line.item_id} is not a WORK item")
            for chunk in _chunks(list(numbers)):
                taken = c.execute(select(table.c.number).where(table.c.number.in_(chunk))).scalars().first()
                if taken is not None:
                    raise _Record(f"invoices[{numbers[taken]}]").error("number", f"{taken!r} is already used")
            first, now = self._revisions(c, len(headers)), self._now()
            for offset, values in enumerate(headers):
                values.update(deleted=False, version=1, revision=first + offset, updated_at=now)
            ids = self._insert_many(c, table, headers)
            line_rows = [row for new_id, lines in zip(ids, all_lines, strict=True) for row in _line_rows(new_id, lines)]
            _executemany(c, schema.invoice_lines, line_rows)
            return ids

    # ---- payments ----------------------------------------------------------------------------

    def _check_payable(
        self, conn: Connection, invoice_id: int, amount: Decimal, rec: _Record, *, excluding: int | None = None
    ) -> None:
        table = schema.invoices
        row = conn.execute(
            select(table.c.status, table.c.deleted, table.c.total).where(table.c.id == invoice_id).with_for_update()
        ).first()
        if row is None:
            raise rec.error("invoice_id", f"{invoice_id} is not a WORK invoice")
        if row.deleted or row.status == "void":
            raise rec.error("invoice_id", f"invoice {invoice_id} is {'deleted' if row.deleted else 'void'}")
        paid = self._paid(conn, invoice_id, excluding=excluding) + self._credited(conn, invoice_id)
        if paid + amount > row.total:
            raise rec.error(
                "amount",
                f"{amount} would bring payments and applied credits to {paid + amount}, "
                f"more than the invoice total {row.total}",
            )

    def add_payment(
        self,
        invoice_id: int,
        date: dt.date,
        amount: Any,
        method: str = "",
        reference: str = "",
        *,
        conn: Connection | None = None,
    ) -> Payment:
        """Record a payment against a live invoice (never more than its unpaid part)."""
        rec = _Record(f"new payment on invoice {invoice_id}")
        fields = {"invoice_id": invoice_id, "date": date, "amount": amount, "method": method, "reference": reference}
        values = _payment_values(fields, {}, rec)
        with self._write(conn) as c:
            self._check_payable(c, values["invoice_id"], values["amount"], rec)
            values.update(deleted=False, version=1, revision=self._revisions(c), updated_at=self._now())
            new_id = _new_id(c.execute(insert(schema.payments).values(values)))
            return _payment({"id": new_id, **values})

    def update_payment(self, payment_id: int, *, conn: Connection | None = None, **changes: Any) -> Payment:
        rec = _Record(f"payment {payment_id}", payment_id)
        table = schema.payments
        with self._write(conn) as c:
            current = self._locked_row(c, table, payment_id, rec)
            values = _payment_values(changes, {key: current[key] for key in _PAYMENT_COLUMNS}, rec)
            diff = {key: value for key, value in values.items() if current[key] != value}
            if not diff:
                return _payment(current)
            if current["deleted"]:
                raise rec.error(None, "is deleted and cannot be changed")
            if "invoice_id" in diff or "amount" in diff:
                self._check_payable(c, values["invoice_id"], values["amount"], rec, excluding=payment_id)
            diff.update(version=current["version"] + 1, revision=self._revisions(c), updated_at=self._now())
            c.execute(update(table).where(table.c.id == payment_id).values(diff))
            return _payment({**current, **diff})

    def delete_payment(self, payment_id: int, *, conn: Connection | None = None) -> Payment:
        """Soft delete: ``deleted=True``, a new version and revision. No-op if already deleted."""
        rec = _Record(f"payment {payment_id}", payment_id)
        table = schema.payments
        with self._write(conn) as c:
            current = self._locked_row(c, table, payment_id, rec)
            if current["deleted"]:
                return _payment(current)
            diff = {
                "deleted": True,
                "version": current["version"] + 1,
                "revision": self._revisions(c),
                "updated_at": self._now(),
            }
            c.execute(update(table).where(table.c.id == payment_id).values(diff))
            return _payment({**current, **diff})

    # ---- readers shared by the tracked tables of schema version 3 (and payments) ---------------

    def _row_by(self, table: Table, column: str, value: Any, make: Callable[[Any], T],
                conn: Connection | None) -> T | None:
        with self._read(conn) as c:
            row = c.execute(select(table).where(table.c[column] == value)).first()
        return None if row is None else make(row)

    def _rows(self, table: Table, make: Callable[[Any], T], conn: Connection | None, *,
              include_deleted: bool, **equal: Any) -> list[T]:
        """Rows by id, without soft-deleted ones unless asked, filtered by the columns given (not None)."""
        query = select(table).order_by(table.c.id)
        if not include_deleted:
            query = query.where(table.c.deleted.is_(False))
        for column, value in equal.items():
            if value is not None:
                query = query.where(table.c[column] == value)
        with self._read(conn) as c:
            return [make(row) for row in c.execute(query).all()]

    def _changed(self, table: Table, make: Callable[[Any], T], after_revision: int,
                 conn: Connection | None) -> list[T]:
        """Rows written after ``after_revision`` (deleted ones included), by revision."""
        query = select(table).where(table.c.revision > after_revision).order_by(table.c.revision)
        with self._read(conn) as c:
            return [make(row) for row in c.execute(query).all()]

    def get_payment(self, payment_id: int, *, conn: Connection | None = None) -> Payment | None:
        return self._row_by(schema.payments, "id", payment_id, _payment_row, conn)

    def payments(
        self, *, include_deleted: bool = False, invoice_id: int | None = None, conn: Connection | None = None
    ) -> list[Payment]:
        """Payments by id (without deleted ones unless asked), in one query."""
        return self._rows(schema.payments, _payment_row, conn, include_deleted=include_deleted, invoice_id=invoice_id)

    def changed_payments(self, after_revision: int, *, conn: Connection | None = None) -> list[Payment]:
        """Payments written after ``after_revision`` (deleted ones included), by revision."""
        return self._changed(schema.payments, _payment_row, after_revision, conn)

    def bulk_add_payments(
        self, rows: Iterable[Mapping[str, Any]], *, conn: Connection | None = None
    ) -> list[int]:
        """Add many payments (mappings of :meth:`add_payment`'s arguments) in one transaction.

        Validated first, including the running total per invoice; the first bad row raises and
        nothing is added. Returns ids in row order.
        """
        values: list[dict[str, Any]] = []
        for index, row in enumerate(rows):
            rec = _Record(f"payments[{index}]")
            for required in ("invoice_id", "date", "amount"):
                if required not in row:
                    raise rec.error(required, "is required")
            values.append(_payment_values({"method": "", "reference": "", **row}, {}, rec))
        if not values:
            return []
        invoices, payments = schema.invoices, schema.payments
        with self._write(conn) as c:
            wanted = sorted({v["invoice_id"] for v in values})
            state: dict[int, tuple[str, bool, Decimal]] = {}
            paid: dict[int, Decimal] = {}
            for chunk in _chunks(wanted):
                for found in c.execute(
                    select(invoices.c.id, invoices.c.status, invoices.c.deleted, invoices.c.total).where(
                        invoices.c.id.in_(chunk)
                    )
                ):
                    state[found.id] = (found.status, bool(found.deleted), found.total)
                for invoice_id, amount in c.execute(
                    select(payments.c.invoice_id, func.sum(payments.c.amount))
                    .where(payments.c.invoice_id.in_(chunk), payments.c.deleted.is_(False))
                    .group_by(payments.c.invoice_id)
                ):
                    paid[invoice_id] = amount
                credits = schema.credit_applications
                for invoice_id, amount in c.execute(
                    select(credits.c.invoice_id, func.sum(credits.c.amount))
                    .where(credits.c.invoice_id.in_(chunk), credits.c.deleted.is_(False))
                    .group_by(credits.c.invoice_id)
                ):
                    paid[invoice_id] = paid.get(invoice_id, _ZERO) + amount
            for index, value in enumerate(values):
                rec = _Record(f"payments[{index}]")
                invoice_id = value["invoice_id"]
                if invoice_id not in state:
                    raise rec.error("invoice_id", f"{invoice_id} is not a WORK invoice")
                status, deleted, total = state[invoice_id]
                if deleted or status == "void":
                    raise rec.error("invoice_id", f"invoice {invoice_id} is {'deleted' if deleted else 'void'}")
                running = paid.get(invoice_id, _ZERO) + value["amount"]
                if running > total:
                    raise rec.error(
                        "amount", f"{value['amount']} would bring payments to {running}, more than the total {total}"
                    )
                paid[invoice_id] = running
            first, now = self._revisions(c, len(values)), self._now()
            for offset, value in enumerate(values):
                value.update(deleted=False, version=1, revision=first + offset, updated_at=now)
            return self._insert_many(c, payments, values)

    # ---- lookups (importers, matching) ------------------------------------------------------

    def client_ids_by_name(self, names: Iterable[str], *, conn: Connection | None = None) -> dict[str, list[int]]:
        """Ids of the clients called exactly each of ``names`` (display names repeat in WORK).

        Names without a client are absent from the result.
        """
        table = schema.clients
        wanted = sorted(set(names))
        found: dict[str, list[int]] = {}
        with self._read(conn) as c:
            for chunk in _chunks(wanted):
                query = select(table.c.display_name, table.c.id).where(table.c.display_name.in_(chunk))
                for name, client_id in c.execute(query.order_by(table.c.id)):
                    found.setdefault(name, []).append(client_id)
        return found

    def inactive_client_ids(self, *, conn: Connection | None = None) -> set[int]:
        """Ids of the clients that are not active (one narrow query: the sync asks it every run)."""
        table = schema.clients
        with self._read(conn) as c:
            return {row[0] for row in c.execute(select(table.c.id).where(table.c.active.is_(False)))}

    def invoices_by_number(self, numbers: Iterable[str], *, conn: Connection | None = None) -> dict[str, Invoice]:
        """The invoices (deleted ones included) numbered exactly each of ``numbers``."""
        return self._invoices_keyed("number", numbers, conn)

    def invoices_by_id(self, ids: Iterable[int], *, conn: Connection | None = None) -> dict[int, Invoice]:
        """The invoices (deleted ones included) with each of ``ids``, a few hundred per query (absent: no such id)."""
        return self._invoices_keyed("id", ids, conn)

    def _invoices_keyed(self, column: str, values: Iterable[Any], conn: Connection | None) -> dict[Any, Invoice]:
        """The invoices whose ``column`` is one of ``values``, keyed by that column, in chunked IN queries."""
        wanted = sorted(set(values))
        found: dict[Any, Invoice] = {}
        with self._read(conn) as c:
            for chunk in _chunks(wanted):
                for invoice in self._select_invoices(c, schema.invoices.c[column].in_(chunk)):
                    found[getattr(invoice, column)] = invoice
        return found

    def paid_amounts(
        self, invoice_ids: Iterable[int] | None = None, *, conn: Connection | None = None
    ) -> dict[int, Decimal]:
        """Sum of live payments per invoice id (all invoices, or ``invoice_ids``); unpaid ones are absent."""
        table = schema.payments
        query = (
            select(table.c.invoice_id, func.sum(table.c.amount))
            .where(table.c.deleted.is_(False))
            .group_by(table.c.invoice_id)
        )
        with self._read(conn) as c:
            if invoice_ids is None:
                return {row[0]: row[1] for row in c.execute(query)}
            paid: dict[int, Decimal] = {}
            for chunk in _chunks(sorted(set(invoice_ids))):
                paid.update((row[0], row[1]) for row in c.execute(query.where(table.c.invoice_id.in_(chunk))))
            return paid


    # ---- tax rates (schema version 3) -------------------------------------------------------

    def _check_tax_rate_name(self, conn: Connection, name: str, rate_id: int | None, rec: _Record) -> None:
        table = schema.tax_rates
        query = select(table.c.id).where(table.c.name == name)
        if rate_id is not None:
            query = query.where(table.c.id != rate_id)
        if conn.execute(query).first() is not None:
            raise rec.error("name", f"{name!r} is already used by another tax rate")

    def add_tax_rate(self, name: str, rate: Any, active: bool = True, *, conn: Connection | None = None) -> TaxRate:
        """Add a WORK tax rate: ``name`` unique, ``rate`` a percent from 0 to 100 (8.25 = 8.25 %)."""
        rec = _Record(f"new tax rate {name!r}")
        values = _tax_rate_values({"name": name, "rate": rate, "active": active}, {}, rec)
        with self._write(conn) as c:
            self._check_tax_rate_name(c, values["name"], None, rec)
            new_id = _new_id(c.execute(insert(schema.tax_rates).values(values)))
            return TaxRate(new_id, values["name"], values["rate"], values["active"])

    def update_tax_rate(self, rate_id: int, *, conn: Connection | None = None, **changes: Any) -> TaxRate:
        """Change a tax rate's percent or active flag (documents already written keep their tax), or
        its name while nothing uses it yet."""
        rec = _Record(f"tax rate {rate_id}", rate_id)
        table = schema.tax_rates
        with self._write(conn) as c:
            current = self._locked_row(c, table, rate_id, rec)
            values = _tax_rate_values(changes, {key: current[key] for key in _TAX_RATE_COLUMNS}, rec)
            diff = {key: value for key, value in values.items() if current[key] != value}
            if not diff:
                return _tax_rate_row([current[key] for key in _TAX_RATE_ORDER])
            if "name" in diff:
                self._check_tax_rate_name(c, values["name"], rate_id, rec)
                users = self._tax_rate_users(c, current["name"])
                if users:
                    raise rec.error("name", f"cannot change: {users} use {current['name']!r}")
            c.execute(update(table).where(table.c.id == rate_id).values(diff))
            return _tax_rate_row([{**current, **diff}[key] for key in _TAX_RATE_ORDER])

    @staticmethod
    def _tax_rate_users(conn: Connection, name: str) -> str:
        """Which kinds of records use the tax rate ``name`` ("" for none)."""
        kinds = []
        for table, what in (
            (schema.invoice_lines, "invoice lines"),
            (schema.credit_notes, "credit notes"),
            (schema.refunds, "refunds"),
        ):
            if conn.execute(select(table.c.id).where(table.c.tax_rate == name).limit(1)).first() is not None:
                kinds.append(what)
        return " and ".join(kinds)

    def tax_rates(self, include_inactive: bool = True, *, conn: Connection | None = None) -> list[TaxRate]:
        table = schema.tax_rates
        query = select(table).order_by(table.c.id)
        if not include_inactive:
            query = query.where(table.c.active.is_(True))
        with self._read(conn) as c:
            return [_tax_rate_row(row) for row in c.execute(query).all()]

    def tax_rate_by_name(self, name: str, *, conn: Connection | None = None) -> TaxRate | None:
        table = schema.tax_rates
        with self._read(conn) as c:
            row = c.execute(select(table).where(table.c.name == name)).first()
        return None if row is None else _tax_rate_row(row)

    def tax_rate_percents(self, *, conn: Connection | None = None) -> dict[str, Decimal]:
        """Every WORK tax rate's name -> percent (inactive ones too: old documents use them)."""
        table = schema.tax_rates
        with self._read(conn) as c:
            return {name: rate for name, rate in c.execute(select(table.c.name, table.c.rate))}

    # ---- credit notes (schema version 3) ----------------------------------------------------

    def _check_document_refs(self, conn: Connection, values: Mapping[str, Any], rec: _Record) -> None:
        if self._missing_ids(conn, schema.clients, [values["client_id"]]):
            raise rec.error("client_id", f"{values['client_id']} is not a WORK client")
        if values["item_id"] is not None and self._missing_ids(conn, schema.items, [values["item_id"]]):
            raise rec.error("item_id", f"{values['item_id']} is not a WORK item")

    def _check_credit_number(self, conn: Connection, number: str, note_id: int | None, rec: _Record) -> None:
        table = schema.credit_notes
        query = select(table.c.id).where(table.c.number == number)
        if note_id is not None:
            query = query.where(table.c.id != note_id)
        if conn.execute(query).first() is not None:
            raise rec.error("number", f"{number!r} is already used by another credit note")

    def _rates_for(self, conn: Connection, values: Mapping[str, Any]) -> Mapping[str, Decimal] | None:
        return self.tax_rate_percents(conn=conn) if values["tax_rate"] else None

    def add_credit_note(
        self,
        number: str,
        client_id: int,
        date: dt.date,
        amount: Any,
        description: str = "",
        item_id: int | None = None,
        tax_rate: str = "",
        tax_amount: Any = None,
        *,
        conn: Connection | None = None,
    ) -> CreditNote:
        """Add a credit note of ``amount`` before tax (more than zero) for a client.

        With a ``tax_rate`` the tax is computed (``tax_amount`` left out or agreeing); without one
        ``tax_amount`` is the tax given (US explicit tax; default none). ``total`` = amount + tax.
        """
        rec = _Record(f"new credit note {number!r}")
        fields = {
            "number": number, "client_id": client_id, "date": date, "description": description,
            "item_id": item_id, "amount": amount, "tax_rate": tax_rate, "tax_amount": tax_amount,
        }  # fmt: skip
        values = _credit_note_values(fields, {}, rec)
        with self._write(conn) as c:
            self._check_document_refs(c, values, rec)
            self._check_credit_number(c, values["number"], None, rec)
            _settle_document_tax(values, self._rates_for(c, values), rec, given=tax_amount is not None)
            values.update(deleted=False, version=1, revision=self._revisions(c), updated_at=self._now())
            new_id = _new_id(c.execute(insert(schema.credit_notes).values(values)))
            return _credit_note_row([{"id": new_id, **values}[key] for key in _CREDIT_NOTE_ORDER])

    def update_credit_note(self, note_id: int, *, conn: Connection | None = None, **changes: Any) -> CreditNote:
        """Change some fields (the tax is recomputed from the rate); never below what is applied."""
        rec = _Record(f"credit note {note_id}", note_id)
        table = schema.credit_notes
        with self._write(conn) as c:
            current = self._locked_row(c, table, note_id, rec)
            base = {key: current[key] for key in _CREDIT_NOTE_COLUMNS}
            if "tax_amount" not in changes and current["tax_rate"]:
                base["tax_amount"] = None  # recomputed from the (possibly new) amount and rate
            values = _credit_note_values(changes, base, rec)
            if not values["tax_rate"] and "tax_rate" in changes and "tax_amount" not in changes:
                values["tax_amount"] = None
            _settle_document_tax(values, self._rates_for(c, values), rec, given=changes.get("tax_amount") is not None)
            diff = {key: value for key, value in values.items() if current[key] != value}
            if not diff:
                return _credit_note_row(list(current.values()))
            if current["deleted"]:
                raise rec.error(None, "is deleted and cannot be changed")
            self._check_document_refs(c, values, rec)
            if "number" in diff:
                self._check_credit_number(c, values["number"], note_id, rec)
            applied = self._applied(c, note_id)
            if applied and "client_id" in diff:
                raise rec.error("client_id", f"cannot change: {applied} of it is applied to the client's invoices")
            if applied > values["total"]:
                raise rec.error("total", f"{values['total']} would be less than the {applied} already applied")
            diff.update(version=current["version"] + 1, revision=self._revisions(c), updated_at=self._now())
            c.execute(update(table).where(table.c.id == note_id).values(diff))
            return _credit_note_row([{**current, **diff}[key] for key in _CREDIT_NOTE_ORDER])

    def delete_credit_note(self, note_id: int, *, conn: Connection | None = None) -> CreditNote:
        """Soft delete (a new version and revision); refused while some of it is applied."""
        rec = _Record(f"credit note {note_id}", note_id)
        table = schema.credit_notes
        with self._write(conn) as c:
            current = self._locked_row(c, table, note_id, rec)
            if current["deleted"]:
                return _credit_note_row(list(current.values()))
            applied = self._applied(c, note_id)
            if applied:
                raise rec.error(None, f"has {applied} applied to invoices; remove the applications first")
            return _credit_note_row(list(self._soft_delete(c, table, current).values()))

    def _soft_delete(self, conn: Connection, table: Table, current: Mapping[Any, Any]) -> Mapping[Any, Any]:
        diff = {"deleted": True, "version": current["version"] + 1, "revision": self._revisions(conn),
                "updated_at": self._now()}  # fmt: skip
        conn.execute(update(table).where(table.c.id == current["id"]).values(diff))
        return {**current, **diff}

    def get_credit_note(self, note_id: int, *, conn: Connection | None = None) -> CreditNote | None:
        return self._row_by(schema.credit_notes, "id", note_id, _credit_note_row, conn)

    def credit_note_by_number(self, number: str, *, conn: Connection | None = None) -> CreditNote | None:
        return self._row_by(schema.credit_notes, "number", number, _credit_note_row, conn)

    def credit_notes(
        self, *, include_deleted: bool = False, client_id: int | None = None, conn: Connection | None = None
    ) -> list[CreditNote]:
        return self._rows(schema.credit_notes, _credit_note_row, conn, include_deleted=include_deleted,
                          client_id=client_id)

    def changed_credit_notes(self, after_revision: int, *, conn: Connection | None = None) -> list[CreditNote]:
        """Credit notes written after ``after_revision`` (deleted ones included), by revision."""
        return self._changed(schema.credit_notes, _credit_note_row, after_revision, conn)

    # ---- credit applications (schema version 3) ---------------------------------------------

    def _applied(self, conn: Connection, note_id: int, *, excluding: int | None = None) -> Decimal:
        """Sum of the live applications of credit note ``note_id``."""
        table = schema.credit_applications
        query = select(func.sum(table.c.amount)).where(table.c.credit_note_id == note_id, table.c.deleted.is_(False))
        if excluding is not None:
            query = query.where(table.c.id != excluding)
        applied = conn.execute(query).scalar()
        return _ZERO if applied is None else applied

    def _credited(self, conn: Connection, invoice_id: int, *, excluding: int | None = None) -> Decimal:
        """Sum of the live credit applications on invoice ``invoice_id``."""
        table = schema.credit_applications
        query = select(func.sum(table.c.amount)).where(table.c.invoice_id == invoice_id, table.c.deleted.is_(False))
        if excluding is not None:
            query = query.where(table.c.id != excluding)
        credited = conn.execute(query).scalar()
        return _ZERO if credited is None else credited

    def _check_application(
        self, conn: Connection, values: Mapping[str, Any], rec: _Record, *, excluding: int | None = None
    ) -> None:
        """The credit note is live with enough left, the invoice live with enough open, same client."""
        notes, invoices = schema.credit_notes, schema.invoices
        note = conn.execute(
            select(notes.c.client_id, notes.c.date, notes.c.total, notes.c.deleted, notes.c.number)
            .where(notes.c.id == values["credit_note_id"])
            .with_for_update()
        ).first()
        if note is None:
            raise rec.error("credit_note_id", f"{values['credit_note_id']} is not a WORK credit note")
        if note.deleted:
            raise rec.error("credit_note_id", f"credit note {note.number} is deleted")
        invoice = conn.execute(
            select(invoices.c.client_id, invoices.c.status, invoices.c.deleted, invoices.c.total, invoices.c.number)
            .where(invoices.c.id == values["invoice_id"])
            .with_for_update()
        ).first()
        if invoice is None:
            raise rec.error("invoice_id", f"{values['invoice_id']} is not a WORK invoice")
        if invoice.deleted or invoice.status == "void":
            raise rec.error("invoice_id", f"invoice {invoice.number} is {'deleted' if invoice.deleted else 'void'}")
        if invoice.client_id != note.client_id:
            raise rec.error(
                "invoice_id",
                f"invoice {invoice.number} belongs to another client than credit note {note.number}; "
                "a credit is applied to its own client's invoices",
            )
        if values["date"] < note.date:
            raise rec.error("date", f"{values['date']} is before credit note {note.number}'s date {note.date}")
        amount = values["amount"]
        applied = self._applied(conn, values["credit_note_id"], excluding=excluding) + amount
        if applied > note.total:
            raise rec.error(
                "amount",
                f"{amount} would apply {applied} of credit note {note.number}, more than its total {note.total}",
            )
        settled = (
            self._paid(conn, values["invoice_id"]) + self._credited(conn, values["invoice_id"], excluding=excluding)
        )
        if settled + amount > invoice.total:
            raise rec.error(
                "amount",
                f"{amount} would bring payments and applied credits on invoice {invoice.number} to "
                f"{settled + amount}, more than its total {invoice.total}",
            )

    def add_credit_application(
        self, credit_note_id: int, invoice_id: int, date: dt.date, amount: Any, *, conn: Connection | None = None
    ) -> CreditApplication:
        """Apply ``amount`` of a credit note to an invoice of the same client (never more than the
        note has left nor than the invoice has open)."""
        rec = _Record(f"new application of credit note {credit_note_id} to invoice {invoice_id}")
        values = _application_values(
            {"credit_note_id": credit_note_id, "invoice_id": invoice_id, "date": date, "amount": amount}, {}, rec
        )
        with self._write(conn) as c:
            self._check_application(c, values, rec)
            values.update(deleted=False, version=1, revision=self._revisions(c), updated_at=self._now())
            new_id = _new_id(c.execute(insert(schema.credit_applications).values(values)))
            return _application_row([{"id": new_id, **values}[key] for key in _APPLICATION_ORDER])

    def update_credit_application(
        self, application_id: int, *, conn: Connection | None = None, **changes: Any
    ) -> CreditApplication:
        rec = _Record(f"credit application {application_id}", application_id)
        table = schema.credit_applications
        with self._write(conn) as c:
            current = self._locked_row(c, table, application_id, rec)
            values = _application_values(changes, {key: current[key] for key in _APPLICATION_COLUMNS}, rec)
            diff = {key: value for key, value in values.items() if current[key] != value}
            if not diff:
                return _application_row(list(current.values()))
            if current["deleted"]:
                raise rec.error(None, "is deleted and cannot be changed")
            self._check_application(c, values, rec, excluding=application_id)
            diff.update(version=current["version"] + 1, revision=self._revisions(c), updated_at=self._now())
            c.execute(update(table).where(table.c.id == application_id).values(diff))
            return _application_row([{**current, **diff}[key] for key in _APPLICATION_ORDER])

    def delete_credit_application(self, application_id: int, *, conn: Connection | None = None) -> CreditApplication:
        """Soft delete: the credit is available again and the invoice open again. No-op if deleted."""
        rec = _Record(f"credit application {application_id}", application_id)
        table = schema.credit_applications
        with self._write(conn) as c:
            current = self._locked_row(c, table, application_id, rec)
            if current["deleted"]:
                return _application_row(list(current.values()))
            return _application_row(list(self._soft_delete(c, table, current).values()))

    def get_credit_application(
        self, application_id: int, *, conn: Connection | None = None
    ) -> CreditApplication | None:
        return self._row_by(schema.credit_applications, "id", application_id, _application_row, conn)

    def credit_applications(
        self,
        *,
        include_deleted: bool = False,
        invoice_id: int | None = None,
        credit_note_id: int | None = None,
        conn: Connection | None = None,
    ) -> list[CreditApplication]:
        return self._rows(schema.credit_applications, _application_row, conn, include_deleted=include_deleted,
                          invoice_id=invoice_id, credit_note_id=credit_note_id)

    def changed_credit_applications(
        self, after_revision: int, *, conn: Connection | None = None
    ) -> list[CreditApplication]:
        """Credit applications written after ``after_revision`` (deleted ones included), by revision."""
        return self._changed(schema.credit_applications, _application_row, after_revision, conn)

    def credited_amounts(
        self, invoice_ids: Iterable[int] | None = None, *, conn: Connection | None = None
    ) -> dict[int, Decimal]:
        """Sum of live credit applications per invoice id (all, or ``invoice_ids``); others absent."""
        return self._sums(schema.credit_applications.c.invoice_id, invoice_ids, conn)

    def applied_amounts(
        self, credit_note_ids: Iterable[int] | None = None, *, conn: Connection | None = None
    ) -> dict[int, Decimal]:
        """Sum of live applications per credit note id; a note's unapplied credit is total - this."""
        return self._sums(schema.credit_applications.c.credit_note_id, credit_note_ids, conn)

    def _sums(self, key: Any, ids: Iterable[int] | None, conn: Connection | None) -> dict[int, Decimal]:
        table = schema.credit_applications
        query = select(key, func.sum(table.c.amount)).where(table.c.deleted.is_(False)).group_by(key)
        with self._read(conn) as c:
            if ids is None:
                return {row[0]: row[1] for row in c.execute(query)}
            sums: dict[int, Decimal] = {}
            for chunk in _chunks(sorted(set(ids))):
                sums.update((row[0], row[1]) for row in c.execute(query.where(key.in_(chunk))))
            return sums

    # ---- refunds (schema version 3) ---------------------------------------------------------

    def add_refund(
        self,
        client_id: int,
        date: dt.date,
        amount: Any,
        description: str = "",
        item_id: int | None = None,
        tax_rate: str = "",
        tax_amount: Any = None,
        method: str = "",
        reference: str = "",
        *,
        conn: Connection | None = None,
    ) -> Refund:
        """Record money paid back to a client (``amount`` before tax; tax as for credit notes)."""
        rec = _Record(f"new refund to client {client_id}")
        fields = {
            "client_id": client_id, "date": date, "description": description, "item_id": item_id, "amount": amount,
            "tax_rate": tax_rate, "tax_amount": tax_amount, "method": method, "reference": reference,
        }  # fmt: skip
        values = _refund_values(fields, {}, rec)
        with self._write(conn) as c:
            self._check_document_refs(c, values, rec)
            _settle_document_tax(values, self._rates_for(c, values), rec, given=tax_amount is not None)
            values.update(deleted=False, version=1, revision=self._revisions(c), updated_at=self._now())
            new_id = _new_id(c.execute(insert(schema.refunds).values(values)))
            return _refund_row([{"id": new_id, **values}[key] for key in _REFUND_ORDER])

    def update_refund(self, refund_id: int, *, conn: Connection | None = None, **changes: Any) -> Refund:
        rec = _Record(f"refund {refund_id}", refund_id)
        table = schema.refunds
        with self._write(conn) as c:
            current = self._locked_row(c, table, refund_id, rec)
            base = {key: current[key] for key in _REFUND_COLUMNS}
            if "tax_amount" not in changes and current["tax_rate"]:
                base["tax_amount"] = None
            values = _refund_values(changes, base, rec)
            if not values["tax_rate"] and "tax_rate" in changes and "tax_amount" not in changes:
                values["tax_amount"] = None
            _settle_document_tax(values, self._rates_for(c, values), rec, given=changes.get("tax_amount") is not None)
            diff = {key: value for key, value in values.items() if current[key] != value}
            if not diff:
                return _refund_row(list(current.values()))
            if current["deleted"]:
                raise rec.error(None, "is deleted and cannot be changed")
            self._check_document_refs(c, values, rec)
            diff.update(version=current["version"] + 1, revision=self._revisions(c), updated_at=self._now())
            c.execute(update(table).where(table.c.id == refund_id).values(diff))
            return _refund_row([{**current, **diff}[key] for key in _REFUND_ORDER])

    def delete_refund(self, refund_id: int, *, conn: Connection | None = None) -> Refund:
        """Soft delete (a new version and revision). No-op if already deleted."""
        rec = _Record(f"refund {refund_id}", refund_id)
        table = schema.refunds
        with self._write(conn) as c:
            current = self._locked_row(c, table, refund_id, rec)
            if current["deleted"]:
                return _refund_row(list(current.values()))
            return _refund_row(list(self._soft_delete(c, table, current).values()))

    def get_refund(self, refund_id: int, *, conn: Connection | None = None) -> Refund | None:
        return self._row_by(schema.refunds, "id", refund_id, _refund_row, conn)

    def refunds(
        self, *, include_deleted: bool = False, client_id: int | None = None, conn: Connection | None = None
    ) -> list[Refund]:
        return self._rows(schema.refunds, _refund_row, conn, include_deleted=include_deleted, client_id=client_id)

    def changed_refunds(self, after_revision: int, *, conn: Connection | None = None) -> list[Refund]:
        """Refunds written after ``after_revision`` (deleted ones included), by revision."""
        return self._changed(schema.refunds, _refund_row, after_revision, conn)
