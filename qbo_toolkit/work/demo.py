"""A deterministic demo business for the WORK store: Larkspur Field Services.

``generate_demo(store)`` fills an empty store with a company, a few items, clients, invoices and
payments. The same ``seed`` gives the same rows (ids, names, amounts, dates, revisions) every time, so
tests, notebooks and screenshots can rely on them; only ``updated_at`` follows the store's clock.
Everything goes through the store's bulk loaders in one transaction, so 100,000 clients and invoices
load in seconds.

The data is shaped to exercise the sync against the emulator's seed company
(``qbo_toolkit.emulator.seed``; its names are copied here, never imported, so the WORK side stays
independent of the emulator):

* matches: "Amy's Bird Sanctuary" with QBO's email (exact), "Cool Cars" with another email and no
  phone (weak), "Dukes Basketball Camp" with QBO's phone, "Bill's Windsurf Shop" twice (one QBO
  customer, two WORK clients: a multiple match);
* names QBO treats specially: apostrophes, a typographic apostrophe, a colon (QBO's sub-customer
  separator), 120 characters, leading and trailing spaces, the names of a QBO vendor ("Cal Telephone")
  and employee ("Emily Platt");
* an address without a state, an inactive client, a site (sub-client) under its parent;
* invoices mostly after the integration date, a few before it, with 1-8 lines, some taxed, one void;
  payments partial, full and several on one invoice, never more than the invoice total;
* (schema version 3, issue 13) WORK tax rates on the taxed lines (the US demo's "CA sales tax",
  7.25 %, gives exactly the tax amounts it always had: computed per rate on the sum of the lines),
  payment terms ("Net 15", "Net 30") where the due date says so, payment methods named as QuickBooks
  names them ("Check", "Credit Card", "Cash", "Direct Debit"), credit notes (some applied in full,
  one in part, one across two invoices, at least one left unapplied) and a few refunds. These come
  from a second random stream after everything else, so the clients, invoices and payments are the
  rows the same seed always gave. ``tax_kind`` picks the rate names and percents of another company
  kind (``uk``, ``ca``, ``au``: every line then carries a rate, zero-rated where it is not taxed).

:class:`DemoSummary` gives the counts and, in ``awkward``, the ids of those special records.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final

from ..errors import WorkDataError
from .models import Address, Company, cents, tax_on
from .store import WorkStore

__all__ = ["AWKWARD_CLIENTS", "COMPANY", "DEMO_TAX_RATES", "ITEMS", "DemoSummary", "DemoTax", "generate_demo"]

COMPANY: Final = Company(
    name="Larkspur Field Services", default_state="CA", country="US", time_zone="America/Los_Angeles"
)

#: (name, type, rate). Parts have no list price: each line carries its own.
ITEMS: Final[Sequence[tuple[str, str, Decimal]]] = (
    ("Hours", "service", Decimal("75.00")),
    ("Installation", "service", Decimal("50.00")),
    ("Parts", "product", Decimal("0.00")),
    ("Service Call", "service", Decimal("95.00")),
    ("Annual Maintenance", "service", Decimal("180.00")),
)

#: Invoices after the integration date are issued over this many days from it (up to the demo's day).
_SPREAD_DAYS: Final = 150

_LONG_NAME: Final = (
    "Larkspur Valley Regional Water Conservation District - North County Maintenance Yard "
    "and Equipment Depot Number Thirteen"
)
assert len(_LONG_NAME) == 120, len(_LONG_NAME)

#: The awkward clients, in load order: key -> client fields. ``sub_client`` gets ``parent``'s id.
AWKWARD_CLIENTS: Final[dict[str, dict[str, Any]]] = {
    "amy_exact": {
        "display_name": "Amy's Bird Sanctuary",
        "company_name": "Amy's Bird Sanctuary",
        "first_name": "Amy",
        "last_name": "Lauterbach",
        "email": "Birds@Intuit.com",
        "phone": "(650) 555-3311",
        "billing": Address("4581 Finch St.", "", "Bayshore", "CA", "94326", "US"),
        "notes": "Same name and email as the QuickBooks customer: an exact match.",
    },
    "cool_cars_weak": {
        "display_name": "Cool Cars",
        "first_name": "Grace",
        "last_name": "Pariente",
        "email": "grace.pariente@coolcars.example",
        "billing": Address("65 Ocean Dr.", "", "Half Moon Bay", "CA", "94213", "US"),
        "notes": "Same name, another email, no phone: a weak match.",
    },
    "dukes_phone": {
        "display_name": "Dukes Basketball Camp",
        "first_name": "Peter",
        "last_name": "Dukes",
        "phone": "(520) 420-5638",
        "billing": Address("25 Court St.", "", "Tucson", "AZ", "85719", "US"),
        "notes": "Same name and phone as the QuickBooks customer.",
    },
    "bills_1": {
        "display_name": "Bill's Windsurf Shop",
        "first_name": "Bill",
        "last_name": "Lucchini",
        "email": "bill@windsurf-shop.example",
        "billing": Address("12 Ocean Dr.", "", "Half Moon Bay", "CA", "94019", "US"),
    },
    "bills_2": {
        "display_name": "Bill's Windsurf Shop",
        "first_name": "Bill",
        "last_name": "Lucchini",
        "email": "rentals@windsurf-shop.example",
        "phone": "(831) 555-0142",
        "billing": Address("300 Beach Blvd.", "", "Pacifica", "CA", "94044", "US"),
        "notes": "A second WORK client with the same name: a multiple match.",
    },
    "apostrophe": {
        "display_name": "O'Malley's Pool & Spa",
        "first_name": "Siobhan",
        "last_name": "O'Malley",
        "email": "office@omalleys-pool.example",
        "billing": Address("88 Delta Ave.", "", "Stockton", "CA", "95204", "US"),
    },
    "colon": {
        "display_name": "Acme: North Branch",
        "company_name": "Acme Rentals",
        "email": "north@acme-rentals.example",
        "billing": Address("1 Industrial Way", "Suite 4", "Sacramento", "CA", "95815", "US"),
        "notes": "A colon separates sub-customers in QBO names.",
    },
    "long_name": {
        "display_name": _LONG_NAME,
        "company_name": "Larkspur Valley Regional Water Conservation District",
        "billing": Address("4000 Reservoir Rd.", "", "Fresno", "CA", "93722", "US"),
    },
    "spaces": {
        "display_name": "  Harbor View Apartments  ",
        "email": "manager@harborview.example",
        "billing": Address("9 Harbor View Ct.", "", "Monterey", "CA", "93940", "US"),
        "notes": "Leading and trailing spaces in the name.",
    },
    "typographic_apostrophe": {
        "display_name": "Rosa’s Cantina",
        "first_name": "Rosa",
        "last_name": "Delgado",
        "phone": "(559) 555-0177",
        "billing": Address("210 Olive Ave.", "", "Fresno", "CA", "93728", "US"),
    },
    "no_state": {
        "display_name": "Sierra Trail Outfitters",
        "email": "hello@sierratrail.example",
        "billing": Address("51 Pine St.", "", "Truckee", "", "96161", "US"),
        "notes": "No state on the billing address: the company's default state applies.",
    },
    "inactive": {
        "display_name": "Old Mill Bakery",
        "email": "owner@oldmill.example",
        "billing": Address("7 Mill Rd.", "", "Auburn", "CA", "95603", "US"),
        "active": False,
    },
    "vendor_name": {
        "display_name": "Cal Telephone",
        "company_name": "Cal Telephone",
        "phone": "(916) 555-0110",
        "billing": Address("500 Capitol Mall", "", "Sacramento", "CA", "95814", "US"),
        "notes": "Also a QuickBooks vendor: QBO names are unique across customers, vendors, employees.",
    },
    "employee_name": {
        "display_name": "Emily Platt",
        "first_name": "Emily",
        "last_name": "Platt",
        "email": "emily.platt@example.com",
        "billing": Address("14 Birch Ln.", "", "Davis", "CA", "95616", "US"),
        "notes": "Also a QuickBooks employee's name.",
    },
    "parent": {
        "display_name": "Pacific Property Management",
        "company_name": "Pacific Property Management",
        "email": "ap@pacificpm.example",
        "phone": "(925) 555-0190",
        "billing": Address("2200 Mt. Diablo Blvd.", "", "Walnut Creek", "CA", "94596", "US"),
    },
    "sub_client": {
        "display_name": "Elm Street Site",
        "company_name": "Pacific Property Management",
        "billing": Address("2200 Mt. Diablo Blvd.", "", "Walnut Creek", "CA", "94596", "US"),
        "service": Address("45 Elm St.", "", "Concord", "CA", "94520", "US"),
        "notes": "A site of Pacific Property Management (a sub-customer in QBO).",
    },
}

_FIRST: Final = (
    "James Maria Robert Linda Michael Patricia David Jennifer William Elizabeth Richard Susan Joseph "
    "Jessica Thomas Sarah Carlos Karen Daniel Nancy Matthew Lisa Anthony Betty Mark Sandra Luis Ashley "
    "Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa "
    "George Deborah Jorge Stephanie Edward Rebecca Ronald Sharon Tim Laura Jason Cynthia Ryan Kathleen "
    "Jacob Amy Gary Angela Nicholas Shirley Eric Anna"
).split()
_LAST: Final = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
    "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams "
    "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker "
    "Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper "
    "Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James "
    "Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster"
).split()
_ADJ: Final = (
    "Golden Blue Green Silver Red Oak Cedar Pine Valley Summit Coastal Redwood Sunset Granite River "
    "Canyon Harbor Meadow Mesa Willow Aspen Sequoia Bay Eagle Lakeside Hillside Northern Pacific Sierra"
).split()
_NOUN: Final = (
    "Oak Ridge Creek Stone Leaf Peak Field Grove Point Springs Rock Park Trail View Hollow Bridge Crest "
    "Gate Mill Brook Haven Glen Wood Shore Vista Ranch Orchard Bluff Knoll Terrace"
).split()
_TRADE: Final = (
    "Landscaping|Plumbing|Electric|Roofing|HVAC|Pool Service|Construction|Painting|Flooring|Dental|"
    "Veterinary Clinic|Bakery|Cafe|Auto Repair|Property Management|Realty|Apartments|Winery|Farms|"
    "Fitness|Salon|Hardware|Storage|Academy|Builders"
).split("|")
_STREETS: Final = (
    "Main St.|Oak Ave.|Maple Dr.|Cedar Ln.|Park Blvd.|Elm St.|Washington Ave.|Lake Rd.|Hill St.|"
    "Sunset Blvd.|River Rd.|Mission St.|Vine St.|Spring St.|Valley View Dr.|Orchard Ln.|Mill Rd.|"
    "Railroad Ave.|Church St.|Center St."
).split("|")
#: (city, state, postal code); mostly California, a few neighbours.
_CITIES: Final = (
    ("Sacramento", "CA", "95814"), ("Fresno", "CA", "93721"), ("Stockton", "CA", "95202"),
    ("Modesto", "CA", "95354"), ("Santa Rosa", "CA", "95404"), ("Salinas", "CA", "93901"),
    ("Walnut Creek", "CA", "94596"), ("Davis", "CA", "95616"), ("Visalia", "CA", "93291"),
    ("Napa", "CA", "94559"), ("Monterey", "CA", "93940"), ("Chico", "CA", "95928"),
    ("Redding", "CA", "96001"), ("Merced", "CA", "95340"), ("San Luis Obispo", "CA", "93401"),
    ("Reno", "NV", "89501"), ("Medford", "OR", "97501"), ("Carson City", "NV", "89701"),
)  # fmt: skip
_AREA_CODES: Final = ("209", "559", "916", "707", "831", "925", "530")  # none of the QBO seed's
#: As QuickBooks names its seeded payment methods, so the demo needs no ``payment_methods`` mapping.
_METHODS: Final = ("Check", "Credit Card", "Cash", "Direct Debit")
_PARTS: Final = (
    "Valve assembly", "PVC fittings", "Irrigation timer", "Pressure regulator", "Drip emitters (50)",
    "Circuit breaker", "Thermostat", "Filter cartridge", "Pump seal kit", "Copper pipe, 10 ft",
    "Sprinkler heads (12)", "GFCI outlet", "Pool chlorinator", "Gate hinge set", "Weatherstripping",
)  # fmt: skip
_TAX_RATE: Final = Decimal("0.0725")


@dataclass(frozen=True)
class DemoTax:
    """The demo's WORK tax rates for one company kind: ``standard`` on taxed lines, ``zero`` on the
    others (None: untaxed lines carry no rate, US TAX/NON), ``reduced`` on a few parts (energy-saving
    ones, as in the UK), each (name, percent)."""

    standard: tuple[str, Decimal]
    zero: tuple[str, Decimal] | None = None
    reduced: tuple[str, Decimal] | None = None

    def rates(self) -> list[tuple[str, Decimal]]:
        return [rate for rate in (self.standard, self.reduced, self.zero) if rate is not None]


#: Company kind (as the emulator names them) -> the demo's tax rates.
DEMO_TAX_RATES: Final[dict[str, DemoTax]] = {
    "us-ast": DemoTax(("CA sales tax", Decimal("7.25"))),
    "us-manual": DemoTax(("California", Decimal("8.25"))),
    "uk": DemoTax(("VAT 20%", Decimal("20")), ("VAT zero rated", Decimal("0")), ("VAT 5%", Decimal("5"))),
    "ca": DemoTax(("HST ON", Decimal("13")), ("Zero-rated", Decimal("0"))),
    "au": DemoTax(("GST", Decimal("10")), ("GST free", Decimal("0"))),
}
#: Parts that take the reduced rate where the kind has one.
_REDUCED_PARTS: Final = frozenset({"Thermostat", "Weatherstripping"})
#: Due date - issue date -> the WORK term (QuickBooks seeds these names); other spans have none.
_TERMS: Final = {15: "Net 15", 30: "Net 30"}
_LINE_COUNTS: Final = (1, 2, 3, 4, 5)
_LINE_WEIGHTS: Final = (35, 30, 20, 10, 5)
#: Invoices that play a fixed part; generated first, in this order.
_AWKWARD_INVOICES: Final = (
    "invoice_void",
    "invoice_multi_payment",
    "invoice_paid_in_full",
    "invoice_partial",
    "invoice_taxed",
    "invoice_many_lines",
    "invoice_sub_client",
    "invoice_before_integration",
)


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`generate_demo` made: counts, and the ids of the awkward records by role.

    ``awkward`` keys are those of :data:`AWKWARD_CLIENTS` (client ids), the ``invoice_*`` roles
    (invoice ids), ``payment_full``, ``payment_partial``, ``payment_multi_first`` (payment ids) and,
    when there are credit notes, ``credit_note_unapplied``, ``credit_note_partial``,
    ``credit_note_split`` (credit note ids; the last when a client had two open invoices) and
    ``refund_taxed`` (a refund id).
    """

    seed: int
    integration_date: date
    clients: int
    items: int
    invoices: int
    invoice_lines: int
    payments: int
    awkward: dict[str, int] = field(default_factory=dict)
    tax_rates: int = 0
    credit_notes: int = 0
    credit_applications: int = 0
    refunds: int = 0


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


