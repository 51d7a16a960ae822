"""Run a notebook headless as the suite does: a fresh kernel, every cell, a clear failure for a cell that waits
too long, the peak memory of every process the notebook starts, and the figures it states.

``tests/test_notebooks.py`` and ``benchmarks/notebooks.py`` both run notebooks through :func:`execute_notebook`.

- **No hang.** A cell that has not answered within ``timeout`` seconds fails the run with
  :class:`NotebookCellTimeout`, naming the notebook, the cell index (the first cell is 0) and the cell's first
  line. nbclient's own timeout covers a cell that is still running and a reply the kernel never sent; a watchdog
  thread covers a wait that nbclient's timeout does not end (it kills the kernel ``WATCHDOG_GRACE_S`` seconds
  after the cell's deadline, so nbclient reports a dead kernel, which is turned into the same failure).
- **Memory of the whole process tree.** Binder's limit covers the whole container, so a notebook that starts
  ``torchrun`` ranks pays for them too. A sampler thread reads, every ``SAMPLE_EVERY_S`` seconds, the resident
  set of the kernel and of every process below it (psutil), and keeps the largest sum. A page shared by
  several processes (``libtorch_cpu.so``'s code) counts once per process, so the sum errs on the high side. The kernel's own peak comes from its
  high-water mark (``VmHWM``) in a last cell, so a peak between two samples is not missed for the kernel.
- **Stated figures.** The last cell also prints what ``modlayers.lessons.stated_figures.recorded_figures()`` holds,
  so two runs of a notebook can be compared (``compare_runs``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from modlayers.lessons.stated_figures import MARKER

SAMPLE_EVERY_S = 0.1
WATCHDOG_GRACE_S = 30.0

# The kernel's own peak resident set: VmHWM, the high-water mark of its address space since it started. Not
# getrusage's ru_maxrss: on Linux a process inherits that from its parent's size at fork, through exec, so a
# kernel started by a test process holding torch (400 MiB) would report 400 MiB for `x = 1`.
MEASURE_CELL = """\
import json as _json, resource as _resource, sys as _sys
def _own_peak_bytes():
    try:
        with open('/proc/self/status') as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith('VmHWM:'))
    except (OSError, StopIteration):  # not Linux: ru_maxrss is in bytes on macOS, in KiB elsewhere
        return _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss * (1 if _sys.platform == 'darwin' else 1024)
print('MODLAYERS_PEAK_RSS', _json.dumps(_own_peak_bytes()))"""
FIGURES_CELL = (  # a notebook that never imported modlayers states no figure: print {} without importing it
    "import json as _json, sys as _sys\n"
    "_figures = _sys.modules.get('modlayers.lessons.stated_figures')\n"
    "print(%r, _json.dumps(_figures.recorded_figures() if _figures else {}))" % MARKER
)


class NotebookCellTimeout(AssertionError):
    """A cell of a notebook did not finish within the runner's timeout (or its kernel died while it ran)."""


@dataclass
class NotebookRun:
    """What one headless run of a notebook gives."""

    notebook: nbformat.NotebookNode
    seconds: float  # wall time, kernel start included
    kernel_peak_bytes: int  # the kernel's own maximum resident set (VmHWM)
    tree_peak_bytes: int  # the largest sum of resident sets over the kernel and its descendants
    peak_processes: int  # how many processes the tree held at most
    figures: dict = field(default_factory=dict)  # modlayers.lessons.stated_figures.recorded_figures() at the end


def poll_in_short_slices(client: NotebookClient, slice_seconds: float = 1.0) -> None:
    """Make the client's channel reads wake up at least every ``slice_seconds``.

    nbclient waits for a cell's reply with one long socket poll; after cells that open
    widget comms that poll sometimes misses the reply's wake-up and sleeps until the
    cell timeout before reading the message that was there all along (jupyter/nbclient
    issue 312). Polling in short slices reads it within a second.
    """
    import inspect
    from queue import Empty

    for channel in (client.kc.shell_channel, client.kc.iopub_channel):
        original_get_msg = channel.get_msg

        async def get_msg(timeout=None, _original=original_get_msg, **kwargs):
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                remaining = slice_seconds if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    message = _original(timeout=min(slice_seconds, remaining), **kwargs)
                    return await message if inspect.isawaitable(message) else message
                except Empty:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise

        channel.get_msg = get_msg


