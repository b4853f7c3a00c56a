"""What a job answers: a status, an exit code and details, written to ``summary.json``.

``status`` is one of ``ok``, ``findings``, ``error``, ``busy`` or ``interrupted`` and ``exit_code``
follows :mod:`qbo_toolkit.exits`; the two always agree. The file is written 0600 in a 0700 folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exits import EXIT_FINDINGS, EXIT_OK, Failure, status_of
from ..files import private_dir, write_private_text

__all__ = ["JobSummary", "meter_details", "write_summary"]


@dataclass(frozen=True)
class JobSummary:
    job: str
    exit_code: int
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return status_of(self.exit_code)

    @classmethod
    def of(cls, job: str, findings: bool, message: str, details: Mapping[str, Any]) -> JobSummary:
        return cls(job, EXIT_FINDINGS if findings else EXIT_OK, message, dict(details))

    @classmethod
    def failed(cls, job: str, failure: Failure, details: Mapping[str, Any] | None = None) -> JobSummary:
        extra = {"log": str(failure.log)} if failure.log else {}
        return cls(job, failure.code, failure.message, {**(details or {}), **extra})

    def as_dict(self) -> dict[str, Any]:
        return {"job": self.job, "status": self.status, "exit_code": self.exit_code, "message": self.message,
                **self.details}

    def __repr__(self) -> str:
        lines = [f"{self.job}: {self.status} (exit {self.exit_code}): {self.message}"]
        for key, value in self.details.items():
            if key in ("counts", "summary", "accounts", "settings_source"):
                continue  # in summary.json; too long to read here
            if isinstance(value, list) and len(value) > 3:
                shown = "; ".join(str(v) for v in value[:3])
                lines.append(f"  {key}: {len(value)}: {shown}; ... (all in summary.json)")
            else:
                lines.append(f"  {key}: {value}")
        return "\n".join(lines)


def meter_details(details: dict[str, Any], tally: Any) -> None:
    """Put the meter into a job's details (summary.json ``meter``): this run's QuickBooks calls,
    metered (CorePlus) and not (Core), and the company's month so far with the budget and the
    forecast (:mod:`qbo_toolkit.qbo.meter`); a budget threshold the run crossed is a notice too.
    ``tally`` is the run's :class:`~qbo_toolkit.qbo.meter.Tally`. Never raises: a meter that cannot
    be read is said in the summary, the job's own status stands."""
    from ..qbo.meter import get_meter

    try:
        realm = details.get("realm")
        if realm:
            details["meter"] = get_meter().report(str(realm), tally)
        else:
            details["meter"] = {"run": tally.as_dict(), "warnings": list(tally.warnings)}
    except Exception as exc:  # see the docstring
        details["meter"] = {"run": tally.as_dict(), "problem": f"the meter could not be read ({type(exc).__name__})"}
    if tally.warnings:
        details["notices"] = [*(details.get("notices") or []), *tally.warnings]


def write_summary(folder: str | Path | None, summary: JobSummary) -> None:
    if not folder:
        return
    path = private_dir(folder) / "summary.json"
    write_private_text(path, json.dumps(summary.as_dict(), indent=2, sort_keys=True, default=str) + "\n")
