"""Submitted files as browsers and uploads leave them (modlayers/course/submissions.py, reports.py).

- every prefix of a real student notebook (an upload cut short) is reported as cut short, an empty file as
  empty, ``{}`` and other JSON as no notebook, a damaged file with its line and column; the notebook itself
  reads back equal to nbformat's reading of it;
- renamed downloads (``a1_pooling (1).ipynb``, other case, Colab's ``Copy of``) are matched to their
  assignment, other names by the nbgrader cells they hold, else reported with the expected names;
- a class whose every file is broken is still reported: scores.csv with a status and file per row, each
  student's summary and the instructor's summary naming each file and why, before nbgrader runs anything.
"""

import csv

import nbformat
import pytest

from modlayers.course import grading, hidden_seeds
from modlayers.course.reports import Score, write_student_summary
from modlayers.course.submissions import (
    UnreadableSubmission,
    assignment_for_name,
    find_submissions,
    read_submission,
)

NAMES = grading.assignment_names()
STUDENT_A1 = grading.STUDENT_DIR / "a1_pooling.ipynb"
GRADE_IDS = {name: grading._grade_ids(grading.SOLUTIONS_DIR / f"{name}.ipynb") for name in NAMES}


def test_a_submitted_notebook_reads_as_nbformat_reads_it(tmp_path):
    assert read_submission(STUDENT_A1) == nbformat.read(STUDENT_A1, as_version=4)


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file (0 bytes)"),
    (b"  \n", "empty file (3 bytes)"),
    (b"{}", "not a notebook: an empty JSON object ({})"),
    (b"[]", "not a notebook: a JSON list"),
    (b'{"cells": []}', "not a notebook: a JSON object with keys ['cells']"),
    (b'{"cells": [1], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "not a notebook: cell 0 has no 'cell_type'"),
    (b"\xff\xfe{}", "not a text file (byte 0 is not UTF-8)"),
])
def test_a_file_that_is_no_notebook_says_why_in_one_line(tmp_path, content, reason):
    path = tmp_path / "a1_pooling.ipynb"
    path.write_bytes(content)
    with pytest.raises(UnreadableSubmission) as error:
        read_submission(path)
    assert str(error.value).startswith(reason) and "\n" not in str(error.value)


