"""Invoices and payments over HTTP: totals, balances, links, delete and void, and their reply shapes."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from quickbooks.exceptions import ObjectNotFoundException, QuickbooksException
from quickbooks.objects import Customer, Invoice, Payment
from quickbooks.objects.tax import TxnTaxDetail
from wirekit import (
    Conn,
    address,
    assert_shape,
    build_invoice,
    load_sample,
    make_customer,
    make_invoice,
    make_payment,
    unique,
)


def balance(conn: Conn, entity: type[Invoice] | type[Customer], id_: str) -> Decimal:
    return Decimal(str(entity.get(id_, qb=conn.qb).Balance))


def test_invoice_create_computes_totals_and_defaults(conn: Conn) -> None:
    customer = make_customer(conn.qb, BillAddr=address("4 Pine St.", "Menlo Park"),
                             ShipAddr=address("5 Pine St.", "Menlo Park"))
    invoice = make_invoice(conn.qb, customer.Id, [("2", 2, 75), ("3", 3, "49.99")])

    items = [line for line in invoice.Line if line.DetailType == "SalesItemLineDetail"]
    assert [line.Amount for line in items] == [Decimal("150"), Decimal("149.97")]
    assert [(line.Id, line.LineNum) for line in items] == [("1", 1), ("2", 2)]
    subtotal = invoice.Line[-1]
    assert subtotal.DetailType == "SubTotalLineDetail"
    assert subtotal.Amount == Decimal("299.97")
    assert invoice.TotalAmt == invoice.Balance == Decimal("299.97")
    assert invoice.DocNumber and invoice.DocNumber.isdigit()
    today = conn.emu.clock.now().date()
    assert invoice.TxnDate == today.isoformat()
    assert invoice.DueDate == (today + timedelta(days=30)).isoformat()
    assert (invoice.BillAddr.Line1, invoice.ShipAddr.Line1) == ("4 Pine St.", "5 Pine St.")
    assert invoice.CustomerRef.name == customer.DisplayName
    assert items[0].SalesItemLineDetail.ItemRef.name == "Hours"
    assert invoice.SyncToken == "0"
    assert balance(conn, Customer, customer.Id) == Decimal("299.97")
    # the next invoice without a DocNumber gets the next number of the company's sequence
    following = make_invoice(conn.qb, customer.Id, [("2", 1, 75)])
    assert int(following.DocNumber) == int(invoice.DocNumber) + 1


def test_invoice_tax_and_explicit_dates(conn: Conn) -> None:
    customer = make_customer(conn.qb)
    tax = TxnTaxDetail()
    tax.TotalTax = Decimal("8.25")
    invoice = make_invoice(conn.qb, customer.Id, [("2", 1, 100)], TxnTaxDetail=tax, TxnDate="2026-02-10",
                           DocNumber=unique("T")[:21])
    assert invoice.TotalAmt == invoice.Balance == Decimal("108.25")
    assert invoice.TxnTaxDetail.TotalTax == Decimal("8.25")
    assert invoice.DueDate == "2026-03-12"
    assert balance(conn, Customer, customer.Id) == Decimal("108.25")


def test_invoice_full_and_sparse_update(conn: Conn) -> None:
    customer = make_customer(conn.qb)
    invoice = make_invoice(conn.qb, customer.Id, [("2", 2, 75)])
    read = Invoice.get(invoice.Id, qb=conn.qb)
    # full update of what python-quickbooks read (it sends the SubTotal line back; the server drops it)
    read.Line[0].SalesItemLineDetail.Qty = 4
    read.Line[0].Amount = 300
    updated = read.save(qb=conn.qb)
    assert updated.SyncToken == "1"
    assert updated.TotalAmt == updated.Balance == Decimal("300")
    assert [line.DetailType for line in updated.Line] == ["SalesItemLineDetail", "SubTotalLineDetail"]
    assert balance(conn, Customer, customer.Id) == Decimal("300")

    resp = conn.post("invoice", {"Id": invoice.Id, "SyncToken": "1", "sparse": True, "PrivateNote": "gate 4"})
    assert resp.status_code == 200, resp.text
    body = resp.json()["Invoice"]
    assert (body["SyncToken"], body["PrivateNote"], body["TotalAmt"]) == ("2", "gate 4", 300)
    assert len(body["Line"]) == 2


def test_payments_lower_balances_and_link_the_invoice(conn: Conn) -> None:
    customer = make_customer(conn.qb)
    invoice = make_invoice(conn.qb, customer.Id, [("2", 4, 75)])  # 300.00

    first = make_payment(conn.qb, customer.Id, 100, [(invoice.Id, 100)])
    assert first.UnappliedAmt == 0
    assert first.DepositToAccountRef.name == "Undeposited Funds"
    assert first.TxnDate == conn.emu.clock.now().date().isoformat()
    after_first = Invoice.get(invoice.Id, qb=conn.qb)
    assert after_first.Balance == Decimal("200")
    assert after_first.SyncToken == "1"
    assert [(t.TxnId, t.TxnType) for t in after_first.LinkedTxn] == [(first.Id, "Payment")]
    assert balance(conn, Customer, customer.Id) == Decimal("200")

    second = make_payment(conn.qb, customer.Id, 250, [(invoice.Id, 150)])
    assert second.UnappliedAmt == Decimal("100")
    after_second = Invoice.get(invoice.Id, qb=conn.qb)
    assert after_second.Balance == Decimal("50")
    assert {t.TxnId for t in after_second.LinkedTxn} == {first.Id, second.Id}
    # the unapplied 100 is a credit: the customer's balance falls by the whole payment
    assert balance(conn, Customer, customer.Id) == Decimal("-50")

    # deleting a payment restores what it applied
    Payment.get(second.Id, qb=conn.qb).delete(qb=conn.qb)
    restored = Invoice.get(invoice.Id, qb=conn.qb)
    assert restored.Balance == Decimal("200")
    assert [t.TxnId for t in restored.LinkedTxn] == [first.Id]
    assert balance(conn, Customer, customer.Id) == Decimal("200")


def test_one_payment_for_two_invoices_and_its_void(conn: Conn) -> None:
    customer = make_customer(conn.qb)
    a = make_invoice(conn.qb, customer.Id, [("2", 1, 75)])
    b = make_invoice(conn.qb, customer.Id, [("3", 2, 50)])
    payment = make_payment(conn.qb, customer.Id, 175, [(a.Id, 75), (b.Id, 100)])
    assert payment.UnappliedAmt == 0
    assert (balance(conn, Invoice, a.Id), balance(conn, Invoice, b.Id)) == (0, 0)
    assert balance(conn, Customer, customer.Id) == 0

    read = Payment.get(payment.Id, qb=conn.qb)
    reply = read.void(qb=conn.qb)["Payment"]
    assert reply["TotalAmt"] == 0
    assert reply["SyncToken"] == str(int(read.SyncToken) + 1)
    assert "Voided" in reply["PrivateNote"]
    assert (balance(conn, Invoice, a.Id), balance(conn, Invoice, b.Id)) == (75, 100)
    assert balance(conn, Customer, customer.Id) == Decimal("175")


def test_payment_full_and_sparse_update(conn: Conn) -> None:
    customer = make_customer(conn.qb)
    invoice = make_invoice(conn.qb, customer.Id, [("2", 2, 75)])
    payment = make_payment(conn.qb, customer.Id, 100, [(invoice.Id, 100)])
    read = Payment.get(payment.Id, qb=conn.qb)
    # python-quickbooks sends back the server's LineEx blocks; they are accepted and ignored
    assert read.Line[0].LineEx
    read.PaymentRefNum = "CHK-1001"
    updated = read.save(qb=conn.qb)
    assert (updated.SyncToken, updated.PaymentRefNum) == ("1", "CHK-1001")
    assert balance(conn, Invoice, invoice.Id) == Decimal("50")

    resp = conn.post("payment", {"Id": payment.Id, "SyncToken": "1", "sparse": True, "PrivateNote": "by mail"})
    assert resp.status_code == 200, resp.text
    body = resp.json()["Payment"]
    assert (body["SyncToken"], body["PrivateNote"], body["PaymentRefNum"]) == ("2", "by mail", "CHK-1001")
    assert balance(conn, Invoice, invoice.Id) == Decimal("50")


def test_over_applying_a_payment_is_refused_with_a_clear_detail(conn: Conn) -> None:
    customer = make_customer(conn.qb)
    invoice = make_invoice(conn.qb, customer.Id, [("2", 1, 75)])
    with pytest.raises(QuickbooksException) as info:
        make_payment(conn.qb, customer.Id, 100, [(invoice.Id, 100)])
    assert info.value.error_code == 6000
    assert "more than its open balance" in info.value.detail
    assert invoice.DocNumber in info.value.detail
    assert balance(conn, Invoice, invoice.Id) == Decimal("75")
    assert Payment.filter(CustomerRef=customer.Id, qb=conn.qb) == []


def test_void_invoice_zeroes_it(conn: Conn) -> None:
    customer = make_customer(conn.qb)
    invoice = make_invoice(conn.qb, customer.Id, [("2", 2, 75)])
    reply = Invoice.get(invoice.Id, qb=conn.qb).void(qb=conn.qb)["Invoice"]
    assert reply["SyncToken"] == "1"
    assert reply["PrivateNote"] == "Voided"
    assert reply["TotalAmt"] == reply["Balance"] == 0
    assert [line["Amount"] for line in reply["Line"]] == [0, 0]
    voided = Invoice.get(invoice.Id, qb=conn.qb)
    assert voided.TotalAmt == 0 and voided.DocNumber == invoice.DocNumber
    assert balance(conn, Customer, customer.Id) == 0


def test_delete_invoice_then_read_is_610(conn: Conn) -> None:
    customer = make_customer(conn.qb)
    invoice = make_invoice(conn.qb, customer.Id, [("2", 1, 75)])
    read = Invoice.get(invoice.Id, qb=conn.qb)
    reply = read.delete(qb=conn.qb)
    assert reply["Invoice"] == {"domain": "QBO", "status": "Deleted", "Id": invoice.Id}
    with pytest.raises(ObjectNotFoundException) as info:
        Invoice.get(invoice.Id, qb=conn.qb)
    assert info.value.error_code == 610
    # updating the deleted invoice: "Another user has deleted this transaction."
    read.PrivateNote = "too late"
    with pytest.raises(ObjectNotFoundException) as info:
        read.save(qb=conn.qb)
    assert "deleted" in info.value.detail
    assert balance(conn, Customer, customer.Id) == 0


def test_invoice_with_payments_cannot_be_deleted_or_voided(conn: Conn) -> None:
    customer = make_customer(conn.qb)
    invoice = make_invoice(conn.qb, customer.Id, [("2", 1, 75)])
    make_payment(conn.qb, customer.Id, 25, [(invoice.Id, 25)])
    read = Invoice.get(invoice.Id, qb=conn.qb)
    for action in (read.delete, read.void):
        with pytest.raises(QuickbooksException) as info:
            action(qb=conn.qb)
        assert info.value.error_code == 6000
    assert balance(conn, Invoice, invoice.Id) == Decimal("50")


def test_customer_balance_follows_invoices_and_payments(conn: Conn) -> None:
    customer = make_customer(conn.qb)
    a = make_invoice(conn.qb, customer.Id, [("2", 2, 75)])
    b = make_invoice(conn.qb, customer.Id, [("3", 1, 50)])
    assert balance(conn, Customer, customer.Id) == Decimal("200")
    make_payment(conn.qb, customer.Id, 60, [(a.Id, 60)])
    assert balance(conn, Customer, customer.Id) == Decimal("140")
    Invoice.get(b.Id, qb=conn.qb).void(qb=conn.qb)
    assert balance(conn, Customer, customer.Id) == Decimal("90")
    # balance changes are not edits of the customer: its SyncToken stays
    assert Customer.get(customer.Id, qb=conn.qb).SyncToken == "0"


# -- shapes against real replies -------------------------------------------------------------------------

def _sample_invoice(conn: Conn) -> tuple[dict[str, object], str]:
    customer = make_customer(conn.qb, BillAddr=address("4581 Finch St.", "Bayshore", "CA", "94326"),
                             ShipAddr=address("4581 Finch St.", "Bayshore", "CA", "94326"))
    # like the recorded customer 1, this one has an e-mail address: the reply still has no BillEmail
    conn.post("customer", {"Id": customer.Id, "SyncToken": "0", "sparse": True,
                           "PrimaryEmailAddr": {"Address": "Birds@Intuit.com"}})
    body = {"Line": [{"Amount": 100.00, "DetailType": "SalesItemLineDetail",
                      "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}],
            "CustomerRef": {"value": customer.Id}}
    resp = conn.post("invoice", body)
    assert resp.status_code == 200, resp.text
    return resp.json(), customer.Id


def _without_geocode(sample: dict[str, object]) -> dict[str, object]:
    invoice = sample["Invoice"]
    assert isinstance(invoice, dict)
    for key in ("BillAddr", "ShipAddr"):
        for field in ("Lat", "Long"):  # addresses have an Id; no geocode (QBO since 2025)
            invoice[key].pop(field)
    return sample


def test_invoice_create_reply_has_the_recorded_shape(conn: Conn) -> None:
    sample = _without_geocode(load_sample("invoice_create_response"))
    reply, _ = _sample_invoice(conn)
    assert_shape(reply, sample, exact=True)
    invoice = reply["Invoice"]
    assert isinstance(invoice, dict)
    assert invoice["Line"][-1] == {"Amount": 100.0, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
    assert invoice["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "NON"}
    assert date.fromisoformat(invoice["DueDate"]) - date.fromisoformat(invoice["TxnDate"]) == timedelta(days=30)


def test_invoice_void_and_delete_replies_have_the_recorded_shape(conn: Conn) -> None:
    reply, _ = _sample_invoice(conn)
    invoice = reply["Invoice"]
    assert isinstance(invoice, dict)
    voided = conn.post("invoice", {"Id": invoice["Id"], "SyncToken": "0"}, {"operation": "void"})
    assert voided.status_code == 200, voided.text
    assert_shape(voided.json(), _without_geocode(load_sample("invoice_void_response")), exact=True)

    other, _ = _sample_invoice(conn)
    other_id = other["Invoice"]["Id"]  # type: ignore[index]
    deleted = conn.post("invoice", {"Id": other_id, "SyncToken": "0"}, {"operation": "delete"})
    assert deleted.status_code == 200
    assert_shape(deleted.json(), load_sample("invoice_delete_response"), exact=True)


def test_payment_reply_has_the_documented_shape(conn: Conn) -> None:
    sample = load_sample("payment_read_response_docs")
    customer = make_customer(conn.qb)
    invoice = make_invoice(conn.qb, customer.Id, [("2", 1, 25)])
    payment = make_payment(conn.qb, customer.Id, 25, [(invoice.Id, 25)])
    resp = conn.get(f"payment/{payment.Id}")
    assert resp.status_code == 200
    assert_shape(resp.json(), sample)  # the emulator adds CurrencyRef and LineEx, as the sandbox does
    assert resp.json()["Payment"]["DepositToAccountRef"]["value"] == "4"


def test_invoice_built_by_python_quickbooks_round_trips(conn: Conn) -> None:
    # every default python-quickbooks sends ("" dates, TotalAmt "", LineNum 0, Refs with type "") is accepted
    customer = make_customer(conn.qb)
    invoice = build_invoice(customer.Id, [("4", 3, "12.5")])
    invoice.Line[0].LineNum = 0
    saved = invoice.save(qb=conn.qb)
    assert saved.TotalAmt == Decimal("37.5")
    assert saved.PrintStatus == "NotSet"
