"""The comparison on the planted sample dataset (``qbo_toolkit.recon.sample``), and on tiny frames.

The sample's docstring lists every planted difference and what it causes; its
``SAMPLE_EXPECTED`` / ``SAMPLE_EXPECTED_TOLERANT`` constants are the row counts per category,
asserted exactly here. The other tests build a few rows directly to pin one rule each: tolerance,
exact cents, aging buckets on known dates, links to records that are gone, the "changed after the
sync" clock, and the frames' own checks.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from qbo_toolkit.recon import (
    AGING_BUCKETS,
    CATEGORIES,
    ReconResult,
    link_frames_from_records,
    qbo_frames_from_records,
    reconcile,
    work_frames_from_records,
)
from qbo_toolkit.recon.money import format_cents, to_cents, tolerance_cents
from qbo_toolkit.recon.sample import (
    SAMPLE_AS_OF,
    SAMPLE_DEFAULT_STATE,
    SAMPLE_EXPECTED,
    SAMPLE_EXPECTED_TOLERANT,
    SAMPLE_INTEGRATION_DATE,
    sample_frames,
)


def run_sample(tolerance: Decimal = Decimal("0")) -> ReconResult:
    work, qbo, links = sample_frames()
    return reconcile(work, qbo, links, as_of=SAMPLE_AS_OF, integration_date=SAMPLE_INTEGRATION_DATE,
                     tolerance=tolerance, default_state=SAMPLE_DEFAULT_STATE)


@pytest.fixture(scope="module")
def result() -> ReconResult:
    return run_sample()


def rows(result: ReconResult, category: str) -> list[dict[str, Any]]:
    return result.frame(category).to_dict("records")


def ids(result: ReconResult, category: str, column: str = "work_id") -> list[int]:
    return [int(v) for v in result.frame(category)[column].dropna()]


# --------------------------------------------------------------------------------------------
# The sample: exact counts, and each planted difference in its category
# --------------------------------------------------------------------------------------------


def test_counts_per_category_are_exactly_the_planted_ones(result: ReconResult) -> None:
    assert set(SAMPLE_EXPECTED) == {c.name for c in CATEGORIES}
    assert dict(result.counts) == SAMPLE_EXPECTED
    assert result.difference_count == sum(n for c, n in SAMPLE_EXPECTED.items()
                                          if result.category(c).kind == "difference")
    assert not result.in_agreement


def test_customers(result: ReconResult) -> None:
    unlinked = {(r["side"], r["work_id"] if r["work_id"] is not pd.NA else None,
                 r["qbo_id"] if r["qbo_id"] is not pd.NA else None) for r in rows(result, "customers_unlinked")}
    assert unlinked == {("WORK", 5, None), ("QBO", None, 106), ("both", 7, 107)}
    fields = [(r["work_id"], r["field"], r["work"], r["qbo"]) for r in rows(result, "customers_fields")]
    assert fields == [
        (2, "email", "ops@bravo.example", "billing@bravo.example"),
        (3, "phone", "555-0103", "555-0199"),
        (3, "billing_state", "NV", "CA"),
    ]
    # Delta's empty QBO state is the default state; India's QBO name is the one the sync chose.
    assert rows(result, "customers_inactive_one_side") == [
        {"work_id": 4, "qbo_id": 104, "name": "Delta Storage", "work_active": True, "qbo_active": False}]


def test_customer_balances(result: ReconResult) -> None:
    found = {r["work_id"]: r["difference_cents"] for r in rows(result, "customer_balances")}
    assert found == {1: 6001, 2: -500, 3: 1000, 4: -1000}
    alpha = result.table("open_balances").set_index("work_id").loc[1]
    # 860.00 open in WORK, of which 420.00 (an invoice before the integration date, a draft) stays out
    assert (alpha["work_open_cents"], alpha["work_outside_cents"], alpha["qbo_balance_cents"]) == (86000, 42000, 50001)


def test_invoices(result: ReconResult) -> None:
    assert ids(result, "invoices_missing_in_qbo") == [7]
    assert ids(result, "invoices_missing_in_work", "qbo_id") == [208]
    assert rows(result, "invoices_total")[0] == {
        "work_id": 2, "qbo_id": 202, "number": "W-1002", "customer": "Alpha Plumbing", "match": "link",
        "work_cents": 25000, "qbo_cents": 25001, "difference_cents": 1}
    assert [(r["work_id"], r["difference_cents"]) for r in rows(result, "invoices_tax")] == [(3, -825)]
    assert [(r["work_id"], r["difference_cents"]) for r in rows(result, "invoices_balance")] == [
        (2, 1), (3, 2000), (4, -2500), (5, 2500)]
    assert [(r["work_id"], r["difference_days"]) for r in rows(result, "invoices_date")] == [(4, 1)]
    assert [(r["work_id"], r["expected_qbo_customer"], r["qbo_customer"])
            for r in rows(result, "invoices_customer")] == [(5, 103, 101)]
    assert [(r["work_id"], r["work_status"], r["qbo_status"]) for r in rows(result, "invoices_void_or_deleted")] == [
        (6, "void", "open")]
    not_expected = {(r["side"], r["number"]) for r in rows(result, "invoices_not_expected")}
    assert not_expected == {("WORK", "W-0999"), ("WORK", "W-1013"), ("QBO", "1001")}
    # W-1012 is not in the id map but pairs by its number, and agrees: it is nowhere
    everywhere = [v for c in CATEGORIES if c.entity == "invoices" for v in ids(result, c.name)]
    assert 12 not in everywhere and 15 not in everywhere and 16 not in everywhere


def test_payments(result: ReconResult) -> None:
    assert [(r["work_id"], r["difference_cents"]) for r in rows(result, "payments_amount")] == [(2, 500)]
    applied = rows(result, "payments_applied_to")
    assert [(r["work_id"], r["expected_qbo_invoice"], r["qbo_invoices"]) for r in applied] == [(3, 203, "204")]
    assert ids(result, "payments_missing_in_qbo") == [4]
    assert ids(result, "payments_missing_in_work", "qbo_id") == [306]
    assert [(r["qbo_id"], r["unapplied_cents"]) for r in rows(result, "payments_unapplied")] == [(306, 1500)]
    assert {(r["side"], r["work_id"] if r["side"] == "WORK" else r["qbo_id"])
            for r in rows(result, "payments_not_expected")} == {("WORK", 6), ("QBO", 307)}


def test_invoice_and_payment_rows_name_their_customer(result: ReconResult) -> None:
    # WORK's client name when the record is in WORK, else the QBO customer's DisplayName
    for category in CATEGORIES:
        if category.entity in ("invoices", "payments"):
            assert "customer" in category.columns, category.name
            assert result.frame(category.name)["customer"].notna().all(), category.name
    def names(category: str) -> list[str]:
        return [r["customer"] for r in rows(result, category)]

    assert names("invoices_missing_in_qbo") == ["Delta Storage"]
    assert names("invoices_missing_in_work") == ["Delta Storage"]  # QBO only: its QBO customer
    assert names("invoices_customer") == ["Charlie's <Cafe> & Bar"]  # the WORK client, not the QBO customer
    assert names("payments_missing_in_qbo") == ["Charlie's <Cafe> & Bar"]  # through its WORK invoice
    assert names("payments_unapplied") == ["Alpha Plumbing"]
    assert names("invoices_balance") == ["Alpha Plumbing", "Bravo Electric", "Bravo Electric",
                                         "Charlie's <Cafe> & Bar"]


def test_pending_records_waiting_for_a_match_or_failed_and_changed_after_sync(result: ReconResult) -> None:
    listed = result.to_dict()["categories"]["pending"]  # as summary.json holds them: amounts as text
    pending = [(r["status"], r["entity"], r["work_id"], r["qbo_id"], r["number"], r["customer"], r["date"],
                r["amount"]) for r in listed]
    assert pending == [
        ("waiting_match", "customer", 8, 108, "", "Hotel Supply", None, None),  # one row, naming its candidate
        ("waiting_match", "invoice", 11, None, "W-1011", "Hotel Supply", "2026-03-01", "45.00"),
        ("waiting_match", "payment", 7, None, "W-1011", "Hotel Supply", "2026-03-10", "10.00"),
        ("sync_failed", "invoice", 1, 201, "W-1001", "Alpha Plumbing", "2026-01-10", "100.00"),
    ]
    reasons = [r["reason"] for r in listed]
    assert "Hotel Supply (108)" in reasons[0] and "decide the match" in reasons[0]
    assert "on invoice W-1011" in reasons[2]
    assert reasons[3] == "sync failed: invoice W-1001: QuickBooks refused the update: Invalid Reference Id: ItemRef"
    assert result.pending == {"waiting_match": {"customer": 1, "invoice": 1, "payment": 1},
                              "sync_failed": {"invoice": 1}}
    assert result.pending_count == 4
    assert result.not_sent == {"customer": 1, "invoice": 1, "payment": 1}  # Echo Farms, W-1007, payment 4
    assert result.verdict == (
        "Not yet in agreement: 4 records pending (1 customer, 1 invoice, 1 payment waiting for a match decision; "
        "1 invoice whose sync failed), and 30 differences found, among them 3 records never sent to QuickBooks "
        "(1 customer, 1 invoice, 1 payment).")
    assert [(r["entity"], r["work_id"], r["qbo_id"]) for r in rows(result, "changed_in_qbo")] == [
        ("invoice", 14, 214)]


def test_aging_side_by_side(result: ReconResult) -> None:
    aging = result.table("aging")
    assert aging["bucket"].tolist() == list(AGING_BUCKETS)
    assert aging["work_cents"].tolist() == [25500, 47825, 31000, 0, 0]
    assert aging["qbo_cents"].tolist() == [25500, 54825, 31001, 0, 0]
    assert aging["work_count"].tolist() == [3, 4, 2, 0, 0]
    assert aging["qbo_count"].tolist() == [3, 5, 2, 0, 0]
    assert result.frame("aging_buckets")["bucket"].tolist() == ["1-30", "31-60"]


def test_totals(result: ReconResult) -> None:
    found = {t.name: (t.work, t.qbo, t.difference) for t in result.totals}
    assert found == {
        "customers": (7, 7, 0),
        "invoices": (9, 10, 1),
        "invoice_amount": (117825, 122826, 5001),
        "open_receivables": (104325, 111326, 7001),
        "payments": (4, 4, 0),
        "payment_amount": (13500, 13000, -500),
    }


# --------------------------------------------------------------------------------------------
# Tolerance and exact cents
# --------------------------------------------------------------------------------------------


def test_tolerance_lets_the_cent_through_and_nothing_more() -> None:
    assert dict(run_sample(Decimal("0.01")).counts) == SAMPLE_EXPECTED_TOLERANT
    assert dict(run_sample(Decimal("0.005")).counts) == SAMPLE_EXPECTED  # half a cent lets no cent through
    tolerant = run_sample(Decimal("30"))  # every money difference up to 30.00 goes; customer 1's 60.01 stays
    assert tolerant.counts["invoices_balance"] == 0 and tolerant.counts["invoices_tax"] == 0
    assert [r["work_id"] for r in rows(tolerant, "customer_balances")] == [1]
    assert tolerant.counts["invoices_date"] == 1  # not money: tolerance does not apply
    with pytest.raises(ValueError, match="tolerance"):
        run_sample(Decimal("-0.01"))


def test_money_is_exact_to_the_cent() -> None:
    assert to_cents(Decimal("250.01")) - to_cents("250.00") == 1
    assert to_cents(12.3) == 1230  # a float only through its shortest repr ...
    for bad in ("0.001", Decimal("12.345"), 0.1 + 0.2, 2.675, "NaN", "1,000", True):  # ... so 0.1 + 0.2 is refused
        with pytest.raises(ValueError):
            to_cents(bad)
    assert (to_cents(None), to_cents(""), to_cents(7), to_cents("-3.5"), to_cents(Decimal("1E+2"))) == (
        0, 0, 700, -350, 10000)
    assert tolerance_cents(Decimal("0.019")) == 1
    assert format_cents(pd.Series([-123456, 5, 0, 100000000], dtype="int64"), grouping=True).tolist() == [
        "-1,234.56", "0.05", "0.00", "1,000,000.00"]
    with pytest.raises(ValueError, match="fraction of a cent"):
        work_frames_from_records(invoices=[{"work_id": 1, "client_id": 1, "issue_date": date(2026, 1, 2),
                                            "total": "10.001"}])


def test_a_single_cent_is_a_difference() -> None:
    work, qbo, links = tiny(work_total="100.00", qbo_total="100.01")
    found = reconcile(work, qbo, links, as_of=date(2026, 1, 31))
    assert found.counts["invoices_total"] == 1
    assert found.frame("invoices_total")["difference_cents"].tolist() == [1]
    work, qbo, links = tiny(work_total="100.00", qbo_total="100.00")
    assert reconcile(work, qbo, links, as_of=date(2026, 1, 31)).in_agreement


# --------------------------------------------------------------------------------------------
# Tiny frames for single rules
# --------------------------------------------------------------------------------------------


SYNCED = datetime(2026, 1, 31, 9, 0, 0, 500_000, tzinfo=UTC)


def tiny(*, work_total: str = "100.00", qbo_total: str = "100.00", invoices: list[dict[str, Any]] | None = None,
         qbo_invoices: list[dict[str, Any]] | None = None, invoice_links: list[dict[str, Any]] | None = None,
         last_sync_at: datetime | None = None, customer_updated: str = "2026-01-31T09:00:00Z") -> Any:
    """One linked customer, one linked invoice (unless given), nothing else."""
    work = work_frames_from_records(
        clients=[{"work_id": 1, "display_name": "Solo"}],
        invoices=invoices if invoices is not None else [
            {"work_id": 1, "number": "S-1", "client_id": 1, "issue_date": date(2026, 1, 5),
             "due_date": date(2026, 1, 20), "total": work_total}],
    )
    qbo = qbo_frames_from_records(
        customers=[{"qbo_id": "9", "display_name": "Solo", "balance": qbo_total if qbo_invoices is None else "0",
                    "last_updated": customer_updated}],
        invoices=qbo_invoices if qbo_invoices is not None else [
            {"qbo_id": "90", "doc_number": "S-1", "customer_qbo_id": "9", "txn_date": "2026-01-05",
             "due_date": "2026-01-20", "total": qbo_total, "balance": qbo_total,
             "last_updated": "2026-01-31T09:00:00Z"}],
    )
    links = link_frames_from_records(
        customers=[{"work_id": 1, "qbo_id": 9, "synced_at": SYNCED}],
        invoices=invoice_links if invoice_links is not None else [{"work_id": 1, "qbo_id": 90, "synced_at": SYNCED}],
        last_sync_at=last_sync_at,
    )
    return work, qbo, links


def test_aging_buckets_on_known_dates() -> None:
    as_of = date(2026, 6, 30)
    # days past due -> bucket: 0 and -5 current, 1 and 30 in 1-30, 31 and 60 in 31-60, 61 and 90 in 61-90, 91+
    late = {1: -5, 2: 0, 3: 1, 4: 30, 5: 31, 6: 60, 7: 61, 8: 90, 9: 91, 10: 400}
    invoices: list[dict[str, Any]] = [
        {"work_id": i, "number": f"A-{i}", "client_id": 1, "issue_date": as_of - timedelta(days=500),
         "due_date": as_of - timedelta(days=d), "total": f"{i}.00"} for i, d in late.items()]
    # no due date: due 30 days after the date (QBO's default terms) -> 45 - 30 = 15 days late
    invoices.append({"work_id": 11, "number": "A-11", "client_id": 1, "issue_date": as_of - timedelta(days=45),
                     "total": "11.00"})
    qbo_invoices = [{"qbo_id": str(100 + r["work_id"]), "doc_number": r["number"], "customer_qbo_id": "9",
                     "txn_date": r["issue_date"], "due_date": r.get("due_date") or as_of - timedelta(days=15),
                     "total": r["total"], "balance": r["total"], "last_updated": "2026-01-31T09:00:00Z"}
                    for r in invoices]
    links = [{"work_id": r["work_id"], "qbo_id": 100 + r["work_id"], "synced_at": SYNCED} for r in invoices]
    work, qbo, link_frames = tiny(invoices=invoices, qbo_invoices=qbo_invoices, invoice_links=links)
    found = reconcile(work, qbo, link_frames, as_of=as_of)
    aging = found.table("aging").set_index("bucket")
    assert aging["work_count"].to_dict() == {"current": 2, "1-30": 3, "31-60": 2, "61-90": 2, "91+": 2}
    assert aging["work_cents"].to_dict() == {"current": 300, "1-30": 1800, "31-60": 1100, "61-90": 1500,
                                             "91+": 1900}
    assert aging["qbo_cents"].to_dict() == aging["work_cents"].to_dict()
    assert found.counts["aging_buckets"] == 0
    # a shorter default term moves the undated one: 45 - 10 = 35 days late
    shifted = reconcile(work, qbo, link_frames, as_of=as_of, default_due_days=10).table("aging").set_index("bucket")
    assert shifted.loc["31-60", "work_count"] == 3 and shifted.loc["31-60", "qbo_count"] == 2


def test_links_to_records_that_are_gone() -> None:
    work, qbo, links = tiny(qbo_invoices=[])  # linked, deleted in QBO
    found = reconcile(work, qbo, links, as_of=date(2026, 1, 31))
    assert rows(found, "invoices_void_or_deleted") == [
        {"work_id": 1, "qbo_id": 90, "number": "S-1", "customer": "Solo", "work_status": "open",
         "qbo_status": "deleted"}]
    deleted_both = [{"work_id": 1, "number": "S-1", "client_id": 1, "issue_date": date(2026, 1, 5),
                     "total": "100.00", "deleted": True}]
    work, qbo, links = tiny(invoices=deleted_both, qbo_invoices=[])
    assert reconcile(work, qbo, links, as_of=date(2026, 1, 31)).in_agreement
    work, qbo, links = tiny(invoices=[])  # linked, gone from WORK
    found = reconcile(work, qbo, links, as_of=date(2026, 1, 31))
    assert [(r["qbo_id"], r["reason"]) for r in rows(found, "invoices_missing_in_work")] == [
        (90, "linked to WORK invoice 1, which WORK does not have")]


def test_changed_after_sync_ignores_the_syncs_own_second() -> None:
    # QBO stamps whole seconds: 09:00:00 is the sync's own write (synced at 09:00:00.5), not a change
    work, qbo, links = tiny()
    assert reconcile(work, qbo, links, as_of=date(2026, 1, 31)).counts["changed_in_qbo"] == 0
    work, qbo, links = tiny(customer_updated="2026-01-31T09:00:01Z")
    found = reconcile(work, qbo, links, as_of=date(2026, 1, 31))
    assert [(r["entity"], r["qbo_id"]) for r in rows(found, "changed_in_qbo")] == [("customer", 9)]
    # ... unless the last sync run ended later: it saw that change (a run touches records linked earlier)
    work, qbo, links = tiny(customer_updated="2026-01-31T09:00:01Z",
                            last_sync_at=datetime(2026, 1, 31, 9, 0, 1, 900_000, tzinfo=UTC))
    assert reconcile(work, qbo, links, as_of=date(2026, 1, 31)).counts["changed_in_qbo"] == 0


def test_compare_is_pure() -> None:
    work, qbo, links = sample_frames()
    before = [frame.copy() for frame in (work.invoices, qbo.invoices, links.invoices, work.clients)]
    reconcile(work, qbo, links, as_of=SAMPLE_AS_OF, integration_date=SAMPLE_INTEGRATION_DATE)
    after = (work.invoices, qbo.invoices, links.invoices, work.clients)
    assert all(b.equals(a) for b, a in zip(before, after, strict=True))


# --------------------------------------------------------------------------------------------
# The result object and the frames' checks
# --------------------------------------------------------------------------------------------


def test_result_is_frozen_and_hands_out_copies(result: ReconResult) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.tolerance = Decimal("1")  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.frames["aging_buckets"] = pd.DataFrame()  # type: ignore[index]
    copy = result.frame("invoices_total")
    copy.loc[0, "difference_cents"] = 999
    assert result.frame("invoices_total").loc[0, "difference_cents"] == 1
    with pytest.raises(KeyError, match="categories"):
        result.frame("nope")


def test_exceeds_thresholds(result: ReconResult) -> None:
    allowed = dict(SAMPLE_EXPECTED)
    only_differences = {k: v for k, v in allowed.items() if result.category(k).kind == "difference"}
    assert result.exceeds(only_differences) == {"pending": 4}  # pending records count unless allowed
    only_differences["pending"] = 4
    assert result.exceeds(only_differences) == {}
    assert result.exceeds({**only_differences, "invoices_balance": 3}) == {"invoices_balance": 4}
    assert result.exceeds({**only_differences, "invoice_amount": Decimal("50.00")}) == {
        "invoice_amount": Decimal("50.01")}
    assert result.exceeds({**only_differences, "invoice_amount": Decimal("50.01"), "invoices": 1}) == {}
    assert result.exceeds({"total": 30, "pending": 4}) == {}  # 30 difference rows in all, 4 pending
    assert result.exceeds({"total": 30}) == {"pending": 4}  # "total" limits differences, not pending records
    assert result.exceeds({"total": 29, "pending": 4}) == {"total": 30}
    assert result.exceeds({"total": 30, "pending": 3, "invoices_balance": 2}) == {"pending": 4, "invoices_balance": 4}
    with pytest.raises(KeyError, match="known"):
        result.exceeds({"invoice_totl": 1})
    with pytest.raises(KeyError):
        result.exceeds({"invoices_not_expected": 5})  # information, not a difference


def test_to_dict_is_json_with_money_as_text(result: ReconResult) -> None:
    data = json.loads(json.dumps(result.to_dict()))
    assert data["in_agreement"] is False
    assert data["differences"]["invoices_balance"] == 4
    assert data["totals"]["invoice_amount"] == {"title": "Invoiced", "unit": "money", "work": "1178.25",
                                                "qbo": "1228.26", "difference": "50.01"}
    assert data["categories"]["invoices_total"] == [
        {"work_id": 2, "qbo_id": 202, "number": "W-1002", "customer": "Alpha Plumbing", "match": "link",
         "work": "250.00", "qbo": "250.01", "difference": "0.01"}]
    assert data["categories"]["invoices_missing_in_work"][0]["work_id"] is None  # missing: None
    assert data["categories"]["invoices_date"][0]["work_date"] == "2026-02-01"
    assert data["categories"]["changed_in_qbo"][0]["last_updated"] == "2026-03-31T11:00:00+00:00"
    assert "categories" not in result.to_dict(records=False)


def test_frames_check_their_columns() -> None:
    with pytest.raises(ValueError, match="lacks the column"):
        work_frames_from_records(clients=[{"display_name": "No id"}])
    with pytest.raises(ValueError, match="repeats 1"):
        work_frames_from_records(clients=[{"work_id": 1, "display_name": "A"}, {"work_id": 1, "display_name": "B"}])
    with pytest.raises(ValueError, match="whole cents"):
        qbo_frames_from_records(invoices=pd.DataFrame({
            "qbo_id": [1], "customer_qbo_id": [1], "txn_date": ["2026-01-01"], "total_cents": [1.5],
            "balance_cents": [0]}))
    with pytest.raises(ValueError, match="integer ids"):
        qbo_frames_from_records(customers=[{"qbo_id": "abc", "display_name": "A", "balance": "0"}])
    work = work_frames_from_records(
        invoices=[{"work_id": 1, "client_id": 1, "issue_date": "2026-01-02", "total": "50.00"}],
        payments=[{"work_id": 1, "invoice_id": 1, "date": "2026-01-03", "amount": "20.00"},
                  {"work_id": 2, "invoice_id": 1, "date": "2026-01-03", "amount": "5.00", "deleted": True}])
    assert work.invoices[["paid_cents", "balance_cents"]].iloc[0].tolist() == [2000, 3000]
    assert str(work.invoices["total_cents"].dtype) == "int64"
    assert str(work.invoices["issue_date"].dtype) == "datetime64[s]"


def test_a_never_sent_record_whose_sync_failed_is_pending_not_missing_and_out_of_the_totals() -> None:
    """Client 2 (QBO refused its name), its invoice 2 and payment 2: each has an open failure. Client 3
    waits for a match decision; its invoice 3 also failed because of it: listed once, as waiting.
    QBO customer 70 could not be brought to WORK (a failure without a WORK id)."""
    work = work_frames_from_records(
        clients=[{"work_id": 1, "display_name": "Solo"}, {"work_id": 2, "display_name": "Zephyr: Tiles"},
                 {"work_id": 3, "display_name": "Held Co"}],
        invoices=[{"work_id": 1, "number": "S-1", "client_id": 1, "issue_date": date(2026, 1, 5), "total": "120.00"},
                  {"work_id": 2, "number": "Z-1", "client_id": 2, "issue_date": date(2026, 1, 6), "total": "80.00"},
                  {"work_id": 3, "number": "H-1", "client_id": 3, "issue_date": date(2026, 1, 7), "total": "15.00"}],
        payments=[{"work_id": 2, "invoice_id": 2, "date": date(2026, 1, 9), "amount": "30.00"}],
    )
    qbo = qbo_frames_from_records(
        customers=[{"qbo_id": "9", "display_name": "Solo", "balance": "120.00"},
                   {"qbo_id": "33", "display_name": "Held Co.", "balance": "0"},
                   {"qbo_id": "70", "display_name": "", "balance": "0"}],
        invoices=[{"qbo_id": "90", "doc_number": "S-1", "customer_qbo_id": "9", "txn_date": "2026-01-05",
                   "due_date": "2026-02-04", "total": "120.00", "balance": "120.00"}],
    )
    links = link_frames_from_records(
        customers=[{"work_id": 1, "qbo_id": 9}], invoices=[{"work_id": 1, "qbo_id": 90}],
        pending_matches=[{"work_id": 3, "qbo_id": "33", "kind": "weak"}],
        failures=[
            {"entity": "customer", "work_id": 2, "action": "create", "field": "display_name",
             "message": "client 2: DisplayName 'Zephyr: Tiles' contains a colon (:)"},
            {"entity": "customer", "work_id": 2, "action": "create", "field": "display_name",
             "message": "client 2: DisplayName 'Zephyr: Tiles' contains a colon (:)"},  # reported twice: once
            {"entity": "invoice", "work_id": 2, "action": "create", "message": "invoice Z-1: its client 2 is not in "
             "QuickBooks yet"},
            {"entity": "payment", "work_id": 2, "action": "create", "message": "payment 2: invoice Z-1 is not in "
             "QuickBooks yet"},
            {"entity": "invoice", "work_id": 3, "action": "create", "message": "invoice H-1: its client 3 is not in "
             "QuickBooks yet"},
            {"entity": "customer", "work_id": None, "qbo_id": "70", "action": "create", "message": "QBO customer 70: "
             "no name"},
        ],
    )
    result = reconcile(work, qbo, links, as_of=date(2026, 1, 31))
    assert result.difference_count == 0, {k: v for k, v in result.differences.items() if v}
    assert all(t.difference == 0 for t in result.totals), result.totals  # the pending ones are out of scope
    pending = result.to_dict()["categories"]["pending"]
    assert [(r["status"], r["entity"], r["work_id"], r["qbo_id"], r["number"], r["customer"], r["amount"])
            for r in pending] == [
        ("waiting_match", "customer", 3, 33, "", "Held Co", None),
        ("waiting_match", "invoice", 3, None, "H-1", "Held Co", "15.00"),
        ("sync_failed", "customer", 2, None, "", "Zephyr: Tiles", None),
        ("sync_failed", "customer", None, 70, "", "", None),
        ("sync_failed", "invoice", 2, None, "Z-1", "Zephyr: Tiles", "80.00"),
        ("sync_failed", "payment", 2, None, "Z-1", "Zephyr: Tiles", "30.00"),
    ]
    assert pending[2]["reason"] == "sync failed: client 2: DisplayName 'Zephyr: Tiles' contains a colon (:)"
    assert not result.in_agreement and result.exceeds() == {"pending": 6}
    assert result.verdict == ("Not yet in agreement: 6 records pending (1 customer, 1 invoice waiting for a match "
                              "decision; 2 customers, 1 invoice, 1 payment whose sync failed).")
    # without the failures, the same records are differences: never sent to QuickBooks
    plain = reconcile(work, qbo, dataclasses.replace(links, failures=link_frames_from_records().failures),
                      as_of=date(2026, 1, 31))
    assert plain.not_sent == {"customer": 1, "invoice": 1, "payment": 1}
    assert plain.counts["customers_unlinked"] == 2  # client 2, and QBO customer 70
    assert "never sent to QuickBooks (1 customer, 1 invoice, 1 payment)" in plain.verdict
