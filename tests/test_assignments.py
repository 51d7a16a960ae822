"""The course assignments (notebooks/assignments/) and their grading (modlayers/grading.py).

- the instructor notebooks carry nbgrader's markers and metadata; the student notebooks are nbgrader's
  output, committed, up to date with the solutions and without outputs;
- the student notebooks run top to bottom headless without nbgrader, failing only in answer and check
  cells and only with NotImplementedError, within the notebook time and memory budget;
- grading: the solutions score full marks, the untouched student notebooks score zero (without
  crashing the grader), and a notebook with one wrong answer loses exactly that question's points.
"""

import csv
import doctest
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from test_notebooks import MEASURE_CELL, PEAK_MEMORY_BUDGET_BYTES, unexpected_stderr

from modlayers import grading

SOLUTIONS = sorted(grading.SOLUTIONS_DIR.glob("*.ipynb"))
NAMES = [path.stem for path in SOLUTIONS]
STUDENT_TIME_BUDGET_SECONDS = 60
COLAB_CELL = """import sys
if "google.colab" in sys.modules:  # on Colab: fetch the kit (with its data) and install it; Colab's torch is kept
    !git clone -q --depth 1 https://github.com/modlayers/modlayers /content/modlayers
    %pip install -q -e /content/modlayers
    %cd /content/modlayers/notebooks"""

# One deliberately wrong answer per assignment: (answer cell id, text to replace, replacement, check cell that must fail).
WRONG_ANSWERS = {
    "a1_pooling": ("last_non_pad_index", "return (positions * non_pad).argmax(dim=-1)", "return non_pad.sum(dim=-1) - 1",
                   "check-last_non_pad_index"),
    "a2_spans": ("qa_loss", "return (half(start_logits, start_positions) + half(end_logits, end_positions)) / 2",
                 "return half(start_logits, start_positions)", "check-qa_loss"),
    "a3_token_loss": ("align_labels", "if word is None or word == previous:", "if word is None:", "check-align_labels"),
    "a4_checkpointing": ("block_saved_bytes", "hidden_size + 2  # LayerNorm", "hidden_size  # LayerNorm",
                         "check-block_saved_bytes"),
}


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def student_path(name: str) -> Path:
    return grading.STUDENT_DIR / f"{name}.ipynb"


# ---------------------------------------------------------------- the notebooks as committed


