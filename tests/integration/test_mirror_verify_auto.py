"""The local mirror verified "from time to time" (issue 14, point 1), against the emulator over real HTTP.

A plain reconciliation (``verify_mirror`` left at None, "auto") verifies the mirror when its last
verification, or its last full read, is :data:`~qbo_toolkit.mirror.mirror.VERIFY_EVERY` (7 days) old;
the age is set by writing ``verified_at`` into the mirror's values table directly, as a week passing
would leave it. ``True`` always verifies, ``False`` never; at 100% of the meter's budget the automatic
verification is skipped with the meter's sentence. Judged by what the emulator received (the
verification's ``COUNT(*)`` queries) as well as by what the run says.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from synckit import SETTINGS, SMALL_DEMO, World, open_world

from qbo_toolkit.errors import ConfigError
from qbo_toolkit.jobs.params import check_params
from qbo_toolkit.mirror import Mirror
from qbo_toolkit.mirror.mirror import VERIFY_EVERY
from qbo_toolkit.mirror.store import values_table
from qbo_toolkit.qbo.meter import budget_scope
from qbo_toolkit.recon import reconcile_live

AS_OF = date(2026, 6, 30)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with open_world(tmp_path, monkeypatch, demo=SMALL_DEMO) as w:
        yield w


def set_verified_at(w: World, days_ago: float) -> datetime:
    """Write the mirror's ``verified_at`` straight into its table, ``days_ago`` days back."""
    at = datetime.now(UTC) - timedelta(days=days_ago)
    with w.store.engine.begin() as conn:
        found = conn.execute(sa.update(values_table).where(values_table.c.realm == w.realm,
                                                           values_table.c.key == "verified_at")
                             .values(value=json.dumps(at.isoformat())))
        assert found.rowcount == 1  # the full read recorded it
    return at


def queries_sent(w: World, since: int) -> int:
    """The queries the emulator received since ``since`` (a verification sends two or so per entity and
    month; a reconciliation from the mirror without one sends only its Preferences query)."""
    return sum(1 for e in w.data_requests(since) if e["path"].rstrip("/").endswith("/query"))


def reconcile(w: World, **kwargs: Any) -> Any:
    reads: list[Any] = []
    reconcile_live(w.conn, w.store, as_of=AS_OF, settings=SETTINGS, on_read=reads.append, tie_out=False, **kwargs)
    assert len(reads) == 1
    return reads[0]


def test_a_plain_reconciliation_verifies_a_mirror_last_verified_8_days_ago_and_not_one_of_yesterday(
        world: World) -> None:
    w = world
    assert w.sync().completed
    first = reconcile(w)
    assert first.mode == "full" and first.verification is None
    # the full read counts as a verification: recorded when it switched in
    mirror = Mirror(w.store, w.conn.client)
    recorded = mirror.verified_at()
    assert recorded is not None and abs(datetime.now(UTC) - recorded) < timedelta(minutes=5)
    assert mirror.verification_due() == ""

    set_verified_at(w, 1)  # verified yesterday: not due
    mark = w.log_mark()
    quiet = reconcile(w)
    assert quiet.mode == "cdc" and quiet.verification is None and quiet.auto == "", quiet.text
    baseline = queries_sent(w, mark)
    assert baseline <= 1 and "verified" not in quiet.text

    old = set_verified_at(w, 8 + 1 / 24)  # 8 days (and an hour) back: due
    mark = w.log_mark()
    due = reconcile(w)
    assert due.mode == "cdc" and due.verification is not None, due.text
    assert due.verification.reread == [] and queries_sent(w, mark) >= baseline + due.verification.checked > 1
    assert due.auto.startswith("last verified 8 days ago") and old.strftime("%Y-%m-%d") in due.auto
    assert f"an automatic verification was due (last verified 8 days ago, on {old:%Y-%m-%d}" in due.text
    assert due.to_dict()["verification"]["automatic"] == due.auto
    # verified now: the next plain reconciliation does not verify again
    assert mirror.verification_due() == ""
    mark = w.log_mark()
    again = reconcile(w)
    assert again.verification is None and queries_sent(w, mark) == baseline


def test_true_always_verifies_false_never_and_the_budget_still_stops_it(world: World) -> None:
    w = world
    assert w.sync().completed
    reconcile(w)  # the first, full read
    mark = w.log_mark()
    baseline = reconcile(w, verify_mirror=False)  # what a run without a verification sends
    assert baseline.verification is None
    baseline_queries = queries_sent(w, mark)
    asked = reconcile(w, verify_mirror=True)  # just read in full, still verified when asked
    assert asked.verification is not None and asked.auto == "" and "an automatic" not in asked.text

    set_verified_at(w, VERIFY_EVERY.days + 3)
    mark = w.log_mark()
    never = reconcile(w, verify_mirror=False)
    assert never.mode == "cdc" and never.verification is None and queries_sent(w, mark) == baseline_queries
    assert Mirror(w.store, w.conn.client).verification_due().startswith("last verified 10 days ago")

    with budget_scope(1):  # the month's metered calls already reach a budget of 1: optional reads stop
        mark = w.log_mark()
        stopped = reconcile(w)
    assert stopped.verification is None and queries_sent(w, mark) <= baseline_queries
    assert "the local mirror's verification was skipped" in stopped.text and stopped.to_dict()["skipped"]


def test_the_job_and_the_cli_take_three_choices() -> None:
    assert check_params("reconcile", {"verify_mirror": None}) == {"verify_mirror": None}
    assert check_params("reconcile", {"verify_mirror": "null"}, cli=frozenset({"verify_mirror"})) == {
        "verify_mirror": None}
    assert check_params("reconcile", {"verify_mirror": "false"}, cli=frozenset({"verify_mirror"})) == {
        "verify_mirror": False}
    with pytest.raises(ConfigError, match=r"verify_mirror must be true, false or null \(auto\)"):
        check_params("reconcile", {"verify_mirror": "auto"})
    from qbo_toolkit.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["reconcile"]).verify_mirror is None
    assert parser.parse_args(["reconcile", "--verify-mirror"]).verify_mirror is True
    assert parser.parse_args(["reconcile", "--no-verify-mirror"]).verify_mirror is False
