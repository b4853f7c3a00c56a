"""The toolkit's mark on what it creates in QBO (qbo_toolkit.mapping.markers).

Expected: a note gets the mark as its last line, replacing an earlier one; the mark names the
entity and the WORK id and is read back only for that entity; stripping gives back what the user
wrote, so comparisons of notes never see it; notes without a mark have no owner.
"""

from __future__ import annotations

import pytest

from qbo_toolkit.mapping.markers import marker, marker_owner, strip_marker, with_marker


def test_mark_is_the_last_line_and_replaces_an_earlier_one() -> None:
    once = with_marker("Method: Check", "payment", 12)
    assert once == "Method: Check\n[qbo-toolkit payment 12]"
    assert with_marker(once, "payment", 13) == "Method: Check\n[qbo-toolkit payment 13]"
    assert with_marker("", "invoice", 5) == "[qbo-toolkit invoice 5]"


@pytest.mark.parametrize(("note", "entity", "owner"), [
    ("Method: Check\n[qbo-toolkit payment 12]", "payment", 12),
    ("Voided\n[qbo-toolkit invoice 7]", "invoice", 7),  # QBO prepends "Voided" when it voids
    ("[qbo-toolkit invoice 7]", "payment", None),  # another entity's mark is not this one's
    ("paid by qbo-toolkit payment 12", "payment", None),  # prose is not a mark
    ("", "payment", None),
    (None, "payment", None),
])
def test_owner_is_read_from_the_mark_only(note: object, entity: str, owner: int | None) -> None:
    assert marker_owner(note, entity) == owner


def test_strip_gives_back_what_the_user_wrote() -> None:
    assert strip_marker(with_marker("Method: Check", "payment", 3)) == "Method: Check"
    assert strip_marker(marker("invoice", 3)) == ""
    assert strip_marker("no mark here") == "no mark here"


def test_only_invoices_and_payments_carry_marks() -> None:
    with pytest.raises(ValueError, match="customer"):
        marker("customer", 1)
