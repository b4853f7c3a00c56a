"""Serve the app notebook (``notebooks/app.ipynb``) as a web app with Voila, on loopback.

``serve_app()`` starts Voila in a subprocess (the same Python, so the project's virtualenv and its
kernel), waits until its TCP port answers and returns ``(process, url)``. Each page load starts a new
kernel, so readiness is a TCP connect, never a page load. ``stop_app(process)`` ends Voila's process
group; Voila shuts the kernels it started down as it exits (they run in sessions of their own and
also end by themselves when Voila is gone).

What keeps the app to its user:

- it binds 127.0.0.1 only, and refuses a request whose ``Host`` is not a loopback name (DNS
  rebinding) or whose ``Origin`` is another site (``allow_remote_access`` off, no ``allow_origin``);
- it needs a token: a random one (:mod:`secrets`) per start, carried in the URL that is printed
  once; it reaches Voila through the environment (never the command line, which ``ps`` shows) and
  the request log scrubs it;
- idle kernels are culled (:data:`CULL_IDLE_TIMEOUT`; a kernel with a page still open is kept);
- :func:`main` (``qbo-toolkit app``) stops Voila's whole process group on SIGTERM, SIGINT and
  SIGHUP and exits 128 + the signal's number (143, 130); Voila also gets SIGTERM if ``main``'s
  process dies without a word (Linux's parent-death signal).

The notebook reads its parameters from the environment when they are not set (``QBO_TOOLKIT_HOME``,
``QBO_ENVIRONMENT``, ``QBO_EMULATOR_INFO``): pass ``env`` to point the app at a scratch home and an
emulator, as the browser tests do.

The authorization redirect goes to a loopback listener in the kernel, i.e. on the machine running
Voila: open the URL in a browser on the same machine (or use the connect screen's paste box).
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Final

from .errors import ConfigError, QboToolkitError

__all__ = ["CULL_IDLE_TIMEOUT", "default_notebook", "free_port", "serve_app", "stop_app"]

HOST: Final = "127.0.0.1"
CULL_IDLE_TIMEOUT: Final = 900  # seconds: a kernel with no page connected and nothing running is shut down
CULL_INTERVAL: Final = 60  # seconds between two looks for idle kernels
_TOKEN_ENV: Final = "QBO_TOOLKIT_APP_TOKEN"  # noqa: S105 (a variable name; removed before Voila starts)
_OPTIONS_ENV: Final = "QBO_TOOLKIT_APP_OPTIONS"


def default_notebook() -> Path:
    """The app notebook shipped in the package (``qbo_toolkit/notebooks/app.ipynb``), else the source
    tree's ``notebooks/app.ipynb``, else the current directory's."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "notebooks" / "app.ipynb", here.parent / "notebooks" / "app.ipynb",
                      Path.cwd() / "notebooks" / "app.ipynb"):
        if candidate.is_file():
            return candidate
    raise ConfigError("the app notebook (notebooks/app.ipynb) is not installed with qbo-toolkit; reinstall the "
                      "package, or run the command from the project's folder", path="notebooks/app.ipynb")


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def serve_app(port: int = 0, notebook: str | Path | None = None, *, env: Mapping[str, str] | None = None,
              timeout: float = 60.0, log: str | Path | None = None, quiet: bool = False,
              extra_args: Sequence[str] = (), cull_idle_timeout: int = CULL_IDLE_TIMEOUT,
              cull_interval: int = CULL_INTERVAL) -> tuple[subprocess.Popen[bytes], str]:
    """Start Voila on 127.0.0.1 for the app notebook; return ``(process, url)`` once the port answers.

    ``url`` carries the token (``?token=...``): it is printed once, unless ``quiet``.

    Parameters
    ----------
    port:
        0 picks a free port.
    notebook:
        The notebook to serve (default: :func:`default_notebook`).
    env:
        Extra environment variables for Voila and its kernels (on top of this process's).
    timeout:
        Seconds to wait for the port; Voila is stopped and :class:`~qbo_toolkit.errors.QboToolkitError`
        raised after that (or when Voila ends before it listens).
    log:
        A file for Voila's output (created 0600; default: discarded). The token never appears in it.

    A ``port`` that is taken, a missing notebook or a missing Voila is a
    :class:`~qbo_toolkit.errors.ConfigError` whose sentence says what to do.
    cull_idle_timeout, cull_interval:
        Seconds after which a kernel without a connected page and without work is shut down, and
        between two looks for such kernels.
    """
    path = Path(notebook) if notebook is not None else default_notebook()
    if not path.is_file():
        raise ConfigError(f"there is no notebook at {path}; name an existing .ipynb file", path=str(path))
    if importlib.util.find_spec("voila") is None:
        raise ConfigError("the app needs Voila, which is not installed here: pip install 'qbo-toolkit[app]'",
                          key="voila")
    if port and not _port_free(port):
        raise ConfigError(f"port {port} on {HOST} is taken by another program; choose another with --port, or "
                          "--port 0 for a free one", key="port")
    port = port or free_port()
    token = secrets.token_urlsafe(32)
    child_env = dict(os.environ)
    child_env.update(env or {})
    # the kernelspec of the venv's ipykernel runs "python": make that this environment's python
    bindir = str(Path(sys.executable).parent)
    child_env["PATH"] = bindir + os.pathsep + child_env.get("PATH", "")
    child_env[_TOKEN_ENV] = token
    child_env[_OPTIONS_ENV] = json.dumps({"cull_idle_timeout": int(cull_idle_timeout),
                                          "cull_interval": int(cull_interval), "parent": os.getpid()})
    command = [sys.executable, "-c", "from qbo_toolkit.app_server import _voila_child; _voila_child()",
               "--no-browser", f"--port={port}", f"--Voila.ip={HOST}", "--Voila.port_retries=0",
               "--VoilaConfiguration.show_tracebacks=True", *extra_args, path.name]
    out: Any = subprocess.DEVNULL
    if log is not None:  # the child keeps its own copy of the descriptor
        out = os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        os.fchmod(out.fileno(), 0o600)
    try:
        process = subprocess.Popen(command, cwd=path.parent, env=child_env, stdout=out,  # noqa: S603
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        if log is not None:
            out.close()
    deadline = time.monotonic() + timeout
    try:
        while not _port_open(port):
            if process.poll() is not None:
                raise QboToolkitError(f"Voila ended (exit code {process.returncode}) before it served the app on "
                                      f"port {port}" + (f"; its output is in {log}" if log else ""))
            if time.monotonic() > deadline:
                raise QboToolkitError(f"Voila did not serve the app on port {port} within {timeout:g} s"
                                      + (f"; its output is in {log}" if log else "") + "; try again")
            time.sleep(0.1)
    except BaseException:  # a timeout, or a signal while waiting: leave nothing running
        stop_app(process)
        raise
    url = f"http://{HOST}:{port}/?token={token}"
    if not quiet:
        print(f"The QuickBooks app is served at {url} (open it in a browser on this computer; Ctrl-C stops "
              "it)", flush=True)
    return process, url


def _voila_child() -> None:
    """Voila's process: the token and options come from the environment, which kernels do not inherit."""
    token = os.environ.pop(_TOKEN_ENV, "")
    options: dict[str, Any] = json.loads(os.environ.pop(_OPTIONS_ENV, "{}"))
    if not token:
        raise SystemExit("qbo_toolkit.app_server: Voila is started by serve_app(), with a token")
    _die_with_parent(int(options.get("parent") or 0))
    from jupyter_server.log import log_request  # scrubs ?token= from the request log
    from traitlets.config import Config
    from voila.app import Voila

    config = Config()
    config.Voila.token = token
    config.Voila.tornado_settings = {
        "allow_remote_access": False,  # Host must be a loopback address or a name in local_hostnames
        "local_hostnames": ["localhost"],
        "allow_origin": "",  # no cross-origin request or websocket
        "log_function": log_request,
    }
    config.MappingKernelManager.cull_idle_timeout = int(options.get("cull_idle_timeout", CULL_IDLE_TIMEOUT))
    config.MappingKernelManager.cull_interval = int(options.get("cull_interval", CULL_INTERVAL))
    config.MappingKernelManager.cull_connected = False
    config.MappingKernelManager.cull_busy = False
    Voila.launch_instance(argv=sys.argv[1:], config=config)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to send SIGTERM when the launching process dies (a SIGKILL leaves no time to stop us)."""
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


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


def _default_log() -> Path:
    from .files import private_dir
    from .paths import toolkit_home

    return private_dir(toolkit_home() / "logs") / "app.log"


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped(signum)


_STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m qbo_toolkit.app_server [--port N] [notebook]``: serve until stopped.

    SIGTERM, SIGINT (Ctrl-C) and SIGHUP stop Voila's whole process group, then the command exits
    128 + the signal's number (143 for SIGTERM, 130 for SIGINT). If Voila ends by itself, its exit
    code is returned.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m qbo_toolkit.app_server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("notebook", nargs="?", default=None, help="default: notebooks/app.ipynb")
    parser.add_argument("--log", default=None, help="Voila's output (default: <toolkit home>/logs/app.log)")
    args = parser.parse_args(argv)
    log = Path(args.log) if args.log else _default_log()
    previous = {signum: signal.signal(signum, _raise_stopped) for signum in _STOP_SIGNALS}
    process: subprocess.Popen[bytes] | None = None
    try:
        process, _url = serve_app(args.port, args.notebook, log=log)
        return process.wait()
    except _Stopped as stopped:
        return 128 + stopped.signum
    finally:
        for signum in _STOP_SIGNALS:  # a second signal must not interrupt the stopping
            signal.signal(signum, signal.SIG_IGN)
        if process is not None:
            stop_app(process)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    raise SystemExit(main())