class _KernelWatch:
    """A thread that samples the kernel's process tree and kills the kernel when a cell overstays."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.pid: int | None = None
        self.cell_index: int | None = None
        self.cell_started = 0.0
        self.killed_cell: int | None = None
        self.tree_peak = self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kernel-watch", daemon=True)

    def start(self, pid: int) -> None:
        self.pid = pid
        self._thread.start()

    def cell_started_now(self, cell_index: int) -> None:
        self.cell_index, self.cell_started = cell_index, time.monotonic()

    def cell_finished(self) -> None:
        self.cell_index = None

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            kernel = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.wait(SAMPLE_EVERY_S):
            self._sample(kernel)
            index = self.cell_index
            if index is not None and time.monotonic() - self.cell_started > self.timeout + WATCHDOG_GRACE_S:
                self.killed_cell = index
                _kill_tree(kernel)
                return

    def _sample(self, kernel: psutil.Process) -> None:
        try:
            tree = [kernel, *kernel.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        total = 0
        for process in tree:
            try:
                total += _resident_share(process)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        self.tree_peak = max(self.tree_peak, total)
        self.peak_processes = max(self.peak_processes, len(tree))


def _resident_share(process: psutil.Process) -> int:
    """Bytes of memory ``process`` holds, a page shared by several processes split between them (Linux's PSS).

    Summed over a process tree, every page counts once, as a container's memory limit counts it (the ranks of
    notebook 05 each map the same torch libraries); where PSS cannot be read, the resident set size (RSS).
    """
    try:
        return process.memory_full_info().pss
    except (AttributeError, psutil.AccessDenied):
        return process.memory_info().rss


def _kill_tree(process: psutil.Process) -> None:
    try:
        children = process.children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    for victim in [*children, process]:
        try:
            victim.kill()
        except psutil.NoSuchProcess:
            pass


def _first_line(cell) -> str:
    lines = [line for line in cell.source.splitlines() if line.strip()]
    return lines[0].strip() if lines else ""


def execute_notebook(path: Path, timeout: int = 600, notebook: nbformat.NotebookNode | None = None) -> NotebookRun:
    """Run ``path`` (or ``notebook``, read from ``path`` when not given) top to bottom in a fresh kernel.

    The working directory is the notebook's folder. ``timeout`` bounds every cell, in seconds.

    Raises:
        NotebookCellTimeout: a cell did not finish within ``timeout`` (or the kernel died while it ran); the
            message names the notebook, the cell index and the cell's first line.
        nbclient.exceptions.CellExecutionError: a cell raised.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4) if notebook is None else notebook
    nb.cells.append(nbformat.v4.new_code_cell(FIGURES_CELL))
    nb.cells.append(nbformat.v4.new_code_cell(MEASURE_CELL))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    watch = _KernelWatch(timeout)

    def on_notebook_start(notebook):
        poll_in_short_slices(client)
        watch.start(client.km.provisioner.pid)

    client.on_notebook_start = on_notebook_start
    client.on_cell_execute = lambda cell, cell_index: watch.cell_started_now(cell_index)
    client.on_cell_executed = lambda cell, cell_index, execute_reply: watch.cell_finished()
    start = time.perf_counter()
    try:
        # The kernel chooses its matplotlib backend as under `make lab`: the Makefile's MPLBACKEND=Agg would put the
        # doctor's warning about it into the executed copy the course site shows.
        client.execute(env={name: value for name, value in os.environ.items() if name != "MPLBACKEND"})
    except (CellTimeoutError, DeadKernelError) as error:
        index = watch.killed_cell if watch.killed_cell is not None else watch.cell_index
        cell = nb.cells[index] if index is not None else None
        what = "did not finish" if isinstance(error, CellTimeoutError) or watch.killed_cell is not None else "lost its kernel"
        raise NotebookCellTimeout(
            f"{path.name}: cell {index} ({_first_line(cell)!r}) {what} within the runner's timeout of {timeout} s "
            f"({type(error).__name__}). Run the notebook in JupyterLab and look at that cell: a loop that does "
            "not end, a cell waiting for input, or a reply the kernel never sent (the cell's output is complete "
            "but the run waits)."
        ) from error
    finally:
        watch.stop()
    seconds = time.perf_counter() - start
    kernel_peak = int(_printed_after(nb.cells[-1], "MODLAYERS_PEAK_RSS"))
    figures = json.loads(_printed_after(nb.cells[-2], MARKER))
    return NotebookRun(nb, seconds, kernel_peak, max(watch.tree_peak, kernel_peak), watch.peak_processes, figures)


def _printed_after(cell, marker: str) -> str:
    text = "".join(out.get("text", "") for out in cell.outputs if out.get("output_type") == "stream")
    if marker not in text:
        raise AssertionError(f"the runner's last cells printed no {marker!r} line: {text[:300]!r} {cell.outputs[:1]}")
    return text.split(marker, 1)[1].strip().splitlines()[0]


BUSY_LOOP = "while True:\n    pass"


@contextmanager
def busy_processes(count: int = 2):
    """``count`` processes that each keep one core busy for as long as the ``with`` block runs.

    They stand for the other work on a shared machine (Binder, Colab's free tier, a laptop running other things).
    """
    started = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP], env={**os.environ, "PYTHONPATH": ""})
               for _ in range(count)]
    try:
        yield [process.pid for process in started]
    finally:
        for process in started:
            process.kill()
        for process in started:
            process.wait(timeout=10)
