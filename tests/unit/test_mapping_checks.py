"""The checks that keep bad WORK values out of QBO: US states (qbo_toolkit.mapping.states, through
validate_client and state_problems) and plausible dates (qbo_toolkit.mapping.dates, through the
invoice and payment checks and the planner, which must report an 1850 typo rather than skip it).

Dataset: CLIENT, a client in Sacramento, CA (country US), with a service address in Reno, NV;
INVOICE and PAYMENT dated 2026-03-02 and 2026-03-20; TODAY 2026-11-27; the integration date
2026-01-01.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from qbo_toolkit.mapping.customers import client_values, state_problems, validate_client
from qbo_toolkit.mapping.dates import EARLIEST, FUTURE_DAYS, date_problem
from qbo_toolkit.mapping.invoices import invoice_date_problems
from qbo_toolkit.mapping.payments import payment_date_problems
from qbo_toolkit.mapping.states import US_STATES, is_us_country, state_problem
from qbo_toolkit.sync.plan import plan_invoice, plan_payment
from qbo_toolkit.sync.state import Link
from qbo_toolkit.work.models import Address, Client, Invoice, InvoiceLine, Payment

TODAY = date(2026, 11, 27)
INTEGRATION = date(2026, 1, 1)
CLIENT = Client(id=7, display_name="Harbor Plumbing",
                billing=Address("1 Main St", "", "Sacramento", "CA", "95814", "US"),
                service=Address("9 Side St", "", "Reno", "NV", "89501", ""))
LINE = InvoiceLine(1, None, "Labor", Decimal("2"), Decimal("50.00"))
INVOICE = Invoice(id=3, number="BX-1", client_id=7, issue_date=date(2026, 3, 2), due_date=date(2026, 4, 1),
                  status="open", lines=(LINE,), total=Decimal("100.00"))
PAYMENT = Payment(id=5, invoice_id=3, date=date(2026, 3, 20), amount=Decimal("40.00"), reference="1042")
CUSTOMER = Link("customer", 7, "61", "0", 1, None, None, None, "active")
INVOICE_LINK = Link("invoice", 3, "130", "0", 1, None, None, None, "active")


# ============================================================================================ states


@pytest.mark.parametrize("state", ["CA", "ca", " Ca ", "California", "CALIFORNIA", "new  york", "DC",
                                   "District of Columbia", "PR", "Puerto Rico", "GU", "VI", "AE", ""])
def test_us_states_territories_dc_codes_and_names_pass_in_any_case(state: str) -> None:
    assert state_problem(state, "US") is None
    assert state_problem(state, "") is None


@pytest.mark.parametrize("country", ["", "US", "usa", "U.S.A.", "United States", "united states of america"])
def test_every_way_of_writing_the_us_is_checked(country: str) -> None:
    assert is_us_country(country)
    assert state_problem("XX", country) is not None


@pytest.mark.parametrize("country", ["Canada", "CA-ON", "Mexico", "UK"])
def test_other_countries_are_not_checked(country: str) -> None:
    assert not is_us_country(country)
    assert state_problem("Ontario", country) is None
    assert state_problem("XX", country) is None


@pytest.mark.parametrize("state", ["XX", "Calfornia", "C.A.", "Cal", "🌴", "CA;", "Ontario", "US"])
def test_anything_else_is_named_with_the_value_and_why(state: str) -> None:
    message = state_problem(state, "")
    assert message is not None
    assert repr(state) in message and "sales tax" in message and "country is blank" in message
    assert "country is 'USA'" in str(state_problem(state, "USA"))


def test_the_list_has_the_fifty_states_dc_and_the_territories() -> None:
    assert len(US_STATES) == 50 + 1 + 6 + 3 + 3
    assert all(len(code) == 2 and code.isupper() for code in US_STATES)


@pytest.mark.parametrize(("change", "field"), [
    ({"billing": Address("1 Main St", "", "Sacramento", "XX", "95814", "US")}, "billing.state"),
    ({"billing": Address(state="Calfornia")}, "billing.state"),
    ({"service": Address("9 Side St", "", "Reno", "ZZ", "", "USA")}, "service.state"),
])
def test_validate_client_names_the_address_whose_state_is_unknown(change: dict[str, Any], field: str) -> None:
    problems = validate_client(dataclasses.replace(CLIENT, **change))
    assert [p.field for p in problems] == [field]
    assert problems[0].message.startswith(field.split(".")[0] + " address: ")
    assert str(problems[0]).startswith(f"client 7, {field}:")


def test_validate_client_leaves_a_foreign_or_blank_state_alone() -> None:
    assert validate_client(CLIENT) == []
    assert validate_client(dataclasses.replace(CLIENT, billing=Address(state="Ontario", country="Canada"))) == []
    assert validate_client(dataclasses.replace(CLIENT, billing=Address(), service=Address())) == []


def test_an_update_is_checked_only_for_the_addresses_it_sends() -> None:
    values = client_values(dataclasses.replace(CLIENT, billing=Address(state="XX"), service=Address(state="ZZ")))
    assert [p.field for p in state_problems(values, "7")] == ["billing.state", "service.state"]
    assert [p.field for p in state_problems(values, "7", keys=["email", "service.state"])] == ["service.state"]
    assert [p.field for p in state_problems(values, "7", keys=["billing.country"])] == ["billing.state"]
    assert state_problems(values, "7", keys=["email", "billing.city"]) == []


# ============================================================================================ dates


def test_dates_from_1900_to_366_days_ahead_are_plausible() -> None:
    assert date_problem(EARLIEST, today=TODAY) is None
    assert date_problem(TODAY, today=TODAY) is None
    assert date_problem(TODAY + timedelta(days=FUTURE_DAYS), today=TODAY) is None
    early = date_problem(EARLIEST - timedelta(days=1), today=TODAY)
    assert early is not None and "1899-12-31 is before 1900-01-01" in early
    late = date_problem(TODAY + timedelta(days=FUTURE_DAYS + 1), today=TODAY)
    assert late is not None and "2027-11-29 is more than 366 days after today (2026-11-27" in late


def test_invoice_and_payment_checks_name_each_date_field() -> None:
    assert invoice_date_problems(INVOICE, today=TODAY) == []
    both = dataclasses.replace(INVOICE, issue_date=date(1850, 3, 1), due_date=date(2199, 12, 31))
    problems = invoice_date_problems(both, today=TODAY)
    assert [(p.entity, p.record, p.field) for p in problems] == [("invoice", "3", "issue_date"),
                                                                 ("invoice", "3", "due_date")]
    assert "the issue date 1850-03-01" in problems[0].message and "the due date 2199-12-31" in problems[1].message
    assert invoice_date_problems(dataclasses.replace(INVOICE, due_date=None), today=TODAY) == []
    assert payment_date_problems(PAYMENT, today=TODAY) == []
    (problem,) = payment_date_problems(dataclasses.replace(PAYMENT, date=date(2099, 6, 1)), today=TODAY)
    assert (problem.field, problem.record) == ("date", "5") and "2099-06-01" in problem.message


# ============================================================================================ the planner


def test_an_invoice_dated_1850_is_reported_not_skipped_as_before_the_integration_date() -> None:
    old = dataclasses.replace(INVOICE, issue_date=date(1850, 3, 1), due_date=None)
    action = plan_invoice(old, None, CUSTOMER, integration_date=INTEGRATION, today=TODAY)
    assert (action.kind, action.field) == ("fail", "issue_date")
    assert "1850-03-01" in action.reason and [p.field for p in action.fields["problems"]] == ["issue_date"]
    # a plausible date before the integration date is still skipped
    skipped = plan_invoice(dataclasses.replace(INVOICE, issue_date=date(2025, 6, 1), due_date=None), None, CUSTOMER,
                           integration_date=INTEGRATION, today=TODAY)
    assert skipped.kind == "skip" and "before the integration date" in skipped.reason
    # a draft or void invoice is not sent, so its date does not matter yet
    draft = plan_invoice(dataclasses.replace(old, status="draft"), None, CUSTOMER, integration_date=INTEGRATION,
                         today=TODAY)
    assert draft.kind == "skip"


def test_an_unchanged_synced_invoice_is_not_checked_again() -> None:
    future = dataclasses.replace(INVOICE, due_date=date(2199, 1, 1))
    assert plan_invoice(future, INVOICE_LINK, CUSTOMER, integration_date=INTEGRATION, today=TODAY).kind == "skip"
    changed = dataclasses.replace(future, version=2)
    action = plan_invoice(changed, INVOICE_LINK, CUSTOMER, integration_date=INTEGRATION, today=TODAY)
    assert (action.kind, action.field) == ("fail", "due_date")


def test_an_invoice_of_an_inactive_client_fails_on_client_id_without_waiting_for_the_client() -> None:
    action = plan_invoice(INVOICE, None, CUSTOMER, integration_date=INTEGRATION, today=TODAY, client_active=False)
    assert (action.kind, action.field) == ("fail", "client_id")
    assert "inactive" in action.reason and "blocked_by" not in action.fields
    waiting = plan_invoice(INVOICE, None, None, integration_date=INTEGRATION, today=TODAY)
    assert (waiting.kind, waiting.field, waiting.fields["blocked_by"]) == ("fail", "client_id", "customer:7")
    assert plan_invoice(INVOICE, None, CUSTOMER, integration_date=INTEGRATION, today=TODAY).kind == "create"


def test_a_payment_dated_1850_is_reported_and_one_on_an_implausible_invoice_waits_for_it() -> None:
    old = dataclasses.replace(PAYMENT, date=date(1850, 1, 1))
    action = plan_payment(old, None, INVOICE, INVOICE_LINK, integration_date=INTEGRATION, today=TODAY)
    assert (action.kind, action.field) == ("fail", "date") and "1850-01-01" in action.reason
    typo = dataclasses.replace(INVOICE, issue_date=date(2099, 1, 1), due_date=None)
    waits = plan_payment(PAYMENT, None, typo, None, integration_date=INTEGRATION, today=TODAY)
    assert (waits.kind, waits.field) == ("fail", "invoice_id") and "implausible" in waits.reason
    before = dataclasses.replace(INVOICE, issue_date=date(2025, 6, 1), due_date=None)
    assert plan_payment(PAYMENT, None, before, None, integration_date=INTEGRATION, today=TODAY).kind == "skip"
    assert plan_payment(PAYMENT, None, INVOICE, INVOICE_LINK, integration_date=INTEGRATION,
                        today=TODAY).kind == "create"