def test_every_prefix_of_a_real_notebook_is_reported_as_cut_short(tmp_path):
    raw = STUDENT_A1.read_bytes()
    path = tmp_path / "a1_pooling.ipynb"
    for end in range(1, len(raw) - 2, max(1, len(raw) // 97)):  # about 100 cuts, inside strings and between them
        path.write_bytes(raw[:end])
        with pytest.raises(UnreadableSubmission, match=rf"^not valid JSON: it ends after {end} bytes, cut short"):
            read_submission(path)


def test_a_damaged_file_is_reported_with_the_line_and_column_json_gives(tmp_path):
    import json

    text = STUDENT_A1.read_text()
    broken = text.replace('"cell_type"', '"cell_type" "x"', 1)
    path = tmp_path / "a1_pooling.ipynb"
    path.write_text(broken)
    with pytest.raises(json.JSONDecodeError) as reference:
        json.loads(broken)
    with pytest.raises(UnreadableSubmission) as error:
        read_submission(path)
    assert str(error.value) == (f"not valid JSON at line {reference.value.lineno}, column {reference.value.colno}: "
                                f"{reference.value.msg}")


@pytest.mark.parametrize("file_name, expected", [
    ("a1_pooling.ipynb", "a1_pooling"),
    ("a1_pooling (1).ipynb", "a1_pooling"),
    ("a1_pooling(12).ipynb", "a1_pooling"),
    ("A2_Spans.ipynb", "a2_spans"),
    ("A3_TOKEN_LOSS.IPYNB", "a3_token_loss"),
    ("Copy of a3_token_loss.ipynb", "a3_token_loss"),
    ("a4-checkpointing - Copy.ipynb", "a4_checkpointing"),
    ("a2 spans copy 2.ipynb", "a2_spans"),
    ("alice_a1_pooling_final.ipynb", "a1_pooling"),
    ("homework.ipynb", None),
    ("Untitled.ipynb", None),
    ("a1.ipynb", None),
])
def test_renamed_downloads_are_matched_to_their_assignment(file_name, expected):
    assert assignment_for_name(file_name, NAMES) == expected


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        nbformat.write(content, path)


def test_a_students_folder_is_sorted_into_graded_unreadable_renamed_and_left_out(tmp_path):
    a1 = nbformat.read(STUDENT_A1, as_version=4)
    a2 = nbformat.read(grading.STUDENT_DIR / "a2_spans.ipynb", as_version=4)
    write(tmp_path / "alice" / "a1_pooling.ipynb", a1)
    write(tmp_path / "alice" / "a1_pooling (1).ipynb", a1)          # a second download: the exact name wins
    write(tmp_path / "alice" / "a2_spans.ipynb", b"")               # empty, but a renamed copy reads
    write(tmp_path / "alice" / "A2_Spans (2).ipynb", a2)
    write(tmp_path / "alice" / "my_homework.ipynb", nbformat.read(grading.STUDENT_DIR / "a3_token_loss.ipynb", as_version=4))
    write(tmp_path / "alice" / "a4_checkpointing.ipynb", b'{"cells": [')
    write(tmp_path / "alice" / "notes.txt", b"to do")
    write(tmp_path / "bob" / "scratch.ipynb", nbformat.v4.new_notebook())
    folders, skipped = find_submissions(tmp_path, NAMES, GRADE_IDS)
    alice, bob = folders
    assert {name: path.name for name, path in alice.graded.items()} == {
        "a1_pooling": "a1_pooling.ipynb", "a2_spans": "A2_Spans (2).ipynb", "a3_token_loss": "my_homework.ipynb"}
    assert alice.renamed == {"a2_spans": "graded `A2_Spans (2).ipynb`, renamed from `a2_spans.ipynb`",
                             "a3_token_loss": "graded `my_homework.ipynb`: its name is no assignment's, its cells are "
                                              "`a3_token_loss`'s"}
    assert list(alice.unreadable) == ["a4_checkpointing"] and alice.unreadable["a4_checkpointing"][0] == "a4_checkpointing.ipynb"
    assert "cut short" in alice.unreadable["a4_checkpointing"][1]
    assert sorted(alice.ignored) == [
        "`a1_pooling (1).ipynb`: not graded, `a1_pooling.ipynb` was taken for a1_pooling (a second notebook for it)",
        "`a2_spans.ipynb`: not graded, `A2_Spans (2).ipynb` was taken for a2_spans (unreadable: empty file (0 bytes): "
        "the download or upload did not finish)",
        "`notes.txt`: not a notebook (.ipynb)"]
    assert bob.graded == {} and bob.unmatched == [("scratch.ipynb", "its name is no assignment's (expected one of "
                                                   "a1_pooling.ipynb, a2_spans.ipynb, a3_token_loss.ipynb, a4_checkpointing.ipynb, "
                                                   "a5_scaling_out.ipynb)")]
    assert skipped == []


def test_a_class_of_only_broken_files_is_reported_in_every_output_not_aborted(tmp_path, monkeypatch):
    pytest.importorskip("nbgrader")
    monkeypatch.setenv(hidden_seeds.SEED_VARIABLE, "a secret")
    write(tmp_path / "subs" / "alice" / "a1_pooling.ipynb", b"")
    write(tmp_path / "subs" / "alice" / "a2_spans.ipynb", b"{}")
    write(tmp_path / "subs" / "alice" / "A3_Token_Loss.ipynb", STUDENT_A1.read_bytes()[:500])
    write(tmp_path / "subs" / "bob" / "homework.ipynb", b"{}")
    scores = grading.grade_submissions(tmp_path / "subs", tmp_path / "out", workers=1)
    status = {(s.student, s.assignment): s.status for s in scores}
    assert status[("alice", "a1_pooling")].startswith("unreadable: a1_pooling.ipynb: empty file (0 bytes)")
    assert status[("alice", "a2_spans")].startswith("unreadable: a2_spans.ipynb: not a notebook: an empty JSON object")
    assert status[("alice", "a3_token_loss")].startswith("unreadable: A3_Token_Loss.ipynb: not valid JSON: it ends after 500")
    assert status[("alice", "a4_checkpointing")] == "missing"
    for name in NAMES:
        assert status[("bob", name)].startswith("unreadable name: homework.ipynb: its name is no assignment's (expected "
                                                "one of a1_pooling.ipynb, a2_spans.ipynb"), status[("bob", name)]
    with open(tmp_path / "out" / "scores.csv", newline="") as handle:
        rows = {(r["student"], r["assignment"]): r for r in csv.DictReader(handle)}
    assert {key: row["status"] for key, row in rows.items()} == status
    assert rows[("alice", "a3_token_loss")]["file"] == "A3_Token_Loss.ipynb" and rows[("alice", "a1_pooling")]["total"] == "0"
    alice = (tmp_path / "out" / "feedback" / "alice" / "summary.md").read_text()
    assert "Not graded: `a1_pooling.ipynb` could not be graded: empty file (0 bytes)" in alice
    assert "Not graded: `A3_Token_Loss.ipynb` could not be graded: not valid JSON: it ends after 500 bytes" in alice
    assert "Not graded: missing (no `a4_checkpointing.ipynb`)." in alice
    bob = (tmp_path / "out" / "feedback" / "bob" / "summary.md").read_text()
    assert "there is no `a1_pooling.ipynb`, and `homework.ipynb` could not be graded: its name is no assignment's" in bob
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| unreadable | 3 |" in summary and "| unreadable name | 5 |" in summary and "| missing | 2 |" in summary
    for (student, name), text in status.items():
        if text != "missing":
            assert f"| {student} | {name} | " in summary and text in summary


def test_a_file_left_out_is_named_in_the_students_summary():
    scores = [Score("alice", "a1_pooling", {"check-pooled_logits": 2.0}, 2.0, 5.0, file="a1_pooling (1).ipynb",
                    note="graded `a1_pooling (1).ipynb`, renamed from `a1_pooling.ipynb`")]
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "summary.md"
        write_student_summary(scores, path, {"a1_pooling": {"check-pooled_logits": 2.0}}, ["`notes.txt`: not a notebook (.ipynb)"])
        text = path.read_text()
    assert "Note: graded `a1_pooling (1).ipynb`, renamed from `a1_pooling.ipynb`; submit it as `a1_pooling.ipynb` next time." in text
    assert "## Other files in your folder, not graded\n\n- `notes.txt`: not a notebook (.ipynb)" in text


def test_every_file_whose_name_is_no_assignments_is_named_somewhere(tmp_path, monkeypatch):
    pytest.importorskip("nbgrader")
    monkeypatch.setenv(hidden_seeds.SEED_VARIABLE, "a secret")
    write(tmp_path / "subs" / "carol" / "homework.ipynb", b"{}")
    write(tmp_path / "subs" / "carol" / "scratch.ipynb", b"")
    grading.grade_submissions(tmp_path / "subs", tmp_path / "out", workers=1)
    for text in [(tmp_path / "out" / "summary.md").read_text(),
                 (tmp_path / "out" / "feedback" / "carol" / "summary.md").read_text()]:
        assert "`homework.ipynb`: its name is no assignment's" in text and "`scratch.ipynb`: its name is no" in text
        assert "and it is unreadable: empty file (0 bytes)" in text


def test_the_class_benchmark_flags_a_wrong_status_points_or_file_and_a_missing_row():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import grade_class

    expected = {("x0", "a1_pooling"): ("unreadable: a1_pooling.ipynb: empty", {}, "a1_pooling.ipynb"),
                ("x0", "a2_spans"): ("graded", {"check-qa_loss": 2.0}, "a2_spans (1).ipynb")}
    right = [Score("x0", "a1_pooling", {}, 0.0, 5.0, "unreadable: a1_pooling.ipynb: empty file (0 bytes)", file="a1_pooling.ipynb"),
             Score("x0", "a2_spans", {"check-qa_loss": 2.0}, 2.0, 7.0, file="a2_spans (1).ipynb")]
    assert grade_class.unexpected(right, expected) == []
    assert len(grade_class.unexpected(right[:1], expected)) == 1  # a row missing
    for change in ({"status": "missing"}, {"points": {"check-qa_loss": 0.0}}, {"file": "a2_spans.ipynb"}):
        wrong = [right[0], Score(**{**right[1].__dict__, **change})]
        assert len(grade_class.unexpected(wrong, expected)) == 1, change


def test_a_notebook_saved_under_another_extension_is_graded_and_an_export_is_named_with_the_reason(tmp_path):
    from modlayers.course.submissions import find_submissions

    write(tmp_path / "alice" / "a1_pooling.ipynb.txt", STUDENT_A1.read_bytes())
    write(tmp_path / "alice" / "a2_spans.py", b"# exported\ndef best_spans(): pass\n")
    write(tmp_path / "alice" / "a3_token_loss.json", b"{}")
    write(tmp_path / "alice" / "notes.txt", b"my notes")
    (alice,), _ = find_submissions(tmp_path, NAMES, GRADE_IDS)
    assert alice.graded == {"a1_pooling": tmp_path / "alice" / "a1_pooling.ipynb.txt"}
    assert alice.renamed["a1_pooling"] == ("graded `a1_pooling.ipynb.txt`, a notebook saved as `.txt` instead of "
                                           "`a1_pooling.ipynb`")
    assert alice.unreadable["a2_spans"] == ("a2_spans.py", "saved as `.py`, not as the notebook `a2_spans.ipynb` (a Python "
                                            "script, as File > Download > Download .py writes it): download the notebook "
                                            "itself, File > Download > Download .ipynb")
    file, reason = alice.unreadable["a3_token_loss"]
    assert file == "a3_token_loss.json" and reason.startswith("saved as `.json`, not as the notebook `a3_token_loss.ipynb` "
                                                              "(not a notebook: an empty JSON object")
    assert alice.ignored == ["`notes.txt`: not a notebook (.ipynb)"]
