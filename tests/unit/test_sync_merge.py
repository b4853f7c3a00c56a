"""The three-way merge of a client's fields (qbo_toolkit.sync.merge.merge), rule by rule.

Every case gives WORK's value, QBO's value and the base (what both sides agreed at the last sync,
or no base at all for a first link) and says where the value must travel: nowhere, to QBO, or to
WORK, and whether the field is a conflict decided by the policy. Pure: no I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from qbo_toolkit.settings import CONFLICT_POLICIES
from qbo_toolkit.sync.merge import Conflict, MergeResult, merge

T_EARLY = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T_LATE = T_EARLY + timedelta(hours=1)
NO_BASE = object()  # a marker for "no base" in the tables (None is a base *value*)


def merge_one(work: Any, qbo: Any, base: Any, *, policy: str = "qbo_wins", **times: datetime | None) -> MergeResult:
    """Merge a single field ``f``; ``base=NO_BASE`` for a first link (no base dict at all)."""
    return merge({"f": work}, {"f": qbo}, None if base is NO_BASE else {"f": base}, policy=policy, **times)


def outcome(result: MergeResult) -> tuple[str, Any]:
    """Where field ``f`` went: ("none", value), ("to_qbo", value) or ("to_work", value)."""
    assert not ("f" in result.to_qbo and "f" in result.to_work), "a field travels one way at most"
    if "f" in result.to_qbo:
        return "to_qbo", result.to_qbo["f"]
    if "f" in result.to_work:
        return "to_work", result.to_work["f"]
    return "none", result.values["f"]


# --------------------------------------------------------------------------- one field, no conflict
#: (id, work, qbo, base, where it goes, the agreed value). None of these is a conflict, under any policy.
NON_CONFLICTS = [
    ("equal, equal to base", "a", "a", "a", "none", "a"),
    ("equal, both changed the same way", "b", "b", "a", "none", "b"),
    ("equal, no base", "a", "a", NO_BASE, "none", "a"),
    ("None and empty text are both blank", None, "", "x", "none", None),
    ("empty text and None are both blank", "", None, NO_BASE, "none", ""),
    ("only WORK changed", "b", "a", "a", "to_qbo", "b"),
    ("only QBO changed", "a", "b", "a", "to_work", "b"),
    ("only WORK cleared", "", "a", "a", "to_qbo", ""),
    ("only QBO cleared", "a", None, "a", "to_work", None),
    ("only WORK filled a blank base", "b", "", None, "to_qbo", "b"),
    ("only QBO filled a blank base", None, "b", "", "to_work", "b"),
    ("no base: blank WORK takes QBO's value", "", "q", NO_BASE, "to_work", "q"),
    ("no base: None WORK takes QBO's value", None, "q", NO_BASE, "to_work", "q"),
    ("no base: blank QBO takes WORK's value", "w", "", NO_BASE, "to_qbo", "w"),
    ("no base: None QBO takes WORK's value", "w", None, NO_BASE, "to_qbo", "w"),
    ("booleans: only QBO deactivated", True, False, True, "to_work", False),
    ("booleans: only WORK deactivated", False, True, True, "to_qbo", False),
    ("no base: a blank active takes the other's False", None, False, NO_BASE, "to_work", False),
]


@pytest.mark.parametrize("policy", CONFLICT_POLICIES)
@pytest.mark.parametrize(("work", "qbo", "base", "where", "value"), [c[1:] for c in NON_CONFLICTS],
                         ids=[c[0] for c in NON_CONFLICTS])
def test_a_field_changed_on_one_side_at_most_travels_the_same_way_under_every_policy(
        work: Any, qbo: Any, base: Any, where: str, value: Any, policy: str) -> None:
    # timestamps that would make either side "newest" must not matter when there is no conflict
    for work_updated, qbo_updated in ((T_LATE, T_EARLY), (T_EARLY, T_LATE)):
        result = merge_one(work, qbo, base, policy=policy, work_updated=work_updated, qbo_updated=qbo_updated)
        assert outcome(result) == (where, value)
        assert result.values == {"f": value}
        assert result.conflicts == ()
        assert result.changed is (where != "none")


# --------------------------------------------------------------------------- one field, a conflict
#: (id, work, qbo, base). Both sides differ from the base and from each other (or there is no base).
CONFLICTS = [
    ("both changed differently", "w", "q", "a"),
    ("WORK cleared, QBO changed", "", "q", "a"),
    ("WORK changed, QBO cleared", "w", None, "a"),
    ("both filled a blank base differently", "w", "q", None),
    ("no base, both filled, different", "w", "q", NO_BASE),
    ("no base, active True vs False (False is a value, not a blank)", True, False, NO_BASE),
]

#: The winner of a conflict for every policy the settings allow, given which record changed last.
WINNERS = {
    "qbo_wins": {"work newer": "qbo", "qbo newer": "qbo"},
    "work_wins": {"work newer": "work", "qbo newer": "work"},
    "newest_wins": {"work newer": "work", "qbo newer": "qbo"},
}


def test_every_conflict_policy_the_settings_allow_is_covered_here() -> None:
    assert set(WINNERS) == set(CONFLICT_POLICIES)


@pytest.mark.parametrize("newer", ["work newer", "qbo newer"])
@pytest.mark.parametrize("policy", CONFLICT_POLICIES)
@pytest.mark.parametrize(("work", "qbo", "base"), [c[1:] for c in CONFLICTS], ids=[c[0] for c in CONFLICTS])
def test_a_field_changed_on_both_sides_is_a_conflict_decided_by_the_policy(
        work: Any, qbo: Any, base: Any, policy: str, newer: str) -> None:
    times = {"work_updated": T_LATE, "qbo_updated": T_EARLY} if newer == "work newer" else \
        {"work_updated": T_EARLY, "qbo_updated": T_LATE}
    result = merge_one(work, qbo, base, policy=policy, **times)
    winner = WINNERS[policy][newer]
    assert result.conflicts == (Conflict("f", work, qbo, winner),)
    if winner == "work":
        assert outcome(result) == ("to_qbo", work)
        assert result.values == {"f": work}
    else:
        assert outcome(result) == ("to_work", qbo)
        assert result.values == {"f": qbo}
    assert result.changed


# --------------------------------------------------------------------------- newest_wins timestamps
@pytest.mark.parametrize(
    ("work_updated", "qbo_updated", "winner"),
    [
        pytest.param(T_LATE, T_EARLY, "work", id="WORK changed last"),
        pytest.param(T_EARLY, T_LATE, "qbo", id="QBO changed last"),
        pytest.param(T_EARLY, T_EARLY, "work", id="a tie goes to WORK"),
        pytest.param(T_EARLY, None, "work", id="QBO time unknown: WORK"),
        pytest.param(None, T_EARLY, "qbo", id="WORK time unknown: QBO"),
        pytest.param(None, None, "qbo", id="both unknown: QBO"),
        # 13:00 UTC written as 06:00-07:00 is later than 12:00 UTC: compared as instants, not wall clocks
        pytest.param(T_EARLY, datetime(2024, 5, 1, 6, 0, tzinfo=timezone(timedelta(hours=-7))), "qbo",
                     id="offsets compared as instants (QBO later)"),
        pytest.param(T_EARLY, datetime(2024, 5, 1, 4, 0, tzinfo=timezone(timedelta(hours=-7))), "work",
                     id="offsets compared as instants (WORK later)"),
    ],
)
def test_newest_wins_goes_by_which_record_changed_last(work_updated: datetime | None, qbo_updated: datetime | None,
                                                       winner: str) -> None:
    result = merge_one("w", "q", "a", policy="newest_wins", work_updated=work_updated, qbo_updated=qbo_updated)
    assert result.conflicts == (Conflict("f", "w", "q", winner),)
    assert outcome(result) == (("to_qbo", "w") if winner == "work" else ("to_work", "q"))


@pytest.mark.parametrize(("policy", "winner"), [("qbo_wins", "qbo"), ("work_wins", "work")])
@pytest.mark.parametrize("times", [{}, {"work_updated": T_LATE, "qbo_updated": T_EARLY},
                                   {"work_updated": T_EARLY, "qbo_updated": T_LATE}])
def test_fixed_policies_ignore_timestamps(policy: str, winner: str, times: dict[str, datetime]) -> None:
    result = merge_one("w", "q", "a", policy=policy, **times)
    assert [c.winner for c in result.conflicts] == [winner]


def test_newest_wins_decides_by_record_not_by_field() -> None:
    """The side whose record changed last wins every conflicting field of that record."""
    result = merge({"a": "w1", "b": "w2"}, {"a": "q1", "b": "q2"}, {"a": "x", "b": "y"}, policy="newest_wins",
                   work_updated=T_EARLY, qbo_updated=T_LATE)
    assert [(c.field, c.winner) for c in result.conflicts] == [("a", "qbo"), ("b", "qbo")]
    assert result.to_work == {"a": "q1", "b": "q2"}
    assert result.to_qbo == {}


# --------------------------------------------------------------------------- whole records
BASE = {"display_name": "Acme", "email": "a@x.com", "phone": "555", "notes": "", "billing.city": "Seattle",
        "billing.state": "WA", "active": True}


def test_a_record_is_merged_field_by_field() -> None:
    work = {**BASE, "email": "new@x.com",            # WORK only          -> QBO
            "phone": "556",                          # both, differently  -> conflict (qbo_wins)
            "notes": "gate code 12"}                 # both, the same way -> nothing to send
    qbo = {**BASE, "billing.city": "Tacoma",         # QBO only           -> WORK
           "phone": "557",
           "notes": "gate code 12",
           "active": False}                          # QBO only           -> WORK
    result = merge(work, qbo, BASE, policy="qbo_wins")
    assert result.to_qbo == {"email": "new@x.com"}
    assert result.to_work == {"billing.city": "Tacoma", "phone": "557", "active": False}
    assert result.conflicts == (Conflict("phone", "556", "557", "qbo"),)
    assert result.values == {"display_name": "Acme", "email": "new@x.com", "phone": "557", "notes": "gate code 12",
                             "billing.city": "Tacoma", "billing.state": "WA", "active": False}
    assert result.changed


def test_the_same_record_under_work_wins() -> None:
    work = {**BASE, "email": "new@x.com", "phone": "556"}
    qbo = {**BASE, "billing.city": "Tacoma", "phone": "557"}
    result = merge(work, qbo, BASE, policy="work_wins")
    assert result.to_qbo == {"email": "new@x.com", "phone": "556"}
    assert result.to_work == {"billing.city": "Tacoma"}
    assert result.conflicts == (Conflict("phone", "556", "557", "work"),)


def test_conflicts_are_reported_in_field_name_order() -> None:
    names = [f"field_{letter}" for letter in "zyxwvutsrqponm"]  # given in reverse order
    result = merge(dict.fromkeys(names, "w"), dict.fromkeys(names, "q"), dict.fromkeys(names, "b"),
                   policy="work_wins")
    assert [c.field for c in result.conflicts] == sorted(names)
    assert list(result.to_qbo) == sorted(names)


def test_nothing_changed_anywhere() -> None:
    result = merge(BASE, dict(BASE), BASE, policy="newest_wins", work_updated=T_LATE, qbo_updated=T_EARLY)
    assert result == MergeResult(values=dict(BASE))
    assert not result.changed


def test_first_link_fills_blanks_each_way_and_reports_only_true_disagreements() -> None:
    work = {"display_name": "Acme", "email": "a@x.com", "phone": "", "notes": None, "billing.city": "Seattle"}
    qbo = {"display_name": "Acme", "email": "", "phone": "555", "notes": "vip", "billing.city": "Tacoma"}
    result = merge(work, qbo, None, policy="work_wins")
    assert result.to_qbo == {"email": "a@x.com", "billing.city": "Seattle"}
    assert result.to_work == {"phone": "555", "notes": "vip"}
    assert result.conflicts == (Conflict("billing.city", "Seattle", "Tacoma", "work"),)


def test_a_key_missing_from_the_base_counts_as_blank_there() -> None:
    result = merge({"new": "w", "other": ""}, {"new": "", "other": "q"}, {}, policy="qbo_wins")
    assert result.to_qbo == {"new": "w"}
    assert result.to_work == {"other": "q"}
    assert result.conflicts == ()


def test_a_key_present_on_one_side_only_is_blank_on_the_other() -> None:
    result = merge({"only_work": "w"}, {"only_qbo": "q"}, None, policy="qbo_wins")
    assert result.to_qbo == {"only_work": "w"}
    assert result.to_work == {"only_qbo": "q"}
    assert result.values == {"only_work": "w", "only_qbo": "q"}


def test_the_inputs_are_not_changed() -> None:
    work, qbo, base = {**BASE, "email": "w@x.com"}, {**BASE, "email": "q@x.com"}, dict(BASE)
    copies = (dict(work), dict(qbo), dict(base))
    merge(work, qbo, base, policy="newest_wins", work_updated=T_LATE, qbo_updated=T_EARLY)
    assert (work, qbo, base) == copies
