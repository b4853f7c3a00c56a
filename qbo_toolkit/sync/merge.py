"""Three-way merge of a client's fields: WORK now, QBO now, and what both agreed at the last sync.

Pure. For each field:

* both sides equal                      -> nothing to do
* only one side differs from the base   -> that side's value wins and travels to the other
* no base yet (a first link)            -> a blank side takes the other's value
* both changed, differently             -> a conflict, decided by the policy and recorded:
  ``qbo_wins``, ``work_wins`` or ``newest_wins`` (the side whose record changed last)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Conflict", "MergeResult", "merge"]


@dataclass(frozen=True)
class Conflict:
    field: str
    work_value: Any
    qbo_value: Any
    winner: str  # "work" | "qbo"


@dataclass(frozen=True)
class MergeResult:
    values: dict[str, Any]
    to_qbo: dict[str, Any] = field(default_factory=dict)
    to_work: dict[str, Any] = field(default_factory=dict)
    conflicts: tuple[Conflict, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.to_qbo or self.to_work)


def _blank(value: Any) -> bool:
    return value is None or value == ""


def merge(work: Mapping[str, Any], qbo: Mapping[str, Any], base: Mapping[str, Any] | None, *, policy: str,
          work_updated: datetime | None = None, qbo_updated: datetime | None = None) -> MergeResult:
    values: dict[str, Any] = {}
    to_qbo: dict[str, Any] = {}
    to_work: dict[str, Any] = {}
    conflicts: list[Conflict] = []
    if policy == "newest_wins":
        work_wins = work_updated is not None and (qbo_updated is None or work_updated >= qbo_updated)
    else:
        work_wins = policy == "work_wins"
    for name in sorted(set(work) | set(qbo)):
        w, q = work.get(name), qbo.get(name)
        if w == q or (_blank(w) and _blank(q)):
            values[name] = w
            continue
        if base is None:
            if _blank(w):
                values[name] = to_work[name] = q
                continue
            if _blank(q):
                values[name] = to_qbo[name] = w
                continue
            w_changed = q_changed = True
        else:
            b = base.get(name)
            w_changed = not (w == b or (_blank(w) and _blank(b)))
            q_changed = not (q == b or (_blank(q) and _blank(b)))
        if w_changed and not q_changed:
            values[name] = to_qbo[name] = w
        elif q_changed and not w_changed:
            values[name] = to_work[name] = q
        else:
            winner = "work" if work_wins else "qbo"
            conflicts.append(Conflict(name, w, q, winner))
            if winner == "work":
                values[name] = to_qbo[name] = w
            else:
                values[name] = to_work[name] = q
    return MergeResult(values, to_qbo, to_work, tuple(conflicts))
