"""Reconciliation history against a real emulator and WORK store: a real sync, real reconciliations
as of month ends moving forward, differences planted over raw HTTP (QBO) and in the store (WORK).

Planted, run by run (as-of dates 31 Mar, 30 Apr, 31 May, 30 Jun 2026):

* run 1: what the sync left (held matches, pending) -- all new, the first run of the scope;
* before run 2: QBO renumbers invoice A (``invoices_number|W<A>``, and ``changed_in_qbo``): new in
  run 2, age 0;
* before run 3: WORK changes a client's e-mail, not synced (``customers_fields|W<N>|field=email``):
  new in run 3; A's difference persists, first seen 30 Apr, 31 days old;
* before run 4: QBO gets A's number back: A's difference is resolved (it was 31 days old in run 3,
  and shows its first-seen date); N's persists, 30 days old.
"""

from __future__ import annotations

import json
import time
from datetime import date

import pytest
from historykit import SETTINGS, Business

from qbo_toolkit.recon import to_html
from qbo_toolkit.recon.history import History, HistoryError, difference_keys
from qbo_toolkit.sync.state import SyncState

D1, D2, D3, D4 = date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31), date(2026, 6, 30)


def test_a_difference_is_new_then_persists_and_ages_then_is_resolved(history_business: Business) -> None:
    history = History(history_business.store, history_business.realm)
    first = history.record(history_business.reconcile(D1))
    h1 = first.history
    assert h1 is not None and h1.previous_as_of is None
    assert h1.counts["persisting"] == 0 and h1.counts["resolved"] == 0
    baseline = set(h1.items["key"])
    assert h1.counts["new"] == len(baseline) == first.difference_count + first.pending_count

    invoice, qbo_id = history_business.linked_invoices()[0]
    # QBO stamps LastUpdatedTime in whole seconds: an edit within the sync's own second would not be
    # "changed in QBO after the sync". Waiting past that second is a lower bound, never a race.
    time.sleep(1.1)
    history_business.qbo.sparse_update("Invoice", qbo_id, DocNumber=f"{invoice.number}-X")
    h2 = history.record(history_business.reconcile(D2)).history
    key_a = f"invoices_number|W{invoice.id}"
    key_c = f"changed_in_qbo|W{invoice.id}|entity=invoice"  # QBO changed it after the sync
    assert h2.previous_as_of == D1
    assert set(h2.new["key"]) == {key_a, key_c}, h2.new
    row = h2.items.set_index("key").loc[key_a]
    assert (row["status"], row["first_seen"], row["age_days"]) == ("new", D2, 0)
    assert set(h2.persisting["key"]) == baseline and h2.counts["resolved"] == 0
    assert h2.status_of(key_a) == "new"

    linked = SyncState(history_business.store, history_business.realm).links("customer")
    client = next(c for c in history_business.store.clients() if c.active and c.id in linked)
    history_business.store.update_client(client.id, email="history.test@example.com")  # not synced
    h3 = history.record(history_business.reconcile(D3)).history
    key_n = f"customers_fields|W{client.id}|field=email"
    assert list(h3.new["key"]) == [key_n]
    new_row = h3.new.iloc[0]
    assert new_row["amount_cents"] == 0 and new_row["day"] is None  # a name field: no amount, no date
    row = h3.items.set_index("key").loc[key_a]
    assert (row["status"], row["first_seen"], row["age_days"]) == ("persisting", D2, 31)
    assert h3.counts == {"new": 1, "persisting": len(baseline) + 2, "resolved": 0,
                         "needs_explanation": len(baseline) + 3}  # no materiality: every difference needs one

    history_business.qbo.sparse_update("Invoice", qbo_id, DocNumber=invoice.number)
    fourth = history.record(history_business.reconcile(D4))
    h4 = fourth.history
    assert list(h4.resolved["key"]) == [key_a]
    gone = h4.resolved.iloc[0]
    assert (gone["status"], gone["first_seen"], gone["age_days"]) == ("resolved", D2, 61)
    assert h4.new.empty
    assert h4.status_of(key_c) == "persisting"  # changed in QBO after the sync, still
    row = h4.items.set_index("key").loc[key_n]
    assert (row["status"], row["first_seen"], row["age_days"]) == ("persisting", D3, 30)
    assert h4.sentence.startswith("0 new, ") and "1 resolved since the run as of 2026-05-31" in h4.sentence

    # the series: one point per run and category, for the chart
    series = h4.series
    assert sorted(set(series["as_of"])) == [D1, D2, D3, D4]
    numbers = series[series["category"] == "invoices_number"].set_index("as_of")["count"].to_dict()
    assert numbers == {D2: 1, D3: 1}
    # the result carries it: repr, to_dict, the report's History section
    assert "History: 0 new" in repr(fourth)
    data = json.loads(json.dumps(fourth.to_dict()))
    assert data["history"]["counts"]["resolved"] == 1 and data["history"]["resolved"][0]["key"] == key_a
    assert "history" in data and "new" not in fourth.to_dict(records=False)["history"]
    html = to_html(fourth)
    assert 'id="history"' in html and key_a in html
    # runs are kept with their scope; a run as of an earlier day compares with what came before it
    runs = history.runs()
    assert list(runs["as_of"]) == [D1, D2, D3, D4] and runs["scope"].nunique() == 1


