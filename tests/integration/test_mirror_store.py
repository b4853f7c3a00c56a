"""The mirror's local rules, on a real (in-memory) WORK store: amounts kept exactly, an older version
never overwrites a newer one, a deletion is final, a customer reported deleted was merged, voided
transactions stay listed, and a full read switches generations at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from qbo_toolkit.mirror import Mirror
from qbo_toolkit.mirror.store import dumps, loads, row_of
from qbo_toolkit.work.store import WorkStore


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    store = WorkStore("sqlite://")
    m = Mirror(store, realm="123")
    gen = m.begin_generation()
    m.insert(gen, "Invoice", [invoice("1", 0, "100.10"), invoice("2", 0, "5.00")])
    m.insert(gen, "Customer", [{"Id": "7", "SyncToken": "0", "DisplayName": "A", "Active": True,
                                "MetaData": {"LastUpdatedTime": "2026-01-01T10:00:00-08:00"}}])
    m.switch(gen, ("Invoice", "Customer"), datetime(2026, 1, 2, tzinfo=UTC), filled=True)
    yield m
    store.close()


def invoice(qbo_id: str, token: int, total: str, *, note: str = "", stamp: str = "2026-01-01T10:00:00-08:00",
            txn_date: str = "2026-01-15") -> dict[str, Any]:
    return {"Id": qbo_id, "SyncToken": str(token), "TotalAmt": Decimal(total), "TxnDate": txn_date,
            "PrivateNote": note, "Line": [{"Amount": Decimal(total)}], "MetaData": {"LastUpdatedTime": stamp}}


def test_amounts_round_trip_exactly() -> None:
    obj = {"Id": "1", "TotalAmt": Decimal("0.10"), "Big": Decimal("12345678901234.57"), "n": 3, "s": "x\u0000dec:1"}
    assert loads(dumps(obj)) == obj
    assert isinstance(loads(dumps(obj))["TotalAmt"], Decimal)


def test_older_versions_never_overwrite_newer_and_deletes_are_final(mirror: Mirror) -> None:
    with mirror.store.begin() as conn:
        mirror.apply(conn, [("Invoice", invoice("1", 2, "200.00", stamp="2026-01-03T10:00:00-08:00"))])
        mirror.apply(conn, [("Invoice", invoice("1", 1, "150.00", stamp="2026-01-02T10:00:00-08:00"))])  # late
    assert next(o for o in mirror.objects("Invoice") if o["Id"] == "1")["TotalAmt"] == Decimal("200.00")
    with mirror.store.begin() as conn:
        mirror.apply(conn, [("Invoice", {"Id": "2", "status": "Deleted",
                                         "MetaData": {"LastUpdatedTime": "2026-01-04T10:00:00-08:00"}})])
        mirror.apply(conn, [("Invoice", invoice("2", 5, "9.00"))])  # an old reply arriving after the delete
    assert [o["Id"] for o in mirror.objects("Invoice")] == ["1"]


def test_voided_stays_listed_and_a_deleted_customer_was_merged(mirror: Mirror) -> None:
    with mirror.store.begin() as conn:
        mirror.apply(conn, [("Invoice", invoice("1", 3, "0", note="Voided", stamp="2026-01-05T10:00:00-08:00")),
                            ("Customer", {"Id": "7", "status": "Deleted"})])
    assert row_of("Invoice", invoice("1", 3, "0", note="Voided"))["status"] == "voided"
    assert [o["Id"] for o in mirror.objects("Invoice")] == ["1", "2"]
    assert list(mirror.objects("Customer")) == []
    assert row_of("Customer", {"Id": "7", "status": "Deleted"})["status"] == "merged"
    assert mirror.counts() == {"Customer": 0, "Invoice": 2, "Payment": 0, "CreditMemo": 0, "RefundReceipt": 0}


def test_a_partial_read_keeps_the_other_entities(mirror: Mirror) -> None:
    gen = mirror.begin_generation()
    mirror.insert(gen, "Invoice", [invoice("3", 0, "1.00")])
    assert [o["Id"] for o in mirror.objects("Invoice")] == ["1", "2"]  # not switched yet: readers see the old
    mirror.switch(gen, ("Invoice",), datetime(2026, 1, 9, tzinfo=UTC), filled=False)
    assert [o["Id"] for o in mirror.objects("Invoice")] == ["3"]
    assert [o["Id"] for o in mirror.objects("Customer")] == ["7"]
    assert mirror.position() == datetime(2026, 1, 9, tzinfo=UTC)
