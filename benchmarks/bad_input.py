"""The bad-input corpus: WORK records a field-service business really types, good and bad, in CSV.

``benchmarks/corpus/`` holds ``clients.csv``, ``invoices.csv`` and ``payments.csv`` (the format of
``docs/work-csv.md``), written from the tables below by ``python benchmarks/bad_input.py --write``
(a test checks the files match). The promise it tests: every bad record is named in the activity log
with the field at fault, every good record still syncs (once), nothing is lost or half-written.

    from bad_input import load_corpus, check_corpus        # with benchmarks/ on sys.path
    expected = load_corpus(store_url)                      # imports the CSVs, adds a QBO vendor
    ... run the sync (twice: the second must neither duplicate nor re-report) ...
    failures = check_corpus(store_url, expected)           # [] when every promise holds

Both take the WORK store (a WorkStore or its URL) and optionally ``client=`` (a QboClient); without
it they use ``qbo_toolkit.connection.connection()`` (``QBO_TOOLKIT_HOME``/``QBO_EMULATOR_INFO``).
The sync's settings must send invoices and payments from an integration date on or before
:data:`INTEGRATION_DATE` with ``name_policy: report`` (the corpus expects names QBO refuses to be
reported, not fixed).

Outcomes (:class:`Expected`):

* ``synced``: linked in the id map to a QBO record that exists, appearing once in QBO, with no open
  failure;
* ``failed``: the sync refused it: an activity-log failure for that WORK record naming ``field``;
  not linked, not in QBO;
* ``refused``: the CSV import refused the row: a failure entry (action ``import``) whose message
  starts ``<file> line <n>:`` naming ``field`` (None when the row as a whole is bad); the record it
  would have been is not in WORK at all (an invoice with one bad line is refused whole);
* ``duplicate``: ``copies`` WORK clients share a name (ignoring case): exactly one is synced, the
  others failed on ``display_name``; QBO has the name once;
* ``skipped``: not meant for QBO (a void invoice never sent): not linked, not in QBO, no failure.

"Deleted client": WORK never deletes a client, it deactivates it. An inactive client syncs as an
inactive QBO customer; its invoices fail on ``client_id`` (QBO refuses invoices for inactive
customers) until the client is active again and the invoice is retried. "Unsynced client": a client
that fails itself (a colon, a vendor's name, an unknown state); its invoices fail on ``client_id``
and wait for it, and their payments fail on ``invoice_id``.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from qbo_toolkit.qbo.client import QboClient
from qbo_toolkit.qbo.query import select
from qbo_toolkit.sync.imports import import_csv
from qbo_toolkit.sync.state import ActivityEntry, SyncState
from qbo_toolkit.work.store import WorkStore

__all__ = ["CORPUS_DIR", "INTEGRATION_DATE", "VENDOR_NAME", "Expected", "check_corpus", "load_corpus",
           "render_corpus", "summary", "write_corpus"]

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
#: The good invoices and payments are dated from 2026-03-01: any integration date up to this one sends them.
INTEGRATION_DATE = date(2026, 1, 1)
#: A QBO vendor load_corpus creates; two WORK clients use its name (one in another case).
VENDOR_NAME = "BX Twin Supply Co"


@dataclass(frozen=True)
class Expected:
    """What must become of one corpus record (see the module's docstring for each ``outcome``).

    ``key`` finds the record: a client's display name, an invoice number, a payment reference
    (``duplicate``: the shared name, case-folded). ``file`` and ``line`` place a refused CSV row.
    """

    category: str
    entity: str  # customer | invoice | payment, as the activity log names them
    outcome: str  # synced | failed | refused | duplicate | skipped
    key: str
    field: str | None = None
    file: str | None = None
    line: int | None = None
    copies: int = 1

    @property
    def bad(self) -> bool:
        return self.outcome in ("failed", "refused", "duplicate")

    def __str__(self) -> str:
        where = f"{self.file} line {self.line}" if self.file else f"{self.entity} {self.key!r}"
        field = f", field {self.field}" if self.field else ""
        return f"{where} ({self.category}: {self.outcome}{field})"


# ------------------------------------------------------------------------------------------------
# The corpus: one tuple per CSV row (cells, or a raw line for malformed rows) and what must happen
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    cells: dict[str, str] | None
    expect: Expected
    raw: str | None = None  # a malformed row, written as it is


def _synced(entity: str, key: str, category: str) -> Expected:
    return Expected(category, entity, "synced", key)


def _failed(entity: str, key: str, field: str, category: str) -> Expected:
    return Expected(category, entity, "failed", key, field)


def _refused(entity: str, key: str, field: str | None, category: str) -> Expected:
    return Expected(category, entity, "refused", key, field)


CLIENT_HEADER = ("display_name", "company_name", "first_name", "email", "phone", "billing_line1", "billing_city",
                 "billing_state", "billing_postal_code", "billing_country", "service_line1", "service_state",
                 "service_country", "active", "parent_display_name")
INVOICE_HEADER = ("number", "client", "issue_date", "due_date", "status", "description", "qty", "unit_price",
                  "taxable", "tax_amount")
PAYMENT_HEADER = ("invoice_number", "date", "amount", "method", "reference")

LONG_NAME = ("BX Long Name Plumbing Heating and Air Conditioning Services of the Greater Sacramento Valley "
             "and the Sierra Foothills Co")
assert len(LONG_NAME) == 120, len(LONG_NAME)
TOO_LONG_NAME = "BX Too Long " + "x" * 489
assert len(TOO_LONG_NAME) == 501
DUPLICATE = "BX Duplicate Roofing"
_DUPLICATES = Expected("duplicate names in WORK (QBO ignores case)", "customer", "duplicate", DUPLICATE.casefold(),
                       "display_name", copies=3)


def _client(name: str, expect: Expected | None = None, **cells: str) -> _Row:
    row = {"display_name": name, "billing_line1": "1 Main St", "billing_city": "Sacramento", "billing_state": "CA",
           "billing_postal_code": "95814", "billing_country": "US", **cells}
    return _Row(row, expect or _synced("customer", name, "good"))


def _bad_client(name: str, field: str, category: str, **cells: str) -> _Row:
    return _client(name, _failed("customer", name, field, category), **cells)


def _clients() -> list[_Row]:
    c = "customer"
    return [
        # -- good: these must sync, Unicode and edge values included
        _client("BX Harbor Plumbing", email="ap@harbor.example", phone="(916) 555-0101"),
        _client("BX Café Ünïcode Ltd", _synced(c, "BX Café Ünïcode Ltd", "accented name (accepted)"),
                billing_city="San José"),
        _client("BX 🚀 Rocket Repairs ☕", _synced(c, "BX 🚀 Rocket Repairs ☕", "emoji in a name (accepted)")),
        _client("BX 東京 Services", _synced(c, "BX 東京 Services", "CJK name (accepted)")),
        _client(LONG_NAME, _synced(c, LONG_NAME, "120-character name (accepted: QBO allows 500)")),
        _client("BX Maple Leaf HVAC", _synced(c, "BX Maple Leaf HVAC", "non-US state (not checked)"),
                billing_city="Toronto", billing_state="Ontario", billing_postal_code="M5V 2T6",
                billing_country="Canada"),
        _client("BX Lowercase State", _synced(c, "BX Lowercase State", "state code in lower case (accepted)"),
                billing_state="ca", billing_country=""),
        _client("BX Full Name State", _synced(c, "BX Full Name State", "state as a full name (accepted)"),
                billing_city="Albany", billing_state="new york", billing_postal_code="12207",
                billing_country="United States"),
        _client("BX Island Pools", _synced(c, "BX Island Pools", "US territory (accepted)"),
                billing_city="San Juan", billing_state="PR", billing_postal_code="00901", billing_country="USA"),
        _client("BX Dormant Builders", _synced(c, "BX Dormant Builders", "inactive client (synced inactive)"),
                active="false"),
        # -- three clients, one name (QBO's names ignore case): one syncs, two are refused on display_name
        _client(DUPLICATE, _DUPLICATES),
        _client(DUPLICATE, _DUPLICATES),
        _client(DUPLICATE.upper(), _DUPLICATES),
        # -- refused by the sync, each on one field
        _bad_client("BX Acme: North", "display_name", "colon in a name"),
        _bad_client("BX Site:Two", "display_name", "colon in a name"),
        _bad_client(TOO_LONG_NAME, "display_name", "501-character name"),
        _bad_client("BX Trailing Space ", "display_name", "surrounding whitespace"),
        _bad_client("BX NBSP Co\u00a0", "display_name", "Unicode whitespace (no-break space) at the end"),
        _bad_client(VENDOR_NAME, "display_name", "name used by a QBO vendor"),
        _bad_client(VENDOR_NAME.lower(), "display_name", "name used by a QBO vendor (other case)"),
        _bad_client("BX Long Company", "company_name", "120-character company name",
                    company_name="BX Long Company " + "C" * 104),
        _bad_client("BX Long First Name", "first_name", "120-character first name", first_name="F" * 120),
        _bad_client("BX Bad Email", "email", "malformed e-mail", email="billing at bx dot example"),
        _bad_client("BX Long Phone", "phone", "phone over 30 characters", phone="(916) 555-0199 ext. 12345678901234"),
        _bad_client("BX Long Postal", "billing.postal_code", "postal code over 30 characters",
                    billing_postal_code="95814-" + "9" * 30),
        _bad_client("BX State XX", "billing.state", "unknown state", billing_state="XX", billing_country=""),
        _bad_client("BX State Typo", "billing.state", "unknown state (misspelt)", billing_state="Calfornia"),
        _bad_client("BX Dotted State", "billing.state", "unknown state (dotted)", billing_state="C.A.",
                    billing_country=""),
        _bad_client("BX Emoji State", "billing.state", "unknown state (emoji)", billing_state="🌴"),
        _bad_client("BX Service State", "service.state", "unknown service state", service_line1="9 Side St",
                    service_state="ZZ", service_country="USA"),
        _bad_client("BX Sub Of Colon", "parent_id", "sub-client of an unsynced client",
                    parent_display_name="BX Acme: North"),
        # -- refused by the import
        _client("", _refused(c, "", "display_name", "empty name")),
        _client("BX New\nLine Co", _refused(c, "BX New\nLine Co", "display_name", "line break in a name")),
        _client("BX Tab\tCo", _refused(c, "BX Tab\tCo", "display_name", "tab in a name")),
        _client("BX Esc\x1b Co", _refused(c, "BX Esc\x1b Co", "display_name", "control character (escape) in a name")),
        _client("   ", _refused(c, "   ", "display_name", "blank name")),
        _client("BX Maybe Active", _refused(c, "BX Maybe Active", "active", "malformed true/false"), active="perhaps"),
        _client("BX Orphan Site", _refused(c, "BX Orphan Site", "parent_display_name", "unknown parent"),
                parent_display_name="BX Nobody"),
        _Row(None, _refused(c, "BX Short Row", None, "malformed CSV row (too few cells)"),
             raw="BX Short Row,BX Short Row Co,Ann"),
        _Row(None, _refused(c, "BX Wide Row", None, "malformed CSV row (too many cells)"),
             raw="BX Wide Row" + "," * len(CLIENT_HEADER) + "surplus"),
    ]


def _invoice(number: str, client: str, issue: str, expect: Expected, *, lines: Sequence[tuple[str, str, str]] = (
        ("Service call", "1", "100.00"),), due: str = "", status: str = "open", tax: str = "0.00",
        **cells: str) -> list[_Row]:
    """One invoice's rows: the invoice columns on the first, a line (description, qty, unit price) on each."""
    rows = []
    for index, (description, qty, price) in enumerate(lines):
        head = {"number": number, "client": client, "issue_date": issue, "due_date": due, "status": status,
                "tax_amount": tax} if index == 0 else {"number": number}
        rows.append(_Row({**head, "description": description, "qty": qty, "unit_price": price, "taxable": "false",
                          **(cells if index == 0 else {})}, expect))
    return rows


def _invoices() -> list[_Row]:
    i = "invoice"
    harbor = "BX Harbor Plumbing"
    rows: list[_Row] = []
    add = rows.extend
    # -- good
    add(_invoice("BX-1001", harbor, "2026-03-02", _synced(i, "BX-1001", "good"), due="2026-04-01", tax="9.60",
                 lines=[("Labor", "3", "75.00"), ("Valve assembly", "1", "120.00")]))
    add(_invoice("BX-1002", "BX Café Ünïcode Ltd", "2026-03-05", _synced(i, "BX-1002", "Unicode description"),
                 lines=[("Réparation du chauffe-eau ☕", "1", "180.00")]))
    add(_invoice("BX-1003", "BX 🚀 Rocket Repairs ☕", "2026-03-06", _synced(i, "BX-1003", "emoji description"),
                 lines=[("🚀 Launch pad cleanup", "2", "45.50")]))
    add(_invoice("BX-1004", LONG_NAME, "2026-03-07", _synced(i, "BX-1004", "client with a 120-character name"),
                 lines=[("Inspection", "1", "99.99")]))
    add(_invoice("BX-1005", "BX Maple Leaf HVAC", "2026-03-08", _synced(i, "BX-1005", "client outside the US"),
                 lines=[("Furnace service", "1", "250.00")]))
    add(_invoice("BX-1006", "BX Island Pools", "2026-03-09", _synced(i, "BX-1006", "client in a US territory"),
                 lines=[("Pool pump", "1", "75.00")]))
    add(_invoice("BX-1007", harbor, "2026-03-10", _synced(i, "BX-1007", "paid in two parts, a third refused")))
    add(_invoice("BX-1008", "BX Lowercase State", "2026-03-11", _synced(i, "BX-1008", "an overpayment refused"),
                 lines=[("Drain cleaning", "1", "80.00")]))
    add(_invoice("BX-1009", harbor, "2026-03-12", Expected("void invoice never sent", i, "skipped", "BX-1009"),
                 status="void"))
    add(_invoice("BX-1010", "BX Full Name State", "2026-03-13", _synced(i, "BX-1010", "discount line (negative "
                 "amount, positive total)"), lines=[("Water heater", "1", "200.00"), ("Loyalty discount", "1",
                                                                                     "-50.00")]))
    add(_invoice("BX-1011", "BX 東京 Services", "2026-03-14", _synced(i, "BX-1011", "quantity x price rounded "
                 "half-up to the cent"), lines=[("Hours", "1.5", "33.33")]))
    # -- refused by the sync
    add(_invoice("BX-2001", harbor, "1850-03-01", _failed(i, "BX-2001", "issue_date", "date far in the past "
                 "(reported, not skipped as before the integration date)")))
    add(_invoice("BX-2002", harbor, "0999-12-31", _failed(i, "BX-2002", "issue_date", "date far in the past")))
    add(_invoice("BX-2003", harbor, "2099-01-15", _failed(i, "BX-2003", "issue_date", "date far in the future")))
    add(_invoice("BX-2004", harbor, "2026-03-01", _failed(i, "BX-2004", "due_date", "due date far in the future"),
                 due="2199-12-31"))
    add(_invoice("BX-2005-NUMBER-TOO-LONG", harbor, "2026-03-01", _failed(i, "BX-2005-NUMBER-TOO-LONG", "number",
                 "invoice number over 21 characters")))
    add(_invoice("BX-2006", "BX Site:Two", "2026-03-02", _failed(i, "BX-2006", "client_id", "invoice for an "
                 "unsynced client (colon)")))
    add(_invoice("BX-2007", "BX State XX", "2026-03-03", _failed(i, "BX-2007", "client_id", "invoice for an "
                 "unsynced client (unknown state)")))
    add(_invoice("BX-2008", "BX Dormant Builders", "2026-03-04", _failed(i, "BX-2008", "client_id", "invoice for "
                 "an inactive (deleted) client")))
    add(_invoice("BX-2009", VENDOR_NAME, "2026-03-05", _failed(i, "BX-2009", "client_id", "invoice for an "
                 "unsynced client (vendor's name)")))
    add(_invoice("BX-2010", "BX Sub Of Colon", "2026-03-06", _failed(i, "BX-2010", "client_id", "invoice for an "
                 "unsynced sub-client")))
    add(_invoice("BX-2011", harbor, "2026-03-07", _failed(i, "BX-2011", "lines[1].description", "line description "
                 "over 4000 characters"), lines=[("Site notes: " + "detail " * 600, "1", "60.00")]))
    # -- refused by the import
    add(_invoice("BX-3001", harbor, "2026-03-01", _refused(i, "BX-3001", "unit_price", "fractions of a cent"),
                 lines=[("Parts", "1", "10.005")]))
    add(_invoice("BX-3002", harbor, "2026-03-01", _refused(i, "BX-3002", "tax_amount", "negative tax"), tax="-5.00"))
    add(_invoice("BX-3003", harbor, "2026-03-01", _refused(i, "BX-3003", "tax_amount", "fractions of a cent"),
                 tax="0.125"))
    add(_invoice("BX-3004", harbor, "2026-03-01", _refused(i, "BX-3004", None, "negative total"),
                 lines=[("Refund", "1", "-50.00")]))
    add(_invoice("BX-3005", "BX Nobody Here", "2026-03-01", _refused(i, "BX-3005", "client", "unknown client")))
    add(_invoice("BX-3006", harbor, "2026-02-30", _refused(i, "BX-3006", "issue_date", "impossible date")))
    add(_invoice("BX-3007", harbor, "03/04/2026", _refused(i, "BX-3007", "issue_date", "ambiguous date format")))
    add(_invoice("BX-3008", harbor, "2026-03-10", _refused(i, "BX-3008", "due_date", "due before issued"),
                 due="2026-03-01"))
    add(_invoice("BX-3009", harbor, "2026-03-01", _refused(i, "BX-3009", "status", "unknown status"), status="paid"))
    add(_invoice("BX-3010", harbor, "2026-03-01", _refused(i, "BX-3010", "unit_price", "currency symbol"),
                 lines=[("Parts", "1", "$12.00")]))
    add(_invoice("BX-3011", harbor, "2026-03-01", _refused(i, "BX-3011", "qty", "quantity with 5 decimals"),
                 lines=[("Parts", "1.00001", "12.00")]))
    add(_invoice(" BX-3012", harbor, "2026-03-01", _refused(i, " BX-3012", "number", "number with surrounding "
                 "spaces")))
    good_line, bad_line = _invoice("BX-3013", harbor, "2026-03-01", _refused(i, "BX-3013", "number", "one bad line "
                                   "refuses the whole invoice"), lines=[("Labor", "1", "50.00"), ("Parts", "1", "abc")])
    add([good_line, replace(bad_line, expect=replace(bad_line.expect, field="unit_price"))])
    first, second = _invoice("BX-3014", harbor, "2026-03-01", _refused(i, "BX-3014", "number", "rows of one "
                             "invoice disagree"), lines=[("Labor", "1", "50.00"), ("Parts", "1", "20.00")])
    assert second.cells is not None
    add([first, replace(second, cells={**second.cells, "client": "BX Café Ünïcode Ltd"},
                        expect=replace(second.expect, field="client"))])
    add(_invoice("BX-3015", DUPLICATE, "2026-03-01", _refused(i, "BX-3015", "client", "client name shared by two "
                 "WORK clients")))
    add(_invoice("BX-3016", harbor, "", _refused(i, "BX-3016", "issue_date", "missing date")))
    rows.append(_Row(None, _refused(i, "BX-3017", None, "malformed CSV row (too few cells)"),
                     raw="BX-3017,BX Harbor Plumbing,2026-03-01"))
    return rows


def _payment(number: str, day: str, amount: str, reference: str, expect: Expected, method: str = "check") -> _Row:
    return _Row({"invoice_number": number, "date": day, "amount": amount, "method": method, "reference": reference},
                expect)


def _payments() -> list[_Row]:
    p = "payment"
    return [
        # -- good
        _payment("BX-1001", "2026-03-20", "100.00", "BXP-001", _synced(p, "BXP-001", "good")),
        _payment("BX-1007", "2026-03-21", "60.00", "BXP-002", _synced(p, "BXP-002", "first of two payments"), "ACH"),
        _payment("BX-1008", "2026-03-22", "30.00", "BXP-003", _synced(p, "BXP-003", "part payment"), "cash"),
        _payment("BX-1002", "2026-03-23", "180.00", "BXP-004", _synced(p, "BXP-004", "payment in full"), "card"),
        _payment("BX-1003", "2026-03-24", "91.00", "BXP-005", _synced(p, "BXP-005", "Unicode method"), "chèque ✓"),
        # -- refused by the sync
        _payment("BX-1001", "1850-01-01", "20.00", "BXP-101", _failed(p, "BXP-101", "date", "date far in the past")),
        _payment("BX-1005", "2099-06-01", "25.00", "BXP-102", _failed(p, "BXP-102", "date", "date far in the future")),
        _payment("BX-1001", "2026-03-25", "10.00", "BXP-103-REFERENCE-TOO-LONG",
                 _failed(p, "BXP-103-REFERENCE-TOO-LONG", "reference", "reference over 21 characters")),
        _payment("BX-2006", "2026-03-26", "10.00", "BXP-104", _failed(p, "BXP-104", "invoice_id", "payment on an "
                 "invoice of an unsynced client")),
        _payment("BX-2001", "2026-03-27", "10.00", "BXP-105", _failed(p, "BXP-105", "invoice_id", "payment on an "
                 "invoice with an implausible date")),
        _payment("BX-2008", "2026-03-28", "10.00", "BXP-106", _failed(p, "BXP-106", "invoice_id", "payment on an "
                 "invoice of an inactive client")),
        # -- refused by the import
        _payment("BX-1007", "2026-03-29", "60.00", "BXP-201", _refused(p, "BXP-201", "amount", "two payments "
                 "together over the invoice total")),
        _payment("BX-1008", "2026-03-30", "90.00", "BXP-202", _refused(p, "BXP-202", "amount", "payment over the "
                 "invoice total")),
        _payment("BX-1001", "2026-03-30", "-20.00", "BXP-203", _refused(p, "BXP-203", "amount", "negative amount")),
        _payment("BX-1001", "2026-03-30", "0.00", "BXP-204", _refused(p, "BXP-204", "amount", "zero amount")),
        _payment("BX-1001", "2026-03-30", "12.345", "BXP-205", _refused(p, "BXP-205", "amount", "fractions of a "
                 "cent")),
        _payment("BX-1001", "2026-03-30", "$15.00", "BXP-206", _refused(p, "BXP-206", "amount", "currency symbol")),
        _payment("BX-9999", "2026-03-30", "10.00", "BXP-207", _refused(p, "BXP-207", "invoice_number", "unknown "
                 "invoice")),
        _payment("BX-1009", "2026-03-30", "10.00", "BXP-208", _refused(p, "BXP-208", "invoice_number", "payment on "
                 "a void invoice")),
        _payment("BX-3001", "2026-03-30", "10.00", "BXP-209", _refused(p, "BXP-209", "invoice_number", "payment on "
                 "an invoice the import refused")),
        _payment("BX-1001", "2026-13-01", "10.00", "BXP-210", _refused(p, "BXP-210", "date", "impossible date")),
        _Row(None, _refused(p, "BXP-211", None, "unquoted thousands separator (too many cells)"),
             raw="BX-1001,2026-03-31,1,000.00,check,BXP-211"),
        # last: a quote that never closes swallows the rest of the file
        _Row(None, _refused(p, "BXP-212", None, "unterminated quote (too few cells)"),
             raw='BX-1001,2026-04-01,"15.00,check,BXP-212'),
    ]


FILES: dict[str, tuple[str, tuple[str, ...], Callable[[], list[_Row]]]] = {
    "clients": ("clients.csv", CLIENT_HEADER, _clients),
    "invoices": ("invoices.csv", INVOICE_HEADER, _invoices),
    "payments": ("payments.csv", PAYMENT_HEADER, _payments),
}


def render_corpus() -> dict[str, tuple[str, list[tuple[int, _Row]]]]:
    """Each kind's CSV text and its rows with the line each starts on (the header is line 1)."""
    out: dict[str, tuple[str, list[tuple[int, _Row]]]] = {}
    for kind, (_, header, rows) in FILES.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        placed: list[tuple[int, _Row]] = []
        for row in rows():
            line = buffer.getvalue().count("\n") + 1
            if row.raw is not None:
                buffer.write(row.raw + "\n")
            else:
                assert row.cells is not None
                assert set(row.cells) <= set(header), set(row.cells) - set(header)
                writer.writerow([row.cells.get(column, "") for column in header])
            placed.append((line, row))
        out[kind] = (buffer.getvalue(), placed)
    return out


def write_corpus(directory: Path = CORPUS_DIR) -> list[Path]:
    """(Re)write the three CSV files from the tables above."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, (text, _) in render_corpus().items():
        path = directory / FILES[kind][0]
        path.write_text(text, encoding="utf-8", newline="")
        written.append(path)
    return written


# ------------------------------------------------------------------------------------------------
# Loading and checking
# ------------------------------------------------------------------------------------------------


def _open(store: WorkStore | str) -> tuple[WorkStore, bool]:
    return (store, False) if isinstance(store, WorkStore) else (WorkStore(store), True)


def _client_or_connection(client: QboClient | None) -> QboClient:
    if client is not None:
        return client
    from qbo_toolkit.connection import connection

    return connection().client


def _as_dict(obj: Any) -> dict[str, Any]:
    return obj if isinstance(obj, dict) else dict(obj.to_dict())


def load_corpus(store: WorkStore | str, client: QboClient | None = None, *,
                directory: Path = CORPUS_DIR) -> list[Expected]:
    """Create the QBO vendor whose name two clients use (over HTTP, through the toolkit's client),
    then import the corpus's clients, invoices and payments (in that order) with
    :func:`qbo_toolkit.sync.imports.import_csv`, which records each refused row in the company's
    activity log. Returns what must become of every record, good and bad."""
    qbo = _client_or_connection(client)
    if qbo.find_by_name("Vendor", "DisplayName", VENDOR_NAME) is None:
        qbo.create_from("Vendor", {"DisplayName": VENDOR_NAME, "CompanyName": VENDOR_NAME},
                        request_id=f"bx-corpus-vendor-{os.getpid()}")
    work, close = _open(store)
    expected: list[Expected] = []
    rendered = render_corpus()
    try:
        for kind in FILES:
            path = directory / FILES[kind][0]
            if path.read_text(encoding="utf-8") != rendered[kind][0]:
                raise ValueError(f"{path} differs from the corpus tables: run python benchmarks/bad_input.py --write")
            import_csv(work, kind, path, realm=qbo.realm_id)
            for line, row in rendered[kind][1]:
                expect = row.expect
                if expect.outcome == "refused":
                    expect = replace(expect, file=os.fspath(path), line=line)
                expected.append(expect)
    finally:
        if close:
            work.close()
    return _dedupe(expected)


def _dedupe(expected: Iterable[Expected]) -> list[Expected]:
    """One expectation per record: an invoice's other lines repeat its first line's."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for e in expected:
        key = (e.entity, e.key, e.outcome)
        if e.outcome != "refused" and key in seen:
            continue
        seen.add(key)
        out.append(e)
    return out


class _World:
    """The corpus's records in WORK, the id map, the activity log and QBO, read once."""

    def __init__(self, work: WorkStore, qbo: QboClient) -> None:
        state = SyncState(work, qbo.realm_id)
        self.links = {entity: state.links(entity) for entity in ("customer", "invoice", "payment")}
        self.activity = state.activity()
        self.failures: dict[tuple[str, int], list[ActivityEntry]] = {}
        for entry in self.activity:
            if entry.outcome == "failed" and entry.work_id is not None:
                self.failures.setdefault((entry.entity, entry.work_id), []).append(entry)
        self.clients = work.clients()
        self.invoices = work.invoices(include_deleted=True)
        self.payments = work.payments(include_deleted=True)
        self.qbo = {entity: [_as_dict(row) for row in qbo.query_all(
            select(entity).include_inactive() if entity == "Customer" else select(entity))]
            for entity in ("Customer", "Invoice", "Payment")}

    def records(self, entity: str, key: str) -> list[int]:
        """WORK ids of the corpus record called ``key``."""
        if entity == "customer":
            return [c.id for c in self.clients if c.display_name == key]
        if entity == "invoice":
            return [i.id for i in self.invoices if i.number == key]
        return [p.id for p in self.payments if p.reference == key]

    def in_qbo(self, entity: str, key: str) -> list[dict[str, Any]]:
        if entity == "customer":
            return [c for c in self.qbo["Customer"] if str(c.get("DisplayName", "")).casefold() == key.casefold()]
        if entity == "invoice":
            return [i for i in self.qbo["Invoice"] if i.get("DocNumber") == key]
        return [p for p in self.qbo["Payment"] if p.get("PaymentRefNum") == key]

    def open_failures(self, entity: str, work_id: int) -> list[ActivityEntry]:
        return [e for e in self.failures.get((entity, work_id), []) if e.resolved is None]


def check_corpus(store: WorkStore | str, expected: Sequence[Expected], *, client: QboClient | None = None,
                 reported_once: bool = False) -> list[str]:
    """Every way the corpus's promise is broken, as sentences (none: it holds).

    ``reported_once``: a bad record must have exactly one failure entry naming its field (after a
    second run over unchanged data, none reported again). Refused CSV rows are also checked the
    other way: every ``import`` failure of the corpus's files is an expected one.
    """
    qbo = _client_or_connection(client)
    work, close = _open(store)
    try:
        world = _World(work, qbo)
    finally:
        if close:
            work.close()
    problems: list[str] = []
    for e in expected:
        problems += [f"{e}: {text}" for text in _check_one(world, e, reported_once=reported_once)]
    files = {e.file for e in expected if e.file}
    wanted = {(e.file, e.line, e.field) for e in expected if e.outcome == "refused"}
    for entry in world.activity:
        if entry.action != "import" or entry.outcome != "failed":
            continue
        for file in files:
            prefix = f"{file} line "
            if entry.message.startswith(prefix):
                line = entry.message[len(prefix):].split(":", 1)[0]
                if (file, int(line) if line.isdigit() else None, entry.field) not in wanted:
                    problems.append(f"unexpected refusal in the activity log: {entry.message}")
    return problems


def _check_one(w: _World, e: Expected, *, reported_once: bool) -> list[str]:
    if e.outcome == "refused":
        return _check_refused(w, e)
    if e.outcome == "duplicate":
        return _check_duplicate(w, e, reported_once=reported_once)
    ids = w.records(e.entity, e.key)
    if len(ids) != 1:
        return [f"{len(ids)} WORK records have this key (the corpus must be loaded once into a store)"]
    work_id = ids[0]
    link = w.links[e.entity].get(work_id)
    found = w.in_qbo(e.entity, e.key)
    problems: list[str] = []
    if e.outcome == "synced":
        if link is None:
            problems.append("not linked to QBO")
        elif [str(r["Id"]) for r in found] != [link.qbo_id]:
            problems.append(f"linked to QBO {link.qbo_id}, but QBO holds {[str(r['Id']) for r in found]} for it")
        problems += [f"has an open failure: {f.field}: {f.message}" for f in w.open_failures(e.entity, work_id)]
        return problems
    if e.outcome == "skipped":
        if link is not None or found:
            problems.append("was sent to QBO, yet it is not meant for QBO")
        problems += [f"has a failure: {f.message}" for f in w.open_failures(e.entity, work_id)]
        return problems
    # failed
    if link is not None:
        problems.append(f"linked to QBO {link.qbo_id}, yet it should have been refused")
    if found:
        problems.append(f"QBO holds it: {[str(r['Id']) for r in found]}")
    failures = [f for f in w.failures.get((e.entity, work_id), []) if f.field == e.field]
    if not failures:
        named = sorted({str(f.field) for f in w.failures.get((e.entity, work_id), [])})
        problems.append(f"no activity-log failure names {e.field} (failures name: {named or 'nothing'})")
    elif reported_once and len(failures) != 1:
        problems.append(f"reported {len(failures)} times: {[f.run_id for f in failures]} (runs)")
    elif not any(_names_record(f.message, e, work_id) for f in failures):
        problems.append(f"the failure does not name the record: {failures[0].message}")
    return problems


def _names_record(message: str, e: Expected, work_id: int) -> bool:
    """A failure's sentence says which record: the client's id or name, the invoice's number, the payment's id."""
    if e.entity == "customer":
        return f"client {work_id}" in message or e.key in message
    if e.entity == "invoice":
        return e.key in message
    return f"payment {work_id}" in message


def _check_refused(w: _World, e: Expected) -> list[str]:
    problems: list[str] = []
    prefix = f"{e.file} line {e.line}:"
    entries = [a for a in w.activity if a.action == "import" and a.outcome == "failed" and a.entity == e.entity
               and a.message.startswith(prefix)]
    if not any(a.field == e.field for a in entries):
        problems.append(f"no import failure for this row names {e.field} "
                        f"(found: {[(a.field, a.message) for a in entries] or 'none'})")
    if e.key.strip() and w.records(e.entity, e.key):
        problems.append("the refused record is in WORK all the same (half-written?)")
    return problems


def _check_duplicate(w: _World, e: Expected, *, reported_once: bool) -> list[str]:
    ids = [c.id for c in w.clients if c.display_name.casefold() == e.key]
    if len(ids) != e.copies:
        return [f"{len(ids)} WORK clients have this name, not {e.copies}"]
    linked = [i for i in ids if i in w.links["customer"]]
    found = w.in_qbo("customer", e.key)
    problems: list[str] = []
    if len(linked) != 1:
        problems.append(f"{len(linked)} of the {e.copies} clients are linked to QBO, not exactly one")
    if len(found) != 1:
        problems.append(f"QBO has {len(found)} customers with this name, not one")
    elif linked and w.links["customer"][linked[0]].qbo_id != str(found[0]["Id"]):
        problems.append("the linked client is not linked to the QBO customer of that name")
    for work_id in ids:
        if work_id in linked:
            continue
        failures = [f for f in w.failures.get(("customer", work_id), []) if f.field == e.field]
        if not failures:
            problems.append(f"client {work_id} is neither linked nor named in a failure on {e.field}")
        elif reported_once and len(failures) != 1:
            problems.append(f"client {work_id} reported {len(failures)} times")
    return problems


def summary(expected: Sequence[Expected]) -> str:
    """Counts per outcome and per category, for a report."""
    outcomes = Counter(e.outcome for e in expected)
    bad = sum(e.copies - 1 if e.outcome == "duplicate" else 1 for e in expected if e.bad)
    return f"{bad} bad records ({', '.join(f'{n} {k}' for k, n in sorted(outcomes.items()))})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="rewrite benchmarks/corpus/*.csv from the tables")
    parser.add_argument("--list", action="store_true", help="print every record and what must become of it")
    args = parser.parse_args(argv)
    if args.write:
        for path in write_corpus():
            print(f"wrote {path}")
    if args.list or not args.write:
        for kind, (_, placed) in render_corpus().items():
            for line, row in placed:
                print(f"{FILES[kind][0]}:{line}\t{row.expect.outcome}\t{row.expect.field or ''}\t{row.expect.category}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
