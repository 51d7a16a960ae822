"""What grading writes for people: the score table and one summary per student.

- ``scores.csv``: a row per student and assignment, the points of every graded part, total, max, status;
- ``feedback/<student>/summary.md``: points per assignment and part, the first line of each failure,
  the cells that were put back, and the name of nbgrader's full log for each notebook.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Sequence
from pathlib import Path

__all__ = ["Score", "write_scores_csv", "write_student_summary"]


@dataclasses.dataclass
class Score:
    """One student's result on one assignment.

    Attributes:
        student, assignment: names (the submission folder and the notebook name).
        points: ``{part: points}`` for each graded check cell (its nbgrader ``grade_id``).
        total, max: the sum of ``points`` and the most there was to get.
        status: ``"graded"``, ``"missing"`` (no notebook submitted) or ``"error: ..."`` (nbgrader failed).
        messages: ``{part: first line of the failure}`` for the checks that failed.
        restored: the graded or read-only cells the student had deleted, put back before grading.
        log: nbgrader's full log for this notebook, relative to the output folder (``logs/<student>/<name>.log``).
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


def number(value: float) -> str:
    return f"{value:g}"


def write_scores_csv(scores: Sequence[Score], path: Path, maxima: dict[str, dict[str, float]]) -> None:
    """One row per student and assignment: ``student, assignment, <part...>, total, max, status, log``.

    The part columns are every assignment's graded cells (``grade_id``), in assignment order; a row
    fills those of its own assignment and leaves the others empty (all of them when nothing was graded).
    """
    questions = [question for name in maxima for question in maxima[name]]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "assignment", *questions, "total", "max", "status", "log"])
        for score in scores:
            own = maxima.get(score.assignment, {})
            cells = []
            for question in questions:
                if question not in own or score.status != "graded":
                    cells.append("")
                else:
                    cells.append(number(score.points.get(question, 0.0)))
            writer.writerow([score.student, score.assignment, *cells, number(score.total), number(score.max), score.status, score.log])


def write_student_summary(scores: Sequence[Score], path: Path, maxima: dict[str, dict[str, float]]) -> None:
    """A short markdown report for one student: points per part, the first line of each failure, the log."""
    if not scores:
        return
    lines = [f"# {scores[0].student}: assignment results", ""]
    lines += ["| assignment | points | status |", "| --- | --- | --- |"]
    for score in scores:
        lines.append(f"| {score.assignment} | {number(score.total)} / {number(score.max)} | {score.status} |")
    for score in scores:
        lines += ["", f"## {score.assignment}", ""]
        if score.status == "missing":
            lines.append("Not graded: missing.")
            continue
        if score.status != "graded":
            lines.append(f"Not graded: {score.status}.")
        else:
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
            lines.append(f"nbgrader's full log for this notebook: `{score.log}` (in the grading folder).")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
