"""CreditMemo (applied to invoices through a Payment) and RefundReceipt, over real HTTP (emulator/credits.py).

The oracle is what QBO answers over HTTP: the invoice's, credit memo's and customer's balances move
together; an over-application is refused; a refund leaves accounts receivable alone.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from kindkit import D, balance, by_name, code_id, customer, fault, kind_conn, line, ok, post, read
from quickbooks.objects.base import LinkedTxn
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.payment import Payment, PaymentLine
from quickbooks.objects.refundreceipt import RefundReceipt
from wirekit import Conn, make_customer, ref, sales_line

from qbo_toolkit.emulator import EmulatorServer

Start = Callable[..., EmulatorServer]


def _apply(conn: Conn, customer_id: str, invoice_id: str, memo_id: str, amount: str,
           total: str = "0") -> Any:
    return conn.post("payment", {
        "CustomerRef": {"value": customer_id}, "TotalAmt": total,
        "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]},
                 {"Amount": amount, "LinkedTxn": [{"TxnId": memo_id, "TxnType": "CreditMemo"}]}]})


def test_credit_memo_is_taxed_and_lowers_the_customer_balance(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-ast")
    who = customer(us)
    memo = ok(post(us, "CreditMemo", who["Id"], [line("40.00", code="TAX")]))["CreditMemo"]
    assert D(memo["TxnTaxDetail"]["TotalTax"]) == Decimal("3.30")  # CA 8.25 % of 40.00
    assert D(memo["TotalAmt"]) == D(memo["Balance"]) == D(memo["RemainingCredit"]) == Decimal("43.30")
    assert memo["DocNumber"] and memo["CustomerRef"]["value"] == who["Id"]
    assert "DueDate" not in memo and "SalesTermRef" not in memo
    assert balance(us, who["Id"]) == Decimal("-43.30")
    assert read(us, "CreditMemo", memo["Id"])["Balance"] == memo["Balance"]
    missing = fault(us.post("creditmemo", {"Line": [line("1.00")]}))
    assert missing["code"] == "2020" and missing["element"] == "CustomerRef"


def test_credit_memo_applied_through_a_payment_moves_every_balance(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-ast")
    who = customer(us)
    invoice = ok(post(us, "Invoice", who["Id"], [line("100.00")]))["Invoice"]
    memo = ok(post(us, "CreditMemo", who["Id"], [line("30.00")]))["CreditMemo"]
    assert balance(us, who["Id"]) == Decimal("70.00")
    payment = ok(_apply(us, who["Id"], invoice["Id"], memo["Id"], "30.00"))["Payment"]
    assert D(payment["TotalAmt"]) == 0 and D(payment["UnappliedAmt"]) == 0
    assert {ln["LinkedTxn"][0]["TxnType"] for ln in payment["Line"]} == {"Invoice", "CreditMemo"}
    invoice_now, memo_now = read(us, "Invoice", invoice["Id"]), read(us, "CreditMemo", memo["Id"])
    assert D(invoice_now["Balance"]) == Decimal("70.00")
    assert D(memo_now["Balance"]) == D(memo_now["RemainingCredit"]) == 0
    assert {"TxnId": payment["Id"], "TxnType": "Payment"} in memo_now["LinkedTxn"]
    assert balance(us, who["Id"]) == Decimal("70.00")  # the credit was already off the balance

    # no credit left: a second application is refused, naming the credit memo
    second = fault(_apply(us, who["Id"], invoice["Id"], memo["Id"], "0.01"))
    assert second["code"] == "6000" and "credit memo" in second["Detail"]
    # a credit memo in use can be neither deleted nor voided
    for op in ("delete", "void"):
        refused = fault(us.post("creditmemo", {"Id": memo_now["Id"], "SyncToken": memo_now["SyncToken"]},
                                params={"operation": op}))
        assert refused["code"] == "6000"
    # deleting the payment gives the credit back
    ok(us.post("payment", {"Id": payment["Id"], "SyncToken": payment["SyncToken"]}, params={"operation": "delete"}))
    assert D(read(us, "Invoice", invoice["Id"])["Balance"]) == Decimal("100.00")
    assert D(read(us, "CreditMemo", memo["Id"])["Balance"]) == Decimal("30.00")
    assert balance(us, who["Id"]) == Decimal("70.00")


def test_credit_and_cash_in_one_payment(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-ast")
    who = customer(us)
    invoice = ok(post(us, "Invoice", who["Id"], [line("100.00")]))["Invoice"]
    memo = ok(post(us, "CreditMemo", who["Id"], [line("25.00")]))["CreditMemo"]
    payment = ok(us.post("payment", {
        "CustomerRef": {"value": who["Id"]}, "TotalAmt": "75.00",
        "Line": [{"Amount": "100.00", "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]},
                 {"Amount": "25.00", "LinkedTxn": [{"TxnId": memo["Id"], "TxnType": "CreditMemo"}]}]}))["Payment"]
    assert D(payment["UnappliedAmt"]) == 0
    assert D(read(us, "Invoice", invoice["Id"])["Balance"]) == 0
    assert D(read(us, "CreditMemo", memo["Id"])["Balance"]) == 0
    assert balance(us, who["Id"]) == 0
    # credits worth more than the invoices they are applied to are refused
    other = ok(post(us, "Invoice", who["Id"], [line("10.00")]))["Invoice"]
    memo2 = ok(post(us, "CreditMemo", who["Id"], [line("20.00")]))["CreditMemo"]
    over = fault(us.post("payment", {
        "CustomerRef": {"value": who["Id"]}, "TotalAmt": "0",
        "Line": [{"Amount": "10.00", "LinkedTxn": [{"TxnId": other["Id"], "TxnType": "Invoice"}]},
                 {"Amount": "20.00", "LinkedTxn": [{"TxnId": memo2["Id"], "TxnType": "CreditMemo"}]}]}))
    assert over["code"] == "6000"


def test_a_credit_memo_of_another_customer_cannot_be_applied(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-ast")
    one, two = customer(us), customer(us)
    invoice = ok(post(us, "Invoice", one["Id"], [line("10.00")]))["Invoice"]
    memo = ok(post(us, "CreditMemo", two["Id"], [line("10.00")]))["CreditMemo"]
    assert fault(_apply(us, one["Id"], invoice["Id"], memo["Id"], "10.00"))["code"] == "620"


def test_credit_memo_update_void_and_delete(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-ast")
    who = customer(us)
    memo = ok(post(us, "CreditMemo", who["Id"], [line("10.00")]))["CreditMemo"]
    bigger = ok(us.post("creditmemo", {"Id": memo["Id"], "SyncToken": memo["SyncToken"], "sparse": True,
                                       "Line": [line("15.00")]}))["CreditMemo"]
    assert D(bigger["Balance"]) == Decimal("15.00") and bigger["SyncToken"] == "1"
    assert balance(us, who["Id"]) == Decimal("-15.00")
    voided = ok(us.post("creditmemo", {"Id": bigger["Id"], "SyncToken": bigger["SyncToken"]},
                        params={"operation": "void"}))["CreditMemo"]
    assert D(voided["TotalAmt"]) == D(voided["Balance"]) == 0 and voided["PrivateNote"].startswith("Voided")
    assert balance(us, who["Id"]) == 0
    other = ok(post(us, "CreditMemo", who["Id"], [line("7.00")]))["CreditMemo"]
    assert balance(us, who["Id"]) == Decimal("-7.00")
    gone = ok(us.post("creditmemo", {"Id": other["Id"], "SyncToken": other["SyncToken"]},
                      params={"operation": "delete"}))["CreditMemo"]
    assert gone["status"] == "Deleted"
    assert balance(us, who["Id"]) == 0
    assert us.get(f"creditmemo/{other['Id']}").status_code == 400


def test_uk_credit_memo_needs_real_tax_codes(start_emulator: Start) -> None:
    uk = kind_conn(start_emulator, "uk")
    who = customer(uk)
    assert fault(post(uk, "CreditMemo", who["Id"], [line("10.00", code="NON")]))["code"] == "6000"
    memo = ok(post(uk, "CreditMemo", who["Id"], [line("10.00", code=code_id(uk, "20.0% S"))]))["CreditMemo"]
    assert D(memo["TotalAmt"]) == Decimal("12.00")


# -- RefundReceipt ---------------------------------------------------------------------------------------

def test_refund_receipt_pays_back_without_touching_receivables(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-ast")
    who = customer(us)
    ok(post(us, "Invoice", who["Id"], [line("50.00")]))
    undeposited = by_name(us, "Account", "Undeposited Funds")
    check = by_name(us, "PaymentMethod", "Check")
    refund = ok(post(us, "RefundReceipt", who["Id"], [line("20.00", code="TAX")],
                     DepositToAccountRef={"value": undeposited["Id"]},
                     PaymentMethodRef={"value": check["Id"]}))["RefundReceipt"]
    assert D(refund["TxnTaxDetail"]["TotalTax"]) == Decimal("1.65")
    assert D(refund["TotalAmt"]) == Decimal("21.65")
    assert refund["DepositToAccountRef"] == {"value": undeposited["Id"], "name": "Undeposited Funds"}
    assert refund["PaymentMethodRef"] == {"value": check["Id"], "name": "Check"}
    assert balance(us, who["Id"]) == Decimal("50.00")
    assert read(us, "RefundReceipt", refund["Id"])["TotalAmt"] == refund["TotalAmt"]

    income = by_name(us, "Account", "Services")
    wrong = fault(post(us, "RefundReceipt", who["Id"], [line("1.00")], DepositToAccountRef={"value": income["Id"]}))
    assert wrong["code"] == "6000" and wrong["element"] == "DepositToAccountRef"
    missing = fault(post(us, "RefundReceipt", who["Id"], [line("1.00")]))
    assert missing["code"] == "2020" and missing["element"] == "DepositToAccountRef"
    method = fault(post(us, "RefundReceipt", who["Id"], [line("1.00")],
                        DepositToAccountRef={"value": undeposited["Id"]}, PaymentMethodRef={"value": "9999"}))
    assert method["code"] == "2500" and method["element"] == "PaymentMethodRef"


@pytest.mark.parametrize("op", ["void", "delete"])
def test_refund_receipt_void_and_delete(start_emulator: Start, op: str) -> None:
    au = kind_conn(start_emulator, "au")
    who = customer(au)
    bank = by_name(au, "Account", "Checking")
    refund = ok(post(au, "RefundReceipt", who["Id"], [line("11.00", code=code_id(au, "GST"))],
                     DepositToAccountRef={"value": bank["Id"]}))["RefundReceipt"]
    assert D(refund["TotalAmt"]) == Decimal("12.10")
    done = ok(au.post("refundreceipt", {"Id": refund["Id"], "SyncToken": refund["SyncToken"]},
                      params={"operation": op}))["RefundReceipt"]
    if op == "void":
        assert D(done["TotalAmt"]) == 0 and D(done["TxnTaxDetail"]["TotalTax"]) == 0
    else:
        assert done["status"] == "Deleted"
    assert balance(au, who["Id"]) == 0


def test_python_quickbooks_objects_round_trip(start_emulator: Start) -> None:
    """The unmodified python-quickbooks CreditMemo, RefundReceipt and Payment objects (their defaults
    included) create, apply and read back."""
    uk = kind_conn(start_emulator, "uk")
    qb = uk.qb
    standard = code_id(uk, "20.0% S")
    who = make_customer(qb)
    invoice = ok(post(uk, "Invoice", who.Id, [line("60.00", code=standard)]))["Invoice"]
    memo = CreditMemo()
    memo.CustomerRef = ref(who.Id)
    memo_line = sales_line("1", 1, "25.00")
    memo_line.SalesItemLineDetail.TaxCodeRef = ref(standard)
    memo.Line = [memo_line]
    memo = memo.save(qb=qb)
    assert D(memo.TotalAmt) == Decimal("30.00") and D(memo.RemainingCredit) == Decimal("30.00")

    payment = Payment()
    payment.CustomerRef = ref(who.Id)
    payment.TotalAmt = Decimal("0")
    payment.Line = []
    for txn_id, txn_type in ((invoice["Id"], "Invoice"), (memo.Id, "CreditMemo")):
        pay_line = PaymentLine()
        pay_line.Amount = Decimal("30.00")
        link = LinkedTxn()
        link.TxnId, link.TxnType = txn_id, txn_type
        pay_line.LinkedTxn = [link]
        payment.Line.append(pay_line)
    payment.save(qb=qb)
    again = CreditMemo.get(memo.Id, qb=qb)
    assert D(again.Balance) == 0 and D(again.RemainingCredit) == 0
    assert D(read(uk, "Invoice", invoice["Id"])["Balance"]) == Decimal("42.00")

    refund = RefundReceipt()
    refund.CustomerRef = ref(who.Id)
    refund.DepositToAccountRef = ref(by_name(uk, "Account", "Checking")["Id"])
    refund_line = sales_line("1", 1, "10.00")
    refund_line.SalesItemLineDetail.TaxCodeRef = ref(standard)
    refund.Line = [refund_line]
    refund = refund.save(qb=qb)
    assert D(refund.TotalAmt) == Decimal("12.00")
    assert D(RefundReceipt.get(refund.Id, qb=qb).TotalAmt) == Decimal("12.00")
    assert balance(uk, who.Id) == Decimal("42.00")  # 72.00 invoiced, 30.00 credited; the refund is cash
