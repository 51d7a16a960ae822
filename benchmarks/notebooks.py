"""Run time and peak memory of every numbered notebook, run headless as the suite runs them.

    python benchmarks/notebooks.py               # every notebooks/NN_*.ipynb
    python benchmarks/notebooks.py 01 04         # only the notebooks whose names start with these
    python benchmarks/notebooks.py --busy 02     # each notebook idle, then again beside two busy processes

Each notebook runs top to bottom in a fresh kernel (``tests/notebook_runner.py``); the time is the wall time of
the whole run, kernel start included. Two peaks: the kernel's own resident set, and the largest sum of resident
sets over the kernel and every process it starts (notebook 05's ``torchrun`` ranks), which is what the budget
covers (Binder's limit covers the whole container). With ``--busy`` each notebook runs a second time while two
processes keep the cores busy, and the figures it states (``modlayers.lessons.stated_figures``) are compared with the
idle run's. Prints a Markdown table for ``benchmarks/README.md`` with the budget of each column and the
machine's load, since a busy machine stretches the times (not the memory). Exits 1 when a notebook fails,
misses a budget, or states other figures under load.
"""

import argparse
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

try:
    from notebook_runner import busy_processes, execute_notebook  # noqa: E402
    from test_notebooks import NOTEBOOKS, PEAK_MEMORY_BUDGET_BYTES  # noqa: E402
except ModuleNotFoundError as missing:  # pytest, nbclient: the test tools, which `make install` leaves out
    sys.exit(f"error: benchmarks/notebooks.py runs the notebooks as the test suite does and needs its tools, but "
             f"{missing.name} is not installed; run `make bench-notebooks` (it installs them first).")

from modlayers.lessons.stated_figures import compare_runs  # noqa: E402

TIME_BUDGET_S = 120  # each notebook, on an otherwise idle 2-core machine
MIB = 2**20


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def run_row(path: Path, busy: bool) -> tuple[str, bool]:
    """One table row for ``path`` and whether it is within every budget."""
    try:
        idle = execute_notebook(path)
    except Exception as error:  # report every notebook, then fail
        return f"| `{path.stem}` | failed: {type(error).__name__} | | | |" + (" | |" if busy else ""), False
    within = idle.seconds <= TIME_BUDGET_S and idle.tree_peak_bytes <= PEAK_MEMORY_BUDGET_BYTES
    print(f"{path.name}: {idle.seconds:.1f} s, peak RSS {idle.kernel_peak_bytes / MIB:.0f} MiB kernel, "
          f"{idle.tree_peak_bytes / MIB:.0f} MiB with its children ({idle.peak_processes} processes at most)", file=sys.stderr)
    row = (f"| `{path.stem}` | {idle.seconds:.0f} | {idle.kernel_peak_bytes / MIB:.0f} | "
           f"{idle.tree_peak_bytes / MIB:.0f} | {'yes' if within else 'NO'} |")
    if busy:
        with busy_processes(2):
            loaded = execute_notebook(path)
        differences = compare_runs(idle.figures, loaded.figures)
        for line in differences:
            print(f"{path.name} under load: {line}", file=sys.stderr)
        print(f"{path.name} beside two busy processes: {loaded.seconds:.1f} s, "
              f"{loaded.tree_peak_bytes / MIB:.0f} MiB with its children", file=sys.stderr)
        same = "no figure stated" if not idle.figures else ("yes" if not differences else f"NO ({len(differences)})")
        row += f" {loaded.seconds:.0f} | {same} |"
        within &= not differences
    return row, within


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="notebook name prefixes, e.g. 01 04 (default: all)")
    parser.add_argument("--busy", action="store_true",
                        help="run each notebook again beside two busy processes and compare the figures it states")
    args = parser.parse_args(argv)
    chosen = [p for p in NOTEBOOKS if not args.prefixes or any(p.name.startswith(x) for x in args.prefixes)]
    if not chosen:
        parser.error(f"no notebook starts with {args.prefixes}; there are {[p.name for p in NOTEBOOKS]}")
    os.environ.setdefault("MPLBACKEND", "Agg")
    load_before = load_average()
    rows, all_within = [], True
    for path in chosen:
        row, within = run_row(path, args.busy)
        rows.append(row)
        all_within &= within
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"load average {load_before:.1f} before, {load_average():.1f} after")
    print()
    busy_columns = " wall time beside 2 busy processes (s) | same figures |" if args.busy else ""
    print(f"| notebook | wall time (s, budget {TIME_BUDGET_S}) | peak RSS, kernel (MiB) | peak RSS with its children "
          f"(MiB, budget {PEAK_MEMORY_BUDGET_BYTES / MIB:.0f}) | within budget |{busy_columns}")
    print("| --- | ---: | ---: | ---: | --- |" + (" ---: | --- |" if args.busy else ""))
    print("\n".join(rows))
    return 0 if all_within else 1


if __name__ == "__main__":
    sys.exit(main())
