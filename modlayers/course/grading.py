"""Course assignments: generate the student notebooks and grade submissions, with nbgrader.

The assignments live in ``notebooks/assignments/``: ``solutions/<name>.ipynb`` (the instructor
notebooks, nbgrader's markup) and ``student/<name>.ipynb`` (generated from them, committed).

``generate``
    nbgrader's ``generate_assignment`` for every solution notebook; the released notebooks are copied
    to ``student/``. The hidden tests never hold a seed (they ask :func:`~modlayers.course.hidden_seeds.hidden_seed`),
    so nothing secret is generated.
``grade SUBMISSIONS --out OUT``
    reads the instructor's secret first (``$MODLAYERS_HIDDEN_SEED`` or ``--seed-file``; stops with a
    clear error without it), then autogrades ``SUBMISSIONS/<student>/<name>.ipynb`` in parallel worker
    processes (one nbgrader course directory each; one kernel per student, cleared between their
    notebooks, never shared between students): deleted graded
    cells are put back, read-only and check cells restored from the solutions, hidden tests included.
    A renamed notebook (``a1_pooling (1).ipynb``, ``A2_Spans.ipynb``) is matched to its assignment; a file
    that cannot be read (empty, cut short, ``{}``) or whose name and cells match no assignment is reported
    by name and reason, and never stops the others being graded.
    Writes ``OUT/scores.csv``, ``OUT/feedback/<student>/<name>.html`` (nbgrader's feedback with the
    hidden tests' code removed), ``OUT/feedback/<student>/summary.md``, ``OUT/summary.md`` (the
    instructor's: what could not be graded and why), ``OUT/logs/<student>/<name>.log`` (nbgrader's full
    log) and the executed notebooks in ``OUT/autograded/``.

nbgrader is an instructor tool (``pip install -e ".[instructor]"``); students never need it.

Command line::

    python -m modlayers assignments generate [--out notebooks/assignments/student]
    python -m modlayers assignments grade SUBMISSIONS --out OUT [--seed-file FILE] [--workers N] [--timeout 120]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import nbformat

from modlayers.lessons.command_line import CommandParser, existing_folder, positive_int
from modlayers.course.hidden_seeds import SEED_VARIABLE, HiddenSeedMissing, read_instructor_secret
from modlayers.course.reports import Score, number, write_class_summary, write_scores_csv, write_student_summary
from modlayers.course.submissions import StudentFiles, find_submissions, restore_deleted_cells

ASSIGNMENTS_DIR = Path(__file__).resolve().parent.parent.parent / "notebooks" / "assignments"
SOLUTIONS_DIR = ASSIGNMENTS_DIR / "solutions"
STUDENT_DIR = ASSIGNMENTS_DIR / "student"
COURSE_ID = "modlayers"
DEFAULT_TIMEOUT = 120  # seconds per cell when autograding

__all__ = ["Score", "assignment_names", "generate_student_notebooks", "grade_submissions", "main", "question_points"]


def assignment_names(solutions_dir: Path = SOLUTIONS_DIR) -> list[str]:
    """The assignments: the solution notebooks' names, sorted.

    Raises:
        FileNotFoundError: no notebook in ``solutions_dir``.

    Example:
        >>> assignment_names()
        ['a1_pooling', 'a2_spans', 'a3_token_loss', 'a4_checkpointing', 'a5_scaling_out']
    """
    names = sorted(path.stem for path in Path(solutions_dir).glob("*.ipynb"))
    if not names:
        raise FileNotFoundError(f"no solution notebook (*.ipynb) in {solutions_dir}.")
    return names


def question_points(notebook_path: Path) -> dict[str, float]:
    """``{grade_id: points}`` of the graded check cells of a notebook, in notebook order.

    Example:
        >>> question_points(SOLUTIONS_DIR / "a1_pooling.ipynb")["check-pooled_logits"]
        2.0
    """
    nb = nbformat.read(notebook_path, as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: float(cell.metadata["nbgrader"].get("points", 0))
            for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade")}


# ---------------------------------------------------------------- nbgrader


def _require_nbgrader():
    try:
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
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + old_path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SQLAlchemy's session warnings from inside nbgrader
            yield
    finally:
        os.environ["PATH"] = old_path


def _api(course_root: Path, timeout: int = DEFAULT_TIMEOUT, student_kernels: bool = False):
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import ClearHiddenTests, GetGrades
    from traitlets.config import Config

    NbGraderAPI = _require_nbgrader()
    config = Config()
    config.CourseDirectory.root = str(course_root)
    config.CourseDirectory.course_id = COURSE_ID
    config.CourseDirectory.db_url = f"sqlite:///{course_root / 'gradebook.db'}"
    config.Execute.timeout = timeout
    # The feedback shows each check's output but not the hidden tests' code.
    config.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, ClearHiddenTests]
    if student_kernels:
        from nbconvert.preprocessors import ClearMetadataPreprocessor
        from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades

        config.Autograde.autograde_preprocessors = [
            _student_kernel_execute(), IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
            AssignLatePenalties, CheckCellMetadata,
        ]
    return NbGraderAPI(config=config)


_EXECUTE_CLASS: list = []


def _student_kernel_execute() -> type:
    """nbgrader's ``Execute``, keeping one kernel for all of one student's notebooks in a worker.

    Starting a kernel and importing torch and transformers is most of a notebook's grading time. The
    kernel of a student's first notebook is kept for their next ones, with its user namespace cleared
    (``%reset -f``) and its working directory moved; it is shut down when the worker moves on to
    another student, so no student's code ever runs in a kernel that ran another student's code.
    """
    if _EXECUTE_CLASS:
        return _EXECUTE_CLASS[0]
    from nbclient import NotebookClient
    from nbclient.util import run_sync
    from nbgrader.preprocessors import Execute

    class StudentKernelExecute(Execute):
        def preprocess(self, nb, resources=None, km=None):
            NotebookClient.__init__(self, nb, None)
            student, kept = _WORKER.get("kernel", (None, None))
            fresh = not (kept is not None and student == _WORKER.get("student") and run_sync(kept.is_alive)())
            if fresh:
                _shutdown_student_kernel()
                kept = self.create_kernel_manager()
                _WORKER["kernel"] = (_WORKER.get("student"), kept)
            NotebookClient.__init__(self, nb, kept)  # not owned: the kernel outlives this notebook
            self.reset_execution_trackers()
            self._check_assign_resources(resources)
            with self.setup_kernel():
                info = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info["content"]["language_info"]
                if not fresh:
                    path = str((resources or {}).get("metadata", {}).get("path") or ".")
                    code = f"%reset -f\nimport os as _os\n_os.chdir({path!r})\ndel _os"
                    self.wait_for_reply(self.kc.execute(code, silent=True, store_history=False))
                for index, cell in enumerate(self.nb.cells):
                    self.preprocess_cell(cell, resources, index)
            self.kc.stop_channels()
            self.set_widgets_metadata()
            return self.nb, self.resources

    _EXECUTE_CLASS.append(StudentKernelExecute)
    return StudentKernelExecute


def _shutdown_student_kernel() -> None:
    from nbclient.util import run_sync

    _, kept = _WORKER.pop("kernel", (None, None))
    if kept is not None:
        with contextlib.suppress(Exception):
            run_sync(kept.shutdown_kernel)(now=True)


def _check(result: dict, what: str) -> None:
    if not result.get("success"):
        lines = ((result.get("log") or "") + "\n" + (result.get("error") or "")).strip().splitlines()
        raise RuntimeError(f"nbgrader could not {what}:\n" + "\n".join(lines[-15:]))


def _prepare_course(course_root: Path, solutions_dir: Path, names: Sequence[str], timeout: int = DEFAULT_TIMEOUT,
                    student_kernels: bool = False):
    """Stage the solutions as nbgrader sources and generate them; returns the API."""
    for name in names:
        source = Path(solutions_dir) / f"{name}.ipynb"
        if not source.is_file():
            raise FileNotFoundError(f"no solution notebook {source}; the assignments are {assignment_names(solutions_dir)}.")
        (course_root / "source" / name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, course_root / "source" / name / f"{name}.ipynb")
    api = _api(course_root, timeout, student_kernels)
    for name in names:
        _check(api.generate_assignment(name, force=True, create=True), f"generate the student version of {name}")
    return api


def generate_student_notebooks(
    out_dir: Path = STUDENT_DIR, solutions_dir: Path = SOLUTIONS_DIR, names: Sequence[str] | None = None
) -> list[Path]:
    """Write the student version of each solution notebook to ``out_dir/<name>.ipynb``, with nbgrader.

    Returns:
        The paths written.

    Raises:
        ImportError: nbgrader is not installed (the message says how to install it).
        RuntimeError: nbgrader rejected a notebook (its log says why).
    """
    names = list(names or assignment_names(solutions_dir))
    out_dir = Path(out_dir)
    written = []
    with _nbgrader_environment(), tempfile.TemporaryDirectory(prefix="modlayers-course-") as tmp:
        course_root = Path(tmp)
        _prepare_course(course_root, solutions_dir, names)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            released = nbformat.read(course_root / "release" / name / f"{name}.ipynb", as_version=4)
            nbformat.write(released, out_dir / f"{name}.ipynb")
            written.append(out_dir / f"{name}.ipynb")
    return written


# ---------------------------------------------------------------- grading one notebook (in a worker)

_WORKER: dict = {}


def _start_worker(course_root: str, solutions_dir: str, names: list[str], timeout: int, secret: str) -> None:
    os.environ[SEED_VARIABLE] = secret  # the kernels nbgrader starts inherit it
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    warnings.simplefilter("ignore")
    root = Path(course_root)
    root.mkdir(parents=True, exist_ok=True)
    _WORKER.update(root=root, names=names, api=_prepare_course(root, Path(solutions_dir), names, timeout, student_kernels=True))


def _failure_messages(notebook_path: Path) -> dict[str, str]:
    """First line of the error of each graded cell that failed, from an autograded notebook."""
    if not notebook_path.is_file():
        return {}
    messages = {}
    for cell in nbformat.read(notebook_path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade") or cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first_line = (output.get("evalue") or "").strip().splitlines()[:1]
                messages[meta["grade_id"]] = f"{output.get('ename')}: {first_line[0] if first_line else ''}".strip()
                break
    return messages


def _grade_one(student: str, name: str, submission: str, out_dir: str, maximum: float) -> Score:
    from nbgrader.api import Gradebook

    root, api, out = _WORKER["root"], _WORKER["api"], Path(out_dir)
    notebook = nbformat.read(submission, as_version=4)
    released = nbformat.read(root / "release" / name / f"{name}.ipynb", as_version=4)
    restored = restore_deleted_cells(notebook, released)
    target = root / "submitted" / student / name
    target.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target / f"{name}.ipynb")

    _WORKER["student"] = student
    result = api.autograde(name, student, force=True, create=True)
    log_name = f"logs/{student}/{name}.log"
    (out / log_name).parent.mkdir(parents=True, exist_ok=True)
    (out / log_name).write_text((result.get("log") or "") + ("\n" + result["error"] if result.get("error") else ""))
    if not result.get("success"):
        reason = ((result.get("error") or result.get("log") or "").strip().splitlines() or ["unknown"])[-1]
        return Score(student, name, {}, 0.0, maximum, f"error: {reason} (see {log_name})", restored=restored, log=log_name)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", COURSE_ID) as gradebook:
        graded = gradebook.find_submission_notebook(name, name, student)
        points = {grade.name: float(grade.score) for grade in graded.grades}
        total, maximum = float(graded.score), float(graded.max_score)
    autograded = root / "autograded" / student / name / f"{name}.ipynb"
    score = Score(student, name, points, total, maximum, "graded", _failure_messages(autograded), restored, log_name)
    _check(api.generate_feedback(name, student, force=True), f"write feedback for {student}/{name}")
    (out / "feedback" / student).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / "feedback" / student / name / f"{name}.html", out / "feedback" / student / f"{name}.html")
    (out / "autograded" / student).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(autograded, out / "autograded" / student / f"{name}.ipynb")
    return score


# ---------------------------------------------------------------- grade


def grade_submissions(
    submissions_dir: Path,
    out_dir: Path,
    solutions_dir: Path = SOLUTIONS_DIR,
    timeout: int = DEFAULT_TIMEOUT,
    course_dir: Path | None = None,
    workers: int | None = None,
    seed_file: Path | None = None,
) -> list[Score]:
    """Autograde ``submissions_dir/<student>/<assignment>.ipynb`` with nbgrader; write scores, feedback, logs.

    Args:
        submissions_dir: one folder per student, holding the notebooks under their released names (other
            names are matched as :func:`~modlayers.course.submissions.find_submissions` says).
        out_dir: where ``scores.csv``, ``summary.md``, ``feedback/``, ``logs/`` and ``autograded/`` go
            (created if needed).
        solutions_dir: the instructor notebooks the submissions were generated from.
        timeout: seconds a cell may run before nbgrader stops it.
        course_dir: keep nbgrader's course directories (one per worker, gradebook included) here, e.g. to
            review them in nbgrader's formgrader; by default they are temporary.
        workers: notebooks graded at once, each in its own process (default: the number of CPUs).
        seed_file: the instructor's secret for the hidden tests (default: ``$MODLAYERS_HIDDEN_SEED``, else
            ``~/.config/modlayers/hidden_seed``).

    Returns:
        One :class:`Score` per student and assignment: ``status`` is ``"graded"``, ``"missing"``,
        ``"unreadable: <file>: <reason>"``, ``"unreadable name: <file>: <reason>"`` or ``"error: ..."``.

    Raises:
        HiddenSeedMissing: no instructor secret (checked before anything else).
        ImportError: nbgrader is not installed.
        FileNotFoundError, ValueError: the submissions folder is missing or laid out differently.
    """
    secret = read_instructor_secret(seed_file)
    _require_nbgrader()
    names = assignment_names(solutions_dir)
    grade_ids = {name: _grade_ids(Path(solutions_dir) / f"{name}.ipynb") for name in names}
    folders, skipped = find_submissions(submissions_dir, names, grade_ids)
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    students = [folder.student for folder in folders]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    maxima = {name: question_points(Path(solutions_dir) / f"{name}.ipynb") for name in names}
    jobs = [(folder.student, name, folder.graded[name]) for folder in folders for name in names if name in folder.graded]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs) or 1))
    results: dict[tuple[str, str], Score] = {}
    if jobs:
        with contextlib.ExitStack() as stack:
            if course_dir is None:
                parent = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="modlayers-course-")))
            else:
                parent = Path(course_dir)
                if parent.exists() and any(parent.iterdir()):
                    raise FileExistsError(f"--course-dir {parent} is not empty; give a new or empty folder.")
            context = multiprocessing.get_context("spawn")
            pools = [stack.enter_context(concurrent.futures.ProcessPoolExecutor(
                max_workers=1, mp_context=context, initializer=_start_worker,
                initargs=(str(parent / f"worker-{index}"), str(solutions_dir), names, timeout, secret),
            )) for index in range(workers)]
            # Each pool is one process with its own course directory and gradebook; a student's notebooks all
            # go to one of them, one after the other, so that they share the student's kernel.
            order = {student: index for index, student in enumerate(students)}
            futures = {
                pools[order[student] % workers].submit(_grade_one, student, name, str(path), str(out_dir),
                                                       sum(maxima[name].values())): (student, name)
                for student, name, path in jobs
            }
            for pool in pools:
                pool.submit(_shutdown_student_kernel)
            for future in concurrent.futures.as_completed(futures):
                student, name = futures[future]
                try:
                    score = future.result()
                except Exception as error:  # one notebook (or its worker) failing never stops the class
                    first = (str(error).strip().splitlines() or [""])[0]
                    score = Score(student, name, {}, 0.0, sum(maxima[name].values()),
                                  f"error: grading stopped with {type(error).__name__}: {first}")
                results[(student, name)] = score
                print(f"graded {student}/{name}.ipynb: {number(score.total)} / {number(score.max)}"
                      + ("" if score.status == "graded" else f" ({score.status})"), file=sys.stderr)
    scores = [_score(folder, name, results, sum(maxima[name].values())) for folder in folders for name in names]
    for score in scores:
        if score.status not in ("graded", "missing"):
            print(f"not graded {score.student}/{score.assignment}: {score.status}", file=sys.stderr)
    # Files whose name is no assignment's are named in the rows of the assignments the student lacks; all of
    # them are listed with the other files left out unless that one row names the only one.
    in_rows = {s.student for s in scores if s.status.startswith("unreadable name")}
    other_files = {folder.student: folder.ignored + [
        f"`{file}`: {why}" for file, why in folder.unmatched
        if not (folder.student in in_rows and len(folder.unmatched) == 1)] for folder in folders}
    write_scores_csv(scores, out_dir / "scores.csv", maxima)
    for folder in folders:
        write_student_summary([s for s in scores if s.student == folder.student],
                              out_dir / "feedback" / folder.student / "summary.md", maxima, other_files[folder.student])
    write_class_summary(scores, out_dir / "summary.md", other_files, skipped)
    return scores


def _grade_ids(notebook_path: Path) -> set[str]:
    """The nbgrader grade ids of every cell of a notebook (what identifies its assignment's cells)."""
    return {cell.metadata["nbgrader"]["grade_id"] for cell in nbformat.read(notebook_path, as_version=4).cells
            if "grade_id" in cell.metadata.get("nbgrader", {})}


def _score(folder: StudentFiles, name: str, results: dict[tuple[str, str], Score], maximum: float) -> Score:
    """The result of ``folder.student`` on ``name``: graded, or why not (unreadable file or name, missing)."""
    if (folder.student, name) in results:
        score = results[(folder.student, name)]
        score.file, score.note = folder.graded[name].name, folder.renamed.get(name, "")
        return score
    if name in folder.unreadable:
        file, reason = folder.unreadable[name]
        return Score(folder.student, name, {}, 0.0, maximum, f"unreadable: {file}: {reason}", file=file)
    if folder.unmatched:
        file, reason = folder.unmatched[0]
        more = f" (and {len(folder.unmatched) - 1} more such files, listed in the summaries)" if len(folder.unmatched) > 1 else ""
        return Score(folder.student, name, {}, 0.0, maximum, f"unreadable name: {file}: {reason}{more}", file=file)
    return Score(folder.student, name, {}, 0.0, maximum, "missing")


# ---------------------------------------------------------------- command line


def build_parser(prog: str = "python -m modlayers assignments") -> argparse.ArgumentParser:
    parser = CommandParser(  # its sub-commands' parsers too: one error line, exit status 2
        prog=prog,
        description="Generate the student versions of the course assignments, or grade submitted notebooks (nbgrader).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="regenerate the student notebooks from the solutions")
    generate.add_argument("--solutions", type=existing_folder, default=SOLUTIONS_DIR, help="instructor notebooks (default: %(default)s)")
    generate.add_argument("--out", type=Path, default=STUDENT_DIR, help="where the student notebooks go (default: %(default)s)")
    grade = commands.add_parser("grade", help="autograde SUBMISSIONS/<student>/<assignment>.ipynb")
    grade.add_argument("submissions", type=Path, help="folder with one subfolder per student")
    grade.add_argument("--out", type=Path, required=True, help="where scores.csv, feedback/, logs/ and autograded/ go")
    grade.add_argument("--solutions", type=existing_folder, default=SOLUTIONS_DIR, help="instructor notebooks (default: %(default)s)")
    grade.add_argument("--seed-file", type=Path, default=None,
                       help=f"file holding the instructor's secret for the hidden tests (default: ${SEED_VARIABLE}, "
                            "else ~/.config/modlayers/hidden_seed)")
    grade.add_argument("--workers", type=positive_int, default=None, help="notebooks graded at once (default: the number of CPUs)")
    grade.add_argument("--timeout", type=positive_int, default=DEFAULT_TIMEOUT, help="seconds a cell may run (default: %(default)s)")
    grade.add_argument("--course-dir", type=Path, default=None, help="keep nbgrader's course directories and gradebooks here")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "python -m modlayers assignments") -> int:
    """Run ``generate`` or ``grade``; returns the exit status (1 with a message on stderr when it cannot, 2 for a
    ``--seed-file`` that cannot be read)."""
    args = build_parser(prog).parse_args(argv)
    try:
        if args.command == "generate":
            for path in generate_student_notebooks(args.out, args.solutions):
                print(f"wrote {path}")
            return 0
        if args.workers is not None and args.workers < 1:
            raise ValueError(f"--workers must be at least 1, got {args.workers}.")
        if args.seed_file is not None:
            try:
                read_instructor_secret(args.seed_file)  # a wrong --seed-file is an argument error: before any work
            except HiddenSeedMissing as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
        start = time.perf_counter()
        scores = grade_submissions(args.submissions, args.out, args.solutions, args.timeout, args.course_dir,
                                   args.workers, args.seed_file)
    except (HiddenSeedMissing, ImportError, FileNotFoundError, FileExistsError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    width = max([len(s.student) for s in scores] + [7])
    for score in scores:
        print(f"{score.student:<{width}}  {score.assignment:<18} {number(score.total):>5} / {number(score.max):<5} {score.status}")
    graded = sum(score.status == "graded" for score in scores)
    problems = sum(score.status not in ("graded", "missing") for score in scores)
    print(f"graded {graded} notebooks in {time.perf_counter() - start:.0f} s; wrote {Path(args.out) / 'scores.csv'}, "
          f"{Path(args.out) / 'summary.md'}, {Path(args.out) / 'feedback'}/ and {Path(args.out) / 'logs'}/")
    if problems:
        print(f"{problems} submitted notebooks could not be graded (status above); each is listed with why in "
              f"{Path(args.out) / 'summary.md'} and in its student's summary")
    return 0


if __name__ == "__main__":
    sys.exit(main())
