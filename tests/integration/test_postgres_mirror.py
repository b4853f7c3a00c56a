"""The mirror, the reconciliation history and sign-off on PostgreSQL (issue 14's tables on the other
backend the WORK store supports), against the real emulator over HTTP.

Runs when ``QBO_TEST_POSTGRES_URL`` is set (``scripts/postgres.sh run ...``; see
``test_postgres.py``, whose schema helper each test uses: a new empty schema, dropped at the end).
The sessions run in a time zone far from UTC (``Pacific/Auckland``) so a timestamp read back in
the session's zone, or a naive one taken for local time, shows.

* The demo business synced on PostgreSQL, then reconciliations (mirror on): the first fills the
  mirror, the second brings it current by one CDC request; the mirror's objects equal a fresh full
  read (``test_mirror``'s oracle: object for object as QBO sends them, and as the reconciliation's
  frames). Changes made in QBO over raw HTTP (an invoice edited, a payment voided, another
  deleted) reach the mirror with the next reconciliation, and ``Mirror.verify()`` then finds
  nothing that differs. ``test_mirror``'s random-day property (both sides) holds on PostgreSQL too.
* Two writers of one realm's mirror (the sync's write replies, a reconciliation's CDC) at once:
  the second waits for the first and then updates what the first inserted.
* History: runs recorded as of month ends; a difference planted in QBO is new, then persists with
  its first-seen day and age, and keeps its explanation. Sign-off by a preparer and a reviewer
  (times in UTC), then a QBO change dated in the period reopens it and says what changed. What is
  read back from PostgreSQL (ids, days, first seen, fingerprints, times) equals what was recorded.
  ``qbo-toolkit reconcile`` / ``signoff`` and the explorer on a PostgreSQL store (no password in
  what they print or write).
* Several engines creating the WORK, sync, mirror and history tables at once on a fresh schema all
  succeed (``work.schema.ensure_tables``' advisory lock).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from historykit import SETTINGS as HISTORY_SETTINGS
from historykit import Business
from historykit import RawQbo as HistoryQbo
from sqlalchemy.engine import make_url
from synckit import SETTINGS, SMALL_DEMO, WorkClock, World
from test_mirror import RawQbo, assert_mirror_equals_fresh, fresh_objects, qbo_day, work_day
from test_postgres import needs_postgres, postgres_schema

from qbo_toolkit.connection import connect_headless
from qbo_toolkit.emulator import EmulatorServer
from qbo_toolkit.mirror import Mirror, MirrorRead
from qbo_toolkit.mirror.store import MirrorStore, rows_table
from qbo_toolkit.recon import reconcile_live
from qbo_toolkit.recon.history import History, HistoryError, period_bounds, period_of
from qbo_toolkit.recon.signoff import SignOff
from qbo_toolkit.sync.engine import SyncEngine
from qbo_toolkit.sync.state import SyncState
from qbo_toolkit.work.demo import generate_demo
from qbo_toolkit.work.store import WorkStore

pytestmark = needs_postgres

AS_OF = date(2026, 6, 30)
#: A zone 13 hours from UTC in December: a timestamp handled in the wrong zone moves by hours.
ZONE = "Pacific/Auckland"


def in_zone(url: str, zone: str = ZONE) -> str:
    """``url`` whose sessions use the time zone ``zone`` (libpq's ``options``)."""
    parsed = make_url(url)
    options = " ".join(filter(None, [parsed.query.get("options", ""), f"-ctimezone={zone}"]))
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


@contextmanager
def postgres_store(**kwargs: Any) -> Iterator[tuple[str, WorkStore]]:
    """A WORK store in a fresh PostgreSQL schema (sessions in :data:`ZONE`), closed at the end."""
    with postgres_schema() as base:
        url = in_zone(base)
        store = WorkStore(url, **kwargs)
        try:
            assert store.max_revision() == 0, "the PostgreSQL schema must be empty"
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("SHOW timezone").scalar() == ZONE
            yield url, store
        finally:
            store.close()


def connect_to(emu: EmulatorServer, home: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    info = home / "emulator.json"
    info.write_text(json.dumps(emu.info))
    monkeypatch.setenv("QBO_EMULATOR_INFO", str(info))
    return connect_headless(), info


@pytest.fixture
def world(start_emulator: Callable[..., EmulatorServer], tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """``synckit.open_world``'s world (the small demo, synced by the tests) on PostgreSQL."""
    emu = start_emulator()
    conn, info = connect_to(emu, tmp_path, monkeypatch)
    clock = WorkClock()
    with postgres_store(clock=clock) as (url, store):
        demo = generate_demo(store, integration_date=SETTINGS.integration_date, **SMALL_DEMO)
        yield World(emu, conn, store, url, info, tmp_path, demo, clock)


@pytest.fixture
def business(start_emulator: Callable[..., EmulatorServer], tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Business]:
    """``test_history``'s synced business on PostgreSQL."""
    emu = start_emulator(time_scale=60.0)
    conn, _ = connect_to(emu, tmp_path, monkeypatch)
    with postgres_store() as (_, store):
        generate_demo(store, clients=20, invoices=40, payments=24, integration_date=HISTORY_SETTINGS.integration_date)
        assert SyncEngine(store, conn.client, HISTORY_SETTINGS).run().completed
        yield Business(emu, conn, store, HistoryQbo(emu), tmp_path)


def mirror_rows(store: WorkStore, realm: str, entity: str, qbo_id: str) -> list[Any]:
    """The mirror's stored rows of one object (every generation), read straight from PostgreSQL."""
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(rows_table).where(
            rows_table.c.realm == realm, rows_table.c.entity == entity, rows_table.c.qbo_id == qbo_id)).all())


# ------------------------------------------------------------------------------------------------
# The mirror
# ------------------------------------------------------------------------------------------------
def test_the_mirror_is_filled_kept_current_by_cdc_and_verified_on_postgresql(world: World) -> None:
    w = world
    assert w.sync().completed
    reads: list[MirrorRead] = []
    first = reconcile_live(w.conn, w.store, as_of=AS_OF, settings=SETTINGS, tie_out=False, on_read=reads.append)
    assert reads[-1].mode == "full" and "first read" in reads[-1].text, reads[-1].text
    mirror = Mirror(w.store, w.conn.client)
    assert mirror.generation() == 1 and sum(mirror.counts().values()) == reads[-1].records
    assert_mirror_equals_fresh(w, mirror)
    # amounts and stamps as PostgreSQL keeps them: exact decimals in the JSON text, aware UTC stamps
    invoice = next(o for o in mirror.objects("Invoice") if Decimal(str(o["TotalAmt"])) != int(o["TotalAmt"]))
    assert isinstance(invoice["TotalAmt"], Decimal)
    row = mirror_rows(w.store, w.realm, "Invoice", str(invoice["Id"]))[0]
    assert row.updated_at.utcoffset() is not None and row.month == invoice["TxnDate"][:7]
    position = mirror.position()
    assert position is not None and position.utcoffset().total_seconds() == 0  # type: ignore[union-attr]

    second = reconcile_live(w.conn, w.store, as_of=AS_OF, settings=SETTINGS, tie_out=False, on_read=reads.append)
    assert reads[-1].mode == "cdc" and reads[-1].requests == 1, reads[-1].text
    assert second.verdict == first.verdict and second.difference_count == first.difference_count
    assert_mirror_equals_fresh(w, mirror)

    # the sync keeps it current on PostgreSQL too: its write replies (a new WORK invoice) and its CDC (a
    # customer edited in QBO) reach the mirror with no read of the mirror's own
    raw = RawQbo(w)
    customer = str(raw.query("SELECT * FROM Customer WHERE Active = true MAXRESULTS 1")[0]["Id"])
    w.emu.clock.advance(2)
    edited_customer = raw.update("Customer", customer, {"PrimaryPhone": {"FreeFormNumber": "555-0177"}})
    template = next(i for i in w.store.invoices() if i.issue_date >= SETTINGS.integration_date
                    and i.status == "open" and i.id in w.state.links("invoice"))
    line = template.lines[0]
    w.store.add_invoice("PG-MIRROR-1", template.client_id, date(2026, 5, 4), lines=[{
        "item_id": line.item_id, "description": "mirror on PostgreSQL", "qty": Decimal(1),
        "unit_price": Decimal("123.45"), "tax_rate": line.tax_rate, "taxable": line.taxable}])
    assert w.sync().completed
    made = w.state.links("invoice")[w.store.invoice_by_number("PG-MIRROR-1").id].qbo_id  # type: ignore[union-attr]
    assert [(r.status, r.month) for r in mirror_rows(w.store, w.realm, "Invoice", made)] == [("active", "2026-05")]
    assert next(o for o in mirror.objects("Invoice") if str(o["Id"]) == made)["DocNumber"] == "PG-MIRROR-1"
    assert min(r.sync_token for r in mirror_rows(w.store, w.realm, "Customer", customer)) >= int(
        edited_customer["SyncToken"])

    # QBO changes over raw HTTP, not through the toolkit: an invoice edited, a payment voided, another deleted
    links = w.state.links("payment")
    paid = sorted((link.qbo_id for link in links.values() if link.state == "active"), key=int)
    voided_id, deleted_id = paid[0], paid[1]
    edited_id = next(link.qbo_id for link in w.state.links("invoice").values() if link.state == "active")
    w.emu.clock.advance(2)
    raw.update("Invoice", edited_id, {"DueDate": "2026-09-30", "CustomerMemo": {"value": "edited on PostgreSQL"}})
    raw.void("Payment", voided_id)
    raw.delete("Payment", deleted_id)
    reconcile_live(w.conn, w.store, as_of=AS_OF, settings=SETTINGS, tie_out=False, on_read=reads.append)
    read = reads[-1]
    assert read.mode == "cdc" and read.requests == 1 and read.changes >= 3, read.text
    held = {str(o["Id"]): o for o in mirror.objects("Payment")}
    assert deleted_id not in held and Decimal(str(held[voided_id]["TotalAmt"])) == 0
    assert held[voided_id]["PrivateNote"].startswith("Voided")
    assert [r.status for r in mirror_rows(w.store, w.realm, "Payment", deleted_id)] == ["deleted"]
    assert [r.status for r in mirror_rows(w.store, w.realm, "Payment", voided_id)] == ["voided"]
    edited = next(o for o in mirror.objects("Invoice") if str(o["Id"]) == edited_id)
    assert edited["DueDate"] == "2026-09-30" and edited["CustomerMemo"] == {"value": "edited on PostgreSQL"}
    assert {r.sync_token for r in mirror_rows(w.store, w.realm, "Invoice", edited_id)} == {
        int(fresh_objects(w, "Invoice")[edited_id]["SyncToken"])}
    found = mirror.verify()
    assert found.reread == [] and "nothing differed" in found.text, found.text
    assert found.checked > len(mirror.month_stats("Invoice"))  # months, the customers and the edges
    assert_mirror_equals_fresh(w, mirror)
    # changed in QBO and never told to the mirror (no CDC): verification reads that month again, only it
    other = next(o for o in mirror.objects("Invoice") if str(o["Id"]) != edited_id)
    w.emu.clock.advance(2)
    raw.update("Invoice", str(other["Id"]), {"DueDate": "2026-10-31"})
    found = mirror.verify()
    # (the emulator saves the customer's Balance again when an invoice with a balance is saved, which
    # stamps the customer: the customers may be read again too)
    assert [r for r in found.reread if r != "Customer"] == [f"Invoice {other['TxnDate'][:7]}"], found.text
    assert_mirror_equals_fresh(w, mirror)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_mirror_equals_a_fresh_read_after_a_random_day_on_postgresql(world: World, seed: int) -> None:
    """``test_mirror``'s property (Done-when of issue 14) on PostgreSQL: a random day of changes on both
    sides (its ``work_day`` and ``qbo_day``: edits, voids, deletes, payments, a merge), the mirror kept
    current by the sync's CDC and write replies and one CDC of its own, equals a fresh full read."""
    w, rng, raw = world, random.Random(seed), RawQbo(world)
    assert w.sync().completed
    mirror = Mirror(w.store, w.conn.client)
    assert mirror.bring_current().mode == "full"
    qbo_day(w, raw, rng)  # before the sync: the sync's CDC carries these
    work_day(w, rng, seed)
    result = w.sync()
    assert result.completed, result.text
    w.emu.clock.advance(2)
    qbo_day(w, raw, rng)  # after the sync: the mirror's own CDC brings these
    read = mirror.bring_current()
    assert read.mode == "cdc" and read.requests == 1, read.text
    assert_mirror_equals_fresh(w, mirror)


def test_two_writers_of_one_mirror_take_turns(tmp_path: Path) -> None:
    """The sync's write replies and a reconciliation's CDC, in two processes, write the same realm's
    mirror at once: both bring the same new invoice, both move the position. The second writer waits
    for the first to commit (as SQLite's BEGIN IMMEDIATE makes it), then finds the row and the value
    there and updates them: on PostgreSQL both would otherwise insert, and the second would fail on
    the primary key. Deterministic: the first holds its transaction open until the second is seen
    waiting on a lock (``pg_stat_activity``), then commits."""
    def invoice(token: int, stamp: str) -> dict[str, Any]:
        return {"Id": "501", "SyncToken": str(token), "TxnDate": "2026-03-02", "TotalAmt": Decimal("120.50"),
                "DocNumber": "PG-501", "MetaData": {"LastUpdatedTime": stamp}}

    with postgres_store() as (url, store):
        other = WorkStore(url)  # the other process: its own engine and connections
        try:
            mine, theirs = MirrorStore(store, "4620816365"), MirrorStore(other, "4620816365")
            gen = mine.begin_generation()
            mine.switch(gen, ("Invoice",), datetime(2026, 3, 1, tzinfo=UTC), filled=True)
            writes: list[tuple[str, Callable[[MirrorStore, Any], Any], Callable[[MirrorStore, Any], Any]]] = [
                ("a new invoice",
                 lambda m, c: m.apply(c, [("Invoice", invoice(0, "2026-03-02T10:00:00-08:00"))]),
                 lambda m, c: m.apply(c, [("Invoice", invoice(1, "2026-03-02T10:05:00-08:00"))])),
                ("the position",
                 lambda m, c: m.set_position(c, datetime(2026, 3, 2, 18, 0, tzinfo=UTC)),
                 lambda m, c: m.set_position(c, datetime(2026, 3, 2, 18, 5, tzinfo=UTC))),
            ]
            for what, first, second in writes:
                written, hold, failed, pid = threading.Event(), threading.Event(), [], []

                def one(first: Callable[[MirrorStore, Any], Any] = first, written: threading.Event = written,
                        hold: threading.Event = hold) -> None:
                    with store.begin() as conn:
                        first(mine, conn)
                        written.set()
                        hold.wait(60)  # commits when the second writer waits (or after a minute: then it fails)

                def two(second: Callable[[MirrorStore, Any], Any] = second, failed: list[Any] = failed,
                        pid: list[int] = pid) -> None:
                    try:
                        with other.begin() as conn:
                            pid.append(int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()))
                            second(theirs, conn)
                    except Exception as exc:  # the assertion below shows it
                        failed.append(exc)

                a = threading.Thread(target=one)
                a.start()
                assert written.wait(60), f"{what}: the first writer did not write"
                b = threading.Thread(target=two)
                b.start()
                waited = False
                with store.engine.connect() as conn:
                    for _ in range(600):
                        if pid:
                            state = conn.exec_driver_sql(
                                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid[0],)).scalar()
                            if state == "Lock":
                                waited = True
                                break
                        if not b.is_alive():
                            break
                        time.sleep(0.05)
                hold.set()
                a.join(60)
                b.join(60)
                assert waited, f"{what}: the second writer did not wait for the first"
                assert failed == [], f"{what}: {failed}"
            rows = mirror_rows(store, "4620816365", "Invoice", "501")
            assert [(r.sync_token, r.status) for r in rows] == [(1, "active")]
            assert mine.position() == datetime(2026, 3, 2, 18, 5, tzinfo=UTC)
        finally:
            other.close()


