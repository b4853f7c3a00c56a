"""What the sync checks before sending: no control character in any client, invoice, item or
payment text.

The WORK store refuses them on write (tests/unit/test_work_store.py); a value written by other
means (SQL, an older version) must still never reach QBO: each is a FieldProblem naming the field
and the character, and the sentence itself prints cleanly.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from qbo_toolkit.mapping.customers import client_values, control_problems, validate_client
from qbo_toolkit.mapping.invoices import validate_invoice, validate_item
from qbo_toolkit.mapping.payments import validate_payment
from qbo_toolkit.work.models import Address, Client, Invoice, InvoiceLine, Item, Payment


@pytest.mark.parametrize(
    ("client", "field", "what"),
    [
        (Client(id=1, display_name="Bob\x00s Bikes"), "display_name", "NUL (U+0000)"),
        (Client(id=1, display_name="Ok", company_name="Ok\x1b Co"), "company_name", "escape (U+001B)"),
        (Client(id=1, display_name="Ok", email="a\x00@b.example"), "email", "NUL"),
        (Client(id=1, display_name="Ok", phone="555\x070101"), "phone", "bell"),
        (Client(id=1, display_name="Ok", notes="two\nlines\x7f"), "notes", "DEL (U+007F)"),
        (Client(id=1, display_name="Ok", billing=Address(city="Fres\tno")), "billing.city", "tab (U+0009)"),
    ],
)
def test_a_client_with_a_control_character_is_not_sent(client: Client, field: str, what: str) -> None:
    problems = validate_client(client)
    assert [p.field for p in problems] == [field]
    assert what in problems[0].message and problems[0].message.isprintable()


def test_tabs_and_line_breaks_are_sent_where_text_has_several_lines() -> None:
    client = Client(id=1, display_name="Ok", notes="line one\n\tline two",
                    billing=Address(line1="Suite 5\nBuilding B", city="Fresno", state="CA"))
    assert validate_client(client) == []
    values = client_values(client)
    assert control_problems(values, "1", keys=["notes", "billing.line1"]) == []
    assert [p.field for p in control_problems({**values, "email": "x\x00"}, "1", keys=["email"])] == ["email"]


def _invoice(number: str = "W-1", description: str = "Labor") -> Invoice:
    line = InvoiceLine(1, None, description, Decimal(1), Decimal("10.00"))
    return Invoice(1, number, 1, date(2026, 2, 2), None, "open", (line,), total=Decimal("10.00"))


def test_an_invoice_with_a_control_character_is_not_sent() -> None:
    assert validate_invoice(_invoice()) == []
    assert validate_invoice(_invoice(description="Labor\nand parts\ttoo")) == []
    (number,) = validate_invoice(_invoice(number="W\x001"))
    assert number.field == "number" and "NUL (U+0000)" in number.message and number.message.isprintable()
    (line,) = validate_invoice(_invoice(description="Labor\x1b[2J"))
    assert line.field == "lines[1].description" and "escape (U+001B)" in line.message


def test_an_item_with_a_control_character_is_not_sent() -> None:
    assert validate_item(Item(1, "Hours")) == []
    (problem,) = validate_item(Item(1, "Hours\x00"))
    assert problem.field == "name" and "NUL (U+0000)" in problem.message and problem.message.isprintable()


def test_a_payment_with_a_control_character_is_not_sent() -> None:
    ok = Payment(1, 1, date(2026, 2, 3), Decimal("10.00"), "check", "1042")
    assert validate_payment(ok, invoice_total=None) == []
    bad = Payment(1, 1, date(2026, 2, 3), Decimal("10.00"), "che\x1bck", "10\x0042")
    problems = validate_payment(bad, invoice_total=None)
    assert [p.field for p in problems] == ["reference", "method"]
    assert "NUL (U+0000)" in problems[0].message and "escape (U+001B)" in problems[1].message
    assert all(p.message.isprintable() for p in problems)