def test_keys_are_stable_and_explanations_go_with_their_difference(history_business: Business) -> None:
    history = History(history_business.store, history_business.realm)
    invoice, qbo_id = history_business.linked_invoices()[1]
    history_business.qbo.sparse_update("Invoice", qbo_id, DocNumber=f"{invoice.number}-Y")
    r1 = history_business.reconcile(D1)
    r2 = history_business.reconcile(D2)
    for name in ("invoices_number", "pending"):
        assert list(difference_keys(name, r1.frame(name))) == list(difference_keys(name, r2.frame(name)))
    key = f"invoices_number|W{invoice.id}"
    h1 = history.record(r1, materiality={"invoices_number": {"count": 5}, "*": {"amount": "1000000.00"}}).history
    # within materiality: nothing needs an explanation (amounts far under a million, one renumbering under 5)
    assert h1.needs_explanation.empty, h1.needs_explanation
    with pytest.raises(HistoryError, match="empty"):
        history.explain(key, "ana@example.com", "  ")
    with pytest.raises(HistoryError, match="has no difference"):
        history.explain("invoices_total|W999999", "ana@example.com", "typo")
    history.explain(key, "ana@example.com", "Customer asked for a new number; WORK follows next week")
    h2 = history.record(r2).history  # no materiality: material, but explained
    row = h2.items.set_index("key").loc[key]
    assert row["note"].startswith("Customer asked") and row["note_by"] == "ana@example.com"
    assert key not in set(h2.needs_explanation["key"])
    history_business.qbo.sparse_update("Invoice", qbo_id, DocNumber=invoice.number)
    h3 = history.record(history_business.reconcile(D3)).history
    assert key in set(h3.resolved["key"])
    assert key not in set(history.notes()["key"])  # retired with its difference
    retired = history.notes(include_retired=True)
    assert retired.set_index("key").loc[key, "retired_run_id"] == h3.run_id
    # it comes back: new again, without the old note
    history_business.qbo.sparse_update("Invoice", qbo_id, DocNumber=f"{invoice.number}-Z")
    h4 = history.record(history_business.reconcile(D4)).history
    row = h4.items.set_index("key").loc[key]
    assert row["status"] == "new" and row["age_days"] == 0 and row["note"] is None