# ------------------------------------------------------------------------------------------------
# History and sign-off
# ------------------------------------------------------------------------------------------------
def by_key(frame: pd.DataFrame, *, but: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """``frame``'s rows in key order without the columns ``but``, every missing value as None."""
    return [{k: None if v is None or v is pd.NA or v != v else v for k, v in row.items() if k not in but}
            for row in frame.sort_values("key", kind="stable").to_dict("records")]


# ------------------------------------------------------------------------------------------------
def test_history_ages_differences_and_a_qbo_change_reopens_a_signoff_on_postgresql(business: Business) -> None:
    client = business.conn.client
    history = History(business.store, business.realm)
    signoff = SignOff(history)
    invoices = business.linked_invoices()
    (a, a_qbo) = invoices[0]
    period = period_of(a.issue_date)
    last = period_bounds(period)[1]
    d1, d2, d3 = last, date(2026, 7, 31), date(2026, 8, 31)  # as-ofs moving forward, after the demo's dates
    assert d1 < d2

    first = history.record(business.reconcile(d1))
    h1 = first.history
    assert h1 is not None and h1.previous_as_of is None and h1.counts["new"] == len(h1.items) > 0
    baseline = set(h1.items["key"])

    # sign-off of A's period: preparer, then reviewer (QBO asked too); a name longer than the column
    # is refused with a sentence (PostgreSQL would refuse the INSERT; SQLite would keep it)
    with pytest.raises(HistoryError, match="201 characters long: write at most 200"):
        signoff.sign(period, "preparer", "a" * 201)
    assert signoff.status(period).state == "open"
    prepared = signoff.sign(period, "preparer", "alice@example.com", "tied out to the bank", client=client)
    assert prepared.state == "prepared" and prepared.run_id == h1.run_id
    assert prepared.preparer is not None and prepared.preparer.result_hash == h1.result_hash
    reviewed = signoff.sign(period, "reviewer", "bob@example.com", "looked at the aging", client=client)
    assert reviewed.state == "reviewed", reviewed.sentence
    assert [s.who for s in reviewed.signatures] == ["alice@example.com", "bob@example.com"]
    # times come back in UTC (the sentence says "UTC"), whatever zone the session reads them in
    assert all(s.at.utcoffset() == timedelta(0) for s in reviewed.signatures)
    assert f"preparer alice@example.com on {reviewed.signatures[0].at:%Y-%m-%d %H:%M} UTC" in reviewed.sentence
    assert abs(reviewed.signatures[1].at - datetime.now(UTC)) < timedelta(minutes=5)
    assert signoff.status(period, client=client).state == "reviewed"  # nothing changed: QBO finds nothing newer

    # QBO renumbers A (dated in the signed period): the sign-off is reopened, saying what changed
    business.next_second()
    time.sleep(0.05)
    business.qbo.sparse_update("Invoice", a_qbo, DocNumber=f"{a.number}-PG")
    reopened = signoff.status(period, client=client)
    assert reopened.state == "reopened", reopened.sentence
    assert any(f"QBO Invoice {a.number}-PG (Id {a_qbo}, dated {a.issue_date.isoformat()})" in c
               for c in reopened.changes), reopened.changes
    assert "REOPENED" in reopened.sentence and reopened.reopened_at is not None

    key_a = f"invoices_number|W{a.id}"
    h2 = history.record(business.reconcile(d2)).history
    assert h2 is not None and h2.previous_as_of == d1
    assert key_a in set(h2.new["key"])
    row = h2.items.set_index("key").loc[key_a]
    assert (row["status"], row["first_seen"], row["age_days"]) == ("new", d2, 0)
    assert baseline <= set(h2.persisting["key"]) and h2.counts["resolved"] == 0
    with pytest.raises(HistoryError, match="201 characters long: write at most 200"):
        history.explain(key_a, "b" * 201, "a name longer than the column")
    history.explain(key_a, "ana@example.com", "renumbered in QBO on purpose")

    h3 = history.record(business.reconcile(d3)).history
    assert h3 is not None and h3.previous_as_of == d2 and h3.new.empty, h3.new
    row = h3.items.set_index("key").loc[key_a]
    assert (row["status"], row["first_seen"], row["age_days"]) == ("persisting", d2, 31)
    assert row["note"] == "renumbered in QBO on purpose" and row["note_by"] == "ana@example.com"
    assert abs(row["note_at"] - datetime.now(UTC)) < timedelta(minutes=5)
    oldest = h3.items.set_index("key").loc[sorted(baseline)[0]]
    assert (oldest["first_seen"], oldest["age_days"]) == (d1, (d3 - d1).days)

    # read back from PostgreSQL (the view in hand was built without reading): see also the next test
    again = history.view(h3.run_id)
    assert by_key(again.items, but=("qbo_id",)) == by_key(h3.items, but=("qbo_id",))
    assert again.run_at == h3.run_at
    runs = history.runs()
    assert list(runs["as_of"]) == [d1, d2, d3] and runs["scope"].nunique() == 1
    assert list(runs["id"]) == sorted(runs["id"])
    series = h3.series
    assert sorted(set(series["as_of"])) == [d1, d2, d3]
    # the period stays reopened; the preparer signs the latest run of it again, then the reviewer
    assert signoff.status(period).state == "reopened"
    history.record(business.reconcile(last))
    assert signoff.sign(period, "preparer", "alice@example.com", "A renumbered on purpose", client=client).state \
        == "prepared"
    assert signoff.sign(period, "reviewer", "carol@example.com", client=client).state == "reviewed"
    assert [s.period for s in signoff.periods()] == [period]


def test_a_run_read_back_from_postgresql_is_what_was_recorded(business: Business) -> None:
    """What :meth:`History.record` hands back (built from the rows in hand) and what a later reader
    gets from PostgreSQL (the explorer, ``signoff --explain``, the next run's "resolved") agree: keys,
    ids (a difference without a QBO record has no QBO id), days, first seen, fingerprints; times in UTC."""
    history = History(business.store, business.realm)
    invoice, qbo_id = business.linked_invoices()[0]
    first = history.record(business.reconcile(date(2026, 6, 30))).history
    assert first is not None
    business.next_second()
    business.qbo.sparse_update("Invoice", qbo_id, DocNumber=f"{invoice.number}-RB")
    key = f"invoices_number|W{invoice.id}"
    second = history.record(business.reconcile(date(2026, 7, 31))).history
    assert second is not None and key in set(second.new["key"])
    history.explain(key, "ana@example.com", "renumbered on purpose")
    third = history.record(business.reconcile(date(2026, 8, 31))).history
    assert third is not None and third.items["qbo_id"].isna().any()  # WORK-only differences
    notes = ("note", "note_by", "note_at")  # the second run's view now shows the note written after it
    for run, but in ((second, notes), (third, ())):
        again = history.view(run.run_id)
        assert by_key(again.items, but=but) == by_key(run.items, but=but)
        assert by_key(again.resolved) == by_key(run.resolved)
    stored = history.run_items(third.run_id)
    assert stored["fingerprint"].dtype == "int64" and stored["work_id"].dtype == "Int64"
    assert all(isinstance(d, date) for d in stored["first_seen"])
    assert all(d is None or isinstance(d, date) for d in stored["day"])
    assert "NaN" not in set(stored["qbo_id"].dropna())
    # times in UTC, as on SQLite, whatever the session's zone: the report prints their dates
    note_at = third.items.set_index("key").loc[key, "note_at"]
    assert note_at.utcoffset() == timedelta(0) and abs(note_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert history.view(third.run_id).run_at.utcoffset() == timedelta(0)
    assert all(t.utcoffset() == timedelta(0) for t in history.runs()["run_at"])


def test_the_cli_and_the_explorer_keep_history_and_sign_off_on_postgresql(
        business: Business, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``qbo-toolkit reconcile`` and ``signoff`` with the WORK store a PostgreSQL URL (in QBO_WORK_DB: a
    URL with a password is refused as a parameter, which the job's notebook would keep), and the
    explorer on the same store: runs kept, a difference explained and signed off from its widgets."""
    from qbo_toolkit.cli import main
    from qbo_toolkit.ui.explorer import show_explorer

    monkeypatch.setenv("QBO_WORK_DB", business.store.url.render_as_string(hide_password=False))
    settings = business.home / "settings.yaml"
    HISTORY_SETTINGS.save(settings)
    invoice, qbo_id = business.linked_invoices()[0]
    period = period_of(invoice.issue_date)
    last = period_bounds(period)[1]
    assert main(["reconcile", "--settings", str(settings), "--as-of", last.isoformat()]) in (0, 1)
    outputs: list[str] = []

    def printed() -> str:
        out, err = capsys.readouterr()
        outputs.append(out + err)
        return out

    assert "History: First run of this scope" in printed()
    assert main(["signoff", "--period", period, "--role", "preparer", "--who", "alice",
                 "--note", "month end"]) == 0
    assert f"{period} is signed off (preparer alice" in printed()

    business.next_second()
    business.qbo.sparse_update("Invoice", qbo_id, DocNumber=f"{invoice.number}-EX")
    explorer = show_explorer(settings=HISTORY_SETTINGS, as_of=date(2026, 7, 31).isoformat(),
                             display=False)
    key = f"invoices_number|W{invoice.id}"
    new = explorer.filter(status="new")
    assert key in set(new["history_key"]) and (new["age_days"] == 0).all()
    view = explorer.view
    row_key = str(new.index[new["history_key"] == key][0])
    view.status.value = "needs_explanation"
    view.selector.value = row_key
    view.who.value, view.note.value = "ana@example.com", "renumbered at the customer's request"
    view.explain.click()
    said = view.messages.widget.outputs[0]["data"]["text/plain"]
    assert said.startswith("Explanation kept"), said
    assert row_key not in set(explorer.filter(status="needs_explanation").index)
    view.role.value = "preparer"
    view.sign.click()
    assert "2026-07 is signed off (preparer ana@example.com" in view.signoff_state.value
    assert list(History(business.store, business.realm).runs()["kind"]) == ["job", "explorer"]
    # the earlier period, signed from the CLI, was reopened by the QBO change dated in it
    assert main(["signoff", "--status", "--period", period]) == 1
    out = printed()
    assert f"{period} was REOPENED after sign-off" in out and f"QBO Invoice {invoice.number}-EX" in out
    password = business.store.url.password
    assert password and not any(str(password) in text for text in outputs)
    written = [f for base in (business.home, Path(os.environ["QBO_TOOLKIT_HOME"])) for f in base.rglob("*")
               if f.is_file()]
    assert written and [f for f in written if str(password) in f.read_text(errors="replace")] == []


def test_a_work_store_past_two_billion_revisions_keeps_its_history_and_sign_off(business: Business) -> None:
    """WORK's revision counter is a BIGINT; each run keeps the revision it saw (to tell a WORK change
    after a sign-off). Past 2**31 (PostgreSQL's INTEGER) the run is still recorded and a WORK change
    in the signed period still reopens it. (The counter is moved forward directly: two billion real
    writes are not a test.)"""
    with business.store.begin() as conn:
        conn.exec_driver_sql("UPDATE work_revision_counter SET value = value + 2147483648")
    history = History(business.store, business.realm)
    signoff = SignOff(history)
    invoice, _ = business.linked_invoices()[0]
    period = period_of(invoice.issue_date)
    run = history.record(business.reconcile(period_bounds(period)[1])).history
    assert run is not None and history.run_row(run.run_id).work_revision == business.store.max_revision() > 2**31
    signoff.sign(period, "preparer", "alice@example.com")
    business.store.update_invoice(invoice.id, due_date=invoice.issue_date + timedelta(days=45))
    status = signoff.status(period)
    assert status.state == "reopened" and status.changes == (
        f"WORK invoice {invoice.number} (id {invoice.id}, dated {invoice.issue_date.isoformat()}) was written after "
        f"run {run.run_id}",), status.changes


def wait_until_waiting(store: WorkStore, pids: list[int], count: int, alive: Callable[[], bool]) -> bool:
    """Whether ``count`` of the sessions ``pids`` came to wait on a lock (within a minute)."""
    with store.engine.connect() as conn:
        for _ in range(1200):
            if len(pids) >= count:
                waiting = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid = ANY(%s)",
                    (list(pids),)).scalar_one()
                if waiting >= count:
                    return True
            if not alive():
                return False
            time.sleep(0.05)
    return False


@contextmanager
def held(store: WorkStore, statement: str) -> Iterator[None]:
    """``statement`` (a lock) held in a transaction of its own until the block ends."""
    with store.engine.connect() as conn, conn.begin() as transaction:
        conn.exec_driver_sql(statement)
        yield
        transaction.rollback()


def at_once(store: WorkStore, lock: str, pids: list[int], writers: list[Callable[[], None]],
            failed: list[BaseException]) -> bool:
    """Run ``writers`` on threads of their own while ``lock`` is held, release it once every one is
    seen waiting, and wait for them; their exceptions go to ``failed``. Whether all were seen waiting."""
    def run(writer: Callable[[], None]) -> None:
        try:
            writer()
        except BaseException as exc:  # shown by the caller's assertion
            failed.append(exc)

    pids.clear()
    with held(store, lock):
        threads = [threading.Thread(target=run, args=(writer,)) for writer in writers]
        for thread in threads:
            thread.start()
        both = wait_until_waiting(store, pids, len(writers), lambda: all(t.is_alive() for t in threads))
    for thread in threads:
        thread.join(120)
    return both


def pid_of(pids: list[int]) -> Callable[[Any], None]:
    """An engine ``begin`` listener noting each write transaction's backend pid in ``pids``."""
    def note(conn: Any) -> None:
        pids.append(int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()))
    return note


def test_runs_recorded_and_sign_offs_made_at_once_take_turns(business: Business) -> None:
    """Two runs of one scope recorded at the same moment (the scheduled job and the explorer) chain up
    (the second's previous run is the first), and two preparers signing at once leave one standing
    sign-off: the second writer starts after the first committed, as SQLite's BEGIN IMMEDIATE makes
    it. Deterministic: a lock held by the test stops both writers inside their transactions until
    both are seen waiting (``pg_stat_activity``), then both go on."""
    history = History(business.store, business.realm)
    invoice, _ = business.linked_invoices()[0]
    period = period_of(invoice.issue_date)
    last = period_bounds(period)[1]
    result = business.reconcile(last)
    first = history.record(result).history
    assert first is not None
    SignOff(history).sign(period, "preparer", "alice@example.com")
    pids: list[int] = []
    engines = []
    try:
        for _ in range(2):  # two processes: engines of their own, each transaction's backend noted
            store = WorkStore(business.store.url.render_as_string(hide_password=False))
            sa.event.listen(store.engine, "begin", pid_of(pids))
            engines.append(store)
        recorded: list[Any] = []
        failed: list[BaseException] = []

        def record(store: WorkStore) -> Callable[[], None]:
            return lambda: recorded.append(History(store, business.realm).record(result, kind="explorer").history)

        both = at_once(business.store, "LOCK TABLE recon_runs IN SHARE MODE",  # no run is inserted meanwhile
                       pids, [record(store) for store in engines], failed)
        assert failed == [] and both, (failed, both)
        a, b = sorted(recorded, key=lambda h: h.run_id)
        assert (a.previous_id, b.previous_id) == (first.run_id, a.run_id), "the runs did not chain up"

        def sign(store: WorkStore, who: str) -> Callable[[], None]:
            return lambda: SignOff(History(store, business.realm)).sign(period, "preparer", who)

        both = at_once(business.store, "SELECT id FROM recon_signoffs WHERE state = 'signed' FOR UPDATE", pids,
                       [sign(store, who) for store, who in zip(engines, ("ana@example.com", "ben@example.com"),
                                                               strict=True)], failed)
        assert failed == [] and both, (failed, both)
        standing = SignOff(history).status(period)
        assert standing.state == "prepared" and len(standing.signatures) == 1, standing.signatures
        assert standing.signatures[0].who in ("ana@example.com", "ben@example.com")
    finally:
        for store in engines:
            store.close()


# ------------------------------------------------------------------------------------------------
# Creating the tables at once
# ------------------------------------------------------------------------------------------------
def open_everything(url: str, start: threading.Barrier, errors: list[BaseException],
                    opened: list[tuple[int, int, int]]) -> None:
    """One process's start: open the WORK store and the sync's, mirror's and history's tables."""
    try:
        start.wait()
        store = WorkStore(url)
        try:
            state = SyncState(store, "9130354987")
            mirror = MirrorStore(store, "9130354987")
            history = History(store, "9130354987")
            opened.append((len(state.links("invoice")), mirror.generation(), len(history.runs())))
        finally:
            store.close()
    except BaseException as exc:  # reported by the test, with the thread's error
        errors.append(exc)


def test_engines_creating_the_tables_at_once_on_a_fresh_schema_all_succeed() -> None:
    """Four engines (threads, each its own connection pool, as four processes would be) open the
    WORK store and create the sync's, the mirror's and the history's tables at the same moment.
    (Without ``ensure_tables``' advisory lock and retry, every such start failed here on the catalog's unique
    index, pg_type_typname_nsp_index.)"""
    for _ in range(2):  # two fresh schemas
        with postgres_schema() as url:
            start = threading.Barrier(4, timeout=60)
            errors: list[BaseException] = []
            opened: list[tuple[int, int, int]] = []
            threads = [threading.Thread(target=open_everything, args=(url, start, errors, opened)) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
            assert errors == [] and opened == [(0, 0, 0)] * 4, errors
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            try:
                names = set(sa.inspect(engine).get_table_names())
            finally:
                engine.dispose()
            assert {"qbo_mirror_rows", "qbo_mirror_values", "recon_runs", "recon_items", "recon_notes",
                    "recon_signoffs", "sync_links", "work_invoices"} <= names, names
