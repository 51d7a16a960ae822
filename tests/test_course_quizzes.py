"""The quizzes (modlayers/course/quizzes/): every walkthrough section has 2-4 questions with stable, unique ids;
every answer is explained; a wrong option's explanation does not give the right one away; the widget answers a
click (driven from code here, in a real browser in tests/test_browser_notebooks.py); the assignments grade the
same questions with partial credit."""

import ipywidgets
import nbformat
import pytest

from modlayers.course.checking import CheckFailed, NotWrittenYet
from modlayers.course.quizzes import (
    NOTEBOOKS, QUIZ_POINTS, Quiz, all_questions, check_quiz_answers, choice, hidden_test_quiz_answers, questions_markdown,
    questions_of, quiz,
)
from modlayers.course.quizzes import _sections
from test_notebooks import NOTEBOOKS_DIR


def letter_of(question, text_start):
    """The letter under which ``question`` shows the option whose text starts with ``text_start``."""
    return next(letter for letter, (text, _, _) in zip(question.letters, question.options) if text.startswith(text_start))


def right_response(question):
    if question.numeric:
        return question.value
    return question.letters[[right for _, right, _ in question.options].index(True)]


@pytest.mark.parametrize("notebook", list(NOTEBOOKS))
def test_every_numbered_section_of_the_walkthrough_has_two_to_four_questions_shown_after_it(notebook):
    nb = nbformat.read(NOTEBOOKS_DIR / f"{NOTEBOOKS[notebook]}.ipynb", as_version=4)
    numbered = {int(line[3:].split(".")[0]) for cell in nb.cells if cell.cell_type == "markdown"
                for line in cell.source.splitlines() if line[:3] == "## " and line[3:4].isdigit()}
    sections = _sections(notebook)
    assert set(sections) == numbered
    assert all(2 <= len(questions) <= 4 for questions in sections.values())
    shown = [cell.source.strip().splitlines()[-1] for cell in nb.cells
             if cell.cell_type == "code" and f'quiz("{notebook}"' in cell.source]  # the cell's last line shows it
    assert sorted(f'quiz("{notebook}", {n})' for n in numbered) == sorted(shown)


def test_question_ids_are_unique_and_name_their_walkthrough():
    ids = [q.id for notebook in NOTEBOOKS for q in questions_of(notebook)]
    assert len(ids) == len(set(ids)) == len(all_questions())
    assert all(q.id.startswith(f"{notebook}/") for notebook in NOTEBOOKS for q in questions_of(notebook))


@pytest.mark.parametrize("question", list(all_questions().values()), ids=list(all_questions()))
def test_each_answer_is_explained_and_a_wrong_option_never_names_the_right_one(question):
    assert question.feedback(right_response(question)).right
    if question.numeric:
        for value, _ in question.mistakes:
            feedback = question.feedback(value)
            assert not feedback.right and feedback.text
        return
    right_text = next(text for text, right, _ in question.options if right)
    for letter, (text, right, why) in zip(question.letters, question.options):
        feedback = question.feedback(letter)
        assert feedback.right == right and feedback.text == why and why
        if not right:
            assert right_text not in why


