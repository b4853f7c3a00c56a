"""The WORK store (qbo_toolkit.work.store, qbo_toolkit.work.schema): schema, money, tracking, rules."""

from __future__ import annotations

import os
import stat
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, event, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SAWarning

from qbo_toolkit.errors import ConfigError, WorkDataError
from qbo_toolkit.paths import toolkit_home
from qbo_toolkit.work import schema
from qbo_toolkit.work.models import Address, Company, InvoiceLine
from qbo_toolkit.work.store import WorkStore

T0 = datetime(2026, 1, 2, 9, 0, tzinfo=UTC)


class Clock:
    """A clock that ticks one second per call, so updated_at changes are visible and exact."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> Iterator[WorkStore]:
    with WorkStore("sqlite://", clock=clock) as work:
        yield work


@pytest.fixture
def ready(store: WorkStore) -> dict[str, int]:
    """A client, two items and nothing else: ids by role."""
    client = store.add_client(display_name="Cool Cars")
    hours = store.add_item("Hours", "service", Decimal("75.00"))
    parts = store.add_item("Parts", "product", Decimal("0.00"))
    return {"client": client.id, "hours": hours.id, "parts": parts.id}


def add_invoice(store: WorkStore, ready: dict[str, int], number: str = "W-1", **overrides: Any) -> Any:
    args: dict[str, Any] = {
        "number": number,
        "client_id": ready["client"],
        "issue_date": date(2026, 1, 5),
        "due_date": date(2026, 2, 4),
        "lines": [{"item_id": ready["hours"], "description": "Labor", "qty": 2, "unit_price": "75.00"}],
    }
    args.update(overrides)
    return store.add_invoice(**args)


# --------------------------------------------------------------------------------------------
# Schema and migrations
# --------------------------------------------------------------------------------------------


def test_fresh_store_is_at_the_latest_version_with_work_tables(store: WorkStore) -> None:
    assert store.schema_version() == schema.latest_version() == 3
    names = set(inspect(store.engine).get_table_names())
    assert {table.name for table in store.metadata.sorted_tables} <= names
    assert all(name.startswith("work_") for name in store.metadata.tables)
    assert store.max_revision() == 0


def test_migrate_is_idempotent(store: WorkStore) -> None:
    assert store.migrate() == 3
    assert store.migrate() == 3
    with store.engine.connect() as conn:
        versions = conn.execute(select(schema.schema_version.c.version)).scalars().all()
    assert versions == [1, 2, 3]


def test_a_version_1_database_is_upgraded_by_the_later_step(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        assert schema.migrate(conn, target=1) == 1
        conn.execute(
            schema.clients.insert().values(
                display_name="From v1", version=1, revision=1, updated_at=T0, **dict.fromkeys(_TEXT, "")
            )
        )
        conn.execute(schema.revision_counter.update().values(value=1))
    indexes = {index["name"] for index in inspect(engine).get_indexes("work_clients")}
    assert "ix_work_clients_revision" not in indexes
    engine.dispose()

    with WorkStore(url) as work:
        assert work.schema_version() == 3
        indexes = {index["name"] for index in inspect(work.engine).get_indexes("work_clients")}
        assert "ix_work_clients_revision" in indexes
        [client] = work.clients()
        assert client.display_name == "From v1"
        assert work.add_client(display_name="After v2").revision == 2


_TEXT = [name for name in schema.clients.c.keys() if name.startswith(("company", "first", "last", "email", "phone",
                                                                       "mobile", "billing", "service", "notes"))]


def test_a_failing_step_leaves_the_database_at_its_previous_version(store: WorkStore) -> None:
    def boom(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE work_half_done (id INTEGER)"))
        raise RuntimeError("step 4 failed")

    steps = [*schema.MIGRATIONS, schema.Migration(4, "fails halfway", boom)]
    with pytest.raises(RuntimeError, match="step 4"), store.begin() as conn:
        schema.migrate(conn, steps=steps)
    assert store.schema_version() == 3
    assert "work_half_done" not in inspect(store.engine).get_table_names()  # DDL rolled back too


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    with WorkStore(url) as work, work.begin() as conn:
        conn.execute(schema.schema_version.insert().values(version=99, description="future", applied_at=T0))
    with pytest.raises(ConfigError, match="schema version 99"):
        WorkStore(url)


def test_default_location_wal_and_foreign_keys() -> None:
    with WorkStore() as work:
        assert Path(work.url.database or "") == toolkit_home() / "work.sqlite3"
        assert (toolkit_home() / "work.sqlite3").exists()
        with work.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_repr_and_errors_never_show_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        WorkStore("postgresql://sync:s3cret-pw@127.0.0.1:1/work")
    assert "s3cret-pw" not in str(caught.value)
    assert "***" in str(caught.value)
    with WorkStore("sqlite://") as work:
        assert repr(work) == "WorkStore('sqlite://')"


def test_an_unopenable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open"):
        WorkStore(f"sqlite:///{tmp_path / 'missing-dir' / 'work.sqlite3'}")


# --------------------------------------------------------------------------------------------
# Money, quantities and dates
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["0.10", "0.01", "1234567.89", "99999999999999.99", "0.00", "5"])
def test_money_round_trips_exactly_to_the_cent(store: WorkStore, amount: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", SAWarning)  # SQLite's lossy Numeric would warn here
        item = store.add_item(f"Item {amount}", rate=Decimal(amount))
        again = store.get_item(item.id)
    assert again is not None
    assert again.rate == Decimal(amount)
    assert str(again.rate) == str(Decimal(amount).quantize(Decimal("0.01")))
    assert type(again.rate) is Decimal


def test_money_is_stored_as_integer_cents_on_sqlite(store: WorkStore) -> None:
    store.add_item("Dime", rate=Decimal("0.10"))
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT rate, typeof(rate) FROM work_items").one() == (10, "integer")


def test_sums_of_cents_stay_exact(store: WorkStore, ready: dict[str, int]) -> None:
    invoice = add_invoice(store, ready, lines=[{"description": "x", "qty": 1, "unit_price": "0.10"}])
    for _ in range(10):
        store.add_payment(invoice.id, date(2026, 1, 6), Decimal("0.01"))
    assert store.paid_amounts() == {invoice.id: Decimal("0.10")}
    assert sum(payment.amount for payment in store.payments()) == Decimal("0.10")


def test_floats_are_taken_by_their_shortest_repr(store: WorkStore) -> None:
    assert store.add_item("A", rate=0.1).rate == Decimal("0.10")
    with pytest.raises(WorkDataError) as caught:
        store.add_item("B", rate=0.1 + 0.2)  # 0.30000000000000004
    assert caught.value.field == "rate"


def test_fractions_of_a_cent_are_refused_not_rounded(store: WorkStore, ready: dict[str, int]) -> None:
    with pytest.raises(WorkDataError, match="whole number of cents") as caught:
        add_invoice(store, ready, lines=[{"description": "x", "qty": 1, "unit_price": "10.005"}])
    assert caught.value.field == "lines[0].unit_price"
    with pytest.raises(WorkDataError) as caught:
        add_invoice(store, ready, tax_amount="1.001")
    assert caught.value.field == "tax_amount"


def test_quantities_keep_four_places_and_come_back_trimmed(store: WorkStore, ready: dict[str, int]) -> None:
    lines = [
        {"description": "a", "qty": "1.5000", "unit_price": "10.00"},
        {"description": "b", "qty": "0.2500", "unit_price": "10.00"},
        {"description": "c", "qty": 3, "unit_price": "10.00"},
    ]
    invoice = add_invoice(store, ready, lines=lines)
    stored = store.get_invoice(invoice.id)
    assert stored is not None
    assert [str(line.qty) for line in stored.lines] == ["1.5", "0.25", "3"]
    assert stored.lines == invoice.lines
    with pytest.raises(WorkDataError, match="4 decimal places") as caught:
        add_invoice(store, ready, "W-2", lines=[{"description": "x", "qty": "0.33333", "unit_price": "1.00"}])
    assert caught.value.field == "lines[0].qty"


def test_total_is_subtotal_plus_tax_with_half_up_line_rounding(store: WorkStore, ready: dict[str, int]) -> None:
    lines = [
        InvoiceLine(1, ready["hours"], "Labor", Decimal("1.25"), Decimal("75.00")),  # 93.75
        {"item_id": ready["parts"], "description": "Valve", "qty": "3", "unit_price": "0.35", "taxable": True},
        {"description": "Odd", "qty": "0.5", "unit_price": "0.05"},  # 0.025 -> 0.03
    ]
    invoice = add_invoice(store, ready, lines=lines, tax_amount=Decimal("0.08"))
    assert invoice.subtotal == Decimal("94.83")
    assert invoice.total == Decimal("94.91")
    assert [line.line_no for line in invoice.lines] == [1, 2, 3]
    assert store.get_invoice(invoice.id) == invoice


def test_dates_round_trip_and_datetimes_are_refused(store: WorkStore, ready: dict[str, int]) -> None:
    invoice = add_invoice(store, ready, due_date=None)
    stored = store.get_invoice(invoice.id)
    assert stored is not None and stored.issue_date == date(2026, 1, 5) and stored.due_date is None
    with pytest.raises(WorkDataError) as caught:
        add_invoice(store, ready, "W-2", issue_date=datetime(2026, 1, 5, tzinfo=UTC))
    assert caught.value.field == "issue_date"


# --------------------------------------------------------------------------------------------
# Version, revision, updated_at
# --------------------------------------------------------------------------------------------


def test_add_and_update_track_version_revision_and_updated_at(store: WorkStore) -> None:
    client = store.add_client(display_name="Amy's Bird Sanctuary", email="Birds@Intuit.com")
    assert (client.version, client.revision, client.updated_at) == (1, 1, T0 + timedelta(seconds=1))
    item = store.add_item("Hours", rate="75.00")
    assert item.revision == 2

    changed = store.update_client(client.id, phone="(650) 555-3311")
    assert (changed.version, changed.revision, changed.updated_at) == (2, 3, T0 + timedelta(seconds=3))
    assert changed.phone == "(650) 555-3311" and changed.email == "Birds@Intuit.com"
    assert store.get_client(client.id) == changed
    assert changed.updated_at.tzinfo is UTC
    assert store.max_revision() == 3


def test_an_update_that_changes_nothing_writes_nothing(store: WorkStore, ready: dict[str, int]) -> None:
    client = store.update_client(ready["client"], email="cars@example.com")
    before = store.max_revision()
    assert store.update_client(client.id, email="cars@example.com") == client
    assert store.update_client(client.id) == client
    assert store.update_item(ready["hours"], rate=Decimal("75")) == store.get_item(ready["hours"])
    invoice = add_invoice(store, ready)
    before = store.max_revision()
    same_lines = [InvoiceLine(9, ready["hours"], "Labor", Decimal(2), Decimal("75.00"))]
    assert store.update_invoice(invoice.id, lines=same_lines, tax_amount="0.00") == invoice
    assert store.max_revision() == before


def test_nested_and_flat_address_fields(store: WorkStore) -> None:
    billing = Address("51 Pine St.", city="Truckee", postal_code="96161")
    client = store.add_client(display_name="Sierra", billing=billing)
    assert client.billing == Address("51 Pine St.", "", "Truckee", "", "96161", "")
    moved = store.update_client(client.id, billing_state="CA")
    assert moved.billing.state == "CA" and moved.billing.city == "Truckee"
    cleared = store.update_client(client.id, billing=None)
    assert cleared.billing.empty
    with pytest.raises(TypeError, match="not both"):
        store.update_client(client.id, billing=Address(), billing_city="X")


def test_changed_since_a_revision(store: WorkStore, ready: dict[str, int]) -> None:
    mark = store.max_revision()
    other = store.add_client(display_name="Dukes Basketball Camp")
    store.update_client(ready["client"], notes="moved")
    invoice = add_invoice(store, ready)
    payment = store.add_payment(invoice.id, date(2026, 1, 9), "10.00")
    store.delete_payment(payment.id)
    store.update_item(ready["hours"], rate="80.00")

    assert [client.id for client in store.changed_clients(mark)] == [other.id, ready["client"]]
    assert [inv.id for inv in store.changed_invoices(mark)] == [invoice.id]
    [deleted] = store.changed_payments(mark)
    assert deleted.deleted and deleted.version == 2
    assert [item.id for item in store.changed_items(mark)] == [ready["hours"]]
    assert store.changed_clients(store.max_revision()) == []
    revisions = [row.revision for row in store.changed_clients(0)]
    assert revisions == sorted(revisions)


# --------------------------------------------------------------------------------------------
# Soft deletes, void, payments
# --------------------------------------------------------------------------------------------


def test_soft_deleted_payments_and_invoices(store: WorkStore, ready: dict[str, int]) -> None:
    invoice = add_invoice(store, ready)
    payment = store.add_payment(invoice.id, date(2026, 1, 9), "50.00", "check", "1042")
    with pytest.raises(WorkDataError, match="delete them before"):
        store.delete_invoice(invoice.id)

    gone = store.delete_payment(payment.id)
    assert gone.deleted and gone.version == 2 and gone.revision > payment.revision
    assert store.delete_payment(payment.id) == gone  # no-op
    assert store.payments() == []
    assert store.payments(include_deleted=True) == [gone]
    assert store.get_payment(payment.id) == gone
    with pytest.raises(WorkDataError, match="deleted"):
        store.update_payment(payment.id, amount="10.00")

    deleted = store.delete_invoice(invoice.id)
    assert deleted.deleted and deleted.version == 2
    assert store.invoices() == []
    assert store.invoices(include_deleted=True) == [deleted]
    assert store.changed_invoices(invoice.revision) == [deleted]
    with pytest.raises(WorkDataError, match="deleted"):
        store.update_invoice(invoice.id, tax_amount="1.00")
    with pytest.raises(WorkDataError, match="already used"):
        add_invoice(store, ready)  # a deleted invoice keeps its number


def test_void_invoices(store: WorkStore, ready: dict[str, int]) -> None:
    paid = add_invoice(store, ready, "W-1")
    store.add_payment(paid.id, date(2026, 1, 9), "10.00")
    with pytest.raises(WorkDataError) as caught:
        store.void_invoice(paid.id)
    assert caught.value.field == "status"

    invoice = add_invoice(store, ready, "W-2")
    void = store.void_invoice(invoice.id)
    assert void.status == "void" and void.version == 2 and void.lines == invoice.lines
    assert store.void_invoice(invoice.id) == void
    with pytest.raises(WorkDataError, match="void"):
        store.update_invoice(invoice.id, status="open")
    with pytest.raises(WorkDataError) as caught:
        store.add_payment(invoice.id, date(2026, 1, 9), "1.00")
    assert caught.value.field == "invoice_id"
    assert [inv.number for inv in store.invoices(status="void")] == ["W-2"]


def test_payments_never_exceed_the_total(store: WorkStore, ready: dict[str, int]) -> None:
    invoice = add_invoice(store, ready)  # 150.00
    first = store.add_payment(invoice.id, date(2026, 1, 9), "100.00")
    with pytest.raises(WorkDataError, match="more than the invoice total") as caught:
        store.add_payment(invoice.id, date(2026, 1, 9), "50.01")
    assert caught.value.field == "amount"
    store.add_payment(invoice.id, date(2026, 1, 10), "50.00")
    with pytest.raises(WorkDataError):
        store.update_payment(first.id, amount="100.01")
    assert store.update_payment(first.id, amount="99.99").version == 2
    with pytest.raises(WorkDataError) as caught:
        store.update_invoice(invoice.id, lines=[{"description": "less", "unit_price": "100.00"}])
    assert caught.value.field == "total"
    for amount in ("0", "-5.00"):
        with pytest.raises(WorkDataError) as caught:
            store.add_payment(invoice.id, date(2026, 1, 9), amount)
        assert caught.value.field == "amount"


def test_update_invoice_replaces_lines_and_recomputes(store: WorkStore, ready: dict[str, int]) -> None:
    invoice = add_invoice(store, ready)
    changed = store.update_invoice(
        invoice.id,
        lines=[
            {"item_id": ready["parts"], "description": "Valve", "qty": 2, "unit_price": "12.50", "taxable": True},
            {"description": "Discount", "qty": -1, "unit_price": "5.00"},
        ],
        tax_amount="1.81",
    )
    assert changed.version == 2 and changed.total == Decimal("21.81")
    assert [(line.line_no, line.description) for line in changed.lines] == [(1, "Valve"), (2, "Discount")]
    assert store.get_invoice(invoice.id) == changed
    assert store.invoice_by_number("W-1") == changed


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s, r: s.add_client(display_name="   "), "display_name"),
        (lambda s, r: s.add_client(email="x@example.com"), "display_name"),
        (lambda s, r: s.add_client(display_name="X", active="yes"), "active"),
        (lambda s, r: s.add_client(display_name="X", phone=5551234), "phone"),
        (lambda s, r: s.add_client(display_name="X", parent_id=999), "parent_id"),
        (lambda s, r: s.update_client(r["client"], parent_id=r["client"]), "parent_id"),
        (lambda s, r: s.add_item("Hours"), "name"),
        (lambda s, r: s.add_item("Widget", "inventory"), "type"),
        (lambda s, r: s.add_item("Widget", rate="-1.00"), "rate"),
        (lambda s, r: add_invoice(s, r, client_id=999), "client_id"),
        (lambda s, r: add_invoice(s, r, number=" W-1"), "number"),
        (lambda s, r: add_invoice(s, r, number=""), "number"),
        (lambda s, r: add_invoice(s, r, status="paid"), "status"),
        (lambda s, r: add_invoice(s, r, due_date=date(2026, 1, 1)), "due_date"),
        (lambda s, r: add_invoice(s, r, lines=[]), "lines"),
        (lambda s, r: add_invoice(s, r, lines=[{"description": "x"}]), "lines[0].unit_price"),
        (lambda s, r: add_invoice(s, r, lines=[{"item_id": 999, "unit_price": "1.00"}]), "lines[0].item_id"),
        (lambda s, r: add_invoice(s, r, lines=[{"qty": -2, "unit_price": "1.00"}]), "lines"),
        (lambda s, r: add_invoice(s, r, tax_amount="-0.01"), "tax_amount"),
        (lambda s, r: s.add_payment(999, date(2026, 1, 1), "1.00"), "invoice_id"),
        (lambda s, r: s.update_client(999, notes="x"), None),
    ],
)
def test_validation_errors_name_the_record_and_field(
    store: WorkStore, ready: dict[str, int], call: Callable[[WorkStore, dict[str, int]], Any], field: str | None
) -> None:
    before = store.max_revision()
    with pytest.raises(WorkDataError) as caught:
        call(store, ready)
    assert caught.value.field == field
    assert any(word in caught.value.message for word in ("client", "item", "invoice", "payment"))
    assert store.max_revision() == before


def test_a_client_cannot_become_its_own_ancestor(store: WorkStore) -> None:
    parent = store.add_client(display_name="Pacific Property Management")
    site = store.add_client(display_name="Elm Street Site", parent_id=parent.id)
    assert site.parent_id == parent.id
    with pytest.raises(WorkDataError, match="ancestor") as caught:
        store.update_client(parent.id, parent_id=site.id)
    assert caught.value.record_id == parent.id


def test_duplicate_names_are_allowed_but_numbers_are_unique(store: WorkStore, ready: dict[str, int]) -> None:
    twin = store.add_client(display_name="Cool Cars")
    assert twin.id != ready["client"]
    assert store.client_ids_by_name(["Cool Cars", "Nobody"]) == {"Cool Cars": [ready["client"], twin.id]}
    add_invoice(store, ready)
    with pytest.raises(WorkDataError, match="already used") as caught:
        add_invoice(store, ready)
    assert caught.value.field == "number"


def test_unknown_fields_are_type_errors(store: WorkStore, ready: dict[str, int]) -> None:
    with pytest.raises(TypeError, match="emial"):
        store.add_client(display_name="X", emial="x@example.com")
    with pytest.raises(TypeError, match="managed by the store"):
        store.update_client(ready["client"], version=7)
    with pytest.raises(TypeError, match="amount"):
        add_invoice(store, ready, lines=[{"unit_price": "1.00", "amount": "1.00"}])


def test_company_round_trip(store: WorkStore) -> None:
    assert store.company() is None
    company = Company("Larkspur Field Services", default_state="CA")
    assert store.set_company(company) == company
    assert store.company() == company
    assert store.set_company(replace(company, default_state="NV")).default_state == "NV"
    with pytest.raises(WorkDataError) as caught:
        store.set_company(Company("X", time_zone="Mars/Olympus_Mons"))
    assert caught.value.field == "time_zone"


# --------------------------------------------------------------------------------------------
# Transactions
# --------------------------------------------------------------------------------------------


def test_begin_rolls_back_work_rows_and_the_callers_own_tables(store: WorkStore, ready: dict[str, int]) -> None:
    own = MetaData()
    id_map = Table("sync_id_map", own, Column("work_id", Integer), Column("qbo_id", String))
    own.create_all(store.engine)
    before = store.max_revision()

    with pytest.raises(RuntimeError, match="QBO said no"), store.begin() as conn:
        client = store.add_client(display_name="Rolled back", conn=conn)
        conn.execute(id_map.insert().values(work_id=client.id, qbo_id="58"))
        add_invoice(store, ready, conn=conn)
        raise RuntimeError("QBO said no")

    assert [client.display_name for client in store.clients()] == ["Cool Cars"]
    assert store.invoices(include_deleted=True) == []
    assert store.max_revision() == before
    with store.engine.connect() as conn:
        assert conn.execute(select(id_map)).all() == []

    with store.begin() as conn:
        client = store.add_client(display_name="Kept", conn=conn)
        conn.execute(id_map.insert().values(work_id=client.id, qbo_id="59"))
    with store.engine.connect() as conn:
        assert conn.execute(select(id_map.c.qbo_id)).scalars().all() == ["59"]
    assert store.get_client(client.id) is not None


def test_two_stores_on_one_file_share_one_revision_counter(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    with WorkStore(url) as one, WorkStore(url) as two:
        errors: list[BaseException] = []

        def write(work: WorkStore, prefix: str) -> None:
            try:
                for i in range(25):
                    work.add_client(display_name=f"{prefix} {i}")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(work, name)) for work, name in ((one, "A"), (two, "B"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        revisions = [client.revision for client in one.clients()]
        assert sorted(revisions) == list(range(1, 51))


def test_a_memory_store_is_the_same_database_in_every_thread() -> None:
    with WorkStore("sqlite://") as work:
        worker = threading.Thread(target=lambda: work.add_client(display_name="From a thread"))
        worker.start()
        worker.join()
        assert [client.display_name for client in work.clients()] == ["From a thread"]


# --------------------------------------------------------------------------------------------
# Reads and bulk loads
# --------------------------------------------------------------------------------------------


@pytest.fixture
def selects(store: WorkStore) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    yield seen
    event.remove(store.engine, "before_cursor_execute", record)


def test_lists_are_read_without_n_plus_one_queries(
    store: WorkStore, ready: dict[str, int], selects: list[str]
) -> None:
    rows = [
        {
            "number": f"W-{i}",
            "client_id": ready["client"],
            "issue_date": date(2026, 1, 5),
            "lines": [{"description": f"line {n}", "unit_price": "1.00"} for n in range(1 + i % 3)],
        }
        for i in range(50)
    ]
    store.bulk_add_invoices(rows)
    selects.clear()
    invoices = store.invoices()
    assert len(invoices) == 50 and [len(inv.lines) for inv in invoices[:3]] == [1, 2, 3]
    assert len(selects) == 2
    selects.clear()
    store.clients()
    store.payments()
    store.items()
    assert len(selects) == 3


def test_bulk_loads_assign_ids_and_revisions_in_row_order(store: WorkStore, ready: dict[str, int]) -> None:
    start = store.max_revision()
    ids = store.bulk_add_clients(
        [{"display_name": f"Client {i}", "billing": Address(city="Fresno"), "parent_id": ready["client"]}
         for i in range(5)]
    )  # fmt: skip
    clients = [store.get_client(client_id) for client_id in ids]
    assert [client.display_name for client in clients if client] == [f"Client {i}" for i in range(5)]
    assert [client.revision for client in clients if client] == list(range(start + 1, start + 6))
    assert all(client and client.parent_id == ready["client"] for client in clients)

    invoice_ids = store.bulk_add_invoices(
        [{"number": f"B-{i}", "client_id": ids[i], "issue_date": date(2026, 1, 5), "tax_amount": "0.50",
          "lines": [{"item_id": ready["parts"], "qty": 2, "unit_price": "2.25", "taxable": True}]} for i in range(5)]
    )  # fmt: skip
    assert [inv.total for inv in store.invoices()] == [Decimal("5.00")] * 5
    payment_ids = store.bulk_add_payments(
        [{"invoice_id": invoice_ids[0], "date": date(2026, 1, 6), "amount": "2.50"}] * 2
    )
    assert len(payment_ids) == 2
    assert store.paid_amounts([invoice_ids[0]]) == {invoice_ids[0]: Decimal("5.00")}
    assert store.max_revision() == start + 12


def test_a_bad_bulk_row_adds_nothing(store: WorkStore, ready: dict[str, int]) -> None:
    before = store.max_revision()
    with pytest.raises(WorkDataError, match=r"clients\[2\]") as caught:
        store.bulk_add_clients([{"display_name": "ok"}, {"display_name": "ok too"}, {"display_name": ""}])
    assert caught.value.field == "display_name"
    invoice = add_invoice(store, ready)
    before = store.max_revision()
    with pytest.raises(WorkDataError, match=r"payments\[1\]") as caught:
        store.bulk_add_payments([{"invoice_id": invoice.id, "date": date(2026, 1, 6), "amount": "100.00"}] * 2)
    assert caught.value.field == "amount"
    with pytest.raises(WorkDataError, match="repeats"):
        store.bulk_add_invoices(
            [{"number": "X", "client_id": ready["client"], "issue_date": date(2026, 1, 5),
              "lines": [{"unit_price": "1.00"}]}] * 2
        )  # fmt: skip
    with pytest.raises(WorkDataError, match="already used"):
        store.bulk_add_invoices(
            [{"number": "W-1", "client_id": ready["client"], "issue_date": date(2026, 1, 5),
              "lines": [{"unit_price": "1.00"}]}]
        )  # fmt: skip
    assert store.max_revision() == before
    assert store.bulk_add_clients([]) == []


def test_bulk_load_of_100000_clients(tmp_path: Path) -> None:
    rows = [
        {"display_name": f"Client {i:06d}", "email": f"c{i}@example.com", "phone": "(916) 555-0100",
         "billing": Address(f"{i} Main St.", "", "Sacramento", "CA", "95814", "US")}
        for i in range(100_000)
    ]  # fmt: skip
    with WorkStore(f"sqlite:///{tmp_path / 'big.sqlite3'}") as work:
        started = time.perf_counter()
        ids = work.bulk_add_clients(rows)
        elapsed = time.perf_counter() - started
        assert len(ids) == 100_000 and ids == list(range(1, 100_001))
        assert work.max_revision() == 100_000
        last = work.get_client(ids[-1])
        assert last is not None and last.display_name == "Client 099999" and last.revision == 100_000
    assert elapsed < 30, f"100,000 clients took {elapsed:.1f} s"


# --------------------------------------------------------------------------------------------
# Control characters and private files
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "label", "field", "what"),
    [
        (lambda s, r: s.add_client(display_name="Bob\x00s Bikes"), "new client", "display_name", "NUL (U+0000)"),
        (lambda s, r: s.add_client(display_name="Tab\tCo"), "new client", "display_name", "tab (U+0009)"),
        (lambda s, r: s.add_client(display_name="Ok", email="a\x1b@b.example"), "new client", "email", "escape"),
        (lambda s, r: s.add_client(display_name="Ok", notes="fine\nbut\x07"), "new client", "notes", "bell"),
        (lambda s, r: s.add_client(display_name="Ok", billing=Address(city="Fres\nno")), "new client",
         "billing_city", "line break"),
        (lambda s, r: s.update_client(r["client"], company_name="Cool\x7fCars"), "client {client}",
         "company_name", "DEL (U+007F)"),
        (lambda s, r: s.bulk_add_clients([{"display_name": "Fine"}, {"display_name": "A\x00"}]), "clients[1]",
         "display_name", "NUL"),
        (lambda s, r: s.add_item("Hours\x00", "service", "1.00"), "new item", "name", "NUL"),
        (lambda s, r: add_invoice(s, r, number="W\x001"), "new invoice", "number", "NUL"),
        (lambda s, r: add_invoice(s, r, lines=[{"description": "Labor\x1b[31m", "unit_price": "1.00"}]),
         "new invoice", "lines[0].description", "escape"),
        (lambda s, r: s.add_payment(add_invoice(s, r).id, date(2026, 1, 6), "1.00", reference="12\x0034"),
         "new payment", "reference", "NUL"),
        (lambda s, r: s.set_company(Company(name="Acme\x00", time_zone="UTC")), "company", "name", "NUL"),
    ],
)
def test_control_characters_are_refused_naming_the_record_and_field(
    store: WorkStore, ready: dict[str, int], call: Callable[[WorkStore, dict[str, int]], Any], label: str,
    field: str, what: str,
) -> None:
    with pytest.raises(WorkDataError) as caught:
        call(store, ready)
    assert caught.value.field == field
    message = caught.value.message
    assert message.startswith(f"{label.format(**ready)}") and f"{field} holds a control character" in message
    assert what in message and "remove it" in message
    assert "\x00" not in message and "\x1b" not in message  # the sentence itself is printable
    assert all("\x00" not in c.display_name for c in store.clients())


def test_line_breaks_and_tabs_are_kept_where_text_has_several_lines(store: WorkStore, ready: dict[str, int]) -> None:
    client = store.add_client(display_name="Multi", notes="line one\n\tline two\r\n",
                              billing=Address(line1="Suite 5\nBuilding B"))
    assert client.notes == "line one\n\tline two\r\n" and client.billing.line1 == "Suite 5\nBuilding B"
    invoice = add_invoice(store, ready, lines=[{"description": "Labor\nand parts", "unit_price": "1.00"}])
    assert invoice.lines[0].description == "Labor\nand parts"


def test_a_stored_control_character_does_not_block_an_unrelated_change(store: WorkStore) -> None:
    """A value written by other means (SQL) is reported by the sync; it must not make the record
    impossible to fix or to change otherwise."""
    client = store.add_client(display_name="Bob")
    with store.begin() as conn:
        conn.execute(schema.clients.update().where(schema.clients.c.id == client.id).values(display_name="Bob\x00"))
    assert store.update_client(client.id, email="bob@example.com").email == "bob@example.com"
    assert store.update_client(client.id, display_name="Bob's Bikes").display_name == "Bob's Bikes"


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("permissive_umask")
def test_the_default_database_and_its_folder_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "config" / "qbo-toolkit"
    monkeypatch.setenv("QBO_TOOLKIT_HOME", str(home))
    with WorkStore() as work:
        work.add_client(display_name="Private")
        files = sorted(home.glob("work.sqlite3*"))
        assert [f.name for f in files] == ["work.sqlite3", "work.sqlite3-shm", "work.sqlite3-wal"]
        assert {f.name: _mode(f) for f in files} == dict.fromkeys((f.name for f in files), 0o600)
    assert _mode(home) == 0o700 and _mode(home.parent) == 0o700  # both created by the store


@pytest.mark.usefixtures("permissive_umask")
def test_a_database_file_the_store_creates_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with WorkStore(f"sqlite:///{tmp_path / 'named.sqlite3'}") as work:
        work.add_client(display_name="Private")
        assert _mode(tmp_path / "named.sqlite3") == 0o600
        assert _mode(tmp_path / "named.sqlite3-wal") == 0o600
    # a default database made by an older version (0644) is made private when opened
    home = tmp_path / "home"
    monkeypatch.setenv("QBO_TOOLKIT_HOME", str(home))
    WorkStore().close()
    os.chmod(home / "work.sqlite3", 0o644)
    WorkStore().close()
    assert _mode(home / "work.sqlite3") == 0o600
