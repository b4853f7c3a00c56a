"""Serve the app notebook (``notebooks/app.ipynb``) as a web app with Voila, on loopback.

``serve_app()`` starts Voila in a subprocess (the same Python, so the project's virtualenv and its
kernel), waits until its TCP port answers and returns ``(process, url)``. Each page load starts a new
kernel, so readiness is a TCP connect, never a page load. ``stop_app(process)`` ends Voila and the
kernels it started (they share its process group).

The notebook reads its parameters from the environment when they are not set (``QBO_TOOLKIT_HOME``,
``QBO_ENVIRONMENT``, ``QBO_EMULATOR_INFO``): pass ``env`` to point the app at a scratch home and an
emulator, as the browser tests do.

The authorization redirect goes to a loopback listener in the kernel, i.e. on the machine running
Voila: open the URL in a browser on the same machine (or use the connect screen's paste box).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["default_notebook", "free_port", "serve_app", "stop_app"]

HOST = "127.0.0.1"


def default_notebook() -> Path:
    """``notebooks/app.ipynb`` of the source tree (an editable install), else of the current directory."""
    for root in (Path(__file__).resolve().parents[1], Path.cwd()):
        candidate = root / "notebooks" / "app.ipynb"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("notebooks/app.ipynb not found (run from the project's directory, or pass notebook=)")


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def serve_app(port: int = 0, notebook: str | Path | None = None, *, env: Mapping[str, str] | None = None,
              timeout: float = 60.0, log: str | Path | None = None, quiet: bool = False,
              extra_args: Sequence[str] = ()) -> tuple[subprocess.Popen[bytes], str]:
    """Start Voila on 127.0.0.1 for the app notebook; return ``(process, url)`` once the port answers.

    Parameters
    ----------
    port:
        0 picks a free port.
    notebook:
        The notebook to serve (default: :func:`default_notebook`).
    env:
        Extra environment variables for Voila and its kernels (on top of this process's).
    timeout:
        Seconds to wait for the port; Voila is stopped and ``RuntimeError`` raised after that.
    log:
        A file for Voila's output (default: discarded).
    """
    path = Path(notebook) if notebook is not None else default_notebook()
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}")
    port = port or free_port()
    child_env = dict(os.environ)
    child_env.update(env or {})
    # the kernelspec of the venv's ipykernel runs "python": make that this environment's python
    bindir = str(Path(sys.executable).parent)
    child_env["PATH"] = bindir + os.pathsep + child_env.get("PATH", "")
    command = [sys.executable, "-m", "voila", "--no-browser", f"--port={port}", f"--Voila.ip={HOST}",
               "--Voila.port_retries=0", "--VoilaConfiguration.show_tracebacks=True", *extra_args,
               path.name]
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # the child keeps its own copy
    try:
        process = subprocess.Popen(command, cwd=path.parent, env=child_env, stdout=out,  # noqa: S603
                                   stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + timeout
    while not _port_open(port):
        if process.poll() is not None:
            raise RuntimeError(f"voila exited with code {process.returncode} before listening on port {port}"
                               + (f" (see {log})" if log else ""))
        if time.monotonic() > deadline:
            stop_app(process)
            raise RuntimeError(f"voila did not listen on port {port} within {timeout:g} s")
        time.sleep(0.1)
    url = f"http://{HOST}:{port}/"
    if not quiet:
        print(f"The QuickBooks app is served at {url}", flush=True)
    return process, url


def stop_app(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop Voila and its kernels (its process group): SIGTERM, then SIGKILL after ``timeout``."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m qbo_toolkit.app_server [--port N] [notebook]``: serve until interrupted."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m qbo_toolkit.app_server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("notebook", nargs="?", default=None, help="default: notebooks/app.ipynb")
    args = parser.parse_args(argv)
    process, _url = serve_app(args.port, args.notebook)
    try:
        return process.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        stop_app(process)


if __name__ == "__main__":
    raise SystemExit(main())
