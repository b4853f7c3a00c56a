"""The sync's pure planners (qbo_toolkit.sync.plan), decision by decision.

Records are built by the small factories below (the WORK models are frozen dataclasses; QBO
customers are JSON-shaped dicts as QBO sends them). The run's date is TODAY, the integration date
INTEGRATION. Every table row names the decision it pins; rows that pin a precedence between two
rules say so ("beats"). Pure: no store, no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from qbo_toolkit.mapping.customers import client_values
from qbo_toolkit.mapping.problems import FieldProblem
from qbo_toolkit.sync.merge import Conflict, MergeResult
from qbo_toolkit.sync.plan import Action, plan_customer_merge, plan_customers, plan_invoice, plan_payment
from qbo_toolkit.sync.state import Link
from qbo_toolkit.work.models import Address, Client, Invoice, InvoiceLine, Payment

TODAY = date(2024, 6, 1)
INTEGRATION = date(2024, 1, 1)
LATEST = TODAY + timedelta(days=366)  # the last plausible transaction date
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

_DEFAULT: Any = object()  # "use the factory's default" (None is a meaningful argument here)


# ================================================================================== factories
def link(entity: str, work_id: int, qbo_id: str, *, version: int = 1, state: str = "active",
         base: dict[str, Any] | None = None, qbo_name: str | None = None, synctoken: str = "2") -> Link:
    return Link(entity=entity, work_id=work_id, qbo_id=qbo_id, sync_token=synctoken, work_version=version, base=base,
                fingerprint=None, qbo_name=qbo_name, state=state)


def invoice(**changes: Any) -> Invoice:
    fields: dict[str, Any] = {
        "id": 1, "number": "INV-1", "client_id": 7, "issue_date": date(2024, 3, 1), "due_date": date(2024, 3, 31),
        "status": "open", "lines": (InvoiceLine(1, None, "Repair", Decimal("1"), Decimal("100.00")),),
        "total": Decimal("100.00"), "version": 1,
    }
    return Invoice(**{**fields, **changes})


def payment(**changes: Any) -> Payment:
    fields: dict[str, Any] = {"id": 11, "invoice_id": 1, "date": date(2024, 3, 15), "amount": Decimal("40.00"),
                              "version": 1}
    return Payment(**{**fields, **changes})


def invoice_link(*, version: int = 1, state: str = "active") -> Link:
    return link("invoice", 1, "501", version=version, state=state)


def payment_link(*, version: int = 1, state: str = "active") -> Link:
    return link("payment", 11, "801", version=version, state=state)


CUSTOMER_OF_INVOICE = link("customer", 7, "301")


def client(id_: int = 1, name: str = "Acme Plumbing", *, email: str = "a@x.com", phone: str = "555-0100",
           city: str = "Seattle", state: str = "WA", updated_at: datetime = T0, **extra: Any) -> Client:
    billing = Address(line1="1 Main St", city=city, state=state, postal_code="98101", country="US")
    return Client(id=id_, display_name=name, email=email, phone=phone, billing=billing, updated_at=updated_at,
                  **extra)


def qbo_customer(qbo_id: str = "301", name: str = "Acme Plumbing", *, email: str = "a@x.com",
                 phone: str = "555-0100", city: str = "Seattle", state: str = "WA", synctoken: str = "3",
                 updated: str | None = None, **extra: Any) -> dict[str, Any]:
    """A QBO Customer with the same values as ``client()`` with the same arguments."""
    bill = {"Line1": "1 Main St", "City": city, "CountrySubDivisionCode": state, "PostalCode": "98101",
            "Country": "US"}
    customer: dict[str, Any] = {"Id": qbo_id, "SyncToken": synctoken, "DisplayName": name, "Active": True,
                                "BillAddr": {k: v for k, v in bill.items() if v}}
    if email:
        customer["PrimaryEmailAddr"] = {"Address": email}
    if phone:
        customer["PrimaryPhone"] = {"FreeFormNumber": phone}
    if updated is not None:
        customer["MetaData"] = {"LastUpdatedTime": updated}
    customer.update(extra)
    return customer


def customer_link(work_id: int = 1, qbo_id: str = "301", *, base: Any = _DEFAULT, qbo_name: str | None = None,
                  synctoken: str = "2") -> Link:
    """A linked pair whose base (by default) is what ``client(work_id)`` holds: both sides agreed."""
    agreed = client_values(client(work_id)) if base is _DEFAULT else base
    return link("customer", work_id, qbo_id, base=agreed, qbo_name=qbo_name, synctoken=synctoken)


# ================================================================================== plan_invoice
def plan_inv(inv: Invoice, inv_link: Link | None = None, customer: Link | None = CUSTOMER_OF_INVOICE, *,
             client_active: bool = True) -> Action:
    return plan_invoice(inv, inv_link, customer, integration_date=INTEGRATION, today=TODAY,
                        client_active=client_active)


#: (id, invoice, its link, its customer's link, client active, kind, field, QBO id, words of the reason)
INVOICE_CASES = [
    # a link deleted in QBO by an earlier run: nothing more to do, whatever WORK did since
    ("deleted in QBO: skip", invoice(version=2), invoice_link(state="deleted"), CUSTOMER_OF_INVOICE, True,
     "skip", None, "501", "deleted in QuickBooks"),
    ("deleted in QBO beats deleted in WORK", invoice(deleted=True, version=2), invoice_link(state="deleted"),
     CUSTOMER_OF_INVOICE, True, "skip", None, "501", "deleted in QuickBooks"),
    # deleted in WORK
    ("deleted in WORK, linked: delete", invoice(deleted=True, version=2), invoice_link(), CUSTOMER_OF_INVOICE, True,
     "delete", None, "501", "deleted in WORK"),
    ("deleted in WORK, voided in QBO: delete", invoice(deleted=True, status="void", version=3),
     invoice_link(version=2, state="voided"), CUSTOMER_OF_INVOICE, True, "delete", None, "501", "deleted in WORK"),
    ("deleted in WORK, never sent: skip", invoice(deleted=True), None, CUSTOMER_OF_INVOICE, True,
     "skip", None, None, "before it was sent"),
    ("deleted beats an implausible date and a missing client", invoice(deleted=True, issue_date=date(1850, 3, 1)),
     None, None, True, "skip", None, None, "before it was sent"),
    # void in WORK
    ("void in WORK, never sent: skip", invoice(status="void"), None, CUSTOMER_OF_INVOICE, True,
     "skip", None, None, "never sent"),
    ("void in WORK, open in QBO: void", invoice(status="void", version=2), invoice_link(), CUSTOMER_OF_INVOICE, True,
     "void", None, "501", "voided in WORK"),
    ("void in WORK, unchanged version, open in QBO: still void", invoice(status="void"), invoice_link(),
     CUSTOMER_OF_INVOICE, True, "void", None, "501", "voided in WORK"),
    ("void in WORK, already void in QBO: skip", invoice(status="void", version=2), invoice_link(state="voided"),
     CUSTOMER_OF_INVOICE, True, "skip", None, "501", "already void"),
    ("void beats an implausible date and an inactive client", invoice(status="void", issue_date=date(1850, 3, 1)),
     invoice_link(), None, False, "void", None, "501", "voided in WORK"),
    # voided in QBO, not void in WORK
    ("voided in QBO, changed in WORK: skip", invoice(version=2), invoice_link(state="voided"), CUSTOMER_OF_INVOICE,
     True, "skip", None, "501", "cannot change"),
    # drafts
    ("draft, never sent: skip", invoice(status="draft"), None, CUSTOMER_OF_INVOICE, True,
     "skip", None, None, "draft"),
    ("draft, already in QBO: skip", invoice(status="draft", version=2), invoice_link(), CUSTOMER_OF_INVOICE, True,
     "skip", None, "501", "draft"),
    ("draft beats an implausible date", invoice(status="draft", issue_date=date(1850, 3, 1)), None, None, True,
     "skip", None, None, "draft"),
    # implausible dates
    ("implausible issue date: fail", invoice(issue_date=date(1850, 3, 1)), None, CUSTOMER_OF_INVOICE, True,
     "fail", "issue_date", None, "1850-03-01"),
    ("implausible due date: fail", invoice(due_date=LATEST + timedelta(days=1)), None, CUSTOMER_OF_INVOICE, True,
     "fail", "due_date", None, "due date"),
    ("implausible date beats the integration date", invoice(issue_date=date(1850, 3, 1)), None, CUSTOMER_OF_INVOICE,
     True, "fail", "issue_date", None, "1850"),
    ("implausible date beats a missing client", invoice(issue_date=date(2099, 3, 1)), None, None, True,
     "fail", "issue_date", None, "2099"),
    ("implausible date beats an inactive client", invoice(issue_date=date(2099, 3, 1)), None, CUSTOMER_OF_INVOICE,
     False, "fail", "issue_date", None, "2099"),
    ("implausible date on a changed linked invoice: fail", invoice(issue_date=date(2099, 3, 1), version=2),
     invoice_link(), CUSTOMER_OF_INVOICE, True, "fail", "issue_date", "501", "2099"),
    ("implausible date on an unchanged linked invoice: not re-checked", invoice(issue_date=date(2099, 3, 1)),
     invoice_link(), CUSTOMER_OF_INVOICE, True, "skip", None, "501", "unchanged"),
    # the integration date
    ("dated before the integration date, never sent: skip", invoice(issue_date=date(2023, 12, 31)), None,
     CUSTOMER_OF_INVOICE, True, "skip", None, None, "before the integration date"),
    ("integration date beats a missing client", invoice(issue_date=date(2023, 12, 31)), None, None, True,
     "skip", None, None, "before the integration date"),
    ("integration date beats an inactive client", invoice(issue_date=date(2023, 12, 31)), None, CUSTOMER_OF_INVOICE,
     False, "skip", None, None, "before the integration date"),
    ("dated on the integration date: create", invoice(issue_date=INTEGRATION), None, CUSTOMER_OF_INVOICE, True,
     "create", None, None, "INV-1"),
    ("already in QBO, re-dated before the integration date: update", invoice(issue_date=date(2023, 6, 1), version=2),
     invoice_link(), CUSTOMER_OF_INVOICE, True, "update", None, "501", "changed in WORK"),
    # its client
    ("client not in QBO: fail on client_id", invoice(), None, None, True, "fail", "client_id", None,
     "not in QuickBooks yet"),
    ("client not in QBO, changed linked invoice: fail", invoice(version=2), invoice_link(), None, True,
     "fail", "client_id", "501", "not in QuickBooks yet"),
    ("missing client beats an inactive client", invoice(), None, None, False, "fail", "client_id", None,
     "not in QuickBooks yet"),
    # unchanged
    ("linked and unchanged: skip", invoice(), invoice_link(), CUSTOMER_OF_INVOICE, True,
     "skip", None, "501", "unchanged"),
    ("unchanged beats an inactive client", invoice(), invoice_link(), CUSTOMER_OF_INVOICE, False,
     "skip", None, "501", "unchanged"),
    # inactive client
    ("inactive client, new invoice: fail on client_id", invoice(), None, CUSTOMER_OF_INVOICE, False,
     "fail", "client_id", None, "inactive"),
    ("inactive client, changed invoice: fail on client_id", invoice(version=2), invoice_link(), CUSTOMER_OF_INVOICE,
     False, "fail", "client_id", "501", "inactive"),
    # create and update
    ("new and valid: create", invoice(), None, CUSTOMER_OF_INVOICE, True, "create", None, None, "new invoice INV-1"),
    ("plausible on the first and last day: create", invoice(issue_date=INTEGRATION, due_date=LATEST), None,
     CUSTOMER_OF_INVOICE, True, "create", None, None, "INV-1"),
    ("no due date: create", invoice(due_date=None), None, CUSTOMER_OF_INVOICE, True, "create", None, None, "INV-1"),
    ("changed in WORK: update", invoice(version=2), invoice_link(), CUSTOMER_OF_INVOICE, True,
     "update", None, "501", "changed in WORK"),
    ("link remembers a later version (any difference): update", invoice(version=2), invoice_link(version=5),
     CUSTOMER_OF_INVOICE, True, "update", None, "501", "changed in WORK"),
]


@pytest.mark.parametrize(("inv", "inv_link", "customer", "active", "kind", "field", "qbo_id", "words"),
                         [c[1:] for c in INVOICE_CASES], ids=[c[0] for c in INVOICE_CASES])
def test_plan_invoice(inv: Invoice, inv_link: Link | None, customer: Link | None, active: bool, kind: str,
                      field: str | None, qbo_id: str | None, words: str) -> None:
    action = plan_inv(inv, inv_link, customer, client_active=active)
    assert (action.kind, action.field, action.qbo_id) == (kind, field, qbo_id)
    assert (action.entity, action.direction, action.work_id) == ("invoice", "to_qbo", inv.id)
    assert words in action.reason
    if kind == "fail":
        assert inv.number in action.reason


def test_an_implausible_invoice_lists_every_date_at_fault() -> None:
    inv = invoice(issue_date=date(1850, 3, 1), due_date=date(2099, 1, 1))
    action = plan_inv(inv)
    assert action.kind == "fail"
    problems = action.fields["problems"]
    assert all(isinstance(p, FieldProblem) for p in problems)
    assert [(p.entity, p.record, p.field) for p in problems] == [("invoice", "1", "issue_date"),
                                                                 ("invoice", "1", "due_date")]
    assert action.field == "issue_date"  # the first one names the action
    assert problems[0].message in action.reason
    assert "blocked_by" not in action.fields


@pytest.mark.parametrize("days", [366, 367])
def test_the_future_limit_is_366_days_after_the_run(days: int) -> None:
    action = plan_inv(invoice(issue_date=TODAY + timedelta(days=days), due_date=None))
    assert action.kind == ("create" if days == 366 else "fail")


@pytest.mark.parametrize(("issued", "kind"), [(date(1899, 12, 31), "fail"), (date(1900, 1, 1), "skip")])
def test_the_earliest_plausible_date_is_1900(issued: date, kind: str) -> None:
    # 1900 is plausible, so it reaches the integration-date rule and is skipped; 1899 is reported
    assert plan_inv(invoice(issue_date=issued, due_date=None)).kind == kind


def test_an_invoice_waiting_for_its_client_says_which_record_it_waits_for() -> None:
    action = plan_inv(invoice(client_id=42), None, None)
    assert action.fields["blocked_by"] == "customer:42"
    assert "42" in action.reason
    assert "problems" not in action.fields


def test_an_inactive_client_is_not_a_wait_for_another_record() -> None:
    action = plan_inv(invoice(), None, CUSTOMER_OF_INVOICE, client_active=False)
    assert action.kind == "fail"
    assert "blocked_by" not in action.fields  # it goes once the client is active and the invoice is retried


def test_action_row_is_what_the_activity_log_and_dry_run_show() -> None:
    action = plan_inv(invoice(), None, None)
    assert action.row() == {"action": "fail", "entity": "invoice", "direction": "to_qbo", "work_id": 1,
                            "qbo_id": None, "reason": action.reason, "field": "client_id"}


def test_actions_compare_without_their_fields() -> None:
    one = Action("fail", "invoice", "to_qbo", 1, None, {"blocked_by": "customer:1"}, "r", "client_id")
    other = Action("fail", "invoice", "to_qbo", 1, None, {"blocked_by": "customer:2"}, "r", "client_id")
    assert one == other
    assert one != Action("skip", "invoice", "to_qbo", 1, None, {}, "r", "client_id")


# ================================================================================== plan_payment
def plan_pay(pay: Payment, pay_link: Link | None = None, inv: Invoice | None = _DEFAULT,
             inv_link: Link | None = _DEFAULT) -> Action:
    return plan_payment(pay, pay_link, invoice() if inv is _DEFAULT else inv,
                        invoice_link() if inv_link is _DEFAULT else inv_link,
                        integration_date=INTEGRATION, today=TODAY)


#: (id, payment, its link, its WORK invoice, the invoice's link, kind, field, QBO id, words of the reason)
PAYMENT_CASES = [
    # a link deleted in QBO by an earlier run
    ("deleted on both sides: skip", payment(deleted=True, version=2), payment_link(state="deleted"), invoice(),
     invoice_link(), "skip", None, "801", "deleted on both sides"),
    ("deleted in QBO, invoice not in QBO: skip", payment(version=2), payment_link(state="deleted"), invoice(), None,
     "skip", None, "801", "no longer open"),
    ("deleted in QBO, invoice voided in QBO: skip", payment(version=2), payment_link(state="deleted"), invoice(),
     invoice_link(state="voided"), "skip", None, "801", "no longer open"),
    ("deleted in QBO, invoice deleted in QBO: skip", payment(version=2), payment_link(state="deleted"), invoice(),
     invoice_link(state="deleted"), "skip", None, "801", "no longer open"),
    ("deleted in QBO, invoice open there: applies again", payment(version=2), payment_link(state="deleted"),
     invoice(), invoice_link(), "create", None, "801", "applies again"),
    ("deleted in QBO, unchanged since: applies again", payment(), payment_link(state="deleted"), invoice(),
     invoice_link(), "create", None, "801", "applies again"),
    # deleted in WORK
    ("deleted in WORK, linked: delete", payment(deleted=True, version=2), payment_link(), invoice(), invoice_link(),
     "delete", None, "801", "deleted in WORK"),
    ("deleted in WORK, never sent: skip", payment(deleted=True), None, invoice(), invoice_link(),
     "skip", None, None, "before it was sent"),
    ("deleted beats a missing invoice", payment(deleted=True, version=2), payment_link(), None, None,
     "delete", None, "801", "deleted in WORK"),
    ("deleted beats an implausible date", payment(deleted=True, date=date(1850, 1, 1)), None, invoice(),
     invoice_link(), "skip", None, None, "before it was sent"),
    # its invoice missing in WORK
    ("invoice missing in WORK: fail on invoice_id", payment(), None, None, None, "fail", "invoice_id", None,
     "does not exist in WORK"),
    ("missing invoice beats an implausible date", payment(date=date(1850, 1, 1)), None, None, None,
     "fail", "invoice_id", None, "does not exist in WORK"),
    ("missing invoice, linked payment: fail", payment(version=2), payment_link(), None, invoice_link(),
     "fail", "invoice_id", "801", "does not exist in WORK"),
    # implausible dates
    ("implausible date: fail on date", payment(date=date(1850, 1, 1)), None, invoice(), invoice_link(),
     "fail", "date", None, "1850-01-01"),
    ("implausible future date: fail", payment(date=LATEST + timedelta(days=1)), None, invoice(), invoice_link(),
     "fail", "date", None, "366 days"),
    ("implausible date beats the integration date", payment(date=date(1850, 1, 1)), None, invoice(), invoice_link(),
     "fail", "date", None, "1850"),
    ("implausible date beats an invoice not in QBO", payment(date=date(2099, 1, 1)), None, invoice(), None,
     "fail", "date", None, "2099"),
    ("implausible date on a changed linked payment: fail", payment(date=date(2099, 1, 1), version=2),
     payment_link(), invoice(), invoice_link(), "fail", "date", "801", "2099"),
    ("implausible date on an unchanged linked payment: not re-checked", payment(date=date(2099, 1, 1)),
     payment_link(), invoice(), invoice_link(), "skip", None, "801", "unchanged"),
    # the integration date
    ("dated before the integration date: skip", payment(date=date(2023, 12, 31)), None, invoice(), invoice_link(),
     "skip", None, None, "before the integration date"),
    ("integration date beats an invoice not in QBO", payment(date=date(2023, 12, 31)), None, invoice(), None,
     "skip", None, None, "before the integration date"),
    ("dated on the integration date: create", payment(date=INTEGRATION), None, invoice(), invoice_link(),
     "create", None, None, "INV-1"),
    ("already in QBO, re-dated before the integration date: update", payment(date=date(2023, 6, 1), version=2),
     payment_link(), invoice(), invoice_link(), "update", None, "801", "changed in WORK"),
    # its invoice is not in QBO
    ("invoice not in QBO, its date implausible: fail on invoice_id", payment(), None,
     invoice(issue_date=date(1850, 3, 1)), None, "fail", "invoice_id", None, "implausible"),
    ("invoice not in QBO, its due date implausible: fail on invoice_id", payment(), None,
     invoice(due_date=date(2099, 3, 1)), None, "fail", "invoice_id", None, "implausible"),
    ("invoice not in QBO, implausible but void: skip", payment(), None,
     invoice(issue_date=date(1850, 3, 1), status="void"), None, "skip", None, None, "does not sync"),
    ("invoice not in QBO, implausible but draft: skip", payment(), None,
     invoice(issue_date=date(1850, 3, 1), status="draft"), None, "skip", None, None, "does not sync"),
    ("invoice not in QBO, implausible but deleted: skip", payment(), None,
     invoice(issue_date=date(1850, 3, 1), deleted=True), None, "skip", None, None, "does not sync"),
    ("invoice not in QBO, dated before the integration date: skip", payment(), None,
     invoice(issue_date=date(2023, 12, 1)), None, "skip", None, None, "does not sync"),
    ("invoice not in QBO, a draft: skip", payment(), None, invoice(status="draft"), None,
     "skip", None, None, "does not sync"),
    ("invoice not in QBO, void: skip", payment(), None, invoice(status="void"), None,
     "skip", None, None, "does not sync"),
    ("invoice not in QBO, deleted: skip", payment(), None, invoice(deleted=True), None,
     "skip", None, None, "does not sync"),
    ("invoice not in QBO yet (open, in range): fail on invoice_id", payment(), None, invoice(), None,
     "fail", "invoice_id", None, "not in QuickBooks yet"),
    ("invoice not in QBO yet, linked payment changed: fail", payment(version=2), payment_link(), invoice(), None,
     "fail", "invoice_id", "801", "not in QuickBooks yet"),
    # its invoice voided or deleted in QBO
    ("invoice voided in QBO: skip", payment(), None, invoice(), invoice_link(state="voided"),
     "skip", None, None, "voided in QuickBooks"),
    ("invoice deleted in QBO: skip", payment(), None, invoice(), invoice_link(state="deleted"),
     "skip", None, None, "deleted in QuickBooks"),
    ("invoice voided in QBO, linked payment changed: skip", payment(version=2), payment_link(), invoice(),
     invoice_link(state="voided"), "skip", None, "801", "voided in QuickBooks"),
    # create, skip, update
    ("new, invoice in QBO: create", payment(), None, invoice(), invoice_link(), "create", None, None,
     "new payment of 40.00 on invoice INV-1"),
    ("linked and unchanged: skip", payment(), payment_link(), invoice(), invoice_link(),
     "skip", None, "801", "unchanged"),
    ("changed in WORK: update", payment(version=2), payment_link(), invoice(), invoice_link(),
     "update", None, "801", "changed in WORK"),
]


@pytest.mark.parametrize(("pay", "pay_link", "inv", "inv_link", "kind", "field", "qbo_id", "words"),
                         [c[1:] for c in PAYMENT_CASES], ids=[c[0] for c in PAYMENT_CASES])
def test_plan_payment(pay: Payment, pay_link: Link | None, inv: Invoice | None, inv_link: Link | None, kind: str,
                      field: str | None, qbo_id: str | None, words: str) -> None:
    action = plan_pay(pay, pay_link, inv, inv_link)
    assert (action.kind, action.field, action.qbo_id) == (kind, field, qbo_id)
    assert (action.entity, action.direction, action.work_id) == ("payment", "to_qbo", pay.id)
    assert words in action.reason


def test_an_implausible_payment_date_is_listed_as_a_problem() -> None:
    action = plan_pay(payment(date=date(1850, 1, 1)))
    (problem,) = action.fields["problems"]
    assert (problem.entity, problem.record, problem.field) == ("payment", "11", "date")
    assert problem.message in action.reason


def test_a_payment_deleted_in_qbo_whose_invoice_is_missing_in_work_is_not_reapplied() -> None:
    action = plan_pay(payment(version=2), payment_link(state="deleted"), None, invoice_link())
    assert (action.kind, action.field) == ("fail", "invoice_id")


@pytest.mark.parametrize("inv", [invoice(status="void", version=2), invoice(deleted=True, version=2)],
                         ids=["invoice void in WORK", "invoice deleted in WORK"])
def test_a_payment_is_not_reapplied_to_an_invoice_work_voided_or_deleted(inv: Invoice) -> None:
    action = plan_pay(payment(version=2), payment_link(state="deleted"), inv, invoice_link())
    assert action.kind == "skip"


# ================================================================================== plan_customer_merge
def merge_plan(work: Client, customer: dict[str, Any] | None, pair: Link, *, policy: str = "qbo_wins",
               default_state: str | None = None) -> list[Action]:
    return plan_customer_merge(work, customer, pair, policy=policy, default_state=default_state)


def the_update(actions: list[Action]) -> MergeResult:
    (action,) = actions
    assert (action.kind, action.entity, action.direction) == ("update", "customer", "both")
    result = action.fields["merge"]
    assert isinstance(result, MergeResult)
    return result


def test_a_pair_in_agreement_plans_nothing() -> None:
    assert merge_plan(client(), qbo_customer(), customer_link()) == []


def test_a_change_in_work_is_an_update_to_qbo() -> None:
    actions = merge_plan(client(email="new@x.com"), qbo_customer(synctoken="7"), customer_link(synctoken="2"))
    result = the_update(actions)
    assert result.to_qbo == {"email": "new@x.com"}
    assert result.to_work == {}
    (action,) = actions
    assert (action.work_id, action.qbo_id) == (1, "301")
    assert action.fields["token"] == "7"  # the customer's current SyncToken, not the remembered one
    assert action.reason == "changed in WORK"


def test_a_change_in_qbo_is_an_update_to_work() -> None:
    actions = merge_plan(client(), qbo_customer(city="Tacoma"), customer_link())
    result = the_update(actions)
    assert result.to_work == {"billing.city": "Tacoma"}
    assert result.to_qbo == {}
    assert actions[0].reason == "changed in QuickBooks"


def test_changes_on_both_sides_to_different_fields_travel_both_ways() -> None:
    actions = merge_plan(client(email="new@x.com"), qbo_customer(city="Tacoma"), customer_link())
    result = the_update(actions)
    assert (result.to_qbo, result.to_work, result.conflicts) == ({"email": "new@x.com"},
                                                                 {"billing.city": "Tacoma"}, ())
    assert actions[0].reason == "changed in WORK and QuickBooks"


@pytest.mark.parametrize(("policy", "winner", "to_qbo", "to_work", "reason"), [
    ("qbo_wins", "qbo", {}, {"email": "q@x.com"}, "changed in QuickBooks"),
    ("work_wins", "work", {"email": "w@x.com"}, {}, "changed in WORK"),
])
def test_a_conflict_follows_the_policy(policy: str, winner: str, to_qbo: dict[str, str], to_work: dict[str, str],
                                       reason: str) -> None:
    actions = merge_plan(client(email="w@x.com"), qbo_customer(email="q@x.com"), customer_link(), policy=policy)
    result = the_update(actions)
    assert result.conflicts == (Conflict("email", "w@x.com", "q@x.com", winner),)
    assert (result.to_qbo, result.to_work) == (to_qbo, to_work)
    assert actions[0].reason == reason


@pytest.mark.parametrize(("work_time", "qbo_time", "winner"), [
    pytest.param(T0, "2024-05-01T06:00:00-07:00", "qbo", id="QBO changed last (13:00 UTC)"),
    pytest.param(T0, "2024-05-01T04:00:00-07:00", "work", id="WORK changed last (QBO 11:00 UTC)"),
    pytest.param(T0, "2024-05-01T12:00:00Z", "work", id="same instant: WORK"),
    pytest.param(T0, None, "work", id="no QBO time: WORK"),
    pytest.param(T0, "yesterday", "work", id="unreadable QBO time: WORK"),
])
def test_newest_wins_compares_the_clients_updated_at_with_qbos_last_updated_time(
        work_time: datetime, qbo_time: str | None, winner: str) -> None:
    actions = merge_plan(client(email="w@x.com", updated_at=work_time),
                         qbo_customer(email="q@x.com", updated=qbo_time), customer_link(), policy="newest_wins")
    assert [c.winner for c in the_update(actions).conflicts] == [winner]


def test_newest_wins_survives_a_qbo_time_without_offset() -> None:
    actions = merge_plan(client(email="w@x.com"), qbo_customer(email="q@x.com", updated="2024-05-01T13:00:00"),
                         customer_link(), policy="newest_wins")
    assert [c.field for c in the_update(actions).conflicts] == ["email"]


def test_both_sides_changed_the_same_way_is_a_rebase() -> None:
    new = client(email="new@x.com")
    actions = merge_plan(new, qbo_customer(email="new@x.com", synctoken="9"), customer_link())
    assert actions == [Action("rebase", "customer", "none", 1, "301", {}, "")]
    assert actions[0].fields == {"values": client_values(new), "token": "9"}


def test_a_pair_without_a_base_that_agrees_is_a_rebase() -> None:
    actions = merge_plan(client(), qbo_customer(synctoken="4"), customer_link(base=None))
    assert [a.kind for a in actions] == ["rebase"]
    assert actions[0].fields == {"values": client_values(client()), "token": "4"}


def test_a_first_merge_without_base_fills_blanks_both_ways() -> None:
    work = client(phone="")
    customer = qbo_customer(phone="555-0199", Notes="gate code 12", email="")
    result = the_update(merge_plan(work, customer, customer_link(base=None)))
    assert result.to_qbo == {"email": "a@x.com"}
    assert result.to_work == {"phone": "555-0199", "notes": "gate code 12"}
    assert result.conflicts == ()


def test_customer_absent_merges_against_the_base() -> None:
    """A customer that did not change in QBO (not in the CDC answer): QBO still holds the base."""
    actions = merge_plan(client(email="new@x.com"), None, customer_link(synctoken="5"))
    result = the_update(actions)
    assert (result.to_qbo, result.to_work) == ({"email": "new@x.com"}, {})
    assert actions[0].fields["token"] == "5"  # the remembered SyncToken
    assert actions[0].reason == "changed in WORK"


def test_customer_absent_and_nothing_changed_in_work_plans_nothing() -> None:
    assert merge_plan(client(), None, customer_link()) == []


def test_customer_absent_without_base_sends_what_work_holds() -> None:
    result = the_update(merge_plan(client(), None, customer_link(base=None)))
    assert result.to_work == {}
    assert result.to_qbo == {key: value for key, value in client_values(client()).items() if value not in ("", None)}


def test_the_name_fixed_for_qbo_is_not_a_change() -> None:
    """name_policy 'fix' created the customer as "Acme Plumbing (2)": QBO showing it is no rename."""
    pair = customer_link(qbo_name="Acme Plumbing (2)")
    assert merge_plan(client(), qbo_customer(name="Acme Plumbing (2)"), pair) == []


def test_a_rename_in_qbo_after_a_fixed_name_travels_to_work() -> None:
    pair = customer_link(qbo_name="Acme Plumbing (2)")
    result = the_update(merge_plan(client(), qbo_customer(name="Acme Plumbing Co"), pair))
    assert result.to_work == {"display_name": "Acme Plumbing Co"}


def test_a_rename_in_work_after_a_fixed_name_travels_to_qbo() -> None:
    pair = customer_link(qbo_name="Acme Plumbing (2)")
    result = the_update(merge_plan(client(name="Acme Plumbing Inc"), qbo_customer(name="Acme Plumbing (2)"), pair))
    assert result.to_qbo == {"display_name": "Acme Plumbing Inc"}
    assert result.to_work == {}


def test_without_a_recorded_fixed_name_a_different_qbo_name_is_a_change() -> None:
    result = the_update(merge_plan(client(), qbo_customer(name="Acme Plumbing (2)"), customer_link()))
    assert result.to_work == {"display_name": "Acme Plumbing (2)"}


def test_the_default_state_work_filled_in_is_not_a_change() -> None:
    """The client got the company's default state (WA) where QBO has none: no change on either side."""
    assert merge_plan(client(state="WA"), qbo_customer(state=""), customer_link(), default_state="WA") == []


