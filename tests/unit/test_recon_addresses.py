"""Billing addresses in the reconciliation compare in canonical form (``mapping.addresses``).

Fixture: client 1 / customer 101 "Alpha": WORK "1 Main St, Springfield, CA 94000, US", QBO the same
with "USA" and other case and spacing -> no difference; client 2 / customer 102 "Bravo": QBO's city
differs -> one ``customers_fields`` row (field ``billing_address``).
"""

from __future__ import annotations

from datetime import date

from qbo_toolkit.recon import link_frames_from_records, qbo_frames_from_records, reconcile, work_frames_from_records
from qbo_toolkit.recon.extract import address_text_and_key
from qbo_toolkit.work.models import Address


def test_us_and_usa_are_one_country_and_a_moved_city_is_a_difference() -> None:
    work_alpha = address_text_and_key(Address("1 Main St", "", "Springfield", "CA", "94000", "US"))
    qbo_alpha = address_text_and_key({"Id": "7", "Line1": "1  main st", "City": "SPRINGFIELD",
                                      "CountrySubDivisionCode": "CA", "PostalCode": "94000", "Country": "USA"})
    assert work_alpha[1] == qbo_alpha[1] and work_alpha[0] == "1 Main St, Springfield, CA, 94000, US"
    work_bravo = address_text_and_key(Address("2 Elm St", "", "Oakland", "CA", "94600", "United States"))
    qbo_bravo = address_text_and_key({"Line1": "2 Elm St", "City": "Berkeley", "CountrySubDivisionCode": "CA",
                                      "PostalCode": "94600", "Country": "USA"})
    work = work_frames_from_records(clients=[
        {"work_id": 1, "display_name": "Alpha", "billing_state": "CA", "billing_address": work_alpha[0],
         "billing_key": work_alpha[1]},
        {"work_id": 2, "display_name": "Bravo", "billing_state": "CA", "billing_address": work_bravo[0],
         "billing_key": work_bravo[1]}])
    qbo = qbo_frames_from_records(customers=[
        {"qbo_id": 101, "display_name": "Alpha", "billing_state": "CA", "balance": "0",
         "billing_address": qbo_alpha[0], "billing_key": qbo_alpha[1]},
        {"qbo_id": 102, "display_name": "Bravo", "billing_state": "CA", "balance": "0",
         "billing_address": qbo_bravo[0], "billing_key": qbo_bravo[1]}])
    links = link_frames_from_records(customers=[{"work_id": 1, "qbo_id": 101}, {"work_id": 2, "qbo_id": 102}])
    result = reconcile(work, qbo, links, as_of=date(2026, 3, 31))
    rows = result.frame("customers_fields").to_dict("records")
    assert [(r["work_id"], r["field"]) for r in rows] == [(2, "billing_address")]
    assert "Oakland" in rows[0]["work"] and "Berkeley" in rows[0]["qbo"]
    assert address_text_and_key(None) == ("", "")
