"""A JupyterLab server for the browser test that leaves nothing running, however the test ends.

The server runs in its own process group (a Ctrl-C in the terminal reaches the test, not the server,
which must first stop its kernels), and jupyter_client starts every kernel in a session of its own, so
neither dies with the test by itself. :class:`JupyterLabProcess` stops the server and every process under
it (kernels, and what the kernels started) on every way out:

- the ``finally`` of :meth:`JupyterLabProcess.running` (a test that passes, fails or raises, KeyboardInterrupt
  under pytest included);
- SIGINT and SIGTERM handlers, which stop it and then do what the previous handler did (pytest's
  KeyboardInterrupt, or the default: exit by the signal);
- ``atexit``, for an interpreter that exits another way;
- on Linux, the server gets SIGTERM when the test process dies even by SIGKILL (``PR_SET_PDEATHSIG``), and
  then stops its kernels itself.

Stopping is SIGTERM to the server's group (the server shuts its kernels down), then SIGKILL to whatever
of the server, its kernels and their children (found before the SIGTERM) is still there after 20 s.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE_S = 20  # the server's own shutdown of its kernels; then SIGKILL


def _die_with_parent() -> None:  # pragma: no cover (runs in the child between fork and exec)
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class JupyterLabProcess:
    """``jupyter lab`` on 127.0.0.1 with a token; :meth:`stop` ends it and every process under it.

    Args:
        command: the server's command line.
        cwd, env: its working directory and environment.
        log_path: where its output goes.
    """

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], log_path: Path):
        self.command, self.cwd, self.env, self.log_path = command, cwd, env, Path(log_path)
        self.server: subprocess.Popen | None = None
        self._previous: dict[int, object] = {}
        self._stopped = False

    def start(self) -> None:
        """Start the server and arm every way of stopping it (handlers, atexit)."""
        atexit.register(self.stop)
        for signum in STOP_SIGNALS:
            with contextlib.suppress(ValueError):  # not the main thread: the finally and atexit still stop it
                self._previous[signum] = signal.signal(signum, self._on_signal)
        with open(self.log_path, "wb") as log:
            self.server = subprocess.Popen(
                self.command, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )

    def wait_until_up(self, base: str, token: str, timeout_s: float = 90) -> None:
        """Wait for ``/api/status`` to answer; RuntimeError with the server's log if it does not."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5).read()
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline or self.server.poll() is not None:
                    raise RuntimeError(f"JupyterLab did not start:\n{self.log_path.read_text()[-3000:]}") from None
                time.sleep(0.5)

    def processes(self) -> list[psutil.Process]:
        """The server and every process under it now (kernels, and their children)."""
        if self.server is None:
            return []
        try:
            root = psutil.Process(self.server.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        """SIGTERM the server's group, wait up to GRACE_S s, SIGKILL what is left of it. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.server is not None:
                tree = self.processes()
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.server.pid, signal.SIGTERM)
                _, alive = psutil.wait_procs(tree, timeout=GRACE_S)
                for process in alive:
                    with contextlib.suppress(psutil.Error):
                        process.kill()
                psutil.wait_procs(alive, timeout=5)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.server.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.server.wait(timeout=5)
        finally:
            for signum, previous in self._previous.items():
                with contextlib.suppress(ValueError, TypeError):
                    signal.signal(signum, previous)
            self._previous.clear()
            atexit.unregister(self.stop)

    def _on_signal(self, signum, frame) -> None:
        previous = self._previous.get(signum, signal.SIG_DFL)
        self.stop()  # restores the previous handlers
        if callable(previous):
            previous(signum, frame)  # SIGINT under pytest: KeyboardInterrupt, and pytest's teardown
        elif previous == signal.SIG_DFL:
            os.kill(os.getpid(), signum)  # exit by the signal, as without this handler

    @classmethod
    @contextlib.contextmanager
    def running(cls, command: list[str], cwd: Path, env: dict[str, str], log_path: Path, base: str,
                token: str) -> Iterator[JupyterLabProcess]:
        """Start it, wait until it answers, yield it; stop it on the way out, however that happens."""
        lab = cls(command, cwd, env, log_path)
        try:
            lab.start()
            lab.wait_until_up(base, token)
            yield lab
        finally:
            lab.stop()


def start_kernel(base: str, token: str, name: str = "python3") -> str:
    """Start a kernel through the server's REST API, as opening a notebook does; returns its id."""
    request = urllib.request.Request(f"{base}/api/kernels", data=json.dumps({"name": name}).encode(), method="POST",
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=60).read())["id"]
