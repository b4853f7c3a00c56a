"""Metering: what Intuit's App Partner Program counts, per realm and company-local month.

Intuit meters **CorePlus** calls (data out: read by id, query, CDC, reports) and leaves **Core** calls
(data in: create, update, delete, void, upload) unmetered; OAuth calls are not counted at all
(API_FACTS_2025, "Limits and metering"). The emulator counts both kinds so a client's cost can be
measured against it; it never blocks on the counts.

Strict choices where Intuit does not say:

* A call counts once it is authorised and admitted (past the throttle), whether QBO answers it or
  refuses it with a fault: the call was made. Calls refused 401/403 (token) or 429 (throttle), and
  calls dropped by fault injection before they run, are not counted.
* A batch is not a call of its own: each ``Query`` item counts as one CorePlus read, every other item
  (create, update, delete, void) as one Core write. A batch body that cannot be read counts nothing.
* A GET is a read (entity by id, ``companyinfo``, ``preferences``, ``query``, ``cdc``, ``reports``,
  a document's ``pdf``); ``POST …/query`` is a read too; every other POST is a write.
* A request replayed from its ``requestid`` counts like any other: the client sent it again.
* The month is the company's (the emulator clock's time zone), ``YYYY-MM``. The counts live in memory:
  they start from zero with the process, like ``/_emulator/stats``.

Seen through ``GET /_emulator/meter`` as ``{realm: {"YYYY-MM": {"core": n, "coreplus": n}}}`` and in
``/_emulator/stats`` under ``meter``.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from .clock import Clock

CORE = "core"
COREPLUS = "coreplus"


def classify(method: str, rest: str) -> str | None:
    """The meter kind of one data-API call (``rest`` is the path after ``/v3/company/{realm}/``).

    ``None`` for a batch, whose items are counted one by one (see :func:`batch_kinds`).
    """
    segment = rest.strip("/").split("/", 1)[0].lower()
    if segment == "batch":
        return None
    if method.upper() == "GET" or segment == "query":
        return COREPLUS
    return CORE


def batch_kinds(body: bytes) -> list[str]:
    """One meter kind per item of a batch body: CorePlus for a ``Query`` item, Core for the others."""
    try:
        doc = json.loads(body.decode("utf-8") or "null")
    except (ValueError, UnicodeDecodeError):
        return []
    items = doc.get("BatchItemRequest") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return []
    return [COREPLUS if isinstance(item, dict) and "Query" in item else CORE for item in items]


class Meter:
    """Thread-safe counts of Core and CorePlus calls per realm and company-local month."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, dict[str, int]]] = {}

    def count(self, realm: str, kind: str, n: int = 1) -> None:
        if kind not in (CORE, COREPLUS):
            raise ValueError(f"unknown meter kind {kind!r}")
        if n <= 0:
            return
        month = self.clock.now().strftime("%Y-%m")
        with self._lock:
            months = self._counts.setdefault(realm, {})
            counts = months.setdefault(month, {CORE: 0, COREPLUS: 0})
            counts[kind] += n

    def record(self, realm: str, method: str, rest: str, body: bytes = b"") -> None:
        """Count one admitted data-API call (a batch: each of its items)."""
        kind = classify(method, rest)
        if kind is not None:
            self.count(realm, kind)
            return
        kinds = batch_kinds(body)
        self.count(realm, COREPLUS, kinds.count(COREPLUS))
        self.count(realm, CORE, kinds.count(CORE))

    def snapshot(self) -> dict[str, Any]:
        """``{realm: {"YYYY-MM": {"core": n, "coreplus": n}}}`` (a copy)."""
        with self._lock:
            return {realm: {month: dict(counts) for month, counts in months.items()}
                    for realm, months in self._counts.items()}


__all__ = ["CORE", "COREPLUS", "Meter", "batch_kinds", "classify"]
