"""WORK schema version 3 (issue 13): tax rates, invoice terms and line tax rates, credit notes, credit
applications and refunds: the migration from version 2, the store's rules and its tracking."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect

from qbo_toolkit.errors import WorkDataError
from qbo_toolkit.work import schema
from qbo_toolkit.work.models import InvoiceLine, tax_on
from qbo_toolkit.work.store import WorkStore, validate_credit_note, validate_invoice, validate_refund

D = Decimal
T0 = datetime(2026, 1, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def store() -> Iterator[WorkStore]:
    with WorkStore("sqlite://", clock=Clock()) as work:
        yield work


@pytest.fixture
def ids(store: WorkStore) -> dict[str, int]:
    a = store.add_client(display_name="Ann Arbor Bakery")
    b = store.add_client(display_name="Bay Bikes")
    hours = store.add_item("Hours", "service", D("75.00"))
    store.add_tax_rate("CA sales tax", D("8.25"))
    store.add_tax_rate("Exempt", 0)
    return {"a": a.id, "b": b.id, "hours": hours.id}


def invoice(store: WorkStore, ids: dict[str, int], number: str = "W-1", **overrides: Any) -> Any:
    args: dict[str, Any] = {
        "number": number,
        "client_id": ids["a"],
        "issue_date": date(2026, 3, 2),
        "lines": [{"item_id": ids["hours"], "qty": 2, "unit_price": "75.00"}],
        "tax_amount": "0.00",
    }
    args.update(overrides)
    return store.add_invoice(**args)


# ---- migration -------------------------------------------------------------------------------


def test_a_version_2_database_gains_the_v3_columns_and_tables_with_its_rows_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v2.sqlite3'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        assert schema.migrate(conn, target=2) == 2
        assert "work_tax_rates" not in inspect(conn).get_table_names()
        assert "terms" not in {c["name"] for c in inspect(conn).get_columns("work_invoices")}
        conn.exec_driver_sql(
            "INSERT INTO work_clients (id, display_name, company_name, first_name, last_name, email, phone, mobile, "
            + ", ".join(f"{w}_{p}" for w in ("billing", "service")
                        for p in ("line1", "line2", "city", "state", "postal_code", "country"))
            + ", notes, active, version, revision, updated_at) VALUES (1, 'Old', '', '', '', '', '', '', "
            + ", ".join("''" for _ in range(12)) + ", '', 1, 1, 1, '2026-01-01 00:00:00')"
        )  # fmt: skip
        conn.exec_driver_sql(
            "INSERT INTO work_invoices (id, number, client_id, issue_date, status, tax_amount, total, deleted,"
            " version, revision, updated_at)"
            " VALUES (1, 'OLD-1', 1, '2026-01-05', 'open', 0, 5000, 0, 1, 2, '2026-01-01 00:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO work_invoice_lines (invoice_id, line_no, description, qty, unit_price, taxable)"
            " VALUES (1, 1, 'Old work', 10000, 5000, 0)"
        )
        conn.exec_driver_sql("UPDATE work_revision_counter SET value = 2")
    engine.dispose()

    with WorkStore(url) as work:
        assert work.schema_version() == 3
        names = set(inspect(work.engine).get_table_names())
        assert {"work_tax_rates", "work_credit_notes", "work_credit_applications", "work_refunds"} <= names
        [old] = work.invoices()
        assert old.number == "OLD-1" and old.terms == "" and old.lines[0].tax_rate == ""
        assert old.total == D("50.00")
        changed = work.update_invoice(old.id, terms="Net 15")
        assert changed.terms == "Net 15" and changed.version == 2
        assert work.get_invoice(old.id).terms == "Net 15"  # type: ignore[union-attr]


def test_a_fresh_database_is_version_1_then_the_steps_so_version_1_has_no_v3_column(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'v1.sqlite3'}")
    with engine.begin() as conn:
        schema.migrate(conn, target=1)
        assert "tax_rate" not in {c["name"] for c in inspect(conn).get_columns("work_invoice_lines")}
        schema.migrate(conn)
        assert "tax_rate" in {c["name"] for c in inspect(conn).get_columns("work_invoice_lines")}
    engine.dispose()


# ---- tax rates and invoice tax ----------------------------------------------------------------


def test_tax_rates_are_named_percents(store: WorkStore, ids: dict[str, int]) -> None:
    rate = store.tax_rate_by_name("CA sales tax")
    assert rate is not None and rate.rate == D("8.25") and rate.active
    assert store.tax_rate_percents() == {"CA sales tax": D("8.25"), "Exempt": D("0")}
    with pytest.raises(WorkDataError, match=r"tax rate 'CA sales tax'.*already used"):
        store.add_tax_rate("CA sales tax", 7)
    with pytest.raises(WorkDataError, match=r"rate must be a percent from 0 to 100"):
        store.add_tax_rate("Too much", 101)
    with pytest.raises(WorkDataError, match=r"more than 4 decimal places"):
        store.add_tax_rate("Fine", "8.12345")
    with pytest.raises(WorkDataError, match=r"name.*control character|name.*escape"):
        store.add_tax_rate("VAT\x1b", 20)
    assert store.update_tax_rate(rate.id, rate="8.5").rate == D("8.5")


def test_invoice_tax_is_computed_per_rate_on_the_sum_of_its_lines(store: WorkStore, ids: dict[str, int]) -> None:
    lines = [
        {"description": "a", "qty": 1, "unit_price": "10.05", "tax_rate": "CA sales tax"},
        {"description": "b", "qty": 1, "unit_price": "10.05", "tax_rate": "CA sales tax"},
        {"description": "c", "qty": 1, "unit_price": "30.00", "tax_rate": "Exempt", "taxable": True},
        {"description": "d", "qty": 1, "unit_price": "5.00"},
    ]
    inv = store.add_invoice("T-1", ids["a"], date(2026, 3, 2), lines=lines, terms="Net 15")
    # 20.10 * 8.25 % = 1.65825 -> 1.66 (line by line would be 0.83 + 0.83 = 1.66 too; see below)
    assert inv.tax_amount == tax_on(D("20.10"), D("8.25")) == D("1.66")
    assert inv.total == D("55.10") + D("1.66")
    assert [line.taxable for line in inv.lines] == [True, True, False, False]  # the flag follows the rate
    assert inv.terms == "Net 15" and inv.lines[0].tax_rate == "CA sales tax"
    assert store.get_invoice(inv.id) == inv
    # per rate, not per line: three lines of 0.10 at 8.25 % -> 0.0248 (0.02), not 3 x 0.01
    small = [{"description": "x", "qty": 1, "unit_price": "0.10", "tax_rate": "CA sales tax"}] * 3
    assert store.add_invoice("T-2", ids["a"], date(2026, 3, 2), lines=small).tax_amount == D("0.02")


def test_a_given_tax_must_agree_with_the_rates_and_unknown_rates_are_named(
    store: WorkStore, ids: dict[str, int]
) -> None:
    lines = [{"description": "a", "qty": 1, "unit_price": "100.00", "tax_rate": "CA sales tax"}]
    assert store.add_invoice("T-1", ids["a"], date(2026, 3, 2), lines=lines, tax_amount="8.25").total == D("108.25")
    with pytest.raises(WorkDataError, match=r"new invoice 'T-2': tax_amount 9.00 differs from 8.25"):
        store.add_invoice("T-2", ids["a"], date(2026, 3, 2), lines=lines, tax_amount="9.00")
    bad = [{"description": "a", "qty": 1, "unit_price": "1.00", "tax_rate": "VAT 20%"}]
    with pytest.raises(WorkDataError, match=r"lines\[0\].tax_rate 'VAT 20%' is not a WORK tax rate"):
        store.add_invoice("T-3", ids["a"], date(2026, 3, 2), lines=bad)
    assert validate_invoice(
        {"number": "T-4", "client_id": 1, "issue_date": date(2026, 3, 2), "lines": lines},
        rates={"CA sales tax": D("8.25")},
    ) == D("108.25")


def test_updating_rated_lines_recomputes_the_tax_and_a_lone_tax_change_is_refused(
    store: WorkStore, ids: dict[str, int]
) -> None:
    lines = [{"description": "a", "qty": 1, "unit_price": "100.00", "tax_rate": "CA sales tax"}]
    inv = store.add_invoice("T-1", ids["a"], date(2026, 3, 2), lines=lines)
    more = [{**lines[0], "unit_price": "200.00"}]
    assert store.update_invoice(inv.id, lines=more).tax_amount == D("16.50")
    with pytest.raises(WorkDataError, match=r"tax_amount is computed from the lines' tax rates"):
        store.update_invoice(inv.id, tax_amount="1.00")
    assert store.update_invoice(inv.id, tax_amount="16.50").version == 2  # the same amount: no change
    plain = store.update_invoice(inv.id, lines=[{"description": "a", "qty": 1, "unit_price": "200.00"}])
    assert plain.tax_amount == D("0.00") and plain.total == D("200.00")  # no rates left: no computed tax


def test_explicit_us_tax_without_rates_is_unchanged(store: WorkStore, ids: dict[str, int]) -> None:
    inv = invoice(store, ids, lines=[{"qty": 1, "unit_price": "100.00", "taxable": True}], tax_amount="7.25")
    assert inv.tax_amount == D("7.25") and inv.total == D("107.25") and inv.lines[0].tax_rate == ""
    assert store.add_invoice("T-9", ids["a"], date(2026, 3, 2), lines=[{"unit_price": "1.00"}]).tax_amount == D("0.00")


def test_a_used_tax_rate_keeps_its_name(store: WorkStore, ids: dict[str, int]) -> None:
    store.add_refund(ids["a"], date(2026, 3, 3), "10.00", tax_rate="Exempt")
    rate = store.tax_rate_by_name("Exempt")
    assert rate is not None
    with pytest.raises(WorkDataError, match=r"tax rate .*: name cannot change: refunds use 'Exempt'"):
        store.update_tax_rate(rate.id, name="Zero")


def test_line_tax_rate_and_terms_refuse_control_characters(store: WorkStore, ids: dict[str, int]) -> None:
    with pytest.raises(WorkDataError, match=r"lines\[0\].tax_rate"):
        invoice(store, ids, lines=[{"unit_price": "1.00", "tax_rate": "CA\x00"}])
    with pytest.raises(WorkDataError, match=r"new invoice 'W-1': terms"):
        invoice(store, ids, terms="Net\x0715")
    with pytest.raises(TypeError, match=r"unknown invoice field"):
        store.update_invoice(invoice(store, ids).id, term="Net 15")


def test_invoice_line_dataclass_carries_the_rate(store: WorkStore, ids: dict[str, int]) -> None:
    line = InvoiceLine(1, ids["hours"], "Labor", D(1), D("100.00"), False, "CA sales tax")
    inv = store.add_invoice("T-1", ids["a"], date(2026, 3, 2), lines=[line])
    assert inv.lines[0].taxable and inv.tax_amount == D("8.25")


# ---- credit notes and applications -----------------------------------------------------------


def test_credit_note_tax_total_tracking_and_unique_number(store: WorkStore, ids: dict[str, int]) -> None:
    before = store.max_revision()
    note = store.add_credit_note("CN-1", ids["a"], date(2026, 3, 5), "40.00", "Returned part", ids["hours"],
                                 tax_rate="CA sales tax")  # fmt: skip
    assert (note.amount, note.tax_amount, note.total) == (D("40.00"), D("3.30"), D("43.30"))
    assert note.version == 1 and note.revision == before + 1 and not note.deleted
    assert store.get_credit_note(note.id) == note == store.credit_note_by_number("CN-1")
    plain = store.add_credit_note("CN-2", ids["a"], date(2026, 3, 5), "10.00", tax_amount="0.73")
    assert plain.total == D("10.73")
    with pytest.raises(WorkDataError, match=r"new credit note 'CN-1': number 'CN-1' is already used"):
        store.add_credit_note("CN-1", ids["b"], date(2026, 3, 5), "1.00")
    with pytest.raises(WorkDataError, match=r"amount must be more than zero"):
        store.add_credit_note("CN-3", ids["a"], date(2026, 3, 5), "0")
    with pytest.raises(WorkDataError, match=r"client_id 999 is not a WORK client"):
        store.add_credit_note("CN-3", 999, date(2026, 3, 5), "1.00")
    with pytest.raises(WorkDataError, match=r"description"):
        store.add_credit_note("CN-3", ids["a"], date(2026, 3, 5), "1.00", "bad\x1b[0m")
    updated = store.update_credit_note(note.id, amount="100.00")
    assert (updated.tax_amount, updated.total, updated.version) == (D("8.25"), D("108.25"), 2)
    assert [n.id for n in store.changed_credit_notes(note.revision)] == [plain.id, note.id]
    assert validate_credit_note({"number": "X", "client_id": 1, "date": date(2026, 3, 1), "amount": "5"}) == D("5.00")


def test_applications_reduce_the_invoice_and_the_note_within_their_limits(
    store: WorkStore, ids: dict[str, int]
) -> None:
    inv = invoice(store, ids)  # 150.00
    note = store.add_credit_note("CN-1", ids["a"], date(2026, 3, 5), "100.00")
    app = store.add_credit_application(note.id, inv.id, date(2026, 3, 6), "60.00")
    assert store.credited_amounts() == {inv.id: D("60.00")}
    assert store.applied_amounts([note.id]) == {note.id: D("60.00")}
    with pytest.raises(WorkDataError, match=r"would apply 110.00 of credit note CN-1, more than its total 100.00"):
        store.add_credit_application(note.id, inv.id, date(2026, 3, 6), "50.00")
    store.add_payment(inv.id, date(2026, 3, 7), "80.00")
    with pytest.raises(WorkDataError, match=r"payments and applied credits to 150.01, more than the invoice total"):
        store.add_payment(inv.id, date(2026, 3, 7), "10.01")
    with pytest.raises(WorkDataError, match=r"on invoice W-1 to 150.01, more than its total 150.00"):
        store.add_credit_application(note.id, inv.id, date(2026, 3, 6), "10.01")
    store.delete_payment(store.payments()[0].id)
    with pytest.raises(WorkDataError, match=r"has 60.00 of credit notes applied"):
        store.delete_invoice(inv.id)
    with pytest.raises(WorkDataError, match=r"status cannot be void: 60.00 of credit notes"):
        store.void_invoice(inv.id)
    with pytest.raises(WorkDataError, match=r"has 60.00 applied to invoices"):
        store.delete_credit_note(note.id)
    with pytest.raises(WorkDataError, match=r"total 50.00 would be less than the 60.00 already applied"):
        store.update_credit_note(note.id, amount="50.00")
    moved = store.update_credit_application(app.id, amount="70.00")
    assert moved.version == 2 and store.credited_amounts([inv.id]) == {inv.id: D("70.00")}
    gone = store.delete_credit_application(app.id)
    assert gone.deleted and gone.version == 3 and store.credited_amounts() == {}
    assert [a.id for a in store.changed_credit_applications(app.revision)] == [app.id]
    assert store.credit_applications() == [] and len(store.credit_applications(include_deleted=True)) == 1
    assert store.delete_credit_note(note.id).deleted


def test_an_application_stays_within_one_client_and_after_the_note(store: WorkStore, ids: dict[str, int]) -> None:
    inv = invoice(store, ids)
    other = store.add_credit_note("CN-B", ids["b"], date(2026, 3, 5), "10.00")
    with pytest.raises(WorkDataError, match=r"invoice W-1 belongs to another client than credit note CN-B"):
        store.add_credit_application(other.id, inv.id, date(2026, 3, 6), "5.00")
    mine = store.add_credit_note("CN-A", ids["a"], date(2026, 3, 5), "10.00")
    with pytest.raises(WorkDataError, match=r"date 2026-03-04 is before credit note CN-A's date 2026-03-05"):
        store.add_credit_application(mine.id, inv.id, date(2026, 3, 4), "5.00")
    store.void_invoice(invoice(store, ids, "W-2").id)
    with pytest.raises(WorkDataError, match=r"invoice W-2 is void"):
        store.add_credit_application(mine.id, store.invoice_by_number("W-2").id, date(2026, 3, 6), "1.00")  # type: ignore[union-attr]
    with pytest.raises(WorkDataError, match=r"credit_note_id 999 is not a WORK credit note"):
        store.add_credit_application(999, inv.id, date(2026, 3, 6), "1.00")


# ---- refunds ---------------------------------------------------------------------------------


def test_refunds_are_tracked_with_tax_and_soft_deleted(store: WorkStore, ids: dict[str, int]) -> None:
    refund = store.add_refund(ids["b"], date(2026, 3, 9), "20.00", "Overcharge", ids["hours"],
                              tax_rate="CA sales tax", method="Check", reference="1001")  # fmt: skip
    assert (refund.tax_amount, refund.total, refund.method) == (D("1.65"), D("21.65"), "Check")
    assert store.refunds(client_id=ids["b"]) == [refund]
    changed = store.update_refund(refund.id, tax_rate="", tax_amount="2.00")
    assert (changed.tax_amount, changed.total, changed.version) == (D("2.00"), D("22.00"), 2)
    gone = store.delete_refund(refund.id)
    assert gone.deleted and gone.version == 3 and store.refunds() == []
    assert store.delete_refund(refund.id) == gone
    with pytest.raises(WorkDataError, match=r"refund .*: is deleted and cannot be changed"):
        store.update_refund(refund.id, amount="1.00")
    with pytest.raises(WorkDataError, match=r"new refund to client .*: method"):
        store.add_refund(ids["b"], date(2026, 3, 9), "1.00", method="Cash\x00")
    assert [r.id for r in store.changed_refunds(0)] == [refund.id]
    assert validate_refund({"client_id": 1, "date": date(2026, 3, 1), "amount": "5"}, rates={}) == D("5.00")
