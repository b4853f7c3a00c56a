"""CSV import of schema version 3's records (issue 13): tax rates, invoice terms and line tax rates,
credit notes, credit applications and refunds. Good rows load; each bad one is named by line and
column with a sentence that says why."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from qbo_toolkit.work.csv_import import (
    ImportReport,
    import_credit_applications,
    import_credit_notes,
    import_invoices,
    import_payments,
    import_refunds,
    import_tax_rates,
)
from qbo_toolkit.work.store import WorkStore

D = Decimal


@pytest.fixture
def store() -> Iterator[WorkStore]:
    with WorkStore("sqlite://") as work:
        work.add_item("Hours", "service", D("75.00"))
        work.add_client(display_name="Cool Cars")
        work.add_client(display_name="Bay Bikes")
        work.add_client(display_name="Twin")
        work.add_client(display_name="Twin")
        work.add_tax_rate("CA sales tax", D("8.25"))
        yield work


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def where(report: ImportReport) -> list[tuple[int, str | None]]:
    return [(error.line, error.field) for error in report.errors]


def test_tax_rates(store: WorkStore, tmp_path: Path) -> None:
    report = import_tax_rates(store, write(tmp_path, "rates.csv", """\
name,rate,active
VAT 20%,20,true
VAT 5%,5.0,
CA sales tax,7,
VAT 20%,20,
Bad,eight,
Huge,120,
Esc\x1b,1,
"""))  # fmt: skip
    assert report.loaded == 2
    assert where(report) == [(4, "name"), (5, "name"), (6, "rate"), (7, "rate"), (8, "name")]
    assert "tax rate 'CA sales tax' already exists in WORK" in str(report.errors[0])
    assert "repeats line 2" in str(report.errors[1])
    assert "from 0 to 100" in str(report.errors[3])
    assert store.tax_rate_percents() == {"CA sales tax": D("8.25"), "VAT 20%": D("20"), "VAT 5%": D("5")}


def test_invoice_terms_and_line_tax_rates(store: WorkStore, tmp_path: Path) -> None:
    report = import_invoices(store, write(tmp_path, "invoices.csv", """\
number,client,issue_date,item,qty,unit_price,tax_rate,terms,tax_amount
I-1,Cool Cars,2026-03-02,Hours,2,,CA sales tax,Net 15,
I-1,,,,1,10.00,,,
I-2,Bay Bikes,2026-03-02,Hours,1,,VAT 99%,,
I-3,Bay Bikes,2026-03-02,Hours,1,,CA sales tax,,1.00
I-4,Bay Bikes,2026-03-02,Hours,1,,,Net 30,
I-4,Bay Bikes,2026-03-02,Hours,1,,,Net 60,
I-5,Bay Bikes,2026-03-02,Hours,1,100.00,,,7.25
"""))  # fmt: skip
    assert report.loaded == 2, report.errors
    assert where(report) == [(4, "tax_rate"), (5, "tax_amount"), (6, "number"), (7, "terms")]
    assert "'VAT 99%' is not a WORK tax rate" in str(report.errors[0])
    assert "1.00 differs from 6.19" in str(report.errors[1])
    one = store.invoice_by_number("I-1")
    assert one is not None and one.terms == "Net 15"
    assert [line.tax_rate for line in one.lines] == ["CA sales tax", ""]
    assert one.tax_amount == D("12.38") and one.total == D("172.38")  # 150.00 * 8.25 % = 12.375 -> 12.38
    five = store.invoice_by_number("I-5")
    assert five is not None and five.tax_amount == D("7.25") and five.terms == ""


def test_credit_notes_applications_and_payments_share_the_invoice(store: WorkStore, tmp_path: Path) -> None:
    client = store.clients()[0].id
    store.add_invoice("I-1", client, date(2026, 3, 2), lines=[{"unit_price": "100.00"}])
    notes = import_credit_notes(store, write(tmp_path, "credits.csv", """\
