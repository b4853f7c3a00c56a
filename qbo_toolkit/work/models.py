"""The WORK records: what the field-service system holds, as immutable typed rows.

Money is ``Decimal`` to the cent; dates are ``date``; ``updated_at`` is an aware UTC datetime.
Every stored row carries ``version`` (1, 2, 3 ... for this row: part of the deterministic requestid
of every QBO write made for it) and ``revision`` (a store-wide counter: "what changed since
revision N" is how the sync finds WORK changes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

__all__ = [
    "CENT",
    "Address",
    "Client",
    "Company",
    "CreditApplication",
    "CreditNote",
    "Invoice",
    "InvoiceLine",
    "InvoiceStatus",
    "Item",
    "ItemType",
    "Payment",
    "Refund",
    "TaxRate",
    "cents",
    "tax_on",
    "utcnow",
]

CENT = Decimal("0.01")
InvoiceStatus = Literal["draft", "open", "void"]
ItemType = Literal["service", "product"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def utcnow() -> datetime:
    return datetime.now(UTC)


def tax_on(amount: Decimal, percent: Decimal) -> Decimal:
    """The tax at ``percent`` (8.25 means 8.25 %) on ``amount``, half-up to the cent.

    WORK's one rounding rule, the same as QBO's: an invoice's tax is computed per rate on the sum of
    its lines at that rate (never line by line), then the rates' amounts are added.
    """
    return cents(amount * percent / 100)


@dataclass(frozen=True)
class Address:
    line1: str = ""
    line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""

    @property
    def empty(self) -> bool:
        return not any((self.line1, self.line2, self.city, self.state, self.postal_code, self.country))


@dataclass(frozen=True)
class Company:
    name: str
    default_state: str = ""
    country: str = "US"
    time_zone: str = "America/Los_Angeles"


@dataclass(frozen=True)
class Client:
    id: int
    display_name: str
    company_name: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    mobile: str = ""
    billing: Address = field(default_factory=Address)
    service: Address = field(default_factory=Address)
    notes: str = ""
    active: bool = True
    parent_id: int | None = None
    version: int = 1
    revision: int = 0
    updated_at: datetime = _EPOCH


@dataclass(frozen=True)
class Item:
    id: int
    name: str
    type: ItemType = "service"
    rate: Decimal = Decimal("0.00")
    active: bool = True
    version: int = 1
    revision: int = 0
    updated_at: datetime = _EPOCH


@dataclass(frozen=True)
class InvoiceLine:
    line_no: int
    item_id: int | None
    description: str
    qty: Decimal
    unit_price: Decimal
    taxable: bool = False
    #: The name of the line's WORK tax rate (:class:`TaxRate`), "" for none (schema version 3).
    tax_rate: str = ""

    @property
    def amount(self) -> Decimal:
        return cents(self.qty * self.unit_price)


@dataclass(frozen=True)
class Invoice:
    id: int
    number: str
    client_id: int
    issue_date: date
    due_date: date | None
    status: InvoiceStatus
    lines: tuple[InvoiceLine, ...]
    tax_amount: Decimal = Decimal("0.00")
    total: Decimal = Decimal("0.00")
    deleted: bool = False
    version: int = 1
    revision: int = 0
    updated_at: datetime = _EPOCH
    #: The WORK payment term ("Net 15"), "" for none (schema version 3).
    terms: str = ""

    @property
    def subtotal(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))

    def subtotals_by_rate(self) -> dict[str, Decimal]:
        """The sum of the lines per WORK tax rate name ("" gathers the lines without one)."""
        sums: dict[str, Decimal] = {}
        for line in self.lines:
            sums[line.tax_rate] = sums.get(line.tax_rate, Decimal("0.00")) + line.amount
        return sums


@dataclass(frozen=True)
class Payment:
    id: int
    invoice_id: int
    date: date
    amount: Decimal
    method: str = ""
    reference: str = ""
    deleted: bool = False
    version: int = 1
    revision: int = 0
    updated_at: datetime = _EPOCH


@dataclass(frozen=True)
class TaxRate:
    """A sales tax rate WORK charges ("CA sales tax", "VAT 20%"): ``rate`` is a percent (8.25)."""

    id: int
    name: str
    rate: Decimal
    active: bool = True


@dataclass(frozen=True)
class CreditNote:
    """Credit given to a client (a return, a goodwill discount): one line of ``amount`` before tax.

    ``tax_amount`` is computed from ``tax_rate`` when the note has one (else given, US explicit
    tax); ``total`` = amount + tax. The credit is used by :class:`CreditApplication` rows against
    the client's invoices; what is not applied stays available (an unapplied credit).
    """

    id: int
    number: str
    client_id: int
    date: date
    description: str
    item_id: int | None
    amount: Decimal
    tax_rate: str = ""
    tax_amount: Decimal = Decimal("0.00")
    total: Decimal = Decimal("0.00")
    deleted: bool = False
    version: int = 1
    revision: int = 0
    updated_at: datetime = _EPOCH


@dataclass(frozen=True)
class CreditApplication:
    """``amount`` of a credit note used against an invoice of the same client on ``date``."""

    id: int
    credit_note_id: int
    invoice_id: int
    date: date
    amount: Decimal
    deleted: bool = False
    version: int = 1
    revision: int = 0
    updated_at: datetime = _EPOCH


@dataclass(frozen=True)
class Refund:
    """Money paid back to a client outside any invoice (no effect on what the client owes)."""

    id: int
    client_id: int
    date: date
    description: str
    item_id: int | None
    amount: Decimal
    tax_rate: str = ""
    tax_amount: Decimal = Decimal("0.00")
    total: Decimal = Decimal("0.00")
    method: str = ""
    reference: str = ""
    deleted: bool = False
    version: int = 1
    revision: int = 0
    updated_at: datetime = _EPOCH