def test_without_the_default_state_setting_a_blank_qbo_state_clears_work() -> None:
    result = the_update(merge_plan(client(state="WA"), qbo_customer(state=""), customer_link(), default_state=None))
    assert result.to_work == {"billing.state": ""}


def test_a_state_cleared_in_qbo_that_was_not_the_default_is_a_change() -> None:
    pair = customer_link(base=client_values(client(state="OR")))
    result = the_update(merge_plan(client(state="OR"), qbo_customer(state=""), pair, default_state="WA"))
    assert result.to_work == {"billing.state": ""}


def test_a_state_changed_in_work_from_the_default_goes_to_qbo() -> None:
    result = the_update(merge_plan(client(state="OR"), qbo_customer(state=""), customer_link(), default_state="WA"))
    assert result.to_qbo == {"billing.state": "OR"}
    assert result.to_work == {}


def test_the_default_state_applies_to_the_service_address_too() -> None:
    service = Address(line1="9 Side St", city="Seattle", state="WA", country="US")
    work = client(service=service)
    customer = qbo_customer(ShipAddr={"Line1": "9 Side St", "City": "Seattle", "Country": "US"})
    pair = customer_link(base=client_values(work))
    assert merge_plan(work, customer, pair, default_state="WA") == []
    assert the_update(merge_plan(work, customer, pair, default_state=None)).to_work == {"service.state": ""}