number,client,date,description,item,amount,tax_rate,tax_amount
CN-1,Cool Cars,2026-03-05,Returned part,Hours,40.00,CA sales tax,
CN-2,Cool Cars,2026-03-05,Goodwill,,25.00,,
CN-1,Cool Cars,2026-03-05,Again,,1.00,,
CN-3,Twin,2026-03-05,,,1.00,,
CN-4,Cool Cars,03/05/2026,,,1.00,,
CN-5,Cool Cars,2026-03-05,,Nails,1.00,,
CN-6,Cool Cars,2026-03-05,,,0,,
"""))  # fmt: skip
    assert notes.loaded == 2
    assert where(notes) == [(4, "number"), (5, "client"), (6, "date"), (7, "item"), (8, "amount")]
    assert "2 clients are called 'Twin'" in str(notes.errors[1])
    cn1 = store.credit_note_by_number("CN-1")
    assert cn1 is not None and cn1.total == D("43.30") and cn1.description == "Returned part"

    apps = import_credit_applications(store, write(tmp_path, "applications.csv", """\
credit_note_number,invoice_number,date,amount
CN-1,I-1,2026-03-06,43.30
CN-2,I-1,2026-03-06,30.00
CN-2,I-1,2026-03-04,5.00
CN-9,I-1,2026-03-06,1.00
CN-2,I-9,2026-03-06,1.00
CN-2,I-1,2026-03-06,20.00
"""))  # fmt: skip
    assert apps.loaded == 2
    assert where(apps) == [(3, "amount"), (4, "date"), (5, "credit_note_number"), (6, "invoice_number")]
    assert "more than its total 25.00" in str(apps.errors[0])
    assert store.credited_amounts() == {1: D("63.30")}

    pays = import_payments(store, write(tmp_path, "payments.csv", """\
invoice_number,date,amount
I-1,2026-03-07,36.70
I-1,2026-03-07,0.01
"""))  # fmt: skip
    assert pays.loaded == 1 and where(pays) == [(3, "amount")]
    assert "payments and applied credits on invoice 'I-1' to 100.01" in str(pays.errors[0])


def test_refunds(store: WorkStore, tmp_path: Path) -> None:
    report = import_refunds(store, write(tmp_path, "refunds.csv", """\
client,date,description,item,amount,tax_rate,tax_amount,method,reference
Bay Bikes,2026-03-09,Overcharge,Hours,20.00,CA sales tax,,Check,1001
Cool Cars,2026-03-09,Deposit back,,50.00,,,Cash,
Nobody,2026-03-09,,,1.00,,,,
Bay Bikes,2026-03-09,,,1.00,VAT,,,
Bay Bikes,2026-03-09,,,1.00,,,Ca\x00sh,
"""))  # fmt: skip
    assert report.loaded == 2
    assert where(report) == [(4, "client"), (5, "tax_rate"), (6, "method")]
    first, second = store.refunds()
    assert (first.total, first.method, first.reference) == (D("21.65"), "Check", "1001")
    assert second.total == D("50.00") and second.tax_amount == D("0.00")


def test_documented_columns_match_the_new_importers() -> None:
    from qbo_toolkit.work.csv_import import (
        CREDIT_APPLICATION_COLUMNS,
        CREDIT_NOTE_COLUMNS,
        REFUND_COLUMNS,
        TAX_RATE_COLUMNS,
    )

    doc = (Path(__file__).parents[2] / "docs" / "work-csv.md").read_text(encoding="utf-8")
    for column in (*TAX_RATE_COLUMNS, *CREDIT_NOTE_COLUMNS, *CREDIT_APPLICATION_COLUMNS, *REFUND_COLUMNS):
        assert f"`{column}`" in doc, column


def test_import_csv_logs_refused_rows_of_the_new_kinds_under_the_sync_entities(
        store: WorkStore, tmp_path: Path) -> None:
    from qbo_toolkit.sync.imports import import_csv

    path = write(tmp_path, "credits.csv", "number,client,date,amount\nCN-1,Cool Cars,2026-03-05,10.00\n"
                                          "CN-2,Nobody,2026-03-05,1.00\n")
    result = import_csv(store, "credit_notes", path, realm="4620816365000000001")
    assert result.report.loaded == 1 and result.run_id is not None
    from qbo_toolkit.sync.state import SyncState

    [entry] = [e for e in SyncState(store, "4620816365000000001").activity(run_id=result.run_id)
               if e.outcome == "failed"]
    assert (entry.entity, entry.field, entry.direction) == ("credit_note", "client", "from_file")
    assert "credits.csv line 3: client: no client is called 'Nobody'" in entry.message
