"""CSV import into the WORK store (qbo_toolkit.work.csv_import).

Each test writes a small file that mixes good rows with bad ones; the expected errors are listed by
line and column next to the data, and the good rows must load regardless.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from qbo_toolkit.errors import WorkDataError
from qbo_toolkit.work.csv_import import (
    CLIENT_COLUMNS,
    INVOICE_COLUMNS,
    PAYMENT_COLUMNS,
    ImportReport,
    RowError,
    import_clients,
    import_invoices,
    import_payments,
)
from qbo_toolkit.work.models import Address
from qbo_toolkit.work.store import WorkStore


@pytest.fixture
def store() -> Iterator[WorkStore]:
    with WorkStore("sqlite://") as work:
        work.add_item("Hours", "service", Decimal("75.00"))
        work.add_item("Parts", "product", Decimal("0.00"))
        work.add_client(display_name="Cool Cars")
        work.add_client(display_name="Bill's Windsurf Shop")
        work.add_client(display_name="Bill's Windsurf Shop")
        yield work


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def where(report: ImportReport) -> list[tuple[int, str | None]]:
    return [(error.line, error.field) for error in report.errors]


# --------------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------------

CLIENTS_CSV = """\
display_name,email,phone,billing_line1,billing_city,billing_state,billing_postal_code,active,notes,parent_display_name
Amy's Bird Sanctuary,Birds@Intuit.com,(650) 555-3311,4581 Finch St.,Bayshore,CA,94326,true,,
,nobody@example.com,,,,,,,,
Elm Street Site,,,45 Elm St.,Concord,CA,94520,,,Pacific Property Management
Pacific Property Management,ap@pacificpm.example,,2200 Mt. Diablo Blvd.,Walnut Creek,CA,94596,yes,"Two-line
note",
Too,Few,Columns
Old Mill Bakery,,,,,,,perhaps,,
  Harbor View Apartments  ,,,,,,,no,,
Orphan Site,,,,,,,,,Nobody Inc
Twin Site,,,,,,,,,Bill's Windsurf Shop