def test_the_default_state_is_not_assumed_without_a_base() -> None:
    """A first merge: the blank QBO state takes WORK's value (it is sent), as any blank does."""
    result = the_update(merge_plan(client(state="WA"), qbo_customer(state=""), customer_link(base=None),
                                   default_state="WA"))
    assert result.to_qbo == {"billing.state": "WA"}


# ================================================================================== plan_customers
def plan_all(clients: list[Client], customers: list[dict[str, Any]], links: Sequence[Link] = (), *,
             dismissed: set[int] | None = None, accepted: dict[int, str] | None = None,
             rejected: set[tuple[int, str]] | None = None, accept_weak: bool = False, policy: str = "qbo_wins",
             default_state: str | None = None) -> tuple[list[Action], list[tuple[int, str, str, float, str]]]:
    return plan_customers({c.id: c for c in clients}, {str(c["Id"]): c for c in customers},
                          {pair.work_id: pair for pair in links}, dismissed=dismissed or set(),
                          accepted=accepted or {}, rejected=rejected or set(), accept_weak=accept_weak,
                          policy=policy, default_state=default_state)


def summary(actions: list[Action]) -> list[tuple[str, str, int | None, str | None]]:
    return [(a.kind, a.direction, a.work_id, a.qbo_id) for a in actions]


