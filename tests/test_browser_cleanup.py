"""The browser test's JupyterLab server and its kernels are stopped however the test ends
(tests/jupyterlab_process.py, used by the ``lab`` fixture of tests/test_browser_notebooks.py).

A pytest process runs the ``lab`` fixture itself (with no browser: the server is what is tested), starts a
kernel as opening a notebook does, and waits; it is then interrupted as a user or a CI runner would:
Ctrl-C (SIGINT to its process group), SIGTERM, or SIGKILL. Every process under it (the server, the
kernel, what the kernel started) must be gone. Counted with psutil, from the process table.
"""

import contextlib
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

TESTS = Path(__file__).resolve().parent
READY_TIMEOUT_S = 240  # pytest, JupyterLab and a kernel starting on a busy 2-core machine
GONE_TIMEOUT_S = 60

HOLDING_TEST = '''
import time

import pytest
from jupyterlab_process import start_kernel
from test_browser_notebooks import lab  # noqa: F401  (the browser test's own fixture)


@pytest.fixture(scope="module")
def browser_page():  # no browser: what is tested is the server the fixture starts
    yield None


def test_hold_the_server_and_a_kernel(lab):
    base, token, _ = lab
    start_kernel(base, token)
    print("READY", flush=True)
    time.sleep(600)
'''


def _wait_for_line(process: subprocess.Popen, expected: str, timeout_s: float) -> str:
    seen, deadline = b"", time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        ready, _, _ = select.select([process.stdout], [], [], 1.0)
        if ready:
            seen += os.read(process.stdout.fileno(), 65536)
            if expected.encode() in seen:
                return seen.decode(errors="replace")
    raise AssertionError(f"no {expected!r} from the pytest process after {timeout_s} s:\n{seen.decode(errors='replace')[-3000:]}")


def _describe(processes) -> list[str]:
    described = []
    for process in processes:
        try:
            described.append(f"{process.pid}: {' '.join(process.cmdline())[:160]}")
        except psutil.Error:
            described.append(f"{process.pid} (gone)")
    return described


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and PR_SET_PDEATHSIG as on Linux")
@pytest.mark.parametrize("how", ["SIGINT to the group (Ctrl-C)", "SIGTERM", "SIGKILL"])
def test_interrupting_the_browser_test_leaves_no_jupyter_server_or_kernel(tmp_path, how):
    pytest.importorskip("jupyterlab")
    (tmp_path / "test_hold.py").write_text(textwrap.dedent(HOLDING_TEST))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")]))
    child = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "--rootdir",
                              str(tmp_path), str(tmp_path / "test_hold.py")], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    tree = []
    try:
        _wait_for_line(child, "READY", READY_TIMEOUT_S)
        tree = psutil.Process(child.pid).children(recursive=True)
        commands = _describe(tree)
        assert any("jupyterlab" in c for c in commands), commands
        assert any("ipykernel" in c for c in commands), commands
        if how.startswith("SIGINT"):
            os.killpg(child.pid, signal.SIGINT)
        else:
            os.kill(child.pid, getattr(signal, how))
        child.wait(timeout=GONE_TIMEOUT_S)
        _, alive = psutil.wait_procs(tree, timeout=GONE_TIMEOUT_S)
        assert not alive, f"left running after {how}: {_describe(alive)}"
    finally:  # whatever happened above, leave nothing behind
        if child.poll() is None:
            child.kill()
        for process in tree:
            with contextlib.suppress(psutil.Error):
                process.kill()
        child.wait(timeout=30)
