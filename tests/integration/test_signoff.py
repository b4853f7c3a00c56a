"""Sign-off of a period against a real emulator and WORK store: a real sync, real reconciliations,
changes made over raw HTTP to QBO (another app's OAuth session) and in the WORK store.

The period is the month of a synced invoice A; invoice B is dated in another month. Changing B
(outside the period) leaves the sign-off standing, even when a later reconciliation of the period
has another result (B's difference is dated outside it); changing A reopens it and says what
changed: QBO's record (its LastUpdatedTime, with a QBO client) or the new difference of a later
reconciliation (without one), or WORK's record (its revision).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from historykit import SETTINGS, Business

from qbo_toolkit.cli import main
from qbo_toolkit.recon.history import History, HistoryError, period_bounds, period_of
from qbo_toolkit.recon.signoff import SignOff
from qbo_toolkit.work.models import Invoice


def inside_and_outside(history_business: Business) -> tuple[str, tuple[Invoice, str], tuple[Invoice, str]]:
    """A period (the month of a synced invoice A) and another synced invoice B dated outside it."""
    invoices = history_business.linked_invoices()
    a = invoices[0]
    period = period_of(a[0].issue_date)
    b = next(pair for pair in invoices if period_of(pair[0].issue_date) != period)
    return period, a, b


def test_qbo_change_after_signoff_reopens_the_period_and_a_change_outside_does_not(history_business: Business) -> None:
    client = history_business.conn.client
    history = History(history_business.store, history_business.realm)
    signoff = SignOff(history)
    period, (a, a_qbo), (b, b_qbo) = inside_and_outside(history_business)
    last = period_bounds(period)[1]
    with pytest.raises(HistoryError, match=f"no reconciliation of {period}"):
        signoff.sign(period, "preparer", "alice@example.com")
    first = history.record(history_business.reconcile(last)).history
    assert signoff.status(period).state == "open"
    with pytest.raises(HistoryError, match="the preparer signs first"):
        signoff.sign(period, "reviewer", "bob@example.com")
    prepared = signoff.sign(period, "preparer", "alice@example.com", "tied out to the bank", client=client)
    assert prepared.state == "prepared" and prepared.run_id == first.run_id
    assert prepared.preparer is not None and prepared.preparer.result_hash == first.result_hash
    assert prepared.preparer.note == "tied out to the bank"
    reviewed = signoff.sign(period, "reviewer", "bob@example.com", "looked at the aging", client=client)
    assert reviewed.state == "reviewed" and [s.who for s in reviewed.signatures] == ["alice@example.com",
                                                                                    "bob@example.com"]

    history_business.next_second()
    history_business.qbo.sparse_update("Invoice", b_qbo, DocNumber=f"{b.number}-OUT")
    assert signoff.status(period, client=client).state == "reviewed"
    again = history.record(history_business.reconcile(last)).history
    assert again.result_hash != first.result_hash and f"invoices_number|W{b.id}" in set(again.new["key"])
    assert again.signoff is not None and again.signoff.state == "reviewed", again.signoff.changes

    history_business.qbo.sparse_update("Invoice", a_qbo, DocNumber=f"{a.number}-IN")
    reopened = signoff.status(period, client=client)
    assert reopened.state == "reopened"
    assert any(f"QBO Invoice {a.number}-IN (Id {a_qbo}, dated {a.issue_date.isoformat()})" in c
               for c in reopened.changes), reopened.changes
    assert not any(f"Id {b_qbo}," in c for c in reopened.changes)
    assert "REOPENED" in reopened.sentence and "alice@example.com" in reopened.sentence
    # it stays reopened, and says so in the next run's history (the report's History section)
    later = history.record(history_business.reconcile(last)).history
    assert later.signoff is not None and later.signoff.state == "reopened"
    with pytest.raises(HistoryError, match="reopened"):
        signoff.sign(period, "reviewer", "bob@example.com")
    # the preparer signs the latest run, then the reviewer: closed again
    assert signoff.sign(period, "preparer", "alice@example.com", "A renumbered on purpose", client=client).state \
        == "prepared"
    closed = signoff.sign(period, "reviewer", "carol@example.com", client=client)
    assert closed.state == "reviewed" and closed.run_id == later.run_id


def test_a_later_reconciliation_or_a_work_change_reopens_without_asking_qbo(history_business: Business) -> None:
    history = History(history_business.store, history_business.realm)
    signoff = SignOff(history)
    period, (a, a_qbo), (b, _) = inside_and_outside(history_business)
    last = period_bounds(period)[1]
    history.record(history_business.reconcile(last))
    signoff.sign(period, "preparer", "alice@example.com")
    # WORK: B (outside the period) changes: nothing reopens
    history_business.store.update_invoice(b.id, due_date=(b.due_date or b.issue_date) + timedelta(days=3))
    assert signoff.status(period).state == "prepared"
    # QBO: A is renumbered; without a QBO client the next reconciliation of the period finds it
    history_business.next_second()
    history_business.qbo.sparse_update("Invoice", a_qbo, DocNumber=f"{a.number}-IN")
    assert signoff.status(period).state == "prepared"  # nothing has looked yet
    run = history.record(history_business.reconcile(last)).history
    assert run.signoff is not None and run.signoff.state == "reopened"
    assert any(c.startswith(f"difference invoices_number|W{a.id} ({a.number}") and "is new in run" in c
               for c in run.signoff.changes), run.signoff.changes
    # signed again on the new run, then WORK edits A: reopened, naming WORK's invoice
    signoff.sign(period, "preparer", "alice@example.com")
    history_business.store.update_invoice(a.id, due_date=(a.due_date or a.issue_date) + timedelta(days=3))
    status = signoff.status(period)
    assert status.state == "reopened"
    assert status.changes == (f"WORK invoice {a.number} (id {a.id}, dated {a.issue_date.isoformat()}) was written "
                              f"after run {run.run_id}",)
    with pytest.raises(HistoryError, match="changed since its latest reconciliation"):
        signoff.sign(period, "preparer", "alice@example.com")


def test_the_cli_signs_shows_status_and_explains(history_business: Business,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    settings = history_business.home / "settings.yaml"
    SETTINGS.save(settings)
    url = f"sqlite:///{history_business.home / 'work.sqlite3'}"
    period, (a, a_qbo), _ = inside_and_outside(history_business)
    last = period_bounds(period)[1]
    assert main(["reconcile", "--work-db", url, "--settings", str(settings), "--as-of", last.isoformat()]) in (0, 1)
    out = capsys.readouterr().out
    assert "History: First run of this scope" in out
    history = History(history_business.store, history_business.realm)
    assert list(history.runs()["kind"]) == ["job"]
    from qbo_toolkit.jobs.reconcile import reconcile_job

    adhoc = reconcile_job(settings=str(settings), work_db=url, as_of=last.isoformat(), record=False)
    assert adhoc.history is None and len(history.runs()) == 1  # an ad-hoc run opts out explicitly

    assert main(["signoff", "--work-db", url, "--period", period, "--role", "reviewer", "--who", "bob"]) == 2
    assert "the preparer signs first" in capsys.readouterr().err
    assert main(["signoff", "--work-db", url, "--period", period, "--role", "preparer", "--who", "alice",
                 "--note", "month end"]) == 0
    assert f"{period} is signed off (preparer alice" in capsys.readouterr().out
    assert main(["signoff", "--work-db", url, "--period", period, "--role", "reviewer", "--who", "bob"]) == 0
    assert "reviewer bob" in capsys.readouterr().out
    assert main(["signoff", "--work-db", url, "--status"]) == 0
    assert f"{period} is signed off" in capsys.readouterr().out

    key = history.view(history.latest()).items["key"].iloc[0]
    assert main(["signoff", "--work-db", url, "--explain", key, "--who", "alice", "--note", "known, see ticket 12"]) \
        == 0
    assert f"explained {key} (alice)" in capsys.readouterr().out
    assert history.notes()["text"].tolist() == ["known, see ticket 12"]

    history_business.next_second()
    history_business.qbo.sparse_update("Invoice", a_qbo, DocNumber=f"{a.number}-IN")
    assert main(["signoff", "--work-db", url, "--status", "--period", period]) == 1
    out = capsys.readouterr().out
    assert f"{period} was REOPENED after sign-off" in out and f"QBO Invoice {a.number}-IN" in out
    assert main(["signoff", "--work-db", url, "--period", "2026-13", "--role", "preparer", "--who", "x"]) == 2
    assert "YYYY-MM" in capsys.readouterr().err
