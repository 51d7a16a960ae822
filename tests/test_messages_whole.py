"""No notebook shows an error message cut short: a message's fix is at its end (issue: notebook 05 printed the
DDP error up to "... Fix it e")."""

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted(
    (ROOT / "notebooks" / "assignments").glob("*/*.ipynb"))
# `error[:400]`, `failed["error"][:400]`, `str(err)[:80]`, `result.stderr[:300]`: a message sliced to a length
CUT_SHORT = re.compile(r"""(error|err|message|stderr|warning)\w*["']?\]?\)?\[\s*:\s*\d+\s*\]""", re.IGNORECASE)


def test_the_pattern_finds_the_cut_that_notebook_05_had():
    assert CUT_SHORT.search('print(RUNS[-1], "->", failed["error"][:400])')
    assert CUT_SHORT.search("print(str(error)[:80])")
    assert not CUT_SHORT.search('print(tokenizer.convert_ids_to_tokens(ids)[:24], "...")')


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_notebook_prints_a_message_cut_short(path):
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            match = CUT_SHORT.search(cell.source)
            assert match is None, f"{path.name} cell {index} cuts a message short: {match.group(0)!r}; print it whole"
