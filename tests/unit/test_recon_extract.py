"""The extractors on small inputs: QBO records as JSON-shaped dicts from a fake paged client, an
in-memory WORK store, and the sync's state on the same engine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from qbo_toolkit.qbo.query import Select
from qbo_toolkit.recon import extract_links, extract_qbo, extract_work
from qbo_toolkit.sync.state import SyncState
from qbo_toolkit.work.models import Address
from qbo_toolkit.work.store import WorkStore

META = {"CreateTime": "2026-01-05T09:00:00-08:00", "LastUpdatedTime": "2026-02-01T10:00:00-08:00"}


class FakeClient:
    """Pages of dicts per entity, two rows a page, recording the queries it was asked."""

    def __init__(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.rows = rows
        self.queries: list[Select] = []

    def iter_query(self, query: Select, *, page_size: int = 1000, raw: bool = True) -> Iterator[list[Any]]:
        self.queries.append(query)
        found = self.rows.get(query.entity, [])
        for start in range(0, len(found), 2):
            yield found[start:start + 2]


def qbo_rows() -> dict[str, list[dict[str, Any]]]:
    return {
        "Customer": [
            {"Id": "1", "DisplayName": " Amy's Bird Sanctuary ", "PrimaryEmailAddr": {"Address": "Birds@Intuit.com"},
             "PrimaryPhone": {"FreeFormNumber": "(650) 555-3311"}, "BillAddr": {"CountrySubDivisionCode": "CA"},
             "Active": True, "Balance": Decimal("50.0"), "MetaData": META},
            {"Id": "5", "DisplayName": "Old Shed Co", "Active": "false", "Balance": Decimal("0"), "MetaData": META,
             "BillAddr": None, "PrimaryEmailAddr": None},
            {"Id": "7", "DisplayName": "No Balance Given", "MetaData": META},
        ],
        "Invoice": [
            {"Id": "1", "DocNumber": "1001", "CustomerRef": {"value": "1"}, "TxnDate": "2025-12-10",
             "DueDate": "2026-01-09", "TotalAmt": Decimal("150.00"), "Balance": Decimal("50.00"),
             "TxnTaxDetail": {"TotalTax": Decimal("0")}, "PrivateNote": "", "MetaData": META},
            {"Id": "2", "CustomerRef": {"value": "7"}, "TxnDate": "2026-01-20", "DueDate": "",
             "TotalAmt": Decimal("0"), "Balance": Decimal("0"), "TxnTaxDetail": None,
             "PrivateNote": "Voided - was 80.00", "MetaData": META},
        ],
        "Payment": [
            {"Id": "1", "CustomerRef": {"value": "1"}, "TxnDate": "2025-12-28", "TotalAmt": Decimal("100.00"),
             "UnappliedAmt": Decimal("0.0"), "MetaData": META,
             "Line": [{"Amount": Decimal("100.00"), "LinkedTxn": [{"TxnId": "1", "TxnType": "Invoice"}]}]},
            {"Id": "2", "CustomerRef": {"value": "1"}, "TxnDate": "2026-02-01", "TotalAmt": Decimal("60.00"),
             "MetaData": META,
             "Line": [{"Amount": Decimal("25.00"), "LinkedTxn": [{"TxnId": "1", "TxnType": "Invoice"}]},
                      {"Amount": Decimal("5.00"), "LinkedTxn": [{"TxnId": "9", "TxnType": "CreditMemo"}]}]},
        ],
    }


def test_extract_qbo_reads_every_page_and_the_fields_it_needs() -> None:
    client = FakeClient(qbo_rows())
    qbo = extract_qbo(client)
    assert [q.entity for q in client.queries] == ["Customer", "Invoice", "Payment", "CreditMemo", "RefundReceipt"]
    assert client.queries[0].inactive  # inactive customers too
    customers = qbo.customers.set_index("qbo_id")
    assert customers.loc[1, "display_name"] == "Amy's Bird Sanctuary"
    assert (customers.loc[1, "email"], customers.loc[1, "phone"], customers.loc[1, "billing_state"]) == (
        "Birds@Intuit.com", "(650) 555-3311", "CA")
    assert customers["active"].to_dict() == {1: True, 5: False, 7: True}
    assert customers["balance_cents"].to_dict() == {1: 5000, 5: 0, 7: 0}
    assert customers.loc[1, "last_updated"] == datetime(2026, 2, 1, 18, 0, tzinfo=UTC)
    invoices = qbo.invoices.set_index("qbo_id")
    assert invoices["voided"].to_dict() == {1: False, 2: True}
    assert invoices.loc[2, "doc_number"] == "" and str(invoices.loc[2, "due_date"]) == "NaT"
    assert invoices.loc[1, "total_cents"] == 15000 and invoices.loc[1, "balance_cents"] == 5000
    payments = qbo.payments.set_index("qbo_id")
    assert payments["unapplied_cents"].to_dict() == {1: 0, 2: 3500}  # 60.00 - 25.00 applied to an invoice
    assert qbo.payment_lines.values.tolist() == [[1, 1, 10000], [2, 1, 2500]]
    assert str(qbo.invoices["total_cents"].dtype) == "int64"


def test_extract_qbo_refuses_fractions_of_a_cent_naming_the_record() -> None:
    rows = qbo_rows()
    rows["Invoice"][0]["TotalAmt"] = Decimal("150.005")
    with pytest.raises(ValueError, match=r"QBO Invoice 1: TotalAmt: .*fraction of a cent"):
        extract_qbo(FakeClient(rows))


def test_extract_work_and_links() -> None:
    store = WorkStore("sqlite://")
    alpha = store.add_client(display_name="Alpha", email="a@x.example", billing=Address(state="NV"))
    store.add_client(display_name="Beta", active=False)
    line = {"item_id": None, "description": "Work", "qty": 2, "unit_price": "30.00"}
    first = store.add_invoice("W-1", alpha.id, date(2026, 1, 5), lines=[line], tax_amount="4.80")
    second = store.add_invoice("W-2", alpha.id, date(2026, 1, 6), lines=[line])
    store.add_payment(first.id, date(2026, 1, 10), "20.00")
    gone = store.add_payment(first.id, date(2026, 1, 11), "5.00")
    store.delete_payment(gone.id)
    store.delete_invoice(second.id)
    work = extract_work(store)
    assert work.clients[["work_id", "display_name", "billing_state", "active"]].values.tolist() == [
        [1, "Alpha", "NV", True], [2, "Beta", "", False]]
    invoices = work.invoices.set_index("work_id")
    assert invoices.loc[first.id, ["total_cents", "tax_cents", "paid_cents", "balance_cents"]].tolist() == [
        6480, 480, 2000, 4480]
    assert bool(invoices.loc[second.id, "deleted"]) and invoices.loc[second.id, "balance_cents"] == 0
    assert work.payments["deleted"].tolist() == [False, True]

    state = SyncState(store, "4620816365")
    with store.engine.begin() as conn:
        state.save_link(conn, "customer", alpha.id, "58", sync_token="0", work_version=1, qbo_name="Alpha (2)")
        state.save_link(conn, "invoice", first.id, "130", sync_token="0", work_version=1)
        state.save_link(conn, "invoice", second.id, "131", sync_token="1", work_version=2, state="deleted")
        state.save_link(conn, "item", 1, "3", sync_token="0", work_version=1)
    SyncState(store, "other-realm")  # links of another realm are not read
    state.save_matches([(2, "61", "weak", 1.0, "same name")])
    run = state.start_run("initial", dry_run=False)
    state.finish_run(run, "ok", {})
    state.finish_run(state.start_run("incremental", dry_run=True), "ok", {})
    links = extract_links(state)
    assert links.customers[["work_id", "qbo_id", "qbo_name"]].values.tolist() == [[1, 58, "Alpha (2)"]]
    assert links.invoices[["work_id", "qbo_id", "state"]].values.tolist() == [[1, 130, "active"], [2, 131, "deleted"]]
    assert links.payments.empty
    assert links.pending_matches.values.tolist() == [[2, 61, "weak"]]
    assert str(links.invoices["synced_at"].dtype) == "datetime64[us, UTC]"
    finished = state.runs()[-1]["finished_at"]  # the wet run, the only one that counts
    assert links.last_sync_at == finished.replace(tzinfo=UTC)
    store.close()


def test_extract_links_reads_the_open_sync_failures_read_only() -> None:
    store = WorkStore("sqlite://")
    client = store.add_client(display_name="Zephyr: Tile Works")
    state = SyncState(store, "4620816365")
    run = state.start_run("initial", dry_run=False)
    with state.begin() as conn:
        state.record(conn, run, entity="customer", direction="to_qbo", action="create", outcome="failed",
                     work_id=client.id, field="display_name", message="client 1: DisplayName contains a colon")
        state.record(conn, run, entity="invoice", direction="to_qbo", action="update", outcome="failed",
                     work_id=7, qbo_id="130", field="Line", message="invoice W-7: refused")
        state.record(conn, run, entity="payment", direction="to_qbo", action="create", outcome="failed",
                     work_id=9, message="payment 9: refused, then dismissed")
        state.record(conn, run, entity="customer", direction="to_work", action="create", outcome="failed",
                     qbo_id="61", message="QBO customer 61: no name")
        state.record(conn, run, entity="invoice", direction="from_file", action="import", outcome="failed",
                     message="invoices.csv line 4: no client")  # a CSV row refused: not in WORK at all
        state.record(conn, run, entity="item", direction="to_qbo", action="create", outcome="failed",
                     work_id=3, message="item 3: refused")  # not reconciled
    state.finish_run(run, "failed", {})
    state.dismiss("payment", 9)
    before = [(e.id, e.resolved) for e in state.activity()]
    failures = extract_links(state).failures
    assert failures[["entity", "work_id", "qbo_id", "action", "field"]].astype(object).where(
        failures[["entity", "work_id", "qbo_id", "action", "field"]].notna(), None).values.tolist() == [
        ["customer", client.id, None, "create", "display_name"],
        ["invoice", 7, 130, "update", "Line"],
        ["customer", None, 61, "create", ""],
    ]
    assert failures["message"].tolist()[0] == "client 1: DisplayName contains a colon"
    assert str(failures["work_id"].dtype) == "Int64" and str(failures["qbo_id"].dtype) == "Int64"
    assert [(e.id, e.resolved) for e in state.activity()] == before  # nothing written
    store.close()
