"""Countries and addresses in canonical form (mapping/addresses.py)."""

from __future__ import annotations

import pytest

from qbo_toolkit.mapping.addresses import (
    canonical_address,
    country_code,
    country_key,
    keep_equivalent,
    same_address,
    same_country,
)
from qbo_toolkit.mapping.customers import equivalent_values, values_agree
from qbo_toolkit.work.models import Address


@pytest.mark.parametrize(("written", "code"), [
    ("US", "US"), ("us", "US"), ("USA", "US"), ("U.S.A.", "US"), ("U.S.", "US"), ("United States", "US"),
    ("united states of america", "US"), (" 840 ", "US"),
    ("CA", "CA"), ("CAN", "CA"), ("Canada", "CA"),
    ("GB", "GB"), ("GBR", "GB"), ("UK", "GB"), ("United Kingdom", "GB"), ("Great Britain", "GB"),
    ("AU", "AU"), ("AUS", "AU"), ("australia", "AU"),
    ("DEU", "DE"), ("Germany", "DE"), ("Viet Nam", "VN"), ("Vietnam", "VN"), ("Russia", "RU"),
    ("New  Zealand", "NZ"), ("IRL", "IE"),
])
def test_every_spelling_of_a_country_is_its_alpha2_code(written: str, code: str) -> None:
    assert country_code(written) == code


@pytest.mark.parametrize("written", ["", "   ", None, "Atlantis", "Calfornia", "XX"])
def test_no_country_is_guessed(written: str | None) -> None:
    assert country_code(written) is None


def test_unknown_text_compares_as_itself_folded() -> None:
    assert country_key(" atlantis ") == country_key("ATLANTIS") == "atlantis"
    assert not same_country("Atlantis", "Lemuria")
    assert same_country("", None)
    assert not same_country("", "USA")  # a blank country is blank, not the company's
    assert same_country("USA", "us") and not same_country("USA", "CAN")


def test_addresses_compare_by_canonical_parts() -> None:
    work = Address(line1="1 Main St", city="Springfield", state="IL", postal_code="62701", country="US")
    qbo = {"Id": "77", "Line1": "1 Main St ", "City": "springfield", "CountrySubDivisionCode": "IL",
           "PostalCode": "62701", "Country": "USA"}
    assert same_address(work, qbo)
    assert canonical_address(qbo)[-1] == "US"
    assert not same_address(work, {**qbo, "Country": "CAN"})
    assert not same_address(work, {**qbo, "City": "Shelbyville"})
    parts = {"line1": "1 Main St", "line2": "", "city": "Springfield", "state": "IL", "postal_code": "62701",
             "country": "United States"}
    assert same_address(parts, work)


def test_keep_equivalent_takes_the_other_spelling_only_for_the_same_country() -> None:
    qbo = {"billing.country": "USA", "service.country": "CAN", "billing.city": "X"}
    work = {"billing.country": "US", "service.country": "US", "billing.city": "Y"}
    out = keep_equivalent(qbo, work)
    assert out == {"billing.country": "US", "service.country": "CAN", "billing.city": "X"}
    # the last synced value is the second choice
    assert keep_equivalent({"billing.country": "USA"}, {"billing.country": "CA"},
                           {"billing.country": "United States"}) == {"billing.country": "United States"}
    # a blank never stands for a country
    assert keep_equivalent({"billing.country": ""}, {"billing.country": "US"}) == {"billing.country": ""}


def test_customer_values_agree_whatever_the_spelling_of_the_country() -> None:
    a = {"display_name": "A", "billing.country": "USA", "service.country": ""}
    b = {"display_name": "A", "billing.country": "US", "service.country": ""}
    assert values_agree(a, b) and values_agree(b, a)
    assert equivalent_values(a, b)["billing.country"] == "US"
    assert not values_agree({**a, "billing.country": "GBR"}, b)
    assert not values_agree({**a, "display_name": "B"}, b)