class _Generator:
    """All random choices, in one fixed order, from one ``random.Random(seed)``."""

    def __init__(self, seed: int, integration_date: date, tax: DemoTax, *, shift: int = 0,
                 today: date | None = None) -> None:
        self.rng = random.Random(seed)
        self.integration_date = integration_date
        #: days every date from the integration date on is moved by (see generate_demo's ``today``)
        self.shift = shift
        self.today = today
        self.tax = tax
        self.names: set[str] = {fields["display_name"] for fields in AWKWARD_CLIENTS.values()}

    def _unique(self, name: str, city: str) -> str:
        if name not in self.names:
            self.names.add(name)
            return name
        candidate = f"{name} ({city})"
        counter = 2
        while candidate in self.names:
            candidate = f"{name} ({city}) {counter}"
            counter += 1
        self.names.add(candidate)
        return candidate

    def phone(self) -> str:
        rng = self.rng
        return f"({rng.choice(_AREA_CODES)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"

    def address(self) -> Address:
        rng = self.rng
        city, state, postal = rng.choice(_CITIES)
        return Address(f"{rng.randint(1, 9999)} {rng.choice(_STREETS)}", "", city, state, postal, "US")

    def client(self) -> dict[str, Any]:
        rng = self.rng
        billing = self.address()
        kind = rng.random()
        first = last = company = ""
        if kind < 0.45:
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            base = f"{first} {last}" if rng.random() < 0.5 else f"{first} {chr(rng.randint(65, 90))}. {last}"
            email = f"{_slug(first)}.{_slug(last)}{rng.randint(1, 99)}@example.com"
        else:
            if kind < 0.75:
                base = f"{rng.choice(_LAST)} {rng.choice(_TRADE)}"
            elif kind < 0.9:
                base = f"{rng.choice(_ADJ)} {rng.choice(_NOUN)} {rng.choice(_TRADE)}"
            else:
                base = f"{rng.choice(_LAST)} & {rng.choice(_LAST)} {rng.choice(_TRADE)}"
            company = base
            email = f"office@{_slug(base)}.example"
        name = self._unique(base, billing.city)
        fields: dict[str, Any] = {
            "display_name": name,
            "company_name": company,
            "first_name": first,
            "last_name": last,
            "email": email if rng.random() < 0.75 else "",
            "phone": self.phone() if rng.random() < 0.8 else "",
            "mobile": self.phone() if rng.random() < 0.3 else "",
            "billing": billing,
            "service": billing if rng.random() < 0.3 else Address(),
            "notes": rng.choice(("", "", "", "", "Gate code 4417", "Call before arriving", "Dog on site")),
            "active": rng.random() >= 0.02,
        }
        return fields

    def issue_date(self, *, before: bool) -> date:
        if before:
            return self.integration_date - timedelta(days=self.rng.randint(1, 90))
        return self.integration_date + timedelta(days=self.shift + self.rng.randint(0, _SPREAD_DAYS))

    def line(self, items: dict[str, int]) -> dict[str, Any]:
        rng = self.rng
        pick = rng.random()
        if pick < 0.35:
            qty = Decimal(rng.randint(2, 32)) / 4  # quarter hours, 0.5 to 8
            return {"item_id": items["Hours"], "description": "Labor", "qty": qty, "unit_price": Decimal("75.00")}
        if pick < 0.50:
            return {
                "item_id": items["Installation"],
                "description": "Installation",
                "qty": Decimal(rng.randint(1, 4)),
                "unit_price": Decimal("50.00"),
            }
        if pick < 0.80:
            return {
                "item_id": items["Parts"],
                "description": rng.choice(_PARTS),
                "qty": Decimal(rng.randint(1, 12)),
                "unit_price": Decimal(rng.randint(450, 34999)) / 100,
                "taxable": True,
            }
        if pick < 0.90:
            return {"item_id": items["Service Call"], "description": "Service call", "qty": Decimal(1),
                    "unit_price": Decimal("95.00")}  # fmt: skip
        if pick < 0.95:
            return {"item_id": items["Annual Maintenance"], "description": "Annual maintenance plan",
                    "qty": Decimal(1), "unit_price": Decimal("180.00")}  # fmt: skip
        return {"item_id": None, "description": "Trip charge", "qty": Decimal(1), "unit_price": Decimal("25.00")}

    def invoice(
        self, number: str, client_id: int, items: dict[str, int], *, lines: int | None = None,
        before: bool = False, taxed: bool | None = None, status: str = "open",
    ) -> dict[str, Any]:  # fmt: skip
        rng = self.rng
        issue = self.issue_date(before=before)
        due = None if rng.random() < 0.05 else issue + timedelta(days=rng.choice((15, 30, 30, 45)))
        count = lines if lines is not None else rng.choices(_LINE_COUNTS, _LINE_WEIGHTS)[0]
        rows = [self.line(items) for _ in range(count)]
        if taxed and not any(row.get("taxable") for row in rows):
            rows[-1] = {"item_id": items["Parts"], "description": rng.choice(_PARTS), "qty": Decimal(2),
                        "unit_price": Decimal("39.95"), "taxable": True}  # fmt: skip
        taxable = sum((cents(row["qty"] * row["unit_price"]) for row in rows if row.get("taxable")), Decimal("0"))
        apply_tax = taxed if taxed is not None else rng.random() < 0.8
        tax: Decimal | None = cents(taxable * _TAX_RATE) if apply_tax else Decimal("0.00")
        if self.tax.zero is not None:  # every line carries a rate: the store computes the tax
            tax = None
            for row in rows:
                rate = self.tax.zero
                if apply_tax and row.get("taxable"):
                    reduced = self.tax.reduced is not None and row["description"] in _REDUCED_PARTS
                    rate = self.tax.reduced if reduced and self.tax.reduced else self.tax.standard
                row["tax_rate"] = rate[0]
        elif apply_tax and self.tax.standard[1] == _TAX_RATE * 100:  # the historical US amounts, now by rate
            for row in rows:
                if row.get("taxable"):
                    row["tax_rate"] = self.tax.standard[0]
        elif apply_tax and taxable:
            tax = None
            for row in rows:
                if row.get("taxable"):
                    row["tax_rate"] = self.tax.standard[0]
        return {
            "number": number,
            "client_id": client_id,
            "issue_date": issue,
            "due_date": due,
            "status": status,
            "tax_amount": tax,
            "terms": _TERMS.get((due - issue).days, "") if due is not None else "",
            "lines": rows,
        }

    def payment_dates(self, issue: date, count: int) -> list[date]:
        days = sorted(self.rng.randint(0, 45) for _ in range(count))
        return [self.not_after_today(issue + timedelta(days=day)) for day in days]

    def not_after_today(self, day: date) -> date:
        """``day``, or the demo's day when it is later (nothing is paid or credited in the future)."""
        return min(day, self.today) if self.today is not None else day

    def payment(self, invoice_id: int, day: date, amount: Decimal) -> dict[str, Any]:
        rng = self.rng
        method = rng.choice(_METHODS)
        reference = (
            str(rng.randint(1000, 99999)) if method == "Check"
            else f"AUTH-{rng.randint(100000, 999999)}" if method == "Credit Card"
            else ""
        )  # fmt: skip
        return {"invoice_id": invoice_id, "date": day, "amount": amount, "method": method, "reference": reference}

    def share(self, total: Decimal, low: float, high: float) -> Decimal:
        """A part of ``total`` between ``low`` and ``high`` of it, at least a cent, less than the total."""
        fraction = Decimal(self.rng.randint(int(low * 100), int(high * 100))) / 100
        return min(max(cents(total * fraction), Decimal("0.01")), total - Decimal("0.01"))