def pairs(pending: list[tuple[int, str, str, float, str]]) -> list[tuple[int, str, str]]:
    return [(work_id, qbo_id, kind) for work_id, qbo_id, kind, _, _ in pending]


def plain(id_: int, name: str, **contact: str) -> Client:
    return client(id_, name, email=contact.get("email", ""), phone=contact.get("phone", ""))


def plain_customer(qbo_id: str, name: str, **extra: Any) -> dict[str, Any]:
    contact = {"email": extra.pop("email", ""), "phone": extra.pop("phone", "")}
    return qbo_customer(qbo_id, name, **contact, **extra)


# --- linked pairs
def test_linked_pairs_are_merged_and_not_matched_again() -> None:
    actions, pending = plan_all(
        [client(1, email="new@x.com"), client(2, "Acme Plumbing", email="a@x.com")],
        [qbo_customer("301")],
        [customer_link(1)])
    # client 1 merges with its customer; client 2 has the same name and e-mail as customer 301, which is taken
    assert summary(actions) == [("update", "both", 1, "301"), ("create", "to_qbo", 2, None)]
    assert actions[0].fields["merge"].to_qbo == {"email": "new@x.com"}
    assert pending == []


def test_linked_pairs_in_agreement_plan_nothing_and_a_moved_base_is_a_rebase() -> None:
    actions, _ = plan_all([client(1), client(2, email="both@x.com")],
                          [qbo_customer("301"), qbo_customer("302", email="both@x.com")],
                          [customer_link(1), customer_link(2, "302", base=client_values(client(2)))])
    assert summary(actions) == [("rebase", "none", 2, "302")]


