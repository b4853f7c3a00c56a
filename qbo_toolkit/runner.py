"""Headless jobs: the calls the job notebooks make, and the papermill wrapper that runs them.

``qbo-toolkit run NOTEBOOK --params FILE`` (or :func:`run_notebook`):

1. reads the YAML parameters (no implicit dates; a key that looks like a credential is refused);
2. checks every name against the notebook's ``parameters`` cell (``papermill.inspect_notebook``),
   so a typo fails before anything runs;
3. executes the notebook with papermill into a dated folder ``<output root>/<name>-<YYYYmmdd-HHMMSS>``
   where the job also writes its report and a machine-readable ``summary.json``;
4. returns an exit code a scheduler or CI can gate on: 0 in agreement, 1 differences above the
   thresholds, 2 error, 75 the sync job found another sync of the company running (try later).

The job functions (:func:`sync_job`, :func:`reconcile_job`) are what the notebooks call; they are
plain functions, so a test or another scheduler can call them without papermill. They are the only
code that writes report files: compute, then a frozen result, then render, then save here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, QboToolkitError
from .settings import NoDatesLoader, load_settings, looks_like_secret

__all__ = ["EXIT_BUSY", "EXIT_DIFFERENCES", "EXIT_ERROR", "EXIT_OK", "RunOutcome", "reconcile_job", "run_notebook",
           "sync_job"]

EXIT_OK, EXIT_DIFFERENCES, EXIT_ERROR = 0, 1, 2
#: another sync of the company was running (try again later; sysexits' EX_TEMPFAIL)
EXIT_BUSY = 75




def parse_day(value: str | date | None, name: str) -> date | None:
    """A parameter day: ``YYYY-MM-DD``, ``today``, empty (None), or a date."""
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if text.lower() == "today":
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"parameter {name} must be a date written YYYY-MM-DD (or 'today'), not {value!r}",
                          key=name) from None


def _resolve(path: str | None, base: Path | None) -> str | None:
    """A relative path in a parameters file means relative to that file, when it exists there."""
    if not path or base is None or Path(path).is_absolute() or Path(path).exists():
        return path
    candidate = base / path
    return str(candidate) if candidate.exists() else path


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


# -- jobs --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class JobSummary:
    job: str
    status: str
    exit_code: int
    details: dict[str, Any]

    def __repr__(self) -> str:
        return f"{self.job}: {self.status} (exit {self.exit_code})\n" + "\n".join(
            f"  {k}: {v}" for k, v in self.details.items())


def sync_job(*, settings: str | Mapping[str, Any] | None, work_db: str | None = None, realm: str | None = None,
             dry_run: bool = False, output_dir: str | None = None, progress: bool = True,
             wait: float | str = 0, job: str = "the sync job (sync.ipynb)") -> JobSummary:
    """One sync run for a scheduled job; writes ``summary.json`` into ``output_dir`` when given.

    Another sync of the company running (the app's Sync now, say) is waited for up to ``wait``
    seconds; if it is still running the job ends ``busy`` with exit code 75 (nothing was sent)."""
    from .connection import connection
    from .errors import SyncBusy
    from .sync.api import run_sync
    from .work.store import WorkStore

    try:
        seconds = float(wait)
    except (TypeError, ValueError):
        raise ConfigError(f"wait must be a number of seconds, not {wait!r}", key="wait") from None
    conn = connection(realm)
    base = {"realm": conn.realm_id, "company": conn.company_name}
    try:
        result = run_sync(load_settings(settings), store=WorkStore(work_db), conn=conn, dry_run=dry_run,
                          progress=progress, wait=max(0.0, seconds), job=job)
    except SyncBusy as exc:
        summary = JobSummary("sync", "busy", EXIT_BUSY, {"message": str(exc), **base})
    else:
        failed = int(result.counts.get("failed", 0))
        summary = JobSummary("sync", "ok" if not failed else "failures", EXIT_OK, {
            "run_id": result.run_id, "kind": result.kind, "dry_run": result.dry_run, "requests": result.requests,
            "seconds": round(result.seconds, 2), "failed": failed, "pending_matches": result.pending_matches,
            "outstanding": result.outstanding, "counts": dict(sorted(result.counts.items())), **base,
        })
    if output_dir:
        folder = Path(output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / "summary.json", {"job": summary.job, "status": summary.status,
                                              "exit_code": summary.exit_code, **summary.details})
    return summary


def reconcile_job(*, settings: str | Mapping[str, Any] | None, work_db: str | None = None,
                  realm: str | None = None, as_of: str | date | None = None, tolerance: str | float = "0.00",
                  thresholds: Mapping[str, Any] | None = None, output_dir: str | None = None) -> Any:
    """Reconcile WORK and QBO; write the HTML report, CSV, Excel and ``summary.json`` into ``output_dir``.

    ``thresholds`` maps a category (or ``"total"``) to the number of differences tolerated; the
    summary's ``exit_code`` is 1 when any is exceeded (with no thresholds: any difference).
    """
    from .connection import connection
    from .recon.api import reconcile_live
    from .recon.render import to_csv, to_excel, to_html
    from .work.store import WorkStore

    day = parse_day(as_of, "as_of") or date.today()
    result = reconcile_live(connection(realm), WorkStore(work_db), as_of=day, tolerance=Decimal(str(tolerance)),
                            settings=load_settings(settings))
    exceeded = result.exceeds(dict(thresholds or {}))
    if output_dir:
        folder = Path(output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report.html").write_text(to_html(result), encoding="utf-8")
        to_csv(result, folder / "csv")
        to_excel(result, folder / "reconciliation.xlsx")
        _write_json(folder / "summary.json", {
            "job": "reconcile", "status": "differences" if exceeded else "in agreement",
            "exit_code": EXIT_DIFFERENCES if exceeded else EXIT_OK, "as_of": day.isoformat(),
            "exceeded": {k: str(v) for k, v in exceeded.items()}, "summary": result.to_dict(records=False),
        })
    return result


# -- the papermill wrapper ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunOutcome:
    folder: Path
    notebook: Path
    exit_code: int
    summary: dict[str, Any]
    error: str | None = None


def load_parameters(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=NoDatesLoader) or {}  # noqa: S506 - a SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read parameters from {path}: {type(exc).__name__}", path=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of parameters", path=str(path))
    secret = [k for k in data if looks_like_secret(k) and k != "client_id"]
    if secret:
        raise ConfigError(f"{path}: {', '.join(secret)} look like credentials; parameters never hold secrets "
                          "(use QBO_CLIENT_SECRET and the token store)", path=str(path))
    for key in ("settings",):
        if isinstance(data.get(key), str):
            data[key] = _resolve(data[key], path.parent)
    return data


def check_parameters(notebook: str | Path, params: Mapping[str, Any]) -> None:
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ConfigError(f"{Path(notebook).name} has no parameter(s) {', '.join(unknown)}; it takes "
                          f"{', '.join(sorted(declared))}", key=unknown[0])


def run_notebook(notebook: str | Path, params_file: str | Path | None = None, *,
                 output_root: str | Path = "output", now: datetime | None = None,
                 extra: Mapping[str, Any] | None = None) -> RunOutcome:
    """Run a job notebook with papermill into a dated folder; see the module docstring."""
    import papermill

    notebook = Path(notebook)
    params = load_parameters(params_file) if params_file else {}
    params.update(extra or {})
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    folder = Path(output_root) / f"{notebook.stem}-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    declared = papermill.inspect_notebook(str(notebook))
    if "output_dir" in declared:
        params["output_dir"] = str(folder.resolve())
    check_parameters(notebook, params)
    executed = folder / notebook.name
    try:
        papermill.execute_notebook(str(notebook), str(executed), parameters=params, kernel_name="python3",
                                   log_output=True, progress_bar=False, cwd=str(Path.cwd()))
    except papermill.PapermillExecutionError as exc:
        return RunOutcome(folder, executed, EXIT_ERROR, {}, f"{exc.ename}: {exc.evalue}")
    summary_path = folder / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return RunOutcome(folder, executed, int(summary.get("exit_code", EXIT_OK)), summary)


def main_run(notebook: str, params_file: str | None, output_root: str,
             extra: Mapping[str, Any] | None = None) -> int:
    import logging

    # papermill logs each cell's output (the sync's progress bar included) at INFO: show it
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("traitlets", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        outcome = run_notebook(notebook, params_file, output_root=output_root, extra=extra)
    except QboToolkitError as exc:
        print(f"qbo-toolkit run: {exc}")
        return EXIT_ERROR
    print(f"executed notebook: {outcome.notebook}")
    for name in ("report.html", "summary.json", "reconciliation.xlsx"):
        if (outcome.folder / name).exists():
            print(f"{name}: {outcome.folder / name}")
    if outcome.error:
        print(f"error: {outcome.error}")
    return outcome.exit_code
