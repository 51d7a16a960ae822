"""Submitted notebooks: finding each student's notebook for each assignment, reading it, and putting back
the graded cells a student deleted.

Students hand in what their browser saved: ``a1_pooling (1).ipynb`` (a second download), ``A2_Spans.ipynb``,
``Copy of a3_token_loss.ipynb`` (Colab), a file cut short by a failed upload, an empty one.
:func:`find_submissions` matches each file to its assignment by name (the exact name first, then the name
with case, separators, copy markers and duplicate numbers ignored), else by the nbgrader cells it holds,
and reads each one (:func:`read_submission`), so that every file that cannot be graded is reported by its
name and the reason, and every other one is graded.

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
    >>> assignment_for_name("A1_Pooling (1).ipynb", ["a1_pooling", "a2_spans"])
    'a1_pooling'
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import nbformat

__all__ = ["StudentFiles", "UnreadableSubmission", "assignment_for_name", "find_submissions", "read_submission",
           "restore_deleted_cells"]


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


# ---------------------------------------------------------------- reading one file


class UnreadableSubmission(ValueError):
    """A submitted file is not a notebook nbgrader can read; the message says why, in one line."""


def read_submission(path: Path) -> nbformat.NotebookNode:
    """The notebook in ``path``, as nbformat 4, or :class:`UnreadableSubmission` saying why it is none.

    Raises:
        UnreadableSubmission: the file is empty, not UTF-8 text, not JSON (cut short or damaged: the line
            and column), JSON that is no notebook (``{}``, a list), or a notebook nbformat cannot convert.
    """
    raw = Path(path).read_bytes()
    if not raw.strip():
        raise UnreadableSubmission(f"empty file ({len(raw)} bytes): the download or upload did not finish")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UnreadableSubmission(f"not a text file (byte {error.start} is not UTF-8): a notebook is JSON text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        if _cut_short(text, error):
            raise UnreadableSubmission(f"not valid JSON: it ends after {len(raw)} bytes, cut short (an unfinished "
                                       "download or upload)") from None
        raise UnreadableSubmission(f"not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or "nbformat" not in data:
        what = f"a JSON {type(data).__name__}" if not isinstance(data, dict) else (
            "an empty JSON object ({})" if not data else f"a JSON object with keys {sorted(data)[:6]}")
        raise UnreadableSubmission(f"not a notebook: {what}, where a notebook has 'cells' and 'nbformat'")
    bad = [index for index, cell in enumerate(data["cells"]) if not isinstance(cell, dict) or "cell_type" not in cell]
    if bad:
        raise UnreadableSubmission(f"not a notebook: cell {bad[0]} has no 'cell_type'")
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat raises ValidationError, KeyError, AttributeError...
        first = (getattr(error, "message", None) or str(error) or type(error).__name__).strip().splitlines()[0]
        raise UnreadableSubmission(f"not a notebook nbformat can read: {first}") from None


_PARTIAL_LITERAL = re.compile(r"[-+0-9.eE]*|t(r(ue?)?)?|f(a(l(se?)?)?)?|n(u(ll?)?)?")


def _cut_short(text: str, error: json.JSONDecodeError) -> bool:
    """Whether JSON failed only because the text stops: nothing after the error but the start of one value.

    A string left open runs to the end (``Unterminated string``, or a ``\\u`` escape cut in half); a number or
    ``true``/``false``/``null`` cut in half is all that is left after the error.
    """
    rest = text[error.pos:].rstrip()
    if error.msg.startswith("Unterminated string") or (error.msg.startswith("Invalid \\uXXXX") and '"' not in rest):
        return True
    return _PARTIAL_LITERAL.fullmatch(rest) is not None


# ---------------------------------------------------------------- matching files to assignments

_DUPLICATE = re.compile(r"(\s*[(\[]\d+[)\]]|\s*-\s*copy(\s*\d+)?|\s+copy(\s*\d+)?)$")  # " (1)", " - Copy", " copy 2"
_COPY_OF = re.compile(r"^(copy of\s+)+")  # Colab's "Copy of ..."


def _key(stem: str) -> str:
    key = _COPY_OF.sub("", stem.strip().lower())
    while _DUPLICATE.search(key):
        key = _DUPLICATE.sub("", key)
    return re.sub(r"[\s\-.]+", "_", key).strip("_")


def assignment_for_name(file_name: str, names: Sequence[str]) -> str | None:
    """The assignment a submitted file's name stands for, or None.

    The exact name (``a1_pooling.ipynb``) first; then the name with its case, spaces, hyphens, a browser's
    duplicate number (`` (1)``), Colab's ``Copy of`` and a ``copy`` suffix ignored; then a name that holds
    exactly one assignment's name (``alice_a1_pooling_final.ipynb``).
    """
    stem = file_name[: -len(".ipynb")] if file_name.lower().endswith(".ipynb") else file_name
    if stem in names:
        return stem
    key = _key(stem)
    by_key = {_key(name): name for name in names}
    if key in by_key:
        return by_key[key]
    inside = [name for k, name in by_key.items() if k in key]
    return inside[0] if len(inside) == 1 else None


def assignment_for_cells(notebook: nbformat.NotebookNode, grade_ids: Mapping[str, set[str]]) -> str | None:
    """The one assignment whose nbgrader cells (``grade_ids[name]``) the notebook holds most of, or None."""
    present = {_grade_id(cell) for cell in notebook.cells} - {None}
    overlap = {name: len(present & ids) for name, ids in grade_ids.items()}
    best = max(overlap.values(), default=0)
    winners = [name for name, count in overlap.items() if count == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


@dataclasses.dataclass
class StudentFiles:
    """What one student's folder holds, per assignment.

    Attributes:
        student: the folder's name.
        graded: ``{assignment: path}`` of the notebook to grade.
        unreadable: ``{assignment: (file name, reason)}``: the file for that assignment cannot be read.
        renamed: ``{assignment: how}``: the graded file had another name (how it was matched, one line).
        unmatched: ``(file name, reason)`` of the files whose name and cells match no assignment.
        ignored: one line per other file left out (a second copy, not a notebook, a sub-folder).
    """

    student: str
    graded: dict[str, Path] = dataclasses.field(default_factory=dict)
    unreadable: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    renamed: dict[str, str] = dataclasses.field(default_factory=dict)
    unmatched: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    ignored: list[str] = dataclasses.field(default_factory=list)


_EXPORTS = {".py": "a Python script, as File > Download > Download .py writes it",
            ".html": "a web page of the notebook, as File > Print or Export > HTML writes it",
            ".pdf": "a PDF of the notebook"}


def _without_suffixes(file_name: str) -> str:
    """``a1_pooling.ipynb.txt`` -> ``a1_pooling``: the name before any extension a browser or an export added."""
    stem = file_name
    while "." in stem and re.fullmatch(r"[A-Za-z0-9]{1,5}", stem.rsplit(".", 1)[1]):
        stem = stem.rsplit(".", 1)[0]
    return stem


def _student_files(folder: Path, names: Sequence[str], grade_ids: Mapping[str, set[str]]) -> StudentFiles:
    result = StudentFiles(folder.name)
    candidates: dict[str, list[tuple[int, Path, str | None, str]]] = {}  # name -> [(rank, path, reason, how)]
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir():
            result.ignored.append(f"`{path.name}/`: a folder; notebooks go directly in the student's folder")
            continue
        exported = path.suffix.lower() != ".ipynb"
        if exported:  # `a1_pooling.ipynb.txt`, `a1_pooling.json`, `a1_pooling.py`: an assignment's file, saved otherwise
            name = assignment_for_name(_without_suffixes(path.name), names)
            if name is None:
                result.ignored.append(f"`{path.name}`: not a notebook (.ipynb)")
                continue
        try:
            notebook, reason = read_submission(path), None
        except UnreadableSubmission as error:
            notebook, reason = None, str(error)
        if exported:
            rank = 1
            how = f"graded `{path.name}`, a notebook saved as `{path.suffix}` instead of `{name}.ipynb`"
            if reason is not None:
                reason = (f"saved as `{path.suffix}`, not as the notebook `{name}.ipynb` ({_EXPORTS.get(path.suffix.lower(), reason)}): "
                          "download the notebook itself, File > Download > Download .ipynb")
            candidates.setdefault(name, []).append((rank if reason is None else 3 + rank, path, reason, how))
            continue
        name = assignment_for_name(path.name, names)
        if name == path.stem:
            rank, how = 0, ""
        elif name is not None:
            rank, how = 1, f"graded `{path.name}`, renamed from `{name}.ipynb`"
        else:
            name = assignment_for_cells(notebook, grade_ids) if notebook is not None else None
            rank, how = 2, f"graded `{path.name}`: its name is no assignment's, its cells are `{name}`'s"
        if name is None:
            expected = ", ".join(f"{n}.ipynb" for n in names)
            why = f"its name is no assignment's (expected one of {expected})"
            result.unmatched.append((path.name, why + (f"; and it is unreadable: {reason}" if reason else "")))
            continue
        candidates.setdefault(name, []).append((rank if reason is None else 3 + rank, path, reason, how))
    for name, found in candidates.items():
        found.sort(key=lambda item: (item[0], -item[1].stat().st_mtime, item[1].name))
        rank, path, reason, how = found[0]
        if reason is None:
            result.graded[name] = path
            if how:
                result.renamed[name] = how
        else:
            result.unreadable[name] = (path.name, reason)
        for _, other, other_reason, _ in found[1:]:
            state = f"unreadable: {other_reason}" if other_reason else "a second notebook for it"
            result.ignored.append(f"`{other.name}`: not graded, `{path.name}` was taken for {name} ({state})")
    return result


def find_submissions(
    submissions_dir: Path, names: Sequence[str], grade_ids: Mapping[str, set[str]] | None = None
) -> tuple[list[StudentFiles], list[str]]:
    """Each student's notebooks, matched to the assignments and read, and the files outside any student's folder.

    Expected layout: ``submissions_dir/<student>/<assignment>.ipynb``; other names are matched as
    :func:`assignment_for_name` says, else by their cells (``grade_ids``: ``{assignment: its nbgrader
    grade ids}``). When several files match one assignment, a readable file wins over an unreadable one,
    then the exact name over another, then the newest; the others are listed in :attr:`StudentFiles.ignored`.

    Returns:
        One :class:`StudentFiles` per student folder (sorted), and one line per notebook lying directly in
        ``submissions_dir``.

    Raises:
        FileNotFoundError: ``submissions_dir`` does not exist.
        ValueError: it holds no student folder.
    """
    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"submissions folder {submissions_dir} does not exist.")
    students = sorted(p for p in submissions_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise ValueError(
            f"{submissions_dir} holds no student folder. Lay the submissions out as "
            f"{submissions_dir}/<student>/<assignment>.ipynb, e.g. {submissions_dir}/alice/{names[0]}.ipynb."
        )
    folders = [_student_files(folder, names, grade_ids or {}) for folder in students]
    skipped = [f"{path}: notebooks go in a folder per student, {submissions_dir}/<student>/{path.name}"
               for path in sorted(submissions_dir.glob("*.ipynb"))]
    return folders, skipped