def test_a_linked_client_whose_customer_did_not_change_merges_against_the_base() -> None:
    actions, _ = plan_all([client(1, city="Tacoma")], [], [customer_link(1)])
    assert summary(actions) == [("update", "both", 1, "301")]
    assert actions[0].fields["merge"].to_qbo == {"billing.city": "Tacoma"}


def test_a_linked_customer_whose_client_is_not_in_play_is_left_alone() -> None:
    actions, pending = plan_all([], [qbo_customer("301", city="Tacoma")], [customer_link(1)])
    assert actions == [] and pending == []


def test_the_policy_and_the_default_state_reach_the_merge() -> None:
    clients = [client(1, email="w@x.com"), client(2, state="WA")]
    customers = [qbo_customer("301", email="q@x.com"), qbo_customer("302", state="")]
    links = [customer_link(1), customer_link(2, "302", base=client_values(client(2)))]
    actions, _ = plan_all(clients, customers, links, policy="work_wins", default_state="WA")
    assert summary(actions) == [("update", "both", 1, "301")]
    assert actions[0].fields["merge"].conflicts == (Conflict("email", "w@x.com", "q@x.com", "work"),)


def test_the_name_fixed_for_qbo_reaches_the_merge() -> None:
    actions, _ = plan_all([client(1)], [qbo_customer("301", name="Acme Plumbing (2)")],
                          [customer_link(1, qbo_name="Acme Plumbing (2)")])
    assert actions == []