def _invoice_total(invoice: dict[str, Any], rates: dict[str, Decimal] | None = None) -> Decimal:
    subtotal = sum((cents(row["qty"] * row["unit_price"]) for row in invoice["lines"]), Decimal("0.00"))
    if invoice["tax_amount"] is not None:
        return subtotal + invoice["tax_amount"]
    assert rates is not None
    per_rate: dict[str, Decimal] = {}
    for row in invoice["lines"]:
        if row.get("tax_rate"):
            amount = cents(row["qty"] * row["unit_price"])
            per_rate[row["tax_rate"]] = per_rate.get(row["tax_rate"], Decimal("0.00")) + amount
    return subtotal + sum((tax_on(amount, rates[name]) for name, amount in per_rate.items()), Decimal("0.00"))


def generate_demo(
    store: WorkStore,
    *,
    seed: int = 7,
    clients: int = 300,
    invoices: int = 1500,
    payments: int = 1000,
    integration_date: date = date(2026, 1, 1),
    credit_notes: int | None = None,
    refunds: int | None = None,
    tax_kind: str = "us-ast",
    today: date | None = None,
) -> DemoSummary:
    """Fill an empty ``store`` with the demo business (see the module docstring); one transaction.

    ``clients`` counts every client (at least the awkward ones); ``invoices`` is 0 or at least the
    awkward ones; ``payments`` at most what the invoices can take (about two per invoice).
    ``credit_notes`` (default: 1 per 100 invoices, at least 3 when there are invoices) and
    ``refunds`` (default: 1 per 250 invoices, at least 2) go to active, plainly named clients,
    dated from the integration date; 0 leaves them out. ``tax_kind`` is a key of
    :data:`DEMO_TAX_RATES`. Raises ValueError for impossible counts and WorkDataError when the store
    already holds records.

    ``today`` is the day the demo is made for (``qbo-toolkit demo-data`` passes the current day):
    every date from the integration date on moves by the same number of days, so that the invoices
    after the integration date are spread over the 150 days up to ``today`` and, as of that day,
    their A/R aging spreads over every bucket (current, 1-30, 31-60, 61-90, 91+); payments, credit
    notes and refunds are never dated after it. The random choices are the very same ones (only the
    dates move), so a seed gives the same clients, amounts, planted problems and counts on any day,
    and the same dates on the same day. When ``today`` is less than 150 days after the integration
    date nothing moves. None (the default) keeps the dates fixed from the integration date, as
    tests and benchmarks want.
    """
    if tax_kind not in DEMO_TAX_RATES:
        raise ValueError(f"tax_kind must be one of {', '.join(DEMO_TAX_RATES)}, not {tax_kind!r}")
    tax = DEMO_TAX_RATES[tax_kind]
    if credit_notes is None:
        credit_notes = max(3, invoices // 100) if invoices else 0
    if refunds is None:
        refunds = max(2, invoices // 250) if invoices else 0
    if credit_notes < 0 or refunds < 0:
        raise ValueError(f"credit_notes and refunds cannot be negative, not {credit_notes} and {refunds}")
    awkward_clients = len(AWKWARD_CLIENTS)
    if clients < awkward_clients:
        raise ValueError(f"clients must be at least {awkward_clients} (the awkward cases), not {clients}")
    if invoices and invoices < len(_AWKWARD_INVOICES):
        raise ValueError(f"invoices must be 0 or at least {len(_AWKWARD_INVOICES)}, not {invoices}")
    # Three payments on the multi-payment invoice, one each on the full and partial ones, none on the
    # void one, at most two on each of the others.
    capacity = 5 + 2 * (invoices - 4) if invoices else 0
    if not 0 <= payments <= capacity:
        raise ValueError(f"payments must be between 0 and {capacity} for {invoices} invoices, not {payments}")
    if store.max_revision() or store.company() is not None:
        raise WorkDataError(f"generate_demo() needs an empty WORK store; {store!r} already holds data")

    shift = max(0, (today - timedelta(days=_SPREAD_DAYS) - integration_date).days) if today is not None else 0
    gen = _Generator(seed, integration_date, tax, shift=shift, today=today)
    rng = gen.rng
    awkward: dict[str, int] = {}
    with store.begin() as conn:
        store.set_company(COMPANY, conn=conn)
        rates = dict(tax.rates())
        for name, percent in tax.rates():
            store.add_tax_rate(name, percent, conn=conn)
        item_ids: dict[str, int] = {}
        for name, kind, rate in ITEMS:
            item_ids[name] = store.add_item(name, kind, rate, conn=conn).id

        # Clients: the awkward ones (parents before their sites), then the generated ones, of which
        # about 3% are sites of an earlier generated business.
        keys = [key for key in AWKWARD_CLIENTS if key != "sub_client"]
        for key, new_id in zip(
            keys, store.bulk_add_clients([AWKWARD_CLIENTS[key] for key in keys], conn=conn), strict=True
        ):
            awkward[key] = new_id
        awkward["sub_client"] = store.add_client(
            **AWKWARD_CLIENTS["sub_client"], parent_id=awkward["parent"], conn=conn
        ).id
        generated = [gen.client() for _ in range(clients - awkward_clients)]
        sites = [i for i in range(len(generated)) if rng.random() < 0.03 and generated[i]["company_name"]]
        site_set = set(sites)
        plain = [fields for i, fields in enumerate(generated) if i not in site_set]
        plain_ids = store.bulk_add_clients(plain, conn=conn)
        parents = [(fields, new_id) for fields, new_id in zip(plain, plain_ids, strict=True) if fields["company_name"]]
        site_rows: list[dict[str, Any]] = []
        for i in sites:
            if not parents:
                break
            parent_fields, parent_id = rng.choice(parents)
            site_rows.append({**generated[i], "parent_id": parent_id, "company_name": parent_fields["company_name"]})
        site_ids = store.bulk_add_clients(site_rows, conn=conn)
        all_client_ids = sorted(awkward.values()) + plain_ids + site_ids
        active = set(awkward.values()) - {awkward["inactive"]}
        active.update(new_id for fields, new_id in zip(plain, plain_ids, strict=True) if fields["active"])
        active.update(new_id for fields, new_id in zip(site_rows, site_ids, strict=True) if fields["active"])
        billable = [client_id for client_id in all_client_ids if client_id in active]

        # Invoices: the awkward ones first (numbers W-10001 ...), then the rest.
        rows: list[dict[str, Any]] = []
        roles: dict[str, int] = {}  # role -> index in rows
        if invoices:
            specs: dict[str, dict[str, Any]] = {
                "invoice_void": {"status": "void"},
                "invoice_multi_payment": {"lines": 3},
                "invoice_paid_in_full": {},
                "invoice_partial": {"lines": 2},
                "invoice_taxed": {"taxed": True, "lines": 3},
                "invoice_many_lines": {"lines": 8},
                "invoice_sub_client": {"client_id": awkward["sub_client"]},
                "invoice_before_integration": {"before": True},
            }
            for role in _AWKWARD_INVOICES:
                spec = dict(specs[role])
                client_id = spec.pop("client_id", None) or rng.choice(billable)
                roles[role] = len(rows)
                rows.append(gen.invoice(f"W-{10001 + len(rows)}", client_id, item_ids, **spec))
            while len(rows) < invoices:
                before = rng.random() < 0.04
                rows.append(gen.invoice(f"W-{10001 + len(rows)}", rng.choice(billable), item_ids, before=before))
        invoice_ids = store.bulk_add_invoices(rows, conn=conn)
        for role, index in roles.items():
            awkward[role] = invoice_ids[index]

        # Payments: the multi-payment, full and partial invoices first, then a mix over the rest.
        payment_rows: list[dict[str, Any]] = []
        payment_roles: dict[str, int] = {}
        budget = payments

        def pay(index: int, amounts: list[Decimal], role: str | None = None) -> None:
            nonlocal budget
            invoice = rows[index]
            dates = gen.payment_dates(invoice["issue_date"], len(amounts))
            if role:
                payment_roles[role] = len(payment_rows)
            for day, amount in zip(dates, amounts, strict=True):
                payment_rows.append(gen.payment(invoice_ids[index], day, amount))
            budget -= len(amounts)

        if invoices:
            total = _invoice_total(rows[roles["invoice_multi_payment"]], rates)
            if budget >= 3:
                first = gen.share(total, 0.2, 0.4)
                second = gen.share(total - first, 0.3, 0.6)
                pay(roles["invoice_multi_payment"], [first, second, total - first - second], "payment_multi_first")
            if budget >= 1:
                full = _invoice_total(rows[roles["invoice_paid_in_full"]], rates)
                pay(roles["invoice_paid_in_full"], [full], "payment_full")
            if budget >= 1:
                partial = gen.share(_invoice_total(rows[roles["invoice_partial"]], rates), 0.3, 0.6)
                pay(roles["invoice_partial"], [partial], "payment_partial")
            taken = {roles[role] for role in ("invoice_void", "invoice_multi_payment", "invoice_paid_in_full",
                                               "invoice_partial")}  # fmt: skip
            candidates = [index for index in range(len(rows)) if index not in taken]
            rng.shuffle(candidates)
            for position, index in enumerate(candidates):
                if budget <= 0:
                    break
                total = _invoice_total(rows[index], rates)
                # The invoices after this one take two payments at most: split when they could not
                # absorb the rest of the budget otherwise.
                must_split = budget - 2 * (len(candidates) - position - 1) >= 2
                pick = rng.random()
                if must_split or (pick < 0.15 and budget >= 2):
                    first = gen.share(total, 0.3, 0.7)
                    second = total - first if rng.random() < 0.7 else gen.share(total - first, 0.2, 0.8)
                    pay(index, [first, second])
                elif pick < 0.75:
                    pay(index, [total])
                else:
                    pay(index, [gen.share(total, 0.2, 0.8)])
        payment_ids = store.bulk_add_payments(payment_rows, conn=conn)
        for role, index in payment_roles.items():
            awkward[role] = payment_ids[index]

        # Schema version 3: credit notes, their applications, refunds (a stream of their own).
        plain_active = [new_id for fields, new_id in zip(plain, plain_ids, strict=True) if fields["active"]]
        made = _credits_and_refunds(
            store, conn, random.Random(seed * 7919 + 13), tax, rates, item_ids, integration_date, gen, plain_active,
            rows, invoice_ids, payment_rows, credit_notes, refunds, awkward,
        )  # fmt: skip

    return DemoSummary(
        seed=seed,
        integration_date=integration_date,
        clients=len(all_client_ids),
        items=len(item_ids),
        invoices=len(invoice_ids),
        invoice_lines=sum(len(row["lines"]) for row in rows),
        payments=len(payment_ids),
        awkward=awkward,
        tax_rates=len(rates),
        credit_notes=made[0],
        credit_applications=made[1],
        refunds=made[2],
    )


_NOTE_REASONS: Final = ("Returned part", "Goodwill credit", "Billing correction", "Warranty credit")
_REFUND_REASONS: Final = ("Deposit returned", "Overpayment returned", "Returned part", "Cancelled visit")


def _credits_and_refunds(
    store: WorkStore,
    conn: Any,
    rng: random.Random,
    tax: DemoTax,
    rates: dict[str, Decimal],
    item_ids: dict[str, int],
    integration_date: date,
    gen: _Generator,
    clients: Sequence[int],
    rows: Sequence[dict[str, Any]],
    invoice_ids: Sequence[int],
    payment_rows: Sequence[dict[str, Any]],
    credit_notes: int,
    refunds: int,
    awkward: dict[str, int],
) -> tuple[int, int, int]:
    """Credit notes (applied to open invoices of their own client, in full, in part, across two
    invoices, or not at all) and refunds, for plainly named active clients; their counts."""
    plain = set(clients)
    paid: dict[int, Decimal] = {}
    for payment in payment_rows:
        paid[payment["invoice_id"]] = paid.get(payment["invoice_id"], Decimal("0.00")) + payment["amount"]
    open_by_client: dict[int, list[tuple[int, date, Decimal]]] = {}
    for row, invoice_id in zip(rows, invoice_ids, strict=True):
        if row["status"] != "open" or row["issue_date"] < integration_date or row["client_id"] not in plain:
            continue
        left = _invoice_total(row, rates) - paid.get(invoice_id, Decimal("0.00"))
        if left >= Decimal("20.00"):
            open_by_client.setdefault(row["client_id"], []).append((invoice_id, row["issue_date"], left))
    owing = sorted(open_by_client)
    notes = applications = 0

    def note(client_id: int, day: date, ceiling: Decimal) -> tuple[int, Decimal]:
        nonlocal notes
        taxed = rng.random() < 0.5
        percent = tax.standard[1] if taxed else Decimal(0)
        most = min(Decimal("150.00"), ceiling * 100 / (100 + max(percent, Decimal(20))))
        amount = max(Decimal("5.00"), cents(most * Decimal(rng.randint(30, 90)) / 100))
        rate = tax.standard[0] if taxed else (tax.zero[0] if tax.zero else "")
        created = store.add_credit_note(
            f"CN-{5001 + notes}", client_id, day, amount, rng.choice(_NOTE_REASONS),
            item_ids["Parts"] if taxed else item_ids["Service Call"], tax_rate=rate, conn=conn,
        )  # fmt: skip
        notes += 1
        return created.id, created.total

    def apply(note_id: int, invoice_id: int, day: date, amount: Decimal) -> None:
        nonlocal applications
        store.add_credit_application(note_id, invoice_id, day, amount, conn=conn)
        applications += 1

    for index in range(credit_notes):
        if not owing:
            break
        client_id = owing[rng.randrange(len(owing))]
        invoices = open_by_client[client_id]
        invoice_id, issued, left = invoices[rng.randrange(len(invoices))]
        day = min(issued + timedelta(days=rng.randint(1, 20)), integration_date + timedelta(days=gen.shift + 300))
        day = gen.not_after_today(day)
        note_id, total = note(client_id, day, left)
        if index == 0:
            awkward["credit_note_unapplied"] = note_id
            continue
        if index == 1:
            awkward["credit_note_partial"] = note_id
            part = max(Decimal("0.01"), cents(total * Decimal(rng.randint(30, 70)) / 100))
            apply(note_id, invoice_id, day, part)
            left -= part
        elif index == 2 and len(invoices) > 1 and total >= Decimal("2.00"):
            awkward["credit_note_split"] = note_id
            first = cents(total / 2)
            other_id, other_issued, other_left = next(entry for entry in invoices if entry[0] != invoice_id)
            apply(note_id, invoice_id, day, first)
            left -= first
            rest = min(total - first, other_left)
            apply(note_id, other_id, max(day, other_issued), rest)
            invoices[:] = [entry if entry[0] != other_id else (other_id, other_issued, other_left - rest)
                           for entry in invoices]  # fmt: skip
        elif rng.random() < 0.25:
            continue  # left unapplied
        else:
            apply(note_id, invoice_id, day, total)
            left -= total
        invoices[:] = [entry if entry[0] != invoice_id else (invoice_id, issued, left) for entry in invoices]
        invoices[:] = [entry for entry in invoices if entry[2] >= Decimal("20.00")]
        if not invoices:
            owing.remove(client_id)

    made_refunds = 0
    for index in range(refunds if clients else 0):
        client_id = clients[rng.randrange(len(clients))]
        taxed = index == 0 or rng.random() < 0.3
        rate = tax.standard[0] if taxed else (tax.zero[0] if tax.zero else "")
        method = rng.choice(_METHODS)
        reference = str(rng.randint(1000, 99999)) if method == "Check" else ""
        refund = store.add_refund(
            client_id, gen.not_after_today(integration_date + timedelta(days=gen.shift + rng.randint(5, 150))),
            Decimal(rng.randint(1000, 12000)) / 100, rng.choice(_REFUND_REASONS),
            item_ids["Parts"] if taxed else item_ids["Service Call"], tax_rate=rate, method=method,
            reference=reference, conn=conn,
        )  # fmt: skip
        if index == 0:
            awkward["refund_taxed"] = refund.id
        made_refunds += 1
    return notes, applications, made_refunds
