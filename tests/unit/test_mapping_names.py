"""Matching keys and QBO's name rules (qbo_toolkit.mapping.names).

Name keys — pairs that must give the same key:
  typographic apostrophe   "O’Brien Plumbing"      ~ "O'Brien Plumbing" ~ "OBrien Plumbing"
  & vs and                 "Smith & Sons"          ~ "Smith and Sons" ~ "Smith&Sons"
  case and spacing         "  cool   CARS "        ~ "Cool Cars"
  punctuation              "Cool-Cars, Inc."       ~ "Cool Cars Inc"
  accents, NFKC            "Café Ｏｌé"              ~ "cafe ole"
Pairs that must stay apart: "Cool Cars" / "Cool Card", "Smith Sons" / "Smith and Sons".

DisplayName refusals (field DisplayName, first problem only): "" and "   " empty; " Cool Cars" and
"Cool Cars " whitespace; "Parent:Child", "A\\tB", "A\\nB" character, and so is any other control
character ("Bob\\x00s", an escape, DEL: never sent, with a sentence naming it); 501 characters
length; 500 characters and "Cool Cars" accepted.
"""

from __future__ import annotations

import pytest

from qbo_toolkit.mapping.names import (
    DISPLAY_NAME_MAX,
    check_display_name,
    normalise_email,
    normalise_name,
    normalise_phone,
    suffixed_name,
)

SAME_NAMES = [
    ("O’Brien Plumbing", "O'Brien Plumbing"),
    ("O’Brien Plumbing", "OBrien Plumbing"),
    ("Smith & Sons", "Smith and Sons"),
    ("Smith&Sons", "Smith and Sons"),
    ("  cool   CARS ", "Cool Cars"),
    ("Cool-Cars, Inc.", "Cool Cars Inc"),
    ("Café Ｏｌé", "cafe ole"),
    ("“Quoted” Name", '"Quoted" Name'),
]
DIFFERENT_NAMES = [("Cool Cars", "Cool Card"), ("Smith Sons", "Smith and Sons")]


@pytest.mark.parametrize(("a", "b"), SAME_NAMES)
def test_equivalent_names_share_a_key(a: str, b: str) -> None:
    assert normalise_name(a) == normalise_name(b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT_NAMES)
def test_different_names_keep_different_keys(a: str, b: str) -> None:
    assert normalise_name(a) != normalise_name(b)


def test_name_key_shape() -> None:
    assert normalise_name("  O’Brien & Sons,  Inc. ") == "obrien and sons inc"
    assert normalise_name("") == ""
    assert normalise_name("???") == ""


def test_email_key() -> None:
    assert normalise_email("  Ann.Lee@Example.COM ") == "ann.lee@example.com"
    assert normalise_email("") == ""


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("+1 (520) 420-5638", "5204205638"),
        ("520.420.5638", "5204205638"),
        ("1-520-420-5638", "5204205638"),
        ("520-420-5638 ext. 12", "5204205638"),
        ("520 420 5638 x12", "5204205638"),
        ("44 20 7946 0958", "442079460958"),  # not a US number: kept whole
        ("", ""),
    ],
)
def test_phone_key(raw: str, key: str) -> None:
    assert normalise_phone(raw) == key


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (" Cool Cars", "whitespace"),
        ("Cool Cars ", "whitespace"),
        ("Parent:Child", "character"),
        ("A\tB", "character"),
        ("A\nB", "character"),
        ("x" * (DISPLAY_NAME_MAX + 1), "length"),
    ],
)
def test_display_name_refusals(name: str, kind: str) -> None:
    problem = check_display_name(name)
    assert problem is not None
    assert problem.kind == kind
    assert problem.field == "DisplayName"
    assert problem.message.startswith("DisplayName")


def test_display_name_messages_say_what_is_wrong() -> None:
    colon = check_display_name("Parent:Child")
    too_long = check_display_name("x" * 501)
    assert colon is not None and "colon" in colon.message
    assert too_long is not None and "501" in too_long.message and "500" in too_long.message


@pytest.mark.parametrize(("name", "what"), [("Bob\x00s Bikes", "NUL (U+0000)"), ("Esc\x1b[31mCo", "escape (U+001B)"),
                                           ("Bell\x07", "bell (U+0007)"), ("Del\x7f Co", "DEL (U+007F)"),
                                           ("Unit\x1fSep", "U+001F"), ("Feed\x0cCo", "form feed")])
def test_control_characters_are_never_sent(name: str, what: str) -> None:
    problem = check_display_name(name)
    assert problem is not None and problem.kind == "character" and problem.field == "DisplayName"
    assert what in problem.message and "remove it" in problem.message
    assert problem.message.isprintable()  # the name is quoted with escapes: the sentence prints cleanly


@pytest.mark.parametrize("name", ["Cool Cars", "x" * DISPLAY_NAME_MAX, "O’Brien & Sons (2)", "Café 東京 🚀"])
def test_acceptable_display_names(name: str) -> None:
    assert check_display_name(name) is None


def test_suffixed_name() -> None:
    assert suffixed_name("Cool Cars", 2) == "Cool Cars (2)"
    assert suffixed_name(" Cool Cars ", 10) == "Cool Cars (10)"
    long = suffixed_name("x" * 500, 2)
    assert len(long) == DISPLAY_NAME_MAX
    assert long.endswith("x (2)")
    assert check_display_name(long) is None
    assert suffixed_name("abc def", 3, limit=8) == "abc (3)"
    with pytest.raises(ValueError, match="at least 1"):
        suffixed_name("Cool Cars", 0)
