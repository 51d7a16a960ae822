"""The notebook runner (tests/notebook_runner.py) on tiny notebooks of its own: a cell that waits past the
timeout fails clearly, a reply the kernel never sends fails the same way, the peak counts the processes a
notebook starts, and two runs' stated figures are compared under load."""

import subprocess
import sys
import time

import nbformat
import psutil
import pytest
from notebook_runner import NotebookCellTimeout, _KernelWatch, busy_processes, execute_notebook

from modlayers.lessons.stated_figures import compare_runs


def write_notebook(tmp_path, *sources, name="tiny.ipynb"):
    path = tmp_path / name
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]), path)
    return path


def test_a_cell_that_sleeps_past_the_timeout_fails_naming_the_notebook_the_cell_and_its_first_line(tmp_path):
    path = write_notebook(tmp_path, "x = 1", "import time\ntime.sleep(120)  # never ends in time", "x = 2")
    start = time.monotonic()
    with pytest.raises(NotebookCellTimeout) as raised:
        execute_notebook(path, timeout=3)
    message = str(raised.value)
    assert "tiny.ipynb: cell 1 ('import time') did not finish within the runner's timeout of 3 s" in message
    assert time.monotonic() - start < 60, "the run waited for the sleep instead of failing at the timeout"


# The symptom of a lost message (ipykernel 7.0 to 7.3, ipython/ipykernel#1529): the cell's work is done and the
# kernel is idle, but its execute_reply never reaches the client. This cell makes the kernel drop its own reply.
DROP_OWN_REPLY = """\
_kernel = get_ipython().kernel
_send = _kernel.session.send
def _send_but_lose_execute_reply(stream, msg_or_type, *args, **kwargs):
    if msg_or_type == "execute_reply":
        _kernel.session.send = _send  # lose this one reply only
        return None
    return _send(stream, msg_or_type, *args, **kwargs)
_kernel.session.send = _send_but_lose_execute_reply
print("done, but the reply will be lost")"""


def test_a_reply_the_kernel_never_sends_fails_at_the_timeout_naming_the_cell(tmp_path):
    path = write_notebook(tmp_path, "x = 1", DROP_OWN_REPLY, name="lost_reply.ipynb")
    start = time.monotonic()
    with pytest.raises(NotebookCellTimeout) as raised:
        execute_notebook(path, timeout=5)
    assert "lost_reply.ipynb: cell 1 ('_kernel = get_ipython().kernel') did not finish" in str(raised.value)
    assert time.monotonic() - start < 60


def test_the_watchdog_kills_a_process_whose_cell_overstays_and_names_the_cell():
    """The backstop for a wait nbclient's own timeout does not end: the kernel (here a sleeping stand-in) dies."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    watch = _KernelWatch(timeout=0.2)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("notebook_runner.WATCHDOG_GRACE_S", 0.3)
            watch.start(sleeper.pid)
            watch.cell_started_now(7)
            assert sleeper.wait(timeout=30) != 0, "the watchdog did not kill the process"
        assert watch.killed_cell == 7
    finally:
        watch.stop()
        if sleeper.poll() is None:
            sleeper.kill()


CHILD_HOLDING_MEMORY = """\
import subprocess, sys
child = subprocess.run([sys.executable, "-c", '''
import resource, time
held = b"x" * (300 * 2**20)  # written, so resident
time.sleep(2)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
'''], capture_output=True, text=True, check=True)
print("CHILD_PEAK", child.stdout.strip())"""


def test_the_peak_counts_the_processes_the_kernel_starts_as_their_own_counters_do(tmp_path):
    path = write_notebook(tmp_path, CHILD_HOLDING_MEMORY)
    run = execute_notebook(path, timeout=120)
    child_peak = int("".join(o.get("text", "") for o in run.notebook.cells[0].outputs).split("CHILD_PEAK")[1])
    assert child_peak > 300 * 2**20
    assert run.kernel_peak_bytes < 200 * 2**20, "the child's memory must not count as the kernel's own"
    # Sampled every 0.1 s, the tree's sum (proportional set sizes: shared pages split between the processes
    # that map them) is at most the sum of each process's own peak, and at least the child's own 300 MiB,
    # which no other process shares.
    assert run.tree_peak_bytes <= run.kernel_peak_bytes + child_peak + 20 * 2**20
    assert run.tree_peak_bytes >= child_peak - 10 * 2**20
    assert run.peak_processes >= 2


def states(value):
    return ("from modlayers.lessons.stated_figures import check_figure\n"
            f"check_figure('accuracy', {value}, stated=0.5, tolerance=0.1)\n"
            "check_figure('steps', 8, stated=8, tolerance=0)")


@pytest.mark.notebook
def test_stated_figures_of_an_idle_and_a_busy_run_are_compared_and_a_difference_is_caught(tmp_path):
    idle = execute_notebook(write_notebook(tmp_path, states(0.45)), timeout=300).figures
    assert set(idle) == {"accuracy", "steps"} and idle["accuracy"]["value"] == 0.45
    with busy_processes(2) as pids:
        assert all(psutil.pid_exists(pid) for pid in pids)
        busy = execute_notebook(write_notebook(tmp_path, states(0.45)), timeout=300).figures
        spent = sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids)
    assert spent > 1.0, f"the two busy processes used only {spent:.1f} s of CPU while the notebook ran"
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)
    assert compare_runs(idle, busy) == []
    drifted = execute_notebook(write_notebook(tmp_path, states(0.59)), timeout=300).figures
    assert compare_runs(idle, drifted) == ["accuracy: 0.45 in one run, 0.59 in the other (tolerance 0.1)"]


def test_the_kernel_peak_is_its_own_not_the_size_of_the_process_that_started_it(tmp_path):
    """ru_maxrss would give a kernel started by a big process that process's size (Linux keeps it across
    fork and exec); the runner's figure must stay the kernel's own."""
    held = b"x" * (400 * 2**20)  # the starting process holds 400 MiB more than the kernel will ever need
    run = execute_notebook(write_notebook(tmp_path, "x = 1"), timeout=60)
    assert len(held) and run.kernel_peak_bytes < 300 * 2**20, f"kernel peak {run.kernel_peak_bytes / 2**20:.0f} MiB"


def test_the_installed_ipykernel_is_not_one_that_loses_replies():
    """ipykernel 7.0 to 7.3 can drop a cell's execute_reply (ipython/ipykernel#1529); pyproject.toml excludes them."""
    import tomllib
    from pathlib import Path

    import ipykernel
    from packaging.requirements import Requirement

    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
    for extra in ("lab", "test"):
        (spec,) = [Requirement(r).specifier for r in project["optional-dependencies"][extra] if r.startswith("ipykernel")]
        assert "7.3.0" not in spec and "7.0.1" not in spec and "6.29.5" in spec and "7.4.0" in spec, (extra, spec)
        assert spec.contains(ipykernel.__version__), f"ipykernel {ipykernel.__version__} is excluded by {spec}"


def test_the_kernel_runs_without_the_makefiles_mplbackend_so_the_sites_copy_shows_no_doctor_warning(
        tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")  # as `make test` exports it
    monkeypatch.setenv("MODLAYERS_RUNNER_PROBE", "kept")  # every other variable reaches the kernel
    run = execute_notebook(write_notebook(
        tmp_path, "import os\nprint(os.environ.get('MPLBACKEND'), os.environ.get('MODLAYERS_RUNNER_PROBE'))"),
        timeout=120)
    backend, probe = run.notebook.cells[0].outputs[0]["text"].split()
    assert backend != "Agg" and probe == "kept"  # the kernel's own choice: its inline backend
