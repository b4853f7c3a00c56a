"""``qbo-toolkit run``: a job notebook executed with papermill into a dated folder.

``qbo-toolkit run JOB [--params FILE] [-p NAME=VALUE ...] [--output-root DIR]`` (or :func:`run_notebook`):

1. finds the notebook: a path, or a job name (``sync``, ``reconcile``) looked up in the notebooks that
   ship with the package, so a scheduler can run it from any directory;
2. creates ``<output root>/<job>-<YYYYmmdd-HHMMSS>`` (0700, kept under the output root) before
   anything else, so every run, even one refused at once, leaves ``summary.json`` there;
3. checks the parameters strictly (:mod:`qbo_toolkit.jobs.params`: names, types, relative days made
   explicit, no credential) and against the notebook's ``parameters`` cell, before anything runs;
4. executes the notebook; the job in it writes its report and ``summary.json``;
5. answers with the exit code of :mod:`qbo_toolkit.exits` that ``summary.json`` also holds.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import ConfigError
from .exits import EXIT_ERROR, EXIT_INTERNAL, EXIT_OK, Failure, classify, status_of
from .files import private_dir, private_file
from .jobs.params import JOBS, check_params, load_params, parse_pairs
from .jobs.summary import JobSummary, write_summary

__all__ = ["RunOutcome", "find_notebook", "run_notebook"]

#: the notebooks shipped with the package (a link to the project's notebooks/ in a checkout)
PACKAGED_NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


def _papermill() -> ModuleType:
    """papermill, imported without ``rfc3987_syntax``.

    papermill imports nbformat, which imports jsonschema, whose format checkers import
    ``rfc3987_syntax`` when it is installed (Jupyter's ``jsonschema[format-nongpl]`` brings it): that
    module compiles 38 Lark grammars at import, 1.7 s of CPU in every ``qbo-toolkit run`` (more than
    the demo's reconciliation itself). Those grammars check the ``iri`` formats only, which nbformat's
    validation never asks for (it passes no FormatChecker), so this process leaves the module out. A
    process that imported it already keeps it."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    import papermill

    return papermill


def find_notebook(name: str | Path) -> Path:
    """A notebook path as given, or a job's notebook by name (``sync`` -> the packaged sync.ipynb)."""
    path = Path(name)
    if path.is_file():
        return path
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; give a notebook (.ipynb) or a job name ({', '.join(JOBS)})",
                          path=str(path))
    stem = path.name.removesuffix(".ipynb")
    packaged = PACKAGED_NOTEBOOKS / f"{stem}.ipynb"
    if len(path.parts) == 1 or (path.parent.name == "notebooks" and not path.exists()):
        if packaged.is_file():
            return packaged
    jobs = ", ".join(sorted(p.stem for p in PACKAGED_NOTEBOOKS.glob("*.ipynb") if p.stem in JOBS))
    raise ConfigError(f"no notebook {name}: give the path of a notebook or a job name ({jobs})", path=str(name))


@dataclass(frozen=True)
class RunOutcome:
    folder: Path | None
    notebook: Path | None
    exit_code: int
    summary: dict[str, Any]
    error: str | None = None

    @property
    def status(self) -> str:
        return status_of(self.exit_code)


def _run_folder(output_root: str | Path, stem: str, now: datetime | None) -> Path:
    root = Path(output_root).expanduser()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--output-root {root} is a file; give a folder for the dated run folders",
                          path=str(root))
    private_dir(root)
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        folder = root / (f"{stem}-{stamp}" if n == 1 else f"{stem}-{stamp}-{n}")
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        folder.chmod(0o700)
        return folder
    raise ConfigError(f"too many runs of {stem} in {root} this second", path=str(root))


def _check(notebook: Path, params: dict[str, Any], source: str, base: Path | None,
           cli: frozenset[str]) -> dict[str, Any]:
    papermill = _papermill()
    declared = papermill.inspect_notebook(str(notebook))
    job = notebook.stem
    if job in JOBS:
        checked = check_params(job, params, source=source, base=base, cli=cli)
    else:  # another notebook: its parameters cell is the whole declaration
        from .yamlio import unknown_keys

        problems = unknown_keys(params, declared, f"{notebook.name} parameter")
        if problems:
            raise ConfigError(f"{source}: " + "; ".join(problems))
        checked = dict(params)
    unknown = sorted(set(checked) - set(declared))
    if unknown:
        raise ConfigError(f"{notebook.name} has no parameter(s) {', '.join(unknown)}; it takes "
                          f"{', '.join(sorted(declared))}", key=unknown[0])
    return checked


def run_notebook(notebook: str | Path, params_file: str | Path | None = None, *,
                 output_root: str | Path = "output", now: datetime | None = None,
                 extra: Mapping[str, Any] | None = None, pairs: list[str] | None = None) -> RunOutcome:
    """Run a job notebook into a dated folder; see the module docstring. ``extra`` are ``-p`` pairs
    (strings, read as the parameter's type), ``pairs`` the same unparsed (``NAME=VALUE``). Raises
    ConfigError only when no folder could be made (a missing notebook, an output root that is a file)."""
    papermill = _papermill()
    path = find_notebook(notebook)
    job = path.stem
    folder = _run_folder(output_root, job, now)

    def failed(failure: Failure) -> RunOutcome:
        summary = JobSummary.failed(job, failure)
        write_summary(folder, summary)
        return RunOutcome(folder, None, summary.exit_code, summary.as_dict(), failure.message)

    try:
        params = check_params_file(path, params_file) if params_file else {}
        given = {**(extra or {}), **parse_pairs(pairs or [])}
        params.update(_check(path, given, "-p", None, frozenset(given)))
        if "output_dir" in papermill.inspect_notebook(str(path)):
            params["output_dir"] = str(folder.resolve())
    except Exception as exc:  # nothing has run: the parameters are refused
        return failed(classify(exc, f"run {job}"))
    executed = folder / path.name
    error = None
    try:
        papermill.execute_notebook(str(path), str(executed), parameters=params, kernel_name="python3",
                                   log_output=True, progress_bar=False, cwd=str(Path.cwd()))
    except papermill.PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"
    except Exception as exc:
        return failed(classify(exc, f"run {job}"))
    finally:
        for made in folder.rglob("*"):
            if made.is_file():
                private_file(made)
    summary_path = folder / "summary.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        code = int(summary.get("exit_code", EXIT_INTERNAL))
        if error and code == EXIT_OK:  # the notebook failed after the job answered: not a success
            code = EXIT_INTERNAL
        return RunOutcome(folder, executed, code, summary, error)
    outcome = failed(Failure(EXIT_INTERNAL if error else EXIT_ERROR,
                             f"the notebook stopped before its job answered ({error}); see {executed}" if error
                             else f"{path.name} wrote no summary.json: is it a job notebook?"))
    return RunOutcome(folder, executed, outcome.exit_code, outcome.summary, outcome.error)


def check_params_file(notebook: Path, params_file: str | Path) -> dict[str, Any]:
    """A parameters file's values for ``notebook``, checked (the same loader ``sync --params`` uses)."""
    data = load_params(params_file)
    return _check(notebook, data, str(params_file), Path(params_file).parent, frozenset())
