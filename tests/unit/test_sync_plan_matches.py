"""The match preview's promise in the pure customer planner (issue 12, point 5; the rules are in
:mod:`qbo_toolkit.sync.customers`' docstring): undecided pairs hold both sides whichever side is in
play, a rejection is never undone by a later exact match, a rejected client waits under "report"
when the customer it rejected holds its name, and a rejected namesake is not imported into WORK."""

from __future__ import annotations

from typing import Any

from qbo_toolkit.sync.plan import Action, plan_customers
from qbo_toolkit.work.models import Client


def plain(id_: int, name: str, email: str = "") -> Client:
    return Client(id=id_, display_name=name, email=email)


def customer(qbo_id: str, name: str, email: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"Id": qbo_id, "SyncToken": "0", "DisplayName": name, "Active": True}
    if email:
        out["PrimaryEmailAddr"] = {"Address": email}
    return out


def plan(clients: list[Client], customers: list[dict[str, Any]], **kwargs: Any) -> list[tuple[str, str, Any, Any]]:
    options: dict[str, Any] = {"dismissed": set(), "accepted": {}, "rejected": set(), "accept_weak": False,
                               "policy": "qbo_wins", "default_state": None, **kwargs}
    actions, _ = plan_customers({c.id: c for c in clients}, {str(c["Id"]): c for c in customers}, {}, **options)
    return [(a.kind, a.direction, a.work_id, a.qbo_id) for a in actions]


def actions_of(clients: list[Client], customers: list[dict[str, Any]], **kwargs: Any) -> list[Action]:
    options: dict[str, Any] = {"dismissed": set(), "accepted": {}, "rejected": set(), "accept_weak": False,
                               "policy": "qbo_wins", "default_state": None, **kwargs}
    return plan_customers({c.id: c for c in clients}, {str(c["Id"]): c for c in customers}, {}, **options)[0]


BILLS_1, BILLS_2 = plain(4, "Bill's Windsurf Shop"), plain(5, "Bill's Windsurf Shop")
BILLS_QBO = customer("2", "Bill's Windsurf Shop")


def test_the_customer_of_an_undecided_pair_is_not_imported_when_its_client_is_not_in_play() -> None:
    # a later run: bills_1 (who rejected it) and the customer are in play; bills_2 undecided is not
    assert plan([BILLS_1], [BILLS_QBO], rejected={(4, "2")}, undecided={(5, "2")}) == [
        ("create", "to_qbo", 4, None)]


def test_the_client_of_an_undecided_pair_is_not_created_when_its_customer_is_not_in_play() -> None:
    assert plan([BILLS_2], [], undecided={(5, "2")}) == [("hold", "both", 5, None)]


def test_a_decided_or_moot_pair_no_longer_holds() -> None:
    assert plan([BILLS_2], [], undecided={(5, "2")}, rejected={(5, "2")}) == [("create", "to_qbo", 5, None)]
    assert plan([BILLS_2], [], undecided={(5, "2")}, accepted={5: "9"}) == [("create", "to_qbo", 5, None)]


def test_under_report_a_rejected_client_waits_when_the_customer_it_rejected_holds_its_name() -> None:
    (held, skipped) = actions_of([BILLS_1], [BILLS_QBO], rejected={(4, "2")}, name_policy="report")
    assert (held.kind, held.work_id, held.field) == ("hold", 4, "display_name")
    assert held.reason.startswith("a customer of that name exists in QuickBooks; rename the client in WORK or "
                                  "choose fix")
    assert (skipped.kind, skipped.qbo_id) == ("skip", "2")
    assert plan([BILLS_1], [BILLS_QBO], rejected={(4, "2")}, name_policy="fix")[0] == ("create", "to_qbo", 4, None)


def test_a_rejected_namesake_is_kept_out_of_work_even_when_its_client_is_not_in_play() -> None:
    assert plan([], [BILLS_QBO], rejected={(4, "2")}, client_names={4: "Bill's Windsurf Shop"}) == [
        ("skip", "to_work", None, "2")]
    # the client renamed (or gone): nothing to confuse it with any more
    assert plan([], [BILLS_QBO], rejected={(4, "2")}, client_names={4: "Bill's Kite Shop"}) == [
        ("create", "to_work", None, "2")]
    assert plan([], [BILLS_QBO], rejected={(4, "2")}) == [("create", "to_work", None, "2")]


def test_a_rejected_fuzzy_match_of_another_name_is_imported() -> None:
    assert plan([plain(7, "Greenfield Landscaping")], [customer("307", "Greenfeld Landscaping")],
                rejected={(7, "307")}) == [("create", "to_qbo", 7, None), ("create", "to_work", None, "307")]


def test_a_rejected_pair_is_not_linked_when_it_later_matches_exactly() -> None:
    same = [plain(3, "Cool Cars", "cc@x.com")], [customer("3", "Cool Cars", "cc@x.com")]
    assert plan(*same) == [("link", "both", 3, "3")]
    assert plan(*same, rejected={(3, "3")}) == [("create", "to_qbo", 3, None), ("skip", "to_work", None, "3")]
