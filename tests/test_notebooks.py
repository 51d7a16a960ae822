"""Every notebook under notebooks/ (not the assignments) runs top to bottom headless.

A notebook fails the suite when a cell raises, when a cell writes to stderr without
the cell tag ``warning-expected`` (warnings that are part of the lesson carry it),
or when the kernel's peak resident memory exceeds the Binder budget.
Run time and peak memory are printed (``pytest -s``); ``python benchmarks/notebooks.py``
prints them as a table.
"""

import inspect
import json
import time
from pathlib import Path
from queue import Empty

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
PEAK_MEMORY_BUDGET_BYTES = int(1.5 * 1024**3)  # Binder gives 2 GB; keep a margin.

MEASURE_CELL = (
    "import json as _json, resource as _resource\n"
    "print('MODLAYERS_PEAK_RSS', _json.dumps(_resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss * 1024))"
)


def poll_in_short_slices(client: NotebookClient, slice_seconds: float = 1.0) -> None:
    """Make the client's channel reads wake up at least every ``slice_seconds``.

    nbclient waits for a cell's reply with one long socket poll; after cells that open
    widget comms that poll sometimes misses the reply's wake-up and sleeps until the
    cell timeout before reading the message that was there all along (jupyter/nbclient
    issue 312). Polling in short slices reads it within a second.
    """
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


def execute_notebook(path: Path, timeout: int = 600) -> tuple[nbformat.NotebookNode, float, int]:
    """Run a notebook in a fresh kernel; return (executed notebook, seconds, peak RSS bytes)."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(MEASURE_CELL))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.on_notebook_start = lambda notebook: poll_in_short_slices(client)
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    last = "".join(out.get("text", "") for out in nb.cells[-1].outputs)
    peak = json.loads(last.split("MODLAYERS_PEAK_RSS", 1)[1])
    return nb, seconds, peak


def unexpected_stderr(nb: nbformat.NotebookNode) -> list[str]:
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "warning-expected" in cell.metadata.get("tags", []):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                found.append(f"cell {index}: {out.get('text', '')[:300]}")
    return found


def test_there_are_notebooks_to_run():
    assert NOTEBOOKS, f"no numbered notebooks found in {NOTEBOOKS_DIR}"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_headless_without_errors_within_memory_budget(path):
    nb, seconds, peak = execute_notebook(path)
    print(f"{path.name}: {seconds:.1f} s, peak RSS {peak / 2**20:.0f} MiB")
    assert not unexpected_stderr(nb), "\n".join(unexpected_stderr(nb))
    assert peak < PEAK_MEMORY_BUDGET_BYTES, f"{path.name} peaked at {peak / 2**20:.0f} MiB"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


def test_benchmark_table_script_exists_and_names_the_notebooks_it_knows():
    import subprocess
    import sys

    script = NOTEBOOKS_DIR.parent / "benchmarks" / "notebooks.py"
    result = subprocess.run([sys.executable, str(script), "zz"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "no notebook starts with ['zz']" in result.stderr
    assert NOTEBOOKS[0].name in result.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_check_cells_that_move_a_widget_put_it_back(path):
    """A check cell that sets a control's value runs inside ``values_restored``, so after Run All every
    widget still shows what the picture next to it shows."""
    nb = nbformat.read(path, as_version=4)
    moving = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and ".value =" in c.source]
    unrestored = [i for i in moving if "with values_restored(" not in nb.cells[i].source]
    assert not unrestored, f"{path.name}: cells {unrestored} move a widget without modlayers.widgets.values_restored"
