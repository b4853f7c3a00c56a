"""QBO's A/R reports through the toolkit's client, against the emulator over HTTP, and the tie-out.

The emulator builds its reports independently of this parser (``qbo_toolkit.emulator.reports``
follows Intuit's documented format); here the client reads them with ``qbo.reports.read_report``
and checks them against what the same company answers to queries:

* AgedReceivables: every customer with an open balance has a row whose Total is its Balance, whose
  aging buckets add up to the Total, and the TOTAL line is the sum of the rows; an invoice due 45
  days before the report date is in "31 - 60";
* CustomerBalance: one row per customer with an open balance, equal to its Balance.

Then the tie-out: WORK is made a mirror of the customers and invoices created here (dated from the
integration date; the emulator's seed company is older, so it is QBO's history), and the tie-out
agrees for every customer. A payment recorded in QBO only (WORK never hears of it) is then found
by the tie-out for that customer, to the cent, as well as by the payment comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from qbo_toolkit.errors import QboError
from qbo_toolkit.qbo.client import QboClient
from qbo_toolkit.qbo.query import select
from qbo_toolkit.qbo.reports import AGING_KEYS, read_report
from qbo_toolkit.recon import ReconResult, link_frames_from_records, reconcile, work_frames_from_records
from qbo_toolkit.recon.extract import extract_qbo, extract_reports

REPORT_DAY = date(2026, 6, 30)
INTEGRATION = date(2026, 1, 1)
INVOICES = (  # customer index, date, due date, amount
    (0, "2026-04-01", "2026-05-16", "120.00"),  # 45 days past due on the report day: 31 - 60
    (0, "2026-06-20", "2026-07-20", "80.00"),  # not yet due: current
    (1, "2026-02-01", "2026-03-03", "250.00"),  # 119 days past due: 91 and over
)


def _invoice(customer: str, txn: str, due: str, amount: str) -> dict[str, Any]:
    return {"CustomerRef": {"value": customer}, "TxnDate": txn, "DueDate": due,
            "Line": [{"Amount": Decimal(amount), "DetailType": "SalesItemLineDetail",
                      "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": Decimal(amount),
                                              "TaxCodeRef": {"value": "NON"}}}]}


def _company(client: QboClient) -> tuple[list[str], list[Any]]:
    customers = [client.create_from("Customer", {"DisplayName": f"Report Customer {n}"},
                                    request_id=f"report-customer-{n}").Id for n in range(2)]
    invoices = [client.create_from("Invoice", _invoice(customers[c], txn, due, amount),
                                   request_id=f"report-invoice-{n}")
                for n, (c, txn, due, amount) in enumerate(INVOICES)]
    return customers, invoices


def _balances(client: QboClient) -> dict[str, Decimal]:
    return {c.Id: Decimal(str(c.Balance or 0)) for c in client.query_all(select("Customer").include_inactive())}


def test_reports_read_through_the_client_agree_with_the_company(client: QboClient) -> None:
    customers, _ = _company(client)
    sent = client.requests_sent()
    aged = read_report(client, "AgedReceivables", report_date=REPORT_DAY, aging_method="Report_Date")
    balance = read_report(client, "CustomerBalance", report_date=REPORT_DAY)
    assert client.requests_sent() == sent + 2  # one metered read each, through the client's session
    assert aged.name == "AgedReceivables" and balance.name == "CustomerBalance"
    assert aged.money_keys == AGING_KEYS
    balances = _balances(client)
    rows = aged.by_id()
    for customer_id, owed in balances.items():
        if owed:
            assert rows[customer_id].amount("total") == owed, customer_id
    for row in aged.rows:
        assert sum((row.amount(k) for k in AGING_KEYS[:-1]), Decimal(0)) == row.amount("total"), row.label
    assert aged.totals["total"] == aged.sum("total")
    mine = rows[customers[0]]
    assert (mine.amount("31-60"), mine.amount("current"), mine.amount("total")) == (
        Decimal("120.00"), Decimal("80.00"), Decimal("200.00"))
    assert rows[customers[1]].amount("91+") == Decimal("250.00")
    owed_rows = balance.by_id()
    assert {k: v.amount("total") for k, v in owed_rows.items() if v.amount("total")} == {
        k: v for k, v in balances.items() if v}
    assert balance.totals["total"] == balance.sum("total")


def test_a_report_qbo_does_not_have_is_a_fault_naming_it(client: QboClient) -> None:
    with pytest.raises(QboError) as caught:
        read_report(client, "NoSuchReportAtAll")
    assert caught.value.entity == "NoSuchReportAtAll"


def _mirror(client: QboClient, customers: list[str], invoices: list[Any], *, payments: Sequence[Any] = (),
            as_of: date = REPORT_DAY) -> ReconResult:
    """WORK holds exactly the customers, invoices (and ``payments``) created here, as QBO had them."""
    invoice_rows = {inv.Id: n + 1 for n, inv in enumerate(invoices)}
    work = work_frames_from_records(
        clients=[{"work_id": n + 1, "display_name": f"Report Customer {n}"} for n in range(len(customers))],
        invoices=[{"work_id": n + 1, "number": inv.DocNumber or "",
                   "client_id": customers.index(inv.CustomerRef.value) + 1,
                   "issue_date": inv.TxnDate, "due_date": inv.DueDate, "total": Decimal(str(inv.TotalAmt)),
                   "tax": Decimal(str(inv.TxnTaxDetail.TotalTax or 0)) if inv.TxnTaxDetail else Decimal(0)}
                  for n, inv in enumerate(invoices)],
        payments=[{"work_id": n + 1, "invoice_id": invoice_rows[p.Line[0].LinkedTxn[0].TxnId], "date": p.TxnDate,
                   "amount": Decimal(str(p.TotalAmt))} for n, p in enumerate(payments)],
    )
    links = link_frames_from_records(
        customers=[{"work_id": n + 1, "qbo_id": int(c)} for n, c in enumerate(customers)],
        invoices=[{"work_id": n + 1, "qbo_id": int(inv.Id)} for n, inv in enumerate(invoices)],
        payments=[{"work_id": n + 1, "qbo_id": int(p.Id)} for n, p in enumerate(payments)],
    )
    qbo = replace(extract_qbo(client), reports=extract_reports(client, as_of))
    return reconcile(work, qbo, links, as_of=as_of, integration_date=INTEGRATION)


def test_the_tie_out_agrees_then_finds_a_payment_recorded_in_qbo_only(client: QboClient) -> None:
    customers, invoices = _company(client)
    before = _mirror(client, customers, invoices)
    assert before.counts["tieout_customers"] == 0 and before.counts["tieout_aging"] == 0, \
        before.frame("tieout_customers").to_dict("records")
    table = before.table("tieout").set_index("qbo_id")
    assert table.loc[int(customers[0]), "aged_report_cents"] == 20000
    assert (table["difference_cents"] == 0).all() and (table["balance_difference_cents"] == 0).all()

    target = invoices[2]
    client.create_from("Payment", {
        "CustomerRef": {"value": customers[1]}, "TotalAmt": Decimal("75.00"), "TxnDate": "2026-06-01",
        "Line": [{"Amount": Decimal("75.00"), "LinkedTxn": [{"TxnId": target.Id, "TxnType": "Invoice"}]}],
    }, request_id="report-qbo-only-payment")
    after = _mirror(client, customers, invoices)
    rows = after.frame("tieout_customers").to_dict("records")
    assert [(int(r["qbo_id"]), r["work_id"], r["difference_cents"], r["balance_difference_cents"])
            for r in rows] == [(int(customers[1]), 2, -7500, -7500)]
    aging = after.frame("tieout_aging").to_dict("records")
    assert [(r["bucket"], r["difference_cents"]) for r in aging] == [("91+", -7500)]
    assert after.counts["payments_missing_in_work"] == 1
    assert not after.in_agreement


def test_a_month_end_tie_out_counts_what_was_owed_on_that_day(client: QboClient) -> None:
    """Invoice 0 (120.00, due 2026-05-16) is paid in full on 2026-06-20, in both systems. As of
    2026-05-31 QBO's reports still show it owed (15 days past due: 1 - 30), and WORK's side, which
    adds back what was paid after that day, agrees."""
    customers, invoices = _company(client)
    paid = client.create_from("Payment", {
        "CustomerRef": {"value": customers[0]}, "TotalAmt": Decimal("120.00"), "TxnDate": "2026-06-20",
        "Line": [{"Amount": Decimal("120.00"), "LinkedTxn": [{"TxnId": invoices[0].Id, "TxnType": "Invoice"}]}],
    }, request_id="report-month-end-payment")
    month_end = date(2026, 5, 31)
    result = _mirror(client, customers, invoices, payments=[paid], as_of=month_end)
    assert result.counts["tieout_customers"] == 0 and result.counts["tieout_aging"] == 0, \
        result.frame("tieout_customers").to_dict("records")
    table = result.table("tieout").set_index("qbo_id")
    assert table.loc[int(customers[0]), "work_ar_cents"] == 12000  # invoice 1 (2026-06-20) is after the day
    # the rest of the comparison is of today's balances: invoices and payments agree too
    assert result.counts["invoices_balance"] == 0 and result.counts["payments_missing_in_work"] == 0
    assert result.counts["payments_amount"] == 0 and result.counts["customer_balances"] == 0
