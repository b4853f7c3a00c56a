"""How the engine sends: batch requests and single requests side by side under every limit, each in
the outbox before it goes, every answer recorded once."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from synckit import World, check_consistent, is_read, open_world

DEMO = {"clients": 60, "invoices": 150, "payments": 100}


def writes(w: World, mark: int) -> dict[str, list[dict[str, Any]]]:
    """The write requests the emulator answered since ``mark``, by kind."""
    kinds: dict[str, list[dict[str, Any]]] = {"batch": [], "single": []}
    for entry in w.data_requests(mark):
        if not is_read(entry):
            kinds["batch" if entry["path"].rstrip("/").endswith("/batch") else "single"].append(entry)
    return kinds


def test_single_requests_go_beside_batch_requests_when_the_batch_window_is_full(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the emulator allows 3 batch requests a (service) minute: a stage of more than 90 writes must send
    # the rest as single requests to make progress, and the limiter must keep every limit meanwhile
    # a service minute of 10 real seconds: the run (a few seconds) has the batch window full most of
    # the time however busy the machine is (at the usual 1 s a minute, a slow run gets batch slots anew)
    with open_world(tmp_path, monkeypatch, demo=DEMO, batch_per_minute=3, latency_mean=1.0,
                    latency_jitter=0.5, time_scale=6.0) as w:
        limiter = w.conn.client.transport.limiter
        limiter.reconfigure(replace(limiter.limits, batch_per_minute=3, safety=1.0))
        mark = w.log_mark()
        result = w.sync()
        assert result.completed  # (the demo's awkward names fail: "failures")
        sent = writes(w, mark)
        # the streamed creations: a record-scoped requestid, to customer, invoice or payment (items go alone)
        streamed = [e for e in sent["single"] if str(e["query"].get("requestid", "")).startswith("qt1-")
                    and not e["path"].rstrip("/").endswith("/item") and "operation" not in e["query"]]
        assert len(sent["batch"]) >= 3 and len(streamed) > 60, {k: len(v) for k, v in sent.items()}
        assert all(str(e["query"].get("requestid", "")).startswith("qtb-") for e in sent["batch"])
        assert not [e for e in w.data_requests(mark) if e["status"] == 429], "the limiter let a request be throttled"
        assert w.conn.client.transport.stats.snapshot()["throttled"] == 0
        check_consistent(w)  # nothing twice, nothing missing, and the outbox is empty
        again = w.sync()
        assert again.counts["ok"] == 0 and again.requests <= 3


def test_a_small_stage_tail_goes_as_single_requests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 20, "payments": 10}) as w:
        w.sync()
        amy = w.awkward("amy_exact")
        hours = w.store.item_by_name("Hours")
        assert hours is not None
        ids = [w.store.add_invoice(f"T-TAIL-{n}", amy, date(2026, 2, 2), lines=[
            {"item_id": hours.id, "description": "Labor", "qty": Decimal("1"), "unit_price": Decimal("50.00")}]).id
            for n in range(3)]
        mark = w.log_mark()
        result = w.sync()
        assert result.counts["invoice.create.ok"] == 3
        sent = writes(w, mark)
        assert sent["batch"] == [] and len(sent["single"]) == 3
        assert all(i in w.state.links("invoice") for i in ids)
        check_consistent(w)