# --- unlinked: matching
def test_an_exact_match_links() -> None:
    actions, pending = plan_all([plain(1, "Acme Plumbing", email="a@x.com")],
                                [plain_customer("301", "ACME plumbing", email="A@X.com")])
    assert summary(actions) == [("link", "both", 1, "301")]
    assert "same name and e-mail" in actions[0].reason
    assert pending == []


def test_an_exact_match_by_phone_links() -> None:
    actions, _ = plan_all([plain(1, "Acme Plumbing", phone="520-420-5638")],
                          [plain_customer("301", "Acme Plumbing", phone="(520) 420 5638")])
    assert summary(actions) == [("link", "both", 1, "301")]


WEAK_CLIENT = plain(3, "Cool Cars")
WEAK_CUSTOMER = plain_customer("303", "Cool Cars", email="cc@x.com")


def test_a_weak_match_is_held_for_the_match_preview() -> None:
    actions, pending = plan_all([WEAK_CLIENT], [WEAK_CUSTOMER])
    assert summary(actions) == [("hold", "both", 3, None)]  # nothing created on either side meanwhile
    ((work_id, qbo_id, kind, score, reason),) = pending
    assert (work_id, qbo_id, kind, score) == (3, "303", "weak", 1.0)
    assert "no e-mail or phone in common" in reason


