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

from modlayers.course.site import save_executed
from modlayers.lessons.stated_figures import compare_runs

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
    save_executed(run.notebook, path)  # the course site shows this run's outputs (docs/site.md)


@pytest.mark.notebook
def test_longest_notebook_states_the_same_figures_while_two_busy_processes_compete_for_the_cores():
    """Only steps, seeds and data decide a stated figure; a busy machine changes the time, never the figure."""
    path = NOTEBOOKS_DIR / LONGEST_NOTEBOOK
    idle = IDLE_FIGURES.get(path.name)
    if idle is None:  # run alone: the parametrized test did not run it in this session
        idle = execute_notebook(path).figures
    assert idle, (f"{path.name} states no figure through modlayers.lessons.stated_figures.check_figure, so there is "
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
    assert not unrestored, f"{path.name}: cells {unrestored} move a widget without modlayers.lessons.widgets.values_restored"


# ---------------------------------------------------------------- no clock decides what a notebook computes

CLOCK_CALLS = {"time", "perf_counter", "monotonic", "process_time", "time_ns", "perf_counter_ns", "monotonic_ns",
               "now", "utcnow", "default_timer"}  # time.*, datetime.now, timeit.default_timer
WALL_TIME_REPORTERS = {"print", "display", "Markdown", "format", "str", "round", "float", "int", "abs"}


def clock_decisions(*sources: str) -> list[str]:
    """Lines of a notebook's code where a clock decides what is computed; printing a wall time is allowed.

    Flagged: a clock call (``time.perf_counter()``, ``time.time()``, ``datetime.now()``, ...) or a value derived
    from one inside an ``if``/``while``/``assert`` test, a comparison, or an argument of a call other than
    printing; any keyword ``max_seconds=``/``*_seconds=``; any name ending in ``SECONDS``; ``%timeit`` without
    ``-n`` (it picks its number of loops from a clock).
    """
    import ast
    import re

    found, trees = [], []
    for source in sources:  # the cells of one notebook: one namespace, like the kernel's
        lines = source.splitlines()
        found += [f"{line.strip()}  (%timeit picks its loop count from a clock; give -n)" for line in lines
                  if re.match(r"\s*%%?timeit\b", line) and not re.search(r"\s-n\s*\d", line)]
        if source.lstrip().startswith("%%"):
            continue  # a cell magic: the cell is not Python
        # IPython's line magics and shell escapes become `pass` at the same indentation
        code = "\n".join(re.sub(r"^(\s*)[%!].*", r"\1pass", line) for line in lines)
        trees.append((code, ast.parse(code)))

    def is_clock_call(node):
        return isinstance(node, ast.Call) and (
            (isinstance(node.func, ast.Attribute) and node.func.attr in CLOCK_CALLS)
            or (isinstance(node.func, ast.Name) and node.func.id in CLOCK_CALLS - {"time", "now"})
        )

    tainted: set[str] = set()  # names that hold a clock reading or something computed from one

    def reads_clock(node):
        return any(is_clock_call(n) or (isinstance(n, ast.Name) and n.id in tainted) for n in ast.walk(node))

    def flag(node, why):
        found.append(f"{ast.get_source_segment(code, node) or ast.dump(node)[:80]}  ({why})")

    for _ in range(2):  # twice, so that a name tainted further down counts above too (loops)
        for code, tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and node.value is not None:
                    if reads_clock(node.value):
                        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                        tainted |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    for code, node in ((code, node) for code, tree in trees for node in ast.walk(tree)):
        if isinstance(node, ast.Name) and node.id.upper().endswith("SECONDS") and node.id.isupper():
            flag(node, "a time budget")
        elif isinstance(node, ast.keyword) and node.arg and (node.arg == "max_seconds" or node.arg.endswith("_seconds")):
            flag(node, "a time budget passed on")
        elif isinstance(node, (ast.If, ast.While, ast.IfExp, ast.Assert)) and reads_clock(node.test):
            flag(node.test, "a clock in a condition")
        elif isinstance(node, ast.Compare) and reads_clock(node):
            flag(node, "a clock compared")
        elif isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in WALL_TIME_REPORTERS):
            arguments = list(node.args) + [k.value for k in node.keywords]
            if not is_clock_call(node) and any(reads_clock(a) for a in arguments if not isinstance(a, ast.JoinedStr)):
                flag(node, "a clock passed to a call")
    return sorted(set(found))


@pytest.mark.parametrize(
    "source, decides",
    [
        ("start = time.perf_counter()\nrun()\nprint(f'{time.perf_counter() - start:.1f} s')", False),
        ("t0 = time.time()\nelapsed = time.time() - t0\nprint('took', round(elapsed, 1), 's')", False),
        ("%timeit -n 3 -r 2 f()", False),
        ("timeout_guard = run(cmd, timeout=300)", False),
        ("while time.perf_counter() - start < 5:\n    step()", True),
        ("start = time.time()\nfor batch in data:\n    if time.time() - start > budget:\n        break", True),
        ("PRETRAINED_SECONDS = 240\nrun = finetune(steps=80)", True),
        ("run = finetune(steps=80, max_seconds=240)", True),
        ("deadline = time.monotonic() + 60\nrun = finetune(steps=80, stop_at=deadline)", True),
        ("steps = int(budget / (time.perf_counter() - t0))\nrun = finetune(steps=steps)", True),
        ("if ready:\n    %time run()\n!ls", False),
        ("%timeit f()", True),
    ],
)
def test_clock_decisions_flags_a_clock_that_decides_and_allows_printing_one(source, decides):
    assert bool(clock_decisions(source)) == decides, clock_decisions(source)


ALL_NOTEBOOKS = NOTEBOOKS + sorted((NOTEBOOKS_DIR / "assignments").glob("**/*.ipynb"))


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=[str(p.relative_to(NOTEBOOKS_DIR)) for p in ALL_NOTEBOOKS])
def test_no_notebook_reads_a_clock_to_decide_what_to_compute(path):
    """Steps, seeds and data decide every figure a notebook states; wall time is printed, never used to stop,
    to size a run or to pass a check, so the figures are the same on a busy machine as on an idle one."""
    nb = nbformat.read(path, as_version=4)
    decisions = clock_decisions(*(c.source for c in nb.cells if c.cell_type == "code"))
    assert not decisions, f"{path.name}: a clock decides what is computed; use a fixed number of steps:\n" + "\n".join(decisions)