def test_the_right_options_are_spread_over_the_letters():
    rights = [right_response(q) for q in all_questions().values() if not q.numeric]
    assert all(rights.count(letter) >= len(rights) // 5 for letter in "abc"), {x: rights.count(x) for x in "abc"}


def test_a_question_needs_exactly_one_right_option():
    with pytest.raises(ValueError, match="exactly one right"):
        choice("x/y", "?", ("a", True, ""), ("b", True, ""))


def test_the_widget_shows_the_explanation_of_a_click_and_answer_does_the_same_by_code(capsys):
    q = quiz("pooling", 2)
    assert isinstance(q.widget, ipywidgets.VBox)
    radio, area = q.controls[0], q.feedback_areas[0]
    assert isinstance(radio, ipywidgets.RadioButtons) and radio.value is None and area.value == ""
    pad_is_eos = q.questions[0]
    radio.value = letter_of(pad_is_eos, "The real end")  # what a click does
    assert "not quite" in area.value and "looks exactly like one" in area.value
    feedback = q.answer("pooling/pad-is-eos", letter_of(pad_is_eos, "The token just before").upper())
    assert feedback.right and "right" in area.value and "1. ✓ right" in capsys.readouterr().out
    numeric = quiz("pooling", 1)
    assert not numeric.answer(1, 3).right and "mask.sum() - 1" in numeric.feedback_areas[0].value
    assert numeric.answer(1, 8).right and numeric.controls[0].value == 8
    with pytest.raises(ValueError, match="no question of this quiz"):
        numeric.answer(5, "a")
    with pytest.raises(ValueError, match="no quiz"):
        quiz("attention", 1)


def test_quiz_answers_are_graded_with_partial_credit_and_wrong_ones_explained(capsys):
    questions = questions_of("pooling")
    every = {q.id: right_response(q) for q in questions}
    assert hidden_test_quiz_answers(lambda: every, "pooling") == QUIZ_POINTS == 2
    half = {q.id: (right_response(q) if i % 2 else None) for i, q in enumerate(questions)}
    assert hidden_test_quiz_answers(lambda: half, "pooling") == 1.0
    why_last = next(q for q in questions if q.id == "pooling/why-last-token")
    wrong = {**every, "pooling/why-last-token": letter_of(why_last, "Because the tokenizer"),
             "pooling/majority-class": "a quarter"}
    assert hidden_test_quiz_answers(lambda: wrong, "pooling") == round(2 * (len(questions) - 2) / len(questions), 2)
    assert check_quiz_answers(lambda: wrong, "pooling") is None
    out = capsys.readouterr().out
    assert "✗ pooling/why-last-token: No label is stored" in out and "expected a number" in out
    assert f"{len(questions) - 2} of {len(questions)} right" in out


def test_quiz_answers_stub_unknown_ids_and_no_dict_are_named():
    def stub():
        raise NotImplementedError()

    for check in (check_quiz_answers, hidden_test_quiz_answers):
        with pytest.raises(NotWrittenYet):
            check(stub, "pooling")
        with pytest.raises(CheckFailed, match="'pooling/nope'"):
            check(lambda: {"pooling/nope": "a"}, "pooling")
        with pytest.raises(CheckFailed, match="returned list"):
            check(lambda: ["a"], "pooling")


def test_a_quiz_of_no_questions_still_renders():
    assert isinstance(Quiz([]).widget, ipywidgets.VBox)


ASSIGNMENT_QUIZZES = {"a1_pooling": "pooling", "a2_spans": "spans", "a3_token_loss": "token_loss",
                      "a4_checkpointing": "checkpointing"}


@pytest.mark.parametrize("name, bank", ASSIGNMENT_QUIZZES.items())
def test_each_assignment_grades_its_walkthroughs_questions_and_the_solution_earns_every_point(name, bank):
    nb = nbformat.read(NOTEBOOKS_DIR / "assignments" / "solutions" / f"{name}.ipynb", as_version=4)
    cells = {cell.id: cell for cell in nb.cells}
    assert [c.id for c in nb.cells[-4:]] == ["quiz", "quiz-imports", "quiz_answers", f"check-quiz-{bank}"]  # appended
    assert questions_markdown(bank) in cells["quiz"].source, f"regenerate {name}'s quiz cells from the bank"
    namespace = {}
    exec(cells["quiz_answers"].source, namespace)  # the solution (the markers are comments)
    assert set(namespace["quiz_answers"]()) == {q.id for q in questions_of(bank)}
    assert hidden_test_quiz_answers(namespace["quiz_answers"], bank) == QUIZ_POINTS
    assert cells[f"check-quiz-{bank}"].metadata["nbgrader"]["points"] == QUIZ_POINTS


def test_a5_grades_notebook_05s_quiz_then_notebook_06s_and_the_solution_earns_every_point():
    nb = nbformat.read(NOTEBOOKS_DIR / "assignments" / "solutions" / "a5_scaling_out.ipynb", as_version=4)
    cells = {cell.id: cell for cell in nb.cells}
    assert [c.id for c in nb.cells[-7:]] == ["quiz", "quiz-imports", "quiz_answers", "check-quiz-scaling_out",
                                             "quiz-memory_at_scale", "memory_quiz_answers",
                                             "check-quiz-memory_at_scale"]  # appended, in course order
    for bank, markdown, function in (("scaling_out", "quiz", "quiz_answers"),
                                     ("memory_at_scale", "quiz-memory_at_scale", "memory_quiz_answers")):
        assert questions_markdown(bank) in cells[markdown].source, f"regenerate a5's {bank} quiz cells from the bank"
        namespace = {}
        exec(cells[function].source, namespace)  # the solution (the markers are comments)
        assert set(namespace[function]()) == {q.id for q in questions_of(bank)}
        assert hidden_test_quiz_answers(namespace[function], bank) == QUIZ_POINTS
        check = cells[f"check-quiz-{bank}"]
        assert check.metadata["nbgrader"]["points"] == QUIZ_POINTS and f'{function}, "{bank}"' in check.source


def test_a_numeric_answer_computed_with_numpy_or_torch_counts_as_a_number(capsys):
    import numpy as np
    import torch

    numeric = quiz("pooling", 1)
    assert numeric.answer(1, np.int64(8)).right and numeric.answer(1, torch.tensor(8)).right
    assert not numeric.answer(1, np.float32(3.0)).right
    with pytest.raises(TypeError, match=r"expected one number, got a Tensor of shape \(2,\)"):
        numeric.answer(1, torch.tensor([8, 8]))
    with pytest.raises(ValueError, match="no finite number"):
        numeric.answer(1, float("nan"))


def test_printing_a_quiz_shows_its_questions_and_options_but_no_explanation():
    q = quiz("pooling", 2)
    text = repr(q)
    assert text.startswith("Quiz: section 2\n1. ") and "Answer with .answer(question number, 'a')" in text
    for question in q.questions:
        assert question.prompt in text
        assert all(f") {option}" in text for option, _, _ in question.options)
        assert not any(why in text for _, _, why in question.options)
    assert "(a number)" in repr(quiz("pooling", 1))