def test_a_fuzzy_weak_match_carries_its_score() -> None:
    actions, pending = plan_all([plain(7, "Greenfield Landscaping")], [plain_customer("307", "Greenfeld Landscaping")])
    assert summary(actions) == [("hold", "both", 7, None)]
    ((_, qbo_id, kind, score, reason),) = pending
    assert (qbo_id, kind) == ("307", "weak")
    assert 0.9 <= score < 1.0
    assert isinstance(score, float)
    assert "similar name" in reason


@pytest.mark.parametrize(("accept_weak", "accepted"), [(True, {}), (False, {3: "303"}), (True, {3: "303"})],
                         ids=["accept_weak_matches", "accepted by the user", "both"])
def test_a_weak_match_links_when_accepted(accept_weak: bool, accepted: dict[int, str]) -> None:
    actions, pending = plan_all([WEAK_CLIENT], [WEAK_CUSTOMER], accept_weak=accept_weak, accepted=accepted)
    assert summary(actions) == [("link", "both", 3, "303")]
    assert pending == []


def test_a_weak_match_the_user_accepted_for_another_customer_is_still_held() -> None:
    actions, pending = plan_all([WEAK_CLIENT], [WEAK_CUSTOMER], accepted={3: "999"})
    assert summary(actions) == [("hold", "both", 3, None)]
    assert pairs(pending) == [(3, "303", "weak")]


@pytest.mark.parametrize("accept_weak", [False, True])
def test_a_rejected_weak_match_creates_both_sides(accept_weak: bool) -> None:
    """The user said they are different: the client goes to QBO (rejection beats accept_weak); the
    customer of the same name stays in QBO only, not a second WORK client of that name."""
    actions, pending = plan_all([WEAK_CLIENT], [WEAK_CUSTOMER], rejected={(3, "303")}, accept_weak=accept_weak)
    assert summary(actions) == [("create", "to_qbo", 3, None), ("skip", "to_work", None, "303")]
    assert pending == []


BAY = plain(6, "Bay Builders")
BAY_CUSTOMERS = [plain_customer("105", "Bay Builders"), plain_customer("106", "Bay Builders.")]


def test_a_client_with_several_candidates_is_held_with_every_candidate() -> None:
    actions, pending = plan_all([BAY], BAY_CUSTOMERS, accept_weak=True)  # accept_weak does not apply to these
    assert summary(actions) == [("hold", "both", 6, None)]
    assert pairs(pending) == [(6, "105", "multiple"), (6, "106", "multiple")]
    assert {score for _, _, _, score, _ in pending} == {0.0}
    assert all("share the name" in reason for *_, reason in pending)


def test_a_candidate_the_user_confirmed_links() -> None:
    actions, pending = plan_all([BAY], BAY_CUSTOMERS, accepted={6: "105"}, rejected={(6, "106")})
    assert ("link", "both", 6, "105") in summary(actions)
    assert next(a for a in actions if a.kind == "link").reason == "confirmed by the user"
    assert not [a for a in actions if a.kind == "hold" or a.direction == "to_qbo"]
    assert pending == []


def test_a_confirmed_choice_outside_the_candidates_is_ignored() -> None:
    actions, pending = plan_all([BAY], BAY_CUSTOMERS, accepted={6: "999"})
    assert summary(actions) == [("hold", "both", 6, None)]
    assert pairs(pending) == [(6, "105", "multiple"), (6, "106", "multiple")]


def test_a_client_that_rejected_some_candidates_is_still_held() -> None:
    # the rejected candidate is nobody's match any more, but it has the client's name: kept in QBO only
    actions, pending = plan_all([BAY], BAY_CUSTOMERS, rejected={(6, "105")})
    assert summary(actions) == [("skip", "to_work", None, "105"), ("hold", "both", 6, None)]
    assert (6, "106", "multiple") in pairs(pending)