def test_there_are_four_assignments_each_with_a_student_version():
    assert NAMES == ["a1_pooling", "a2_spans", "a3_token_loss", "a4_checkpointing"]
    assert sorted(p.stem for p in grading.STUDENT_DIR.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("path", SOLUTIONS + [student_path(n) for n in NAMES], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [c.id for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solution_notebook_marks_answers_checks_and_read_only_cells_for_nbgrader(path):
    nb = nbformat.read(path, as_version=4)
    solutions = [c for c in nb.cells if nbgrader_meta(c).get("solution")]
    checks = [c for c in nb.cells if nbgrader_meta(c).get("grade")]
    assert solutions and len(checks) == len(solutions)
    for cell in solutions:
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source, cell.id
    for cell in checks:
        meta = nbgrader_meta(cell)
        assert meta["locked"] and meta["points"] > 0, cell.id
        assert cell.source.startswith("check_"), f"{cell.id}: a visible check comes first"
        assert "### BEGIN HIDDEN TESTS" in cell.source and "### END HIDDEN TESTS" in cell.source, cell.id
    for cell_id in ("intro", "colab", "imports"):
        assert nbgrader_meta(next(c for c in nb.cells if c.id == cell_id))["locked"], cell_id
    grade_ids = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c)]
    assert len(grade_ids) == len(set(grade_ids))


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_opens_with_its_colab_badge_and_the_set_up_cell(name):
    nb = nbformat.read(student_path(name), as_version=4)
    badge = f"https://colab.research.google.com/github/modlayers/modlayers/blob/main/notebooks/assignments/student/{name}.ipynb"
    assert badge in nb.cells[0].source
    assert nb.cells[1].source == COLAB_CELL


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_hides_solutions_and_hidden_tests_and_needs_no_nbgrader(name):
    nb = nbformat.read(student_path(name), as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    for cell in nb.cells:
        if nbgrader_meta(cell).get("solution"):
            assert "# YOUR CODE HERE" in cell.source and "raise NotImplementedError()" in cell.source, cell.id
    assert not any("nbgrader" in c.source for c in nb.cells if c.cell_type == "code")


# ---------------------------------------------------------------- generated by nbgrader, and up to date


def comparable(nb: nbformat.NotebookNode) -> list:
    """What must match between a committed and a freshly generated notebook (not outputs or counts)."""
    return [nb.metadata, [(c.id, c.cell_type, c.source, c.metadata) for c in nb.cells]]


@pytest.mark.notebook
def test_student_notebooks_are_up_to_date_with_the_solutions(tmp_path):
    pytest.importorskip("nbgrader")
    assert grading.main(["generate", "--out", str(tmp_path)]) == 0
    for name in NAMES:
        fresh = nbformat.read(tmp_path / f"{name}.ipynb", as_version=4)
        committed = nbformat.read(student_path(name), as_version=4)
        assert comparable(committed) == comparable(fresh), (
            f"notebooks/assignments/student/{name}.ipynb is out of date with solutions/{name}.ipynb; "
            "regenerate it: python -m modlayers.grading generate"
        )


# ---------------------------------------------------------------- students run them


def run_allowing_errors(path: Path) -> tuple[nbformat.NotebookNode, float, int]:
    """Run a notebook with nbgrader made unimportable; keep going after errors. (notebook, seconds, peak RSS)."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys\nsys.modules['nbgrader'] = None  # students have no nbgrader"))
    nb.cells.append(nbformat.v4.new_code_cell(MEASURE_CELL))
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    last = "".join(out.get("text", "") for out in nb.cells[-1].outputs)
    return nb, seconds, int(last.split("MODLAYERS_PEAK_RSS", 1)[1])


@pytest.mark.notebook
@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_runs_headless_failing_only_where_the_student_writes_code(name):
    nb, seconds, peak = run_allowing_errors(student_path(name))
    print(f"student/{name}.ipynb: {seconds:.1f} s, peak RSS {peak / 2**20:.0f} MiB")
    failed_checks = set()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            meta = nbgrader_meta(cell)
            assert meta.get("solution") or meta.get("grade"), f"cell {cell.id!r} failed but holds no answer: {output['evalue']}"
            assert output["ename"] == "NotImplementedError", f"cell {cell.id!r}: {output['ename']}: {output['evalue']}"
            if meta.get("grade"):
                failed_checks.add(meta["grade_id"])
                assert "not written yet" in output["evalue"]
    assert failed_checks == {nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c).get("grade")}
    assert not unexpected_stderr(nb), unexpected_stderr(nb)
    assert seconds < STUDENT_TIME_BUDGET_SECONDS, f"{name} took {seconds:.0f} s"
    assert peak < PEAK_MEMORY_BUDGET_BYTES, f"{name} peaked at {peak / 2**20:.0f} MiB"


# ---------------------------------------------------------------- grading


def filled_in(name: str, wrong: bool = False) -> nbformat.NotebookNode:
    """The student notebook with the solutions typed into its answer cells (one of them wrong if asked)."""
    solution = {c.id: c.source for c in nbformat.read(grading.SOLUTIONS_DIR / f"{name}.ipynb", as_version=4).cells}
    nb = nbformat.read(student_path(name), as_version=4)
    for cell in nb.cells:
        if nbgrader_meta(cell).get("solution"):
            lines = solution[cell.id].splitlines()
            cell.source = "\n".join(line for line in lines if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
            if wrong and cell.id == WRONG_ANSWERS[name][0]:
                old, new = WRONG_ANSWERS[name][1], WRONG_ANSWERS[name][2]
                assert old in cell.source, f"{name}: {old!r} is no longer in the answer; update WRONG_ANSWERS"
                cell.source = cell.source.replace(old, new)
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade once: alice submits the solutions, bob the untouched student notebooks, carol one wrong answer
    per notebook, dave a notebook under the wrong name."""
    pytest.importorskip("nbgrader")
    submissions = tmp_path_factory.mktemp("submissions")
    for student in ("alice", "bob", "carol", "dave"):
        (submissions / student).mkdir()
    for name in NAMES:
        nbformat.write(nbformat.read(grading.SOLUTIONS_DIR / f"{name}.ipynb", as_version=4), submissions / "alice" / f"{name}.ipynb")
        nbformat.write(nbformat.read(student_path(name), as_version=4), submissions / "bob" / f"{name}.ipynb")
        nbformat.write(filled_in(name, wrong=True), submissions / "carol" / f"{name}.ipynb")
    nbformat.write(nbformat.read(student_path(NAMES[0]), as_version=4), submissions / "dave" / "my_homework.ipynb")
    out = tmp_path_factory.mktemp("grades")
    start = time.perf_counter()
    scores = grading.grade_submissions(submissions, out)
    print(f"graded {sum(s.status == 'graded' for s in scores)} notebooks in {time.perf_counter() - start:.0f} s")
    return {(s.student, s.assignment): s for s in scores}, out


@pytest.mark.notebook
def test_the_solutions_score_full_marks(graded):
    scores, _ = graded
    for name in NAMES:
        score = scores[("alice", name)]
        maxima = grading.question_points(grading.SOLUTIONS_DIR / f"{name}.ipynb")
        assert score.status == "graded" and score.points == maxima and score.total == score.max == sum(maxima.values()), score


@pytest.mark.notebook
def test_the_untouched_student_notebooks_score_zero_without_crashing_the_grader(graded):
    scores, _ = graded
    for name in NAMES:
        score = scores[("bob", name)]
        assert score.status == "graded" and score.total == 0 and score.max > 0, score
        assert set(score.points.values()) == {0.0}
        assert all(message.startswith("NotImplementedError") for message in score.messages.values()), score.messages
        assert set(score.messages) == set(score.points)


@pytest.mark.notebook
def test_one_wrong_answer_loses_exactly_that_questions_points(graded):
    scores, _ = graded
    for name in NAMES:
        score = scores[("carol", name)]
        maxima = grading.question_points(grading.SOLUTIONS_DIR / f"{name}.ipynb")
        broken = WRONG_ANSWERS[name][3]
        assert score.points == {**maxima, broken: 0.0}, (name, score.points)
        assert score.total == score.max - maxima[broken]
        assert list(score.messages) == [broken] and score.messages[broken].startswith("AssertionError")


@pytest.mark.notebook
def test_a_notebook_under_another_name_is_skipped_and_reported_missing(graded):
    scores, _ = graded
    assert all(scores[("dave", name)].status == "missing" for name in NAMES)


@pytest.mark.notebook
def test_score_table_and_feedback_files(graded):
    scores, out = graded
    with open(out / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    questions = [q for name in NAMES for q in grading.question_points(grading.SOLUTIONS_DIR / f"{name}.ipynb")]
    assert list(rows[0]) == ["student", "assignment", *questions, "total", "max", "status"]
    assert len(rows) == 4 * len(NAMES)
    row = next(r for r in rows if r["student"] == "carol" and r["assignment"] == "a1_pooling")
    assert (row["check-last_non_pad_index"], row["check-pooled_logits"], row["total"], row["max"]) == ("0", "2", "2", "5")
    assert row["check-qa_loss"] == ""
    for student in ("alice", "bob", "carol"):
        for name in NAMES:
            assert "<html" in (out / "feedback" / student / f"{name}.html").read_text()[:2000].lower()
            assert (out / "autograded" / student / f"{name}.ipynb").is_file()
    summary = (out / "feedback" / "carol" / "summary.md").read_text()
    assert "| a1_pooling | 2 / 5 | graded |" in summary and "left padding, row 0: pooled index 2, expected 8" in summary
    assert "Not graded: missing." in (out / "feedback" / "dave" / "summary.md").read_text()


def test_grading_a_folder_that_does_not_exist_says_so(tmp_path, capsys):
    assert grading.main(["grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 1
    assert "submissions folder" in capsys.readouterr().err


def test_submissions_laid_out_flat_are_explained(tmp_path):
    (tmp_path / "a1_pooling.ipynb").write_text("{}")
    with pytest.raises(ValueError, match="<student>/<assignment>.ipynb"):
        grading.find_submissions(tmp_path, NAMES)
    (tmp_path / "alice").mkdir()
    found, skipped = grading.find_submissions(tmp_path, NAMES)
    assert found == {} and "a folder per student" in skipped[0]


def test_question_points_read_from_the_solution_notebooks():
    assert grading.question_points(grading.SOLUTIONS_DIR / "a1_pooling.ipynb") == {
        "check-last_non_pad_index": 3.0,
        "check-pooled_logits": 2.0,
    }
    assert sum(sum(grading.question_points(p).values()) for p in SOLUTIONS) == 28


def test_grading_docstring_examples_run_as_written():
    result = doctest.testmod(grading, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
