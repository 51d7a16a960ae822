"""What grading writes for people: the score table and one summary per student.

- ``scores.csv``: a row per student and assignment, the points of every graded part, total, max, status,
  the file graded (or the one that could not be);
- ``feedback/<student>/summary.md``: points per assignment and part, the first line of each failure,
  the cells that were put back, the name of nbgrader's full log for each notebook, and every file that
  could not be graded, with why;
- ``summary.md``: for the instructor, the count per status, and every notebook not graded (unreadable,
  unreadable name, nbgrader error) and every renamed or left-out file, by student and file name.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Sequence
from pathlib import Path

__all__ = ["Score", "write_class_summary", "write_scores_csv", "write_student_summary"]


@dataclasses.dataclass
class Score:
    """One student's result on one assignment.

    Attributes:
        student, assignment: names (the submission folder and the notebook name).
        points: ``{part: points}`` for each graded check cell (its nbgrader ``grade_id``).
        total, max: the sum of ``points`` and the most there was to get.
        status: ``"graded"``; ``"missing"`` (no notebook submitted); ``"unreadable: <file>: <reason>"`` (the
            file is empty, cut short, not a notebook...); ``"unreadable name: <file>: <reason>"`` (nothing for
            this assignment, and a file whose name and cells match no assignment); ``"error: ..."`` (nbgrader
            or the grading of this notebook failed).
        messages: ``{part: first line of the failure}`` for the checks that failed.
        restored: the graded or read-only cells the student had deleted, put back before grading.
        log: nbgrader's full log for this notebook, relative to the output folder (``logs/<student>/<name>.log``).
        file: the submitted file's name (in the student's folder) that was graded or could not be read.
        note: how a file under another name was matched (``graded `a1_pooling (1).ipynb`, renamed from ...``).
    """

    student: str
    assignment: str
    points: dict[str, float]
    total: float
    max: float
    status: str = "graded"
    messages: dict[str, str] = dataclasses.field(default_factory=dict)
    restored: list[str] = dataclasses.field(default_factory=list)
    log: str = ""
    file: str = ""
    note: str = ""


def number(value: float) -> str:
    return f"{value:g}"


def write_scores_csv(scores: Sequence[Score], path: Path, maxima: dict[str, dict[str, float]]) -> None:
    """One row per student and assignment: ``student, assignment, <part...>, total, max, status, file, log``.

    The part columns are every assignment's graded cells (``grade_id``), in assignment order; a row
    fills those of its own assignment and leaves the others empty (all of them when nothing was graded).
    """
    questions = [question for name in maxima for question in maxima[name]]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "assignment", *questions, "total", "max", "status", "file", "log"])
        for score in scores:
            own = maxima.get(score.assignment, {})
            cells = []
            for question in questions:
                if question not in own or score.status != "graded":
                    cells.append("")
                else:
                    cells.append(number(score.points.get(question, 0.0)))
            writer.writerow([score.student, score.assignment, *cells, number(score.total), number(score.max), score.status,
                             score.file, score.log])


def write_student_summary(scores: Sequence[Score], path: Path, maxima: dict[str, dict[str, float]],
                          other_files: Sequence[str] = ()) -> None:
    """A short markdown report for one student: points per part, the first line of each failure, the log,
    why a file could not be graded, and ``other_files`` (one line each: files in the folder left out)."""
    if not scores:
        return
    lines = [f"# {scores[0].student}: assignment results", ""]
    lines += ["| assignment | points | status |", "| --- | --- | --- |"]
    for score in scores:
        lines.append(f"| {score.assignment} | {number(score.total)} / {number(score.max)} | {score.status} |")
    for score in scores:
        lines += ["", f"## {score.assignment}", ""]
        if score.status == "missing":
            lines.append(f"Not graded: missing (no `{score.assignment}.ipynb`).")
            continue
        if score.status.startswith("unreadable name"):
            lines.append(f"Not graded: there is no `{score.assignment}.ipynb`, and {_file_reason(score)}. Submit "
                         f"each notebook under its assignment's name, `{score.assignment}.ipynb`.")
            continue
        if score.status.startswith("unreadable"):
            lines.append(f"Not graded: {_file_reason(score)}. Download it again (File > Download > Download .ipynb), "
                         "open it to see that it is all there, and submit it again.")
            continue
        if score.status != "graded":
            lines.append(f"Not graded: {score.status}.")
        else:
            if score.note:
                lines += [f"Note: {score.note}; submit it as `{score.assignment}.ipynb` next time.", ""]
            for question, maximum in maxima.get(score.assignment, {}).items():
                got = score.points.get(question, 0.0)
                line = f"- `{question}`: {number(got)} / {number(maximum)}"
                if question in score.messages:
                    line += f" -- {score.messages[question]}"
                lines.append(line)
        if score.restored:
            lines += ["", "Cells you deleted were put back from the assignment before grading: "
                      + ", ".join(f"`{cell}`" for cell in score.restored) + "."]
        lines.append("")
        if score.status == "graded":
            lines.append(f"Full feedback, with your code and the checks' output: `{score.assignment}.html`.")
        if score.log:
            lines.append(f"If a message above is not enough, ask your instructor for nbgrader's full log of this notebook "
                         f"(`{score.log}` in their grading folder).")
    if other_files:
        lines += ["", "## Other files in your folder, not graded", ""] + [f"- {line}" for line in other_files]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _file_reason(score: Score) -> str:
    """``"`file` <reason>"`` from an ``unreadable...`` status (``"unreadable: <file>: <reason>"``)."""
    reason = score.status.split(": ", 1)[1]
    if score.file and reason.startswith(score.file + ": "):
        reason = reason[len(score.file) + 2:]
    return f"`{score.file}` could not be graded: {reason}"


def write_class_summary(scores: Sequence[Score], path: Path, other_files: dict[str, Sequence[str]],
                        skipped: Sequence[str] = ()) -> None:
    """The instructor's report: notebooks per status, then each one not graded and each file renamed or left out.

    Args:
        other_files: ``{student: [one line per file left out]}``.
        skipped: one line per notebook outside any student's folder.
    """
    kinds = {}
    for score in scores:
        kind = score.status.split(":", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    lines = ["# Grading summary", "", "| status | notebooks |", "| --- | --- |"]
    lines += [f"| {kind} | {count} |" for kind, count in sorted(kinds.items())]
    problems = [s for s in scores if s.status not in ("graded", "missing")]
    lines += ["", f"## Not graded ({len(problems)})", ""]
    if problems:
        lines += ["| student | assignment | file | why |", "| --- | --- | --- | --- |"]
        lines += [f"| {s.student} | {s.assignment} | {s.file} | {s.status} |" for s in problems]
    else:
        lines.append("Every submitted notebook was graded.")
    renamed = [s for s in scores if s.note]
    if renamed:
        lines += ["", f"## Graded under another name ({len(renamed)})", ""]
        lines += [f"- {s.student}/{s.assignment}: {s.note}" for s in renamed]
    left_out = [(student, line) for student, lines_ in sorted(other_files.items()) for line in lines_]
    if left_out or skipped:
        lines += ["", f"## Files left out ({len(left_out) + len(skipped)})", ""]
        lines += [f"- {student}: {line}" for student, line in left_out] + [f"- {line}" for line in skipped]
    missing = [s for s in scores if s.status == "missing"]
    if missing:
        lines += ["", f"## Missing ({len(missing)})", ""] + [f"- {s.student}/{s.assignment}" for s in missing]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