Rosa’s Cantina,,,,Fresno,,,,,Cool Cars
"""
# line 3: missing display_name; line 7: wrong column count; line 8: active "perhaps";
# line 10: unknown parent; line 11: ambiguous parent (two clients with that name). Line 5-6 is one
# row (a quoted newline), line 12 is blank.


def test_clients_good_rows_load_and_bad_rows_are_reported(tmp_path: Path, store: WorkStore) -> None:
    path = write(tmp_path, "clients.csv", CLIENTS_CSV)
    report = import_clients(store, path)

    assert where(report) == [
        (3, "display_name"),
        (7, None),
        (8, "active"),
        (10, "parent_display_name"),
        (11, "parent_display_name"),
    ]
    assert all(error.file == str(path) for error in report.errors)
    assert "has 3 fields, the header has 10" in report.errors[1].message
    assert report.loaded == 5 and len(report.ids) == 5 and not report.ok

    by_name = {client.display_name: client for client in store.clients()}
    amy = by_name["Amy's Bird Sanctuary"]
    assert amy.email == "Birds@Intuit.com" and amy.billing == Address("4581 Finch St.", "", "Bayshore", "CA", "94326")
    parent = by_name["Pacific Property Management"]
    assert parent.notes == "Two-line\nnote"
    assert by_name["Elm Street Site"].parent_id == parent.id  # the parent came later in the file
    assert by_name["  Harbor View Apartments  "].active is False  # spaces kept as written
    assert by_name["Rosa’s Cantina"].parent_id == by_name["Cool Cars"].id  # a parent already in the store
    assert by_name["Rosa’s Cantina"].billing.state == ""


def test_client_parent_rows_that_failed_fail_their_children(tmp_path: Path, store: WorkStore) -> None:
    path = write(
        tmp_path,
        "clients.csv",
        "display_name,active,parent_display_name\nParent,maybe,\nChild,,Parent\nLoop A,,Loop B\nLoop B,,Loop A\n",
    )
    report = import_clients(store, path)
    assert where(report) == [(2, "active"), (3, "parent_display_name"), (4, "parent_display_name"),
                             (5, "parent_display_name")]  # fmt: skip
    assert "no client is called 'Parent'" in report.errors[1].message
    assert "loop" in report.errors[2].message
    assert report.loaded == 0


def test_header_problems_stop_the_import(tmp_path: Path, store: WorkStore) -> None:
    with pytest.raises(WorkDataError, match="unknown column") as caught:
        import_clients(store, write(tmp_path, "a.csv", "display_name,emial\nX,x@example.com\n"))
    assert caught.value.field == "emial" and caught.value.line == 1
    with pytest.raises(WorkDataError, match="lacks required") as caught:
        import_clients(store, write(tmp_path, "b.csv", "email\nx@example.com\n"))
    assert caught.value.field == "display_name"
    with pytest.raises(WorkDataError, match="empty"):
        import_clients(store, write(tmp_path, "c.csv", ""))
    with pytest.raises(WorkDataError, match="repeats"):
        import_clients(store, write(tmp_path, "d.csv", "display_name,Display_Name\nX,Y\n"))
    with pytest.raises(WorkDataError, match="cannot read"):
        import_clients(store, tmp_path / "missing.csv")
    assert len(store.clients()) == 3


def test_header_case_spaces_and_a_byte_order_mark_are_forgiven(tmp_path: Path, store: WorkStore) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeff Display_Name ,EMAIL\r\nExcel Co,excel@example.com\r\n".encode())
    report = import_clients(store, path)
    assert report.ok and report.loaded == 1
    assert store.clients()[-1].email == "excel@example.com"


def test_a_file_that_is_not_utf8_is_refused_with_the_line(tmp_path: Path, store: WorkStore) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"display_name\nGood One\n" + "Caf\u00e9 Mocha\n".encode("latin-1"))
    with pytest.raises(WorkDataError, match="not UTF-8") as caught:
        import_clients(store, path)
    assert caught.value.line == 3
    assert len(store.clients()) == 3


# --------------------------------------------------------------------------------------------
# Invoices
# --------------------------------------------------------------------------------------------

INVOICES_CSV = """\
number,client,issue_date,due_date,status,item,description,qty,unit_price,taxable,tax_amount
W-1,Cool Cars,2026-01-05,2026-02-04,open,Hours,Labor,2,,no,0.73
W-1,,,,,Parts,Valve,1,10.00,yes,
W-2,Cool Cars,2026/01/06,,,Hours,Labor,1,75.00,,
W-3,Cool Cars,2026-01-07,,,Parts,Widget,1,10.005,true,
W-4,Nobody Inc,2026-01-08,,,,Trip charge,1,25.00,,
W-5,Cool Cars,2026-01-09,,open,Hours,Labor,1
W-6,Cool Cars,2026-01-10,,,Gizmo,Gizmo,1,5.00,,
W-7,Cool Cars,2026-01-11,,,,Callout,1,95.00,,
W-7,Cool Cars,2026-01-12,,,,Second line,1,5.00,,
W-8,Bill's Windsurf Shop,2026-01-13,,,,Rental,1,40.00,,
W-9,Cool Cars,2026-01-14,2026-01-01,,,Late,1,40.00,,
W-10,Cool Cars,2026-02-30,,,,Bad day,1,40.00,,
W-11,Cool Cars,2026-01-15,,draft,,Estimate,1.25,80.00,,
,Cool Cars,2026-01-15,,,,No number,1,1.00,,
W-12,Cool Cars,2026-01-15,,,,Money,1,$5.00,,
"""
# Expected: W-1 (2 lines, unit price from the item) and W-11 load. Errors:
#  4 issue_date (slashes)          5 unit_price (fraction of a cent)   6 client (unknown)
#  7 whole row (column count)      8 item (unknown)                    10 issue_date differs from line 9
#  9 number: W-7 not loaded        11 client (ambiguous)               12 due_date before issue date
#  13 issue_date (Feb 30)          15 number missing                   16 unit_price ($)


def test_invoices_good_rows_load_and_bad_rows_are_reported(tmp_path: Path, store: WorkStore) -> None:
    path = write(tmp_path, "invoices.csv", INVOICES_CSV)
    report = import_invoices(store, path)
    assert where(report) == [
        (4, "issue_date"),
        (5, "unit_price"),
        (6, "client"),
        (7, None),
        (8, "item"),
        (9, "number"),
        (10, "issue_date"),
        (11, "client"),
        (12, "due_date"),
        (13, "issue_date"),
        (15, "number"),
        (16, "unit_price"),
    ]
    messages = {(error.line, error.field): error.message for error in report.errors}
    assert "YYYY-MM-DD" in messages[(4, "issue_date")]
    assert "fractions of a cent" in messages[(5, "unit_price")]
    assert "no client is called 'Nobody Inc'" in messages[(6, "client")]
    assert "line(s) 10" in messages[(9, "number")]
    assert "ambiguous" in messages[(11, "client")]
    assert "not a real date" in messages[(13, "issue_date")]
    assert report.loaded == 2

    w1 = store.invoice_by_number("W-1")
    assert w1 is not None
    assert [(line.description, line.qty, line.unit_price, line.taxable) for line in w1.lines] == [
        ("Labor", Decimal(2), Decimal("75.00"), False),
        ("Valve", Decimal(1), Decimal("10.00"), True),
    ]
    assert (w1.tax_amount, w1.total, w1.due_date) == (Decimal("0.73"), Decimal("160.73"), date(2026, 2, 4))
    w11 = store.invoice_by_number("W-11")
    assert w11 is not None and w11.status == "draft" and w11.total == Decimal("100.00") and w11.due_date is None
    assert {invoice.number for invoice in store.invoices()} == {"W-1", "W-11"}


def test_importing_invoices_twice_reports_every_number_as_taken(tmp_path: Path, store: WorkStore) -> None:
    path = write(tmp_path, "inv.csv", "number,client,issue_date,unit_price\nW-1,Cool Cars,2026-01-05,10.00\n")
    assert import_invoices(store, path).loaded == 1
    again = import_invoices(store, path)
    assert again.loaded == 0 and where(again) == [(2, "number")] and "already exists" in again.errors[0].message


# --------------------------------------------------------------------------------------------
# Payments
# --------------------------------------------------------------------------------------------

PAYMENTS_CSV = """\
invoice_number,date,amount,method,reference
W-1,2026-01-20,60.00,check,1042
W-1,2026-01-21,40.005,check,1043
W-404,2026-01-21,10.00,cash,
W-1,03/04/2026,10.00,cash,
W-1,2026-01-22,30.00,card,AUTH-1
W-1,2026-01-23,10.01,cash,
W-VOID,2026-01-23,5.00,cash,
W-1,2026-01-24,0.00,cash,
W-1,2026-01-24
W-1,2026-01-25,10.00,ACH,
"""
# Invoice W-1 totals 100.00. Loaded: lines 2, 6, 11 (60 + 30 + 10 = 100). Errors: 3 amount (fraction
# of a cent), 4 invoice_number (unknown), 5 date (not ISO), 7 amount (would exceed the total after
# line 6), 8 invoice_number (void), 9 amount (zero), 10 whole row (column count).


def test_payments_good_rows_load_and_bad_rows_are_reported(tmp_path: Path, store: WorkStore) -> None:
    client = store.client_ids_by_name(["Cool Cars"])["Cool Cars"][0]
    invoice = store.add_invoice("W-1", client, date(2026, 1, 5), lines=[{"description": "Job", "unit_price": "100.00"}])
    void = store.add_invoice("W-VOID", client, date(2026, 1, 5), lines=[{"description": "No", "unit_price": "5.00"}])
    store.void_invoice(void.id)

    report = import_payments(store, write(tmp_path, "payments.csv", PAYMENTS_CSV))
    assert where(report) == [
        (3, "amount"),
        (4, "invoice_number"),
        (5, "date"),
        (7, "amount"),
        (8, "invoice_number"),
        (9, "amount"),
        (10, None),
    ]
    assert "more than its total 100.00" in report.errors[3].message
    assert "void" in report.errors[4].message
    assert report.loaded == 3
    payments = store.payments(invoice_id=invoice.id)
    assert [(p.date, p.amount, p.method, p.reference) for p in payments] == [
        (date(2026, 1, 20), Decimal("60.00"), "check", "1042"),
        (date(2026, 1, 22), Decimal("30.00"), "card", "AUTH-1"),
        (date(2026, 1, 25), Decimal("10.00"), "ACH", ""),
    ]
    assert [payment.id for payment in payments] == report.ids


def test_row_errors_read_well() -> None:
    error = RowError("payments.csv", 7, "amount", "too much")
    assert str(error) == "payments.csv:7: amount: too much"
    assert str(RowError("payments.csv", 10, None, "has 2 fields")) == "payments.csv:10: has 2 fields"
    assert ImportReport("x.csv", 3, [error]).summary() == "x.csv: 3 loaded, 1 error(s)"


def test_documented_columns_match_the_importer() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "work-csv.md").read_text(encoding="utf-8")
    for column in (*CLIENT_COLUMNS, *INVOICE_COLUMNS, *PAYMENT_COLUMNS):
        assert f"`{column}`" in doc, column


def test_the_documented_example_files_import_cleanly(tmp_path: Path) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "work-csv.md").read_text(encoding="utf-8")
    examples = dict(re.findall(r"`(\w+\.csv)`:\n\n```csv\n(.*?)```", doc, re.S))
    assert set(examples) == {"clients.csv", "invoices.csv", "payments.csv"}
    with WorkStore("sqlite://") as work:
        work.add_item("Hours", rate=Decimal("75.00"))
        work.add_item("Parts", "product")
        for name, load in (("clients.csv", import_clients), ("invoices.csv", import_invoices),
                           ("payments.csv", import_payments)):  # fmt: skip
            report = load(work, write(tmp_path, name, examples[name]))
            assert report.ok, report.errors
        invoice = work.invoice_by_number("W-10001")
        assert invoice is not None and invoice.total == Decimal("208.95")
        site = work.clients()[1]
        assert site.parent_id == work.clients()[0].id


def test_empty_trailing_spreadsheet_columns_are_ignored(tmp_path: Path, store: WorkStore) -> None:
    path = write(tmp_path, "sheet.csv", "display_name,email,,\nSheet Co,sheet@example.com,,\nShort Co,s@example.com\n")
    report = import_clients(store, path)
    assert report.ok and report.loaded == 2


def test_a_negative_invoice_is_reported_on_its_first_row(tmp_path: Path, store: WorkStore) -> None:
    path = write(
        tmp_path,
        "neg.csv",
        "number,client,issue_date,description,qty,unit_price\n"
        "W-1,Cool Cars,2026-01-05,Credit,-1,10.00\nW-1,,,Part,1,5.00\n",
    )
    report = import_invoices(store, path)
    assert where(report) == [(2, None), (2, "number")]
    assert "cannot be negative" in report.errors[0].message


# --------------------------------------------------------------------------------------------
# Control characters
# --------------------------------------------------------------------------------------------

CONTROL_CLIENTS_CSV = (
    "display_name,email,billing_line1,billing_city,notes\n"
    "Fine Co,fine@example.com,1 Main St,Fresno,\n"
    "Bob\x00s Bikes,bob@example.com,,,\n"             # line 3: NUL in the name
    "Esc Co,esc\x1b@example.com,,,\n"                 # line 4: escape in the e-mail
    "Tab Co,,,Fres\tno,\n"                            # line 5: a tab in a one-line field
    'Notes Co,,"Suite 5\nBuilding B",,"two\tcolumns\nand lines"\n'  # lines 6-8: allowed
    "Del Co,,,,\x7f\n"                                # line 9: DEL (not allowed even in notes)
    "Last Co,,,,\n"
)


def test_control_characters_refuse_the_row_with_file_line_and_column(tmp_path: Path, store: WorkStore) -> None:
    report = import_clients(store, write(tmp_path, "clients.csv", CONTROL_CLIENTS_CSV))
    assert where(report) == [(3, "display_name"), (4, "email"), (5, "billing_city"), (9, "notes")]
    assert str(report.errors[0]) == (
        f"{tmp_path / 'clients.csv'}:3: display_name: holds a control character, NUL (U+0000), at character 4; "
        "remove it (control characters cannot be shown in reports or sent to QuickBooks)")
    assert "escape (U+001B)" in report.errors[1].message and "tab (U+0009)" in report.errors[2].message
    assert "DEL (U+007F)" in report.errors[3].message
    loaded = {client.display_name: client for client in store.clients()}
    assert report.loaded == 3 and {"Fine Co", "Notes Co", "Last Co"} <= set(loaded)
    assert not any("\x00" in name or "\x1b" in name for name in loaded)
    notes = loaded["Notes Co"]
    assert notes.notes == "two\tcolumns\nand lines" and notes.billing.line1 == "Suite 5\nBuilding B"


def test_an_invoice_with_a_control_character_in_any_row_is_not_loaded(tmp_path: Path, store: WorkStore) -> None:
    path = write(
        tmp_path,
        "invoices.csv",
        "number,client,issue_date,description,unit_price\n"
        "W-1,Cool Cars,2026-01-05,Labor,10.00\n"
        "W-1,,,\"Part\x00\",5.00\n"                       # line 3: NUL in the second line's description
        "W-2,Cool Cars,2026-01-05,\"Two\nlines\",10.00\n"  # lines 4-5: a line break is fine here
        "W\x083,Cool Cars,2026-01-05,Labor,10.00\n",        # line 6: backspace in the number
    )
    report = import_invoices(store, path)
    assert where(report) == [(2, "number"), (3, "description"), (6, "number")]
    assert "not loaded because of the errors on line(s) 3" in report.errors[0].message
    assert "backspace (U+0008)" in report.errors[2].message
    assert report.loaded == 1 and [invoice.number for invoice in store.invoices()] == ["W-2"]


def test_a_payment_with_a_control_character_is_refused(tmp_path: Path, store: WorkStore) -> None:
    client = store.client_ids_by_name(["Cool Cars"])["Cool Cars"][0]
    store.add_invoice("W-1", client, date(2026, 1, 5), lines=[{"description": "Job", "unit_price": "100.00"}])
    path = write(tmp_path, "payments.csv", "invoice_number,date,amount,method,reference\n"
                                           "W-1,2026-01-20,60.00,check,10\x0042\n"
                                           "W-1,2026-01-21,40.00,che\x1bck,1043\n"
                                           "W-1,2026-01-22,30.00,check,1044\n")
    report = import_payments(store, path)
    assert where(report) == [(2, "reference"), (3, "method")]
    assert [(p.amount, p.reference) for p in store.payments()] == [(Decimal("30.00"), "1044")]
