"""Course assignments: generate the student notebooks and grade submissions, with nbgrader.

The assignments live in ``notebooks/assignments/``:

- ``solutions/<name>.ipynb`` -- the instructor notebooks: solutions between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION``, hidden tests between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``,
  and nbgrader metadata on the cells (answer cells, graded check cells with points, read-only cells);
- ``student/<name>.ipynb`` -- the student versions, generated from the solutions by nbgrader's
  ``generate_assignment`` and committed, so that students open them from the repository or Colab.

Both commands build a throw-away nbgrader course directory (``source/<name>/<name>.ipynb``, a SQLite
gradebook, no server) and run nbgrader in it:

``generate``
    ``generate_assignment`` for every solution notebook; the released notebooks are copied to
    ``student/``.
``grade SUBMISSIONS --out OUT``
    ``SUBMISSIONS/<student>/<name>.ipynb`` (one folder per student, the notebooks under the names they
    were released with) are autograded: the read-only cells and the check cells are restored from the
    solutions, hidden tests included, and every notebook runs in a fresh kernel. Writes
    ``OUT/scores.csv`` (a row per student and assignment: points per question, total, max),
    ``OUT/feedback/<student>/<name>.html`` (nbgrader's feedback), ``OUT/feedback/<student>/summary.md``
    (the points and the first line of every failed check), and the executed notebooks in
    ``OUT/autograded/``.

nbgrader is an instructor tool (``pip install -e ".[instructor]"``); students never need it. Autograding
runs the students' code on your machine, as nbgrader always does.

Command line::

    python -m modlayers.grading generate [--out notebooks/assignments/student]
    python -m modlayers.grading grade SUBMISSIONS --out OUT [--timeout 120] [--course-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import nbformat

ASSIGNMENTS_DIR = Path(__file__).resolve().parent.parent / "notebooks" / "assignments"
SOLUTIONS_DIR = ASSIGNMENTS_DIR / "solutions"
STUDENT_DIR = ASSIGNMENTS_DIR / "student"
COURSE_ID = "modlayers"
DEFAULT_TIMEOUT = 120  # seconds per cell when autograding


@dataclasses.dataclass
class Score:
    """One student's result on one assignment.

    Attributes:
        student, assignment: names (the submission folder and the notebook name).
        points: ``{question: points}`` for each graded check cell (its nbgrader ``grade_id``).
        total, max: the sum of ``points`` and the most there was to get.
        status: ``"graded"``, ``"missing"`` (no notebook submitted) or ``"error: ..."`` (nbgrader failed).
        messages: ``{question: first line of the failure}`` for the checks that failed.
    """

    student: str
    assignment: str
    points: dict[str, float]
    total: float
    max: float
    status: str = "graded"
    messages: dict[str, str] = dataclasses.field(default_factory=dict)


# ---------------------------------------------------------------- reading the solution notebooks


def assignment_names(solutions_dir: Path = SOLUTIONS_DIR) -> list[str]:
    """The assignments: the solution notebooks' names, sorted.

    Raises:
        FileNotFoundError: no notebook in ``solutions_dir``.

    Example:
        >>> assignment_names()
        ['a1_pooling', 'a2_spans', 'a3_token_loss', 'a4_checkpointing']
    """
    names = sorted(path.stem for path in Path(solutions_dir).glob("*.ipynb"))
    if not names:
        raise FileNotFoundError(f"no solution notebook (*.ipynb) in {solutions_dir}.")
    return names


def question_points(notebook_path: Path) -> dict[str, float]:
    """``{grade_id: points}`` of the graded check cells of a notebook, in notebook order.

    Example:
        >>> question_points(SOLUTIONS_DIR / "a1_pooling.ipynb")
        {'check-last_non_pad_index': 3.0, 'check-pooled_logits': 2.0}
    """
    nb = nbformat.read(notebook_path, as_version=4)
    points = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            points[meta["grade_id"]] = float(meta.get("points", 0))
    return points


# ---------------------------------------------------------------- nbgrader


def _require_nbgrader():
    try:
        import nbgrader  # noqa: F401
        from nbgrader.apps import NbGraderAPI
    except ImportError as error:
        raise ImportError(
            "Generating and grading the assignments needs nbgrader, an instructor tool. Install it with the "
            'kit\'s instructor extra: pip install -e ".[instructor]". (Students do not need it.)'
        ) from error
    return NbGraderAPI


@contextlib.contextmanager
def _nbgrader_environment() -> Iterator[None]:
    """nbgrader calls the ``alembic`` command; make the one installed next to this Python findable."""
    old_path = os.environ.get("PATH", "")
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + old_path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SQLAlchemy's session warnings from inside nbgrader
            yield
    finally:
        os.environ["PATH"] = old_path


def _api(course_root: Path, timeout: int = DEFAULT_TIMEOUT):
    from traitlets.config import Config

    NbGraderAPI = _require_nbgrader()
    config = Config()
    config.CourseDirectory.root = str(course_root)
    config.CourseDirectory.course_id = COURSE_ID
    config.CourseDirectory.db_url = f"sqlite:///{course_root / 'gradebook.db'}"
    config.Execute.timeout = timeout
    return NbGraderAPI(config=config)


def _check(result: dict, what: str) -> None:
    if not result.get("success"):
        log = (result.get("log") or "").strip().splitlines()
        error = (result.get("error") or "").strip().splitlines()
        detail = "\n".join((log + error)[-15:])
        raise RuntimeError(f"nbgrader could not {what}:\n{detail}")


def _stage_sources(course_root: Path, solutions_dir: Path, names: Sequence[str]) -> None:
    for name in names:
        source = Path(solutions_dir) / f"{name}.ipynb"
        if not source.is_file():
            raise FileNotFoundError(f"no solution notebook {source}; the assignments are {assignment_names(solutions_dir)}.")
        (course_root / "source" / name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, course_root / "source" / name / f"{name}.ipynb")


def _generate_in(api, course_root: Path, names: Sequence[str]) -> None:
    for name in names:
        _check(api.generate_assignment(name, force=True, create=True), f"generate the student version of {name}")


@contextlib.contextmanager
def _course_directory(course_dir: Path | None) -> Iterator[Path]:
    if course_dir is None:
        with tempfile.TemporaryDirectory(prefix="modlayers-course-") as tmp:
            yield Path(tmp)
        return
    course_dir = Path(course_dir)
    if course_dir.exists() and any(course_dir.iterdir()):
        raise FileExistsError(f"--course-dir {course_dir} is not empty; give a new or empty folder.")
    course_dir.mkdir(parents=True, exist_ok=True)
    yield course_dir


# ---------------------------------------------------------------- generate


def generate_student_notebooks(
    out_dir: Path = STUDENT_DIR, solutions_dir: Path = SOLUTIONS_DIR, names: Sequence[str] | None = None
) -> list[Path]:
    """Write the student version of each solution notebook to ``out_dir/<name>.ipynb``, with nbgrader.

    Solutions become ``# YOUR CODE HERE`` / ``raise NotImplementedError()``, hidden tests disappear,
    outputs are cleared and the cells keep their nbgrader metadata (with checksums), which grading needs.

    Returns:
        The paths written.

    Raises:
        ImportError: nbgrader is not installed (the message says how to install it).
        RuntimeError: nbgrader rejected a notebook (its log says why, e.g. a solution region outside a
            solution cell).

    Example:
        >>> generate_student_notebooks(Path("/tmp/student"))  # doctest: +SKIP
        [PosixPath('/tmp/student/a1_pooling.ipynb'), ...]
    """
    names = list(names or assignment_names(solutions_dir))
    out_dir = Path(out_dir)
    written = []
    with _nbgrader_environment(), tempfile.TemporaryDirectory(prefix="modlayers-course-") as tmp:
        course_root = Path(tmp)
        _stage_sources(course_root, solutions_dir, names)
        _generate_in(_api(course_root), course_root, names)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            released = nbformat.read(course_root / "release" / name / f"{name}.ipynb", as_version=4)
            nbformat.write(released, out_dir / f"{name}.ipynb")
            written.append(out_dir / f"{name}.ipynb")
    return written


# ---------------------------------------------------------------- grade


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


def _failure_messages(notebook_path: Path) -> dict[str, str]:
    """First line of the error of each graded cell that failed, from an autograded notebook."""
    if not notebook_path.is_file():
        return {}
    nb = nbformat.read(notebook_path, as_version=4)
    messages = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade") or cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first_line = (output.get("evalue") or "").strip().splitlines()[:1]
                messages[meta["grade_id"]] = f"{output.get('ename')}: {first_line[0] if first_line else ''}".strip()
                break
    return messages


def grade_submissions(
    submissions_dir: Path,
    out_dir: Path,
    solutions_dir: Path = SOLUTIONS_DIR,
    timeout: int = DEFAULT_TIMEOUT,
    course_dir: Path | None = None,
) -> list[Score]:
    """Autograde ``submissions_dir/<student>/<assignment>.ipynb`` with nbgrader; write scores and feedback.

    Args:
        submissions_dir: one folder per student, holding the notebooks under their released names.
        out_dir: where ``scores.csv``, ``feedback/`` and ``autograded/`` go (created if needed).
        solutions_dir: the instructor notebooks the submissions were generated from.
        timeout: seconds a cell may run before nbgrader stops it.
        course_dir: keep nbgrader's course directory (gradebook included) here, e.g. to review it in
            nbgrader's formgrader; by default it is temporary.

    Returns:
        One :class:`Score` per student and assignment (``status="missing"`` where nothing was submitted).

    Raises:
        ImportError: nbgrader is not installed.
        FileNotFoundError, ValueError: the submissions folder is missing or laid out differently.

    Example:
        >>> scores = grade_submissions(Path("submissions"), Path("grades"))  # doctest: +SKIP
        >>> scores[0].total, scores[0].max  # doctest: +SKIP
        (5.0, 5.0)
    """
    names = assignment_names(solutions_dir)
    submissions, skipped = find_submissions(submissions_dir, names)
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    students = sorted({student for student, _ in submissions} | {p.name for p in Path(submissions_dir).iterdir() if p.is_dir() and not p.name.startswith(".")})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    maxima = {name: question_points(Path(solutions_dir) / f"{name}.ipynb") for name in names}
    scores = []
    with _nbgrader_environment(), _course_directory(course_dir) as course_root:
        from nbgrader.api import Gradebook

        _stage_sources(course_root, solutions_dir, names)
        api = _api(course_root, timeout)
        _generate_in(api, course_root, names)
        for (student, name), path in submissions.items():
            target = course_root / "submitted" / student / name
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / f"{name}.ipynb")
        for student in students:
            for name in names:
                if (student, name) not in submissions:
                    scores.append(Score(student, name, {}, 0.0, sum(maxima[name].values()), "missing"))
                    continue
                print(f"grading {student}/{name}.ipynb", file=sys.stderr)
                result = api.autograde(name, student, force=True, create=True)
                if not result.get("success"):
                    reason = ((result.get("error") or result.get("log") or "").strip().splitlines() or ["unknown"])[-1]
                    scores.append(Score(student, name, {}, 0.0, sum(maxima[name].values()), f"error: {reason}"))
                    continue
                with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}", COURSE_ID) as gradebook:
                    notebook = gradebook.find_submission_notebook(name, name, student)
                    points = {grade.name: float(grade.score) for grade in notebook.grades}
                    total, maximum = float(notebook.score), float(notebook.max_score)
                autograded = course_root / "autograded" / student / name / f"{name}.ipynb"
                messages = _failure_messages(autograded)
                scores.append(Score(student, name, points, total, maximum, "graded", messages))
                _check(api.generate_feedback(name, student, force=True), f"write feedback for {student}/{name}")
                feedback_dir = out_dir / "feedback" / student
                feedback_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(course_root / "feedback" / student / name / f"{name}.html", feedback_dir / f"{name}.html")
                (out_dir / "autograded" / student).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(autograded, out_dir / "autograded" / student / f"{name}.ipynb")
    write_scores_csv(scores, out_dir / "scores.csv", maxima)
    for student in students:
        write_student_summary([s for s in scores if s.student == student], out_dir / "feedback" / student / "summary.md", maxima)
    return scores


def write_scores_csv(scores: Sequence[Score], path: Path, maxima: dict[str, dict[str, float]]) -> None:
    """One row per student and assignment: ``student, assignment, <question...>, total, max, status``.

    The question columns are every assignment's graded cells (``grade_id``), in assignment order; a row
    fills those of its own assignment and leaves the others empty (all of them when nothing was graded).
    """
    questions = [question for name in maxima for question in maxima[name]]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "assignment", *questions, "total", "max", "status"])
        for score in scores:
            own = maxima.get(score.assignment, {})
            cells = []
            for question in questions:
                if question not in own or score.status != "graded":
                    cells.append("")
                else:
                    cells.append(_number(score.points.get(question, 0.0)))
            writer.writerow([score.student, score.assignment, *cells, _number(score.total), _number(score.max), score.status])


def write_student_summary(scores: Sequence[Score], path: Path, maxima: dict[str, dict[str, float]]) -> None:
    """A short markdown report for one student: points per question and the first line of each failure."""
    if not scores:
        return
    lines = [f"# {scores[0].student}: assignment results", ""]
    lines += ["| assignment | points | status |", "| --- | --- | --- |"]
    for score in scores:
        lines.append(f"| {score.assignment} | {_number(score.total)} / {_number(score.max)} | {score.status} |")
    for score in scores:
        lines += ["", f"## {score.assignment}", ""]
        if score.status != "graded":
            lines.append(f"Not graded: {score.status}.")
            continue
        for question, maximum in maxima.get(score.assignment, {}).items():
            got = score.points.get(question, 0.0)
            line = f"- `{question}`: {_number(got)} / {_number(maximum)}"
            if question in score.messages:
                line += f" -- {score.messages[question]}"
            lines.append(line)
        lines.append("")
        lines.append(f"Full feedback, with your code and the checks' output: `{score.assignment}.html`.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _number(value: float) -> str:
    return f"{value:g}"


# ---------------------------------------------------------------- command line


def build_parser(prog: str = "python -m modlayers.grading") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Generate the student versions of the course assignments, or grade submitted notebooks (nbgrader).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="regenerate the student notebooks from the solutions")
    generate.add_argument("--solutions", type=Path, default=SOLUTIONS_DIR, help="instructor notebooks (default: %(default)s)")
    generate.add_argument("--out", type=Path, default=STUDENT_DIR, help="where the student notebooks go (default: %(default)s)")
    grade = commands.add_parser("grade", help="autograde SUBMISSIONS/<student>/<assignment>.ipynb")
    grade.add_argument("submissions", type=Path, help="folder with one subfolder per student")
    grade.add_argument("--out", type=Path, required=True, help="where scores.csv, feedback/ and autograded/ go")
    grade.add_argument("--solutions", type=Path, default=SOLUTIONS_DIR, help="instructor notebooks (default: %(default)s)")
    grade.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds a cell may run (default: %(default)s)")
    grade.add_argument("--course-dir", type=Path, default=None, help="keep nbgrader's course directory and gradebook here")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "python -m modlayers.grading") -> int:
    """Run ``generate`` or ``grade``; returns the exit status (1 with a message on stderr when it cannot)."""
    args = build_parser(prog).parse_args(argv)
    try:
        if args.command == "generate":
            for path in generate_student_notebooks(args.out, args.solutions):
                print(f"wrote {path}")
            return 0
        scores = grade_submissions(args.submissions, args.out, args.solutions, args.timeout, args.course_dir)
    except (ImportError, FileNotFoundError, FileExistsError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    width = max([len(s.student) for s in scores] + [7])
    for score in scores:
        print(f"{score.student:<{width}}  {score.assignment:<18} {_number(score.total):>5} / {_number(score.max):<5} {score.status}")
    print(f"wrote {Path(args.out) / 'scores.csv'} and {Path(args.out) / 'feedback'}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