def test_materiality_is_checked_strictly() -> None:
    from qbo_toolkit.errors import ConfigError
    from qbo_toolkit.recon.history import check_materiality

    assert check_materiality({"invoices_total": {"amount": "10.50", "count": 3}}) == {
        "invoices_total": {"amount_cents": 1050, "count": 3}}
    for bad, message in [({"invoice_total": {"amount": "1"}}, "did you mean invoices_total"),
                         ({"invoices_total": {"amount": 1.5}}, "decimal text"),
                         ({"invoices_total": {"amount": "1.005"}}, "two decimals"),
                         ({"invoices_total": {"count": -1}}, "whole number"),
                         ({"invoices_total": {"limit": 3}}, "takes amount and count"),
                         ({"invoices_not_expected": {"count": 3}}, "no difference category"),
                         ({"invoices_total": {}}, "amount and/or count")]:
        with pytest.raises(ConfigError, match=message):
            check_materiality(bad)
    # the reconcile job's parameter is checked the same way, before anything runs
    from qbo_toolkit.jobs.params import check_params

    assert check_params("reconcile", {"materiality": {"*": {"amount": "50.00"}}, "record": False}) == {
        "materiality": {"*": {"amount": "50.00"}}, "record": False}
    with pytest.raises(ConfigError, match="reconcile job: materiality names no difference category"):
        check_params("reconcile", {"materiality": {"invoice": {"count": 1}}}, source="reconcile job")
    with pytest.raises(ConfigError, match="record must be true or false"):
        check_params("reconcile", {"record": "no"})


def test_the_explorer_keeps_its_runs_filters_by_history_explains_and_signs_off(history_business: Business) -> None:
    from qbo_toolkit.ui.explorer import show_explorer

    url = f"sqlite:///{history_business.home / 'work.sqlite3'}"
    show_explorer(settings=SETTINGS, work_db=url, as_of=D1.isoformat(), display=False)
    invoice, qbo_id = history_business.linked_invoices()[0]
    time.sleep(1.1)  # past the sync's second (QBO stamps whole seconds), as in the test above
    history_business.qbo.sparse_update("Invoice", qbo_id, DocNumber=f"{invoice.number}-X")
    explorer = show_explorer(settings=SETTINGS, work_db=url, as_of=D2.isoformat(), display=False)
    key = f"invoices_number|W{invoice.id}"
    new = explorer.filter(status="new")
    assert set(new["history_key"]) == {key, f"changed_in_qbo|W{invoice.id}|entity=invoice"}
    assert (new["age_days"] == 0).all()
    persisting = explorer.filter(status="persisting")
    assert len(persisting) + len(new) == len(explorer.filter())
    assert explorer.filter(status="resolved").empty
    with pytest.raises(KeyError, match="no history status"):
        explorer.filter(status="old")

    view = explorer.view
    row_key = str(new.index[new["history_key"] == key][0])
    view.status.value = "needs_explanation"
    assert row_key in [k for _, k in view.selector.options]
    view.selector.value = row_key
    view.who.value, view.note.value = "ana@example.com", "renumbered at the customer's request"
    view.explain.click()
    said = view.messages.widget.outputs[0]["data"]["text/plain"]
    assert said.startswith("Explanation kept"), said
    assert "explained by ana@example.com: renumbered" in view.summary.value
    assert row_key not in set(explorer.filter(status="needs_explanation").index)
    view.role.value = "preparer"
    view.sign.click()
    assert "2026-04 is signed off (preparer ana@example.com" in view.signoff_state.value
    view.role.value = "reviewer"
    view.who.value = "ben@example.com"
    view.sign.click()
    assert "reviewer ben@example.com" in view.signoff_state.value

    history_business.qbo.sparse_update("Invoice", qbo_id, DocNumber=invoice.number)
    later = show_explorer(settings=SETTINGS, work_db=url, as_of=D3.isoformat(), display=False)
    resolved = later.filter(status="resolved", category="invoices_number")
    assert list(resolved["history_key"]) == [key] and resolved["first_seen"].tolist() == [D2]
    assert list(History(history_business.store, history_business.realm).runs()["kind"]) == ["explorer"] * 3
    # the earlier period's sign-off: A's number changed back in QBO after it was signed
    assert "2026-05 is not signed off" in later.view.signoff_state.value
