"""The scheduled jobs: the calls the job notebooks make (and any scheduler or test can make).

    sync_job(...)        one sync run; summary.json with the run's status and counts
    reconcile_job(...)   reconcile WORK and QBO; report.html, CSV, Excel and summary.json

Both read the one settings source (the app's ``<toolkit home>/settings.yaml`` unless a file is
named), check their parameters strictly (:mod:`.params`), and answer with the exit-code contract of
:mod:`qbo_toolkit.exits`. :mod:`qbo_toolkit.runner` runs the notebooks that call them.
"""

from __future__ import annotations

from .reconcile import reconcile_job
from .summary import JobSummary
from .sync import sync_job

__all__ = ["JobSummary", "reconcile_job", "sync_job"]
