"""Closed books over real HTTP: Preferences.AccountingInfoPrefs.BookCloseDate refuses every write of a
transaction dated (before or after the change) on or before it: create, update, delete and void of
invoices, payments, credit memos and refund receipts. Fault 5010 "Account Period Closed" with the
text integrators report; a client must know it by that text (5010 is also the stale-SyncToken code).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kindkit import CLOSED_TEXT, by_name, close_books, customer, fault, kind_conn, line, ok, post, read
from wirekit import Conn

from qbo_toolkit.emulator import EmulatorServer

Start = Callable[..., EmulatorServer]


def _closed(resp: Any) -> None:
    error = fault(resp)
    assert error["code"] == "5010", error
    assert error["Message"] == "Account Period Closed"
    assert CLOSED_TEXT in error["Detail"], error


def _op(conn: Conn, entity: str, doc: dict[str, Any], op: str) -> Any:
    return conn.post(entity.lower(), {"Id": doc["Id"], "SyncToken": doc["SyncToken"]}, params={"operation": op})


def test_books_are_open_until_preferences_close_them(start_emulator: Start) -> None:
    conn = kind_conn(start_emulator, "us-ast")
    prefs = ok(conn.get("preferences"))["Preferences"]
    assert "BookCloseDate" not in prefs["AccountingInfoPrefs"]
    who = customer(conn)
    ok(post(conn, "Invoice", who["Id"], [line("5.00")], TxnDate="2020-01-01"))


def test_every_write_dated_in_a_closed_period_is_refused(start_emulator: Start) -> None:
    conn = kind_conn(start_emulator, "us-ast")
    who = customer(conn)
    undeposited = by_name(conn, "Account", "Undeposited Funds")
    invoice = ok(post(conn, "Invoice", who["Id"], [line("100.00")], TxnDate="2026-06-15"))["Invoice"]
    other = ok(post(conn, "Invoice", who["Id"], [line("40.00")], TxnDate="2026-06-16"))["Invoice"]
    link = {"Amount": "10.00", "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}
    payment = ok(conn.post("payment", {"CustomerRef": {"value": who["Id"]}, "TotalAmt": "10.00",
                                       "TxnDate": "2026-06-20", "Line": [link]}))["Payment"]
    memo = ok(post(conn, "CreditMemo", who["Id"], [line("5.00")], TxnDate="2026-06-10"))["CreditMemo"]
    refund = ok(post(conn, "RefundReceipt", who["Id"], [line("3.00")], TxnDate="2026-06-12",
                     DepositToAccountRef={"value": undeposited["Id"]}))["RefundReceipt"]
    close_books(conn, "2026-06-30")

    # create on or before the closing date
    _closed(post(conn, "Invoice", who["Id"], [line("1.00")], TxnDate="2026-06-30"))
    _closed(post(conn, "CreditMemo", who["Id"], [line("1.00")], TxnDate="2026-01-02"))
    _closed(post(conn, "RefundReceipt", who["Id"], [line("1.00")], TxnDate="2026-06-01",
                 DepositToAccountRef={"value": undeposited["Id"]}))
    _closed(conn.post("payment", {"CustomerRef": {"value": who["Id"]}, "TotalAmt": "1.00", "TxnDate": "2026-05-01"}))
    # update, delete, void of what is dated inside
    _closed(conn.post("invoice", {"Id": invoice["Id"], "SyncToken": read(conn, "Invoice", invoice["Id"])["SyncToken"],
                                  "sparse": True, "PrivateNote": "late edit"}))
    _closed(_op(conn, "Invoice", other, "delete"))
    _closed(_op(conn, "Invoice", other, "void"))
    _closed(conn.post("payment", {"Id": payment["Id"], "SyncToken": payment["SyncToken"], "sparse": True,
                                  "PaymentRefNum": "late"}))
    _closed(_op(conn, "Payment", payment, "delete"))
    _closed(conn.post("payment", {"Id": payment["Id"], "SyncToken": payment["SyncToken"]},
                      params={"operation": "update", "include": "void"}))
    _closed(_op(conn, "CreditMemo", memo, "delete"))
    _closed(_op(conn, "CreditMemo", memo, "void"))
    _closed(_op(conn, "RefundReceipt", refund, "void"))
    _closed(conn.post("refundreceipt", {"Id": refund["Id"], "SyncToken": refund["SyncToken"], "sparse": True,
                                        "TxnDate": "2026-07-15"}))  # moving it out needs the old date open too
    # moving a later transaction into the closed period
    late = ok(post(conn, "Invoice", who["Id"], [line("1.00")], TxnDate="2026-07-01"))["Invoice"]
    _closed(conn.post("invoice", {"Id": late["Id"], "SyncToken": late["SyncToken"], "sparse": True,
                                  "TxnDate": "2026-06-01"}))
    # nothing changed
    assert read(conn, "Invoice", other["Id"])["SyncToken"] == other["SyncToken"]
    assert read(conn, "CreditMemo", memo["Id"])["SyncToken"] == memo["SyncToken"]

    # the accountant reopens the period: the same writes go through
    close_books(conn, "2026-05-31")
    ok(_op(conn, "Invoice", other, "delete"))
    ok(_op(conn, "CreditMemo", memo, "void"))


def test_closed_books_apply_to_every_kind(start_emulator: Start) -> None:
    uk = kind_conn(start_emulator, "uk")
    who = customer(uk)
    close_books(uk, "2026-03-31")
    code = by_name(uk, "TaxCode", "20.0% S")["Id"]
    _closed(post(uk, "Invoice", who["Id"], [line("1.00", code=code)], TxnDate="2026-03-31"))
    ok(post(uk, "Invoice", who["Id"], [line("1.00", code=code)], TxnDate="2026-04-01"))


def test_other_transactions_respect_closed_books_too(start_emulator: Start) -> None:
    conn = kind_conn(start_emulator, "us-ast")
    checking, expense = by_name(conn, "Account", "Checking"), by_name(conn, "Account", "Job Supplies")
    entry = {"Line": [{"Amount": "12.00", "DetailType": "JournalEntryLineDetail",
                       "JournalEntryLineDetail": {"PostingType": "Debit", "AccountRef": {"value": expense["Id"]}}},
                      {"Amount": "12.00", "DetailType": "JournalEntryLineDetail",
                       "JournalEntryLineDetail": {"PostingType": "Credit", "AccountRef": {"value": checking["Id"]}}}]}
    early = ok(conn.post("journalentry", {**entry, "TxnDate": "2026-02-10"}))["JournalEntry"]
    close_books(conn, "2026-02-28")
    _closed(conn.post("journalentry", {**entry, "TxnDate": "2026-02-28"}))
    _closed(conn.post("journalentry", {"Id": early["Id"], "SyncToken": early["SyncToken"], "sparse": True,
                                       "PrivateNote": "late"}))
    _closed(_op(conn, "JournalEntry", early, "delete"))
    ok(conn.post("journalentry", {**entry, "TxnDate": "2026-03-01"}))
