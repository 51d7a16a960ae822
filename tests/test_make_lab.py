"""`make lab` starts JupyterLab for root and for other users, serves /lab, opens on notebook 01 and
leaves the matplotlib backend to the notebooks."""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_NOTEBOOK = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))[0].name

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dry_run(*prefix: str) -> str:
    """The commands `make lab` would run (make -n), as the user that ``prefix`` switches to."""
    result = subprocess.run([*prefix, "make", "-n", "-o", "install", "lab"], cwd=ROOT, capture_output=True, text=True,
                            check=True)
    return result.stdout


def test_make_lab_passes_allow_root_only_to_root():
    if os.geteuid() == 0:
        assert "--allow-root" in dry_run()
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("setpriv is not installed: cannot try as another user")
        as_nobody = dry_run(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups")
        assert "jupyter lab" in as_nobody and "--allow-root" not in as_nobody
    else:
        assert "jupyter lab" in dry_run() and "--allow-root" not in dry_run()


def test_make_install_leaves_out_the_instructor_extra_unless_asked():
    plain = subprocess.run(["make", "-n", "-B", "install"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "instructor" not in plain and ".[lab]" in plain
    asked = subprocess.run(["make", "-n", "-B", "install", "INSTRUCTOR=1"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout
    assert ".[lab,instructor]" in asked
    tests = subprocess.run(["make", "-n", "-B", "test"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert ".[lab,test,instructor,data,site]" in tests  # nbgrader, datasets, and the site builder for tests/test_site.py
    assert ",data" not in plain  # the lab needs no datasets


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in _children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the server's environment from /proc (Linux)")
def test_make_lab_serves_lab_on_the_first_notebook_without_a_matplotlib_backend():
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "MPLBACKEND": "Agg"}  # what the Makefile itself exports: the server must not inherit it
    command = ["make", "-o", "install", "lab",
               f"LAB_ARGS=--no-browser --ip=127.0.0.1 --port={port} --ServerApp.token={token}"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        deadline, status = time.monotonic() + 90, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=5) as response:
                    status, page = response.status, response.read().decode()
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        if status is None:
            process.kill()
            pytest.fail(f"make lab did not serve /lab within 90 s:\n{process.stdout.read().decode()[-3000:]}")
        assert status == 200 and "JupyterLab" in page
        # The root URL sends the browser to the first notebook.
        request = urllib.request.Request(f"http://127.0.0.1:{port}/?token={token}")
        opener = urllib.request.build_opener(type("NoRedirect", (urllib.request.HTTPRedirectHandler,),
                                                  {"redirect_request": lambda *a, **k: None}))
        try:
            opener.open(request, timeout=5)
            location = ""
        except urllib.error.HTTPError as redirect:
            location = redirect.headers.get("Location", "")
        assert location.split("?")[0].endswith(f"/lab/tree/{FIRST_NOTEBOOK}"), location
        servers = [pid for pid in _descendants(process.pid)
                   if b"jupyter" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert servers, "no jupyter process under make"
        environment = Path(f"/proc/{servers[-1]}/environ").read_bytes().split(b"\0")
        assert not any(v.startswith(b"MPLBACKEND=") for v in environment)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # make and the server it started
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        process.stdout.close()


FAKE_PYTHON = """#!/bin/sh
echo "$*" >> "$MAKE_LOG"
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin"; cp "$FAKE_PYTHON" "$3/bin/python"; fi
"""


def test_a_new_torch_requirement_takes_effect_on_an_existing_venv(tmp_path):
    # The Makefile in a scratch folder, with a Python that only logs what it is asked to do (no network).
    shutil.copy(ROOT / "Makefile", tmp_path)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    log = tmp_path / "log"
    env = {**os.environ, "MAKE_LOG": str(log), "FAKE_PYTHON": str(fake)}

    def install(*options: str) -> list[str]:
        log.write_text("")
        subprocess.run(["make", "install", f"PYTHON={fake}", *options], cwd=tmp_path, env=env, check=True,
                       capture_output=True)
        return log.read_text().splitlines()

    assert "-m pip install --quiet torch==2.13.0" in install()  # a fresh .venv
    assert install() == []  # nothing changed: nothing to do
    changed = install("TORCH=torch")
    assert changed[0] == "-m pip uninstall --quiet --yes torch" and "-m pip install --quiet torch" in changed
    assert install("TORCH=torch") == []
    assert "-m pip install --quiet torch==2.13.0" in install()  # back to the default pin

    (tmp_path / ".venv" / ".torch-requirement").unlink()  # a .venv built before the Makefile remembered it
    assert install() == []  # built with the default: nothing to redo
    assert "-m pip uninstall --quiet --yes torch" in install("TORCH=torch")