def test_a_client_that_rejected_every_candidate_is_created_in_qbo() -> None:
    actions, pending = plan_all([BAY], BAY_CUSTOMERS, rejected={(6, "105"), (6, "106")})
    assert ("create", "to_qbo", 6, None) in summary(actions)
    assert not [a for a in actions if a.kind in ("hold", "link")]
    assert pending == []


def test_the_candidates_of_a_fully_rejected_multiple_match_stay_in_qbo_under_the_clients_name() -> None:
    actions, _ = plan_all([BAY], BAY_CUSTOMERS, rejected={(6, "105"), (6, "106")})
    assert ("skip", "to_work", None, "105") in summary(actions)  # the client's namesakes: QBO only
    assert ("skip", "to_work", None, "106") in summary(actions)


def test_the_other_candidate_of_a_confirmed_multiple_match_stays_in_qbo_under_the_clients_name() -> None:
    actions, _ = plan_all([BAY], BAY_CUSTOMERS, accepted={6: "105"}, rejected={(6, "106")})
    assert ("skip", "to_work", None, "106") in summary(actions)  # "Bay Builders." is the client's name


ROOFING = [plain(4, "Acme Roofing"), plain(5, "ACME  roofing")]
ROOFING_CUSTOMER = plain_customer("104", "Acme Roofing")


def test_several_clients_for_one_customer_are_all_held() -> None:
    actions, pending = plan_all(ROOFING, [ROOFING_CUSTOMER])
    assert summary(actions) == [("hold", "both", 4, None), ("hold", "both", 5, None)]
    assert pairs(pending) == [(4, "104", "multiple"), (5, "104", "multiple")]


def test_a_customer_confirmed_for_two_clients_links_once() -> None:
    actions, _ = plan_all(ROOFING, [ROOFING_CUSTOMER], accepted={4: "104", 5: "104"})
    assert [a for a in summary(actions) if a[0] == "link"] == [("link", "both", 4, "104")]
    assert ("hold", "both", 5, None) in summary(actions)


def test_confirming_one_client_of_a_shared_customer_links_it() -> None:
    actions, _ = plan_all(ROOFING, [ROOFING_CUSTOMER], accepted={4: "104"})
    assert ("link", "both", 4, "104") in summary(actions)
    assert ("create", "to_work", None, "104") not in summary(actions)


def test_a_customer_linked_in_this_run_is_not_offered_to_another_client() -> None:
    _, pending = plan_all(ROOFING, [ROOFING_CUSTOMER], accepted={4: "104"})
    assert (5, "104") not in [(work_id, qbo_id) for work_id, qbo_id, *_ in pending]


# --- sub-customers, dismissed clients, creates
def test_sub_customers_one_level_deep_are_imported_deeper_ones_are_not() -> None:
    parent = plain_customer("200", "Pine Group")
    level1 = plain_customer("201", "Pine Painting", ParentRef={"value": "200"}, Level=1, Job=True)
    level2 = plain_customer("202", "Pine Painting Unit 4", ParentRef={"value": "201"}, Level=2, Job=True)
    actions, pending = plan_all([], [parent, level1, level2])
    assert summary(actions) == [("create", "to_work", None, "200"), ("create", "to_work", None, "201")]
    assert pending == []


def test_a_sub_customer_deeper_than_one_level_is_not_matched() -> None:
    deep = plain_customer("202", "Pine Painting Unit 4", email="p@x.com", ParentRef={"value": "201"}, Level=2)
    actions, _ = plan_all([plain(1, "Pine Painting Unit 4", email="p@x.com")], [deep])
    assert summary(actions) == [("create", "to_qbo", 1, None)]


def test_a_sub_customer_one_level_deep_is_matched() -> None:
    sub = plain_customer("201", "Pine Painting", email="p@x.com", ParentRef={"value": "200"}, Level=1)
    actions, _ = plan_all([plain(1, "Pine Painting", email="p@x.com")], [sub])
    assert summary(actions) == [("link", "both", 1, "201")]


def test_a_dismissed_client_is_neither_matched_nor_created() -> None:
    actions, pending = plan_all([plain(1, "Acme Plumbing", email="a@x.com"), plain(2, "Zephyr Electric")], [],
                                dismissed={1})
    assert summary(actions) == [("create", "to_qbo", 2, None)]
    assert pending == []


def test_a_dismissed_client_that_is_linked_still_merges() -> None:
    actions, _ = plan_all([client(1, email="new@x.com")], [qbo_customer("301")], [customer_link(1)], dismissed={1})
    assert summary(actions) == [("update", "both", 1, "301")]


def test_unmatched_records_are_created_on_the_other_side() -> None:
    actions, pending = plan_all([plain(8, "Zephyr Electric"), plain(2, "Harbor Heating")],
                                [plain_customer("10", "Quantum Cleaning"),
                                 plain_customer("9", "Old Mill Bakery", Active=False)])
    # clients in id order, customers in numeric QBO id order ("9" before "10"); inactive customers too
    assert summary(actions) == [("create", "to_qbo", 2, None), ("create", "to_qbo", 8, None),
                                ("create", "to_work", None, "9"), ("create", "to_work", None, "10")]
    assert [a.reason for a in actions] == ["new in WORK", "new in WORK", "new in QuickBooks", "new in QuickBooks"]
    assert pending == []


def test_a_whole_first_run_in_order_merges_links_creates_then_holds() -> None:
    clients = [client(1, email="new@x.com"),                    # linked, changed in WORK
               plain(2, "Smith Electric", email="s@x.com"),     # exact
               plain(3, "Cool Cars"),                           # weak
               plain(8, "Zephyr Electric")]                     # new in WORK
    customers = [qbo_customer("301"),
                 plain_customer("302", "Smith Electric", email="s@x.com"),
                 plain_customer("303", "Cool Cars", email="cc@x.com"),
                 plain_customer("308", "Quantum Cleaning")]     # new in QBO
    actions, pending = plan_all(clients, customers, [customer_link(1)])
    assert summary(actions) == [("update", "both", 1, "301"), ("link", "both", 2, "302"),
                                ("create", "to_qbo", 8, None), ("create", "to_work", None, "308"),
                                ("hold", "both", 3, None)]
    assert pairs(pending) == [(3, "303", "weak")]
    assert "match preview" in actions[-1].reason
