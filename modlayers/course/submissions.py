"""Submitted notebooks: where they are, and putting back the graded cells a student deleted.

nbgrader's ``autograde`` restores the source of the graded and read-only cells that a submission
still has (matched by ``grade_id``), but a cell the student *deleted* is simply gone, and its points
with it. :func:`restore_deleted_cells` puts every such cell back, from the released notebook, at its
place (after the nearest cell before it that is still there), before nbgrader sees the submission.

Example:
    >>> import nbformat
    >>> released = nbformat.v4.new_notebook(cells=[
    ...     nbformat.v4.new_code_cell("def f(): ...", metadata={"nbgrader": {"grade_id": "f", "solution": True}}),
    ...     nbformat.v4.new_code_cell("check(f)", metadata={"nbgrader": {"grade_id": "check-f", "grade": True, "points": 1}})])
    >>> submitted = nbformat.v4.new_notebook(cells=[released.cells[0]])
    >>> restore_deleted_cells(submitted, released)
    ['check-f']
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import nbformat

__all__ = ["find_submissions", "restore_deleted_cells"]


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _restorable(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade") or meta.get("locked"))


def restore_deleted_cells(submitted: nbformat.NotebookNode, released: nbformat.NotebookNode) -> list[str]:
    """Insert into ``submitted`` (in place) the graded and read-only cells of ``released`` that it lacks.

    A cell counts as present when a cell with its nbgrader ``grade_id`` is there (nbgrader then restores
    its source itself). A missing one is copied from ``released`` and put after the nearest earlier
    released cell that ``submitted`` has, or first.

    Returns:
        The ``grade_id`` s put back, in notebook order.
    """
    present = {_grade_id(cell) for cell in submitted.cells} - {None}
    restored = []
    for index, cell in enumerate(released.cells):
        grade_id = _grade_id(cell)
        if grade_id is None or grade_id in present or not _restorable(cell):
            continue
        earlier = [_grade_id(c) for c in released.cells[:index] if _grade_id(c) in present]
        position = 0
        if earlier:
            position = 1 + next(i for i, c in enumerate(submitted.cells) if _grade_id(c) == earlier[-1])
        new = copy.deepcopy(cell)
        if new.cell_type == "code":
            new.outputs, new.execution_count = [], None
        submitted.cells.insert(position, new)
        present.add(grade_id)
        restored.append(grade_id)
    return restored


def find_submissions(submissions_dir: Path, names: Sequence[str]) -> tuple[dict[tuple[str, str], Path], list[str]]:
    """The submitted notebooks, ``{(student, assignment): path}``, and what was skipped (with why).

    Expected layout: ``submissions_dir/<student>/<assignment>.ipynb``.

    Raises:
        FileNotFoundError: ``submissions_dir`` does not exist.
        ValueError: it holds no student folder.
    """
    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"submissions folder {submissions_dir} does not exist.")
    found, skipped = {}, []
    students = sorted(p for p in submissions_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise ValueError(
            f"{submissions_dir} holds no student folder. Lay the submissions out as "
            f"{submissions_dir}/<student>/<assignment>.ipynb, e.g. {submissions_dir}/alice/{names[0]}.ipynb."
        )
    for student in students:
        for path in sorted(student.glob("*.ipynb")):
            if path.stem in names:
                found[(student.name, path.stem)] = path
            else:
                skipped.append(f"{path}: not an assignment name (expected one of {list(names)})")
    for path in sorted(submissions_dir.glob("*.ipynb")):
        skipped.append(f"{path}: notebooks go in a folder per student, {submissions_dir}/<student>/{path.name}")
    return found, skipped
