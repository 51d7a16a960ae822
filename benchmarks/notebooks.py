"""Run time and peak memory of every numbered notebook, run headless as the suite runs them.

    python benchmarks/notebooks.py               # every notebooks/NN_*.ipynb
    python benchmarks/notebooks.py 01 04         # only the notebooks whose names start with these

Each notebook runs top to bottom in a fresh kernel (``tests/test_notebooks.py``'s runner); the time is
the wall time of the whole run, kernel start included, and the peak is the kernel's maximum resident
set size. Prints a Markdown table for ``benchmarks/README.md`` with the budget of each column and
the machine's load, since a busy machine stretches the times (not the memory). Exits 1 when a notebook
fails or misses a budget.
"""

import argparse
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_notebooks import NOTEBOOKS, PEAK_MEMORY_BUDGET_BYTES, execute_notebook  # noqa: E402

TIME_BUDGET_S = 120  # each notebook, on an otherwise idle 2-core machine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="notebook name prefixes, e.g. 01 04 (default: all)")
    args = parser.parse_args(argv)
    chosen = [p for p in NOTEBOOKS if not args.prefixes or any(p.name.startswith(x) for x in args.prefixes)]
    if not chosen:
        parser.error(f"no notebook starts with {args.prefixes}; there are {[p.name for p in NOTEBOOKS]}")
    os.environ.setdefault("MPLBACKEND", "Agg")
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows, missed = [], False
    for path in chosen:
        try:
            _, seconds, peak = execute_notebook(path)
        except Exception as error:  # report every notebook, then fail
            rows.append(f"| `{path.stem}` | failed: {type(error).__name__} | | |")
            missed = True
            continue
        within = seconds <= TIME_BUDGET_S and peak <= PEAK_MEMORY_BUDGET_BYTES
        missed |= not within
        rows.append(f"| `{path.stem}` | {seconds:.0f} | {peak / 2**20:.0f} | {'yes' if within else 'NO'} |")
        print(f"{path.name}: {seconds:.1f} s, peak RSS {peak / 2**20:.0f} MiB", file=sys.stderr)
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"load average {load_before:.1f} before, {load_after:.1f} after")
    print()
    print(f"| notebook | wall time (s, budget {TIME_BUDGET_S}) | peak RSS (MiB, budget "
          f"{PEAK_MEMORY_BUDGET_BYTES / 2**20:.0f}) | within budget |")
    print("| --- | ---: | ---: | --- |")
    print("\n".join(rows))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
