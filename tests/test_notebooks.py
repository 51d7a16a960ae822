"""Every notebook under notebooks/ (not the assignments) runs top to bottom headless.

A notebook fails the suite when a cell raises, when a cell waits past the runner's timeout (the failure names
the notebook, the cell and its first line), when a cell writes to stderr without the cell tag
``warning-expected`` (warnings that are part of the lesson carry it), or when its peak memory, counting the
kernel and every process it starts, exceeds the Binder budget. The longest notebook runs a second time while
two busy processes compete for the cores, and must state the same figures. Run time and peak memory are
printed (``pytest -s``); ``python benchmarks/notebooks.py`` prints them as a table.
The runner itself is ``tests/notebook_runner.py``.
"""

from pathlib import Path

import nbformat
import pytest
from notebook_runner import (  # noqa: F401  (MEASURE_CELL: tests/test_assignments.py measures with it too)
    MEASURE_CELL,
    busy_processes,
    execute_notebook,
)

from modlayers.stated_figures import compare_runs

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
PEAK_MEMORY_BUDGET_BYTES = int(1.5 * 1024**3)  # Binder gives 2 GB; keep a margin.
LONGEST_NOTEBOOK = "02_question_answering_span_logits.ipynb"
IDLE_FIGURES: dict[str, dict] = {}  # figures of each notebook's run in this session, for the run under load


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


def memory_line(name: str, run) -> str:
    return (f"{name}: {run.seconds:.1f} s, peak RSS {run.kernel_peak_bytes / 2**20:.0f} MiB kernel, "
            f"{run.tree_peak_bytes / 2**20:.0f} MiB with its children ({run.peak_processes} processes at most)")


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_headless_without_errors_within_memory_budget(path):
    run = execute_notebook(path)
    IDLE_FIGURES[path.name] = run.figures
    print(memory_line(path.name, run))
    assert not unexpected_stderr(run.notebook), "\n".join(unexpected_stderr(run.notebook))
    assert run.tree_peak_bytes < PEAK_MEMORY_BUDGET_BYTES, (
        f"{path.name} peaked at {run.tree_peak_bytes / 2**20:.0f} MiB counting the kernel and the processes it "
        f"started (the kernel alone: {run.kernel_peak_bytes / 2**20:.0f} MiB)")


@pytest.mark.notebook
def test_longest_notebook_states_the_same_figures_while_two_busy_processes_compete_for_the_cores():
    """Only steps, seeds and data decide a stated figure; a busy machine changes the time, never the figure."""
    path = NOTEBOOKS_DIR / LONGEST_NOTEBOOK
    idle = IDLE_FIGURES.get(path.name)
    if idle is None:  # run alone: the parametrized test did not run it in this session
        idle = execute_notebook(path).figures
    assert idle, (f"{path.name} states no figure through modlayers.stated_figures.check_figure, so there is "
                  "nothing to compare between an idle and a busy run")
    with busy_processes(2):
        busy = execute_notebook(path)
    print(memory_line(f"{path.name} under two busy processes", busy))
    assert not compare_runs(idle, busy.figures), "\n".join(compare_runs(idle, busy.figures))


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
