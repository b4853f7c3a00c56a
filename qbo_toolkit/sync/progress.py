"""Progress events: the engine reports through a Reporter; widgets, tqdm and logging implement it.

The engine never imports a UI. It calls, in order::

    start(run_id, kind, total)      total is known up front (the plan's size)
    record(outcome)                 once per record acted on (after its transaction committed)
    stage(name)                     when it moves to customers, items, invoices, payments
    finish(summary)

``ProgressState`` keeps the figures any reporter may show (done, total, counts per outcome) and is
thread-safe, so a widget on the notebook's thread can read what a sync thread is writing.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["CompositeReporter", "LoggingReporter", "ProgressState", "Reporter", "StateReporter", "TqdmReporter"]


@dataclass(frozen=True)
class RecordOutcome:
    entity: str
    direction: str
    action: str
    outcome: str
    work_id: int | None
    qbo_id: str | None
    field: str | None
    message: str


class Reporter(Protocol):
    def start(self, run_id: int, kind: str, total: int) -> None: ...
    def stage(self, name: str) -> None: ...
    def record(self, outcome: RecordOutcome) -> None: ...
    def finish(self, summary: Any) -> None: ...


class NullReporter:
    def start(self, run_id: int, kind: str, total: int) -> None:
        return None

    def stage(self, name: str) -> None:
        return None

    def record(self, outcome: RecordOutcome) -> None:
        return None

    def finish(self, summary: Any) -> None:
        return None


@dataclass
class ProgressState:
    run_id: int = 0
    kind: str = ""
    total: int = 0
    done: int = 0
    stage: str = ""
    finished: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    last: RecordOutcome | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def fraction(self) -> float:
        if self.finished:
            return 1.0
        return min(1.0, self.done / self.total) if self.total else 0.0


class StateReporter(NullReporter):
    """Keeps a ProgressState up to date (what the status screen's progress bar reads)."""

    def __init__(self, state: ProgressState | None = None) -> None:
        self.state = state or ProgressState()

    def start(self, run_id: int, kind: str, total: int) -> None:
        with self.state._lock:
            self.state.run_id, self.state.kind, self.state.total = run_id, kind, total
            self.state.done, self.state.finished = 0, False
            self.state.counts.clear()

    def stage(self, name: str) -> None:
        with self.state._lock:
            self.state.stage = name

    def record(self, outcome: RecordOutcome) -> None:
        with self.state._lock:
            self.state.done += 1
            self.state.counts[outcome.outcome] += 1
            self.state.last = outcome

    def finish(self, summary: Any) -> None:
        with self.state._lock:
            self.state.finished = True


class LoggingReporter(NullReporter):
    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger("qbo_toolkit.sync")

    def start(self, run_id: int, kind: str, total: int) -> None:
        self.log.info("sync run %s (%s): %s records to act on", run_id, kind, total)

    def stage(self, name: str) -> None:
        self.log.info("sync: %s", name)

    def record(self, outcome: RecordOutcome) -> None:
        if outcome.outcome in ("failed", "conflict"):
            self.log.warning("%s %s %s: %s", outcome.entity, outcome.work_id or outcome.qbo_id, outcome.outcome,
                             outcome.message)

    def finish(self, summary: Any) -> None:
        self.log.info("sync finished: %s", summary)


class TqdmReporter(NullReporter):
    """A progress bar in a terminal or a papermill log."""

    def __init__(self, **tqdm_kwargs: Any) -> None:
        self.kwargs = tqdm_kwargs
        self.bar: Any = None

    def start(self, run_id: int, kind: str, total: int) -> None:
        import sys

        from tqdm import tqdm  # the text bar: it reads well in a terminal and in a papermill log

        options = {"mininterval": 0.5 if sys.stderr.isatty() else 2.0, "file": sys.stderr, **self.kwargs}
        self.bar = tqdm(total=total, desc=f"sync {kind}", unit="rec", **options)

    def stage(self, name: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(name)

    def record(self, outcome: RecordOutcome) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def finish(self, summary: Any) -> None:
        if self.bar is not None:
            self.bar.close()


class CompositeReporter(NullReporter):
    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = reporters

    def start(self, run_id: int, kind: str, total: int) -> None:
        for r in self.reporters:
            r.start(run_id, kind, total)

    def stage(self, name: str) -> None:
        for r in self.reporters:
            r.stage(name)

    def record(self, outcome: RecordOutcome) -> None:
        for r in self.reporters:
            r.record(outcome)

    def finish(self, summary: Any) -> None:
        for r in self.reporters:
            r.finish(summary)
