"""Quizzes: a few conceptual questions after each section of a walkthrough, each answer explained.

Every question has a stable id (``"pooling/left-padding-position"``): the walkthrough shows it in a quiz
widget, and the assignments grade the same question by its id. The question bank is one module per
walkthrough (:mod:`~modlayers.course.quizzes.pooling` for notebook 01, ``spans`` 02, ``token_loss`` 03,
``checkpointing`` 04, ``scaling_out`` 05,
``memory_at_scale`` 06), each a ``SECTIONS`` dict ``{section number: [questions]}``.

- **multiple choice**: options ``a``, ``b``, ``c``, ...; each option carries why it is right or wrong (the
  Hugging Face course's style). The why of a wrong option says what it overlooks, never which option is right.
- **numeric**: a value with a tolerance; known wrong values carry the mistake they come from, any other
  wrong value gets a hint about what to count.

In a notebook, ``quiz("pooling", 1)`` shows the widget: a click on an option (or a number and *Check*)
shows its explanation. Without a browser, ``quiz("pooling", 1).answer(1, "b")`` answers question 1 by code
and prints the same explanation. In an assignment, :func:`check_quiz_answers` (visible) says which answers
are wrong and why; :func:`hidden_test_quiz_answers` returns the points, which nbgrader reads as partial credit.

Example:
    >>> q = quiz("pooling", 1)
    >>> q.answer(2, "b").right
    2. ✓ right: In a causal decoder position t sees tokens 0..t, so only the last real token has read everything.
    True
    >>> q.answer(1, 3).right
    1. ✗ not quite: 3 is what you get when you count the real tokens (mask.sum() - 1): right only for right padding.
    False
"""

from __future__ import annotations

import html
import math
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import import_module

from modlayers.course.answers import as_number
from modlayers.course.checking import CheckFailed, call

__all__ = ["NOTEBOOKS", "QUIZ_POINTS", "Feedback", "Question", "Quiz", "all_questions", "check_quiz_answers", "choice",
           "hidden_test_quiz_answers", "number", "questions_markdown", "questions_of", "quiz"]

# The walkthrough each bank belongs to, in course order.
NOTEBOOKS = {
    "pooling": "01_sequence_classification_pooling",
    "spans": "02_question_answering_span_logits",
    "token_loss": "03_token_classification_loss",
    "checkpointing": "04_gradient_checkpointing_memory",
    "scaling_out": "05_scaling_out_ddp_fsdp",
    "memory_at_scale": "06_memory_at_scale",
}
LETTERS = "abcdefgh"


@dataclass(frozen=True)
class Feedback:
    """The answer to one response: whether it is right and why."""

    right: bool
    text: str

    def __str__(self) -> str:
        return f"{'✓ right' if self.right else '✗ not quite'}: {self.text}"


@dataclass(frozen=True)
class Question:
    """One quiz question: multiple choice (``options``) or numeric (``value``)."""

    id: str
    prompt: str
    options: tuple[tuple[str, bool, str], ...] = ()  # (text, is right, why)
    value: float | None = None
    tolerance: float = 0.0
    why: str = ""  # numeric: why the value is right, shown once it is answered right
    mistakes: tuple[tuple[float, str], ...] = ()  # numeric: (a typical wrong value, the mistake behind it)
    hint: str = ""  # numeric: said for any other wrong value
    letters: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self):
        if bool(self.options) == (self.value is not None):
            raise ValueError(f"{self.id}: a question has either options or a value, not both nor neither.")
        if self.options and sum(right for _, right, _ in self.options) != 1:
            raise ValueError(f"{self.id}: a multiple-choice question needs exactly one right option.")
        object.__setattr__(self, "letters", tuple(LETTERS[: len(self.options)]))

    @property
    def numeric(self) -> bool:
        return self.value is not None

    def feedback(self, response) -> Feedback:
        """Why ``response`` (an option letter, or a number) is right or wrong.

        Raises:
            ValueError: a letter that is no option; TypeError: a numeric question answered with no number.
        """
        if self.numeric:
            response = as_number(self.id, response)
            if math.isclose(response, self.value, abs_tol=self.tolerance, rel_tol=0.0):
                return Feedback(True, self.why)
            for value, mistake in self.mistakes:
                if math.isclose(response, value, abs_tol=self.tolerance, rel_tol=0.0):
                    return Feedback(False, f"{response} is what you get when {mistake}")
            return Feedback(False, f"{response} is too {'large' if response > self.value else 'small'}. {self.hint}".rstrip())
        letter = response.strip().lower() if isinstance(response, str) else response
        if letter not in self.letters:
            raise ValueError(f"{self.id}: {response!r} is no option; expected one of "
                             f"{', '.join(repr(x) for x in self.letters)}.")
        _, right, why = self.options[self.letters.index(letter)]
        return Feedback(right, why)


def choice(id: str, prompt: str, *options: tuple[str, bool, str]) -> Question:
    """A multiple-choice question; ``options`` are ``(text, is right, why)``, exactly one right.

    The options are shown rotated by a hash of the id (the same on every machine and every run), so the
    right one is not always ``a``.
    """
    turn = zlib.crc32(id.encode()) % max(len(options), 1)
    return Question(id=id, prompt=prompt, options=tuple(options[turn:]) + tuple(options[:turn]))


def number(id: str, prompt: str, value: float, why: str, *, tolerance: float = 0.0,
           mistakes: Sequence[tuple[float, str]] = (), hint: str = "") -> Question:
    """A numeric question: ``value`` within ``tolerance``; ``mistakes`` are ``(wrong value, its cause)``."""
    return Question(id=id, prompt=prompt, value=float(value), tolerance=tolerance, why=why,
                    mistakes=tuple(mistakes), hint=hint)


# ---------------------------------------------------------------- the bank


def _sections(notebook: str) -> dict[int, list[Question]]:
    if notebook not in NOTEBOOKS:
        raise ValueError(f"no quiz for {notebook!r}; expected one of {', '.join(repr(n) for n in NOTEBOOKS)}.")
    return import_module(f"modlayers.course.quizzes.{notebook}").SECTIONS


def questions_of(notebook: str) -> list[Question]:
    """Every question of one walkthrough, section by section."""
    return [q for section in _sections(notebook).values() for q in section]


def all_questions() -> dict[str, Question]:
    """``{id: question}`` over every walkthrough."""
    return {q.id: q for notebook in NOTEBOOKS for q in questions_of(notebook)}


def quiz(notebook: str, section: int) -> Quiz:
    """The quiz after ``section`` of walkthrough ``notebook`` (``"pooling"``, ..., see :data:`NOTEBOOKS`)."""
    sections = _sections(notebook)
    if section not in sections:
        raise ValueError(f"{notebook} has quizzes after sections {sorted(sections)}, not {section!r}.")
    return Quiz(sections[section], title=f"Quiz: section {section}")


# ---------------------------------------------------------------- the widget


def _inline_html(text: str) -> str:
    """Markdown's inline code and bold as HTML, everything else escaped."""
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)


class Quiz:
    """Questions shown as one ipywidgets box; each answer, clicked or given by :meth:`answer`, explained.

    Multiple choice: radio buttons, and the explanation of the clicked option under them. Numeric: a
    number box and a *Check* button. ``answer(question, response)`` does the same from code.
    """

    def __init__(self, questions: Sequence[Question], title: str = "Quiz"):
        import ipywidgets as widgets

        self.questions = list(questions)
        self.title = title
        self.controls, self.feedback_areas, boxes = [], [], [widgets.HTML(f"<b>{html.escape(title)}</b>")]
        for number_, question in enumerate(self.questions, start=1):
            prompt = widgets.HTML(f"<p><b>{number_}.</b> {_inline_html(question.prompt)}</p>",
                                  layout=widgets.Layout(width="100%"))
            shown = widgets.HTML("", layout=widgets.Layout(width="100%"))
            if question.numeric:
                control = widgets.FloatText(value=None, layout=widgets.Layout(width="12em"))
                button = widgets.Button(description="Check", layout=widgets.Layout(width="auto"))
                button.on_click(lambda _, q=question, c=control, s=shown: self._show(q, c.value, s))
                row = widgets.HBox([control, button])
            else:
                labels = [(f"{letter}) {text}", letter) for letter, (text, _, _) in zip(question.letters, question.options)]
                control = widgets.RadioButtons(options=labels, value=None, layout=widgets.Layout(width="100%"))
                control.observe(lambda change, q=question, s=shown: self._show(q, change["new"], s), names="value")
                row = control
            self.controls.append(control)
            self.feedback_areas.append(shown)
            boxes += [prompt, row, shown]
        self.widget = widgets.VBox(boxes, layout=widgets.Layout(border="1px solid #ccc", padding="4px 12px"))

    @staticmethod
    def _show(question: Question, response, area) -> Feedback | None:
        if response is None:
            area.value = ""
            return None
        feedback = question.feedback(response)
        colour = "#1b7837" if feedback.right else "#b2182b"
        area.value = f'<p style="color:{colour}">{_inline_html(str(feedback))}</p>'
        return feedback

    def _index(self, question: int | str) -> int:
        ids = [q.id for q in self.questions]
        if isinstance(question, str) and question in ids:
            return ids.index(question)
        if isinstance(question, int) and not isinstance(question, bool) and 1 <= question <= len(ids):
            return question - 1
        raise ValueError(f"{question!r} is no question of this quiz; give its number (1 to {len(ids)}) or its id "
                         f"({', '.join(ids)}).")

    def answer(self, question: int | str, response) -> Feedback:
        """Answer ``question`` (its number from 1, or its id) with ``response``; show and print why.

        Example:
            >>> quiz("pooling", 1).answer(1, "a").right  # doctest: +SKIP
        """
        index = self._index(question)
        q, area = self.questions[index], self.feedback_areas[index]
        feedback = q.feedback(response)  # raises on an impossible response before anything changes
        if q.numeric:
            self.controls[index].value = float(response)
            self._show(q, response, area)
        else:
            letter = response.strip().lower()
            if self.controls[index].value == letter:
                self._show(q, letter, area)
            self.controls[index].value = letter  # the observer shows the explanation
        print(f"{index + 1}. {feedback}")
        return feedback

    def __repr__(self) -> str:
        """The quiz as text where no widget shows it (``print(quiz(...))``, a terminal): questions and options only."""
        lines = [self.title]
        for number_, question in enumerate(self.questions, start=1):
            lines.append(f"{number_}. {question.prompt}")
            lines += (["   (a number)"] if question.numeric else
                      [f"   {letter}) {text}" for letter, (text, _, _) in zip(question.letters, question.options)])
        example = "8" if self.questions and self.questions[0].numeric else "'a'"
        lines.append(f"Answer with .answer(question number, {example}); each answer is explained.")
        return "\n".join(lines)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


# ---------------------------------------------------------------- graded in the assignments


QUIZ_POINTS = 2  # the points of one walkthrough's quiz in its assignment


def _graded(answers: Callable[[], Mapping[str, object]], notebook: str) -> tuple[int, list[Question], list[str]]:
    """(right answers, the questions, one line per question) for the learner's ``answers`` function."""
    given = call("quiz_answers", answers)
    questions = questions_of(notebook)
    if not isinstance(given, Mapping):
        raise CheckFailed(f"quiz_answers returned {type(given).__name__}; return the dict of answers, "
                          "{question id: letter or number}.")
    unknown = sorted(set(given) - {q.id for q in questions})
    if unknown:
        raise CheckFailed(f"quiz_answers names questions that are not in the quiz of {NOTEBOOKS[notebook]}: "
                          f"{', '.join(map(repr, unknown))}. Keep the ids as given.")
    right, lines = 0, []
    for q in questions:
        response = given.get(q.id)
        if response is None or response is Ellipsis:
            lines.append(f"… {q.id}: not answered")
            continue
        try:
            feedback = q.feedback(response)
        except (TypeError, ValueError) as error:
            lines.append(f"✗ {q.id}: {error}")
            continue
        right += feedback.right
        lines.append(f"✓ {q.id}" if feedback.right else f"✗ {q.id}: {feedback.text}")
    return right, questions, lines


def check_quiz_answers(answers: Callable[[], Mapping[str, object]], notebook: str) -> None:
    """The visible check of an assignment's quiz: one line per question (right, wrong and why, not answered).

    Args:
        answers: the learner's function returning ``{question id: option letter or number}``
            (``None`` for a question not answered yet).
        notebook: the bank (``"pooling"``, ...).

    Raises:
        NotWrittenYet: ``answers`` is still the stub.
        CheckFailed: ``answers`` returns no dict, or names a question id that is not in the quiz.
    """
    right, questions, lines = _graded(answers, notebook)
    print("\n".join(lines))
    print(f"{right} of {len(questions)} right: each right answer earns {QUIZ_POINTS / len(questions):.3g} points")


def hidden_test_quiz_answers(answers: Callable[[], Mapping[str, object]], notebook: str) -> float:
    """The graded part: the points earned, :data:`QUIZ_POINTS` times the share of right answers (2 decimals).

    The last line of the nbgrader check cell, so nbgrader reads it as partial credit.
    """
    right, questions, _ = _graded(answers, notebook)
    return round(QUIZ_POINTS * right / len(questions), 2)


def questions_markdown(notebook: str) -> str:
    """The questions of one walkthrough as Markdown, for an assignment: section, id, prompt and options."""
    lines = []
    for section, questions in _sections(notebook).items():
        for q in questions:
            lines.append(f"- `{q.id}` (section {section}): {q.prompt}")
            lines += [f"  - `{letter}` {text}" for letter, (text, _, _) in zip(q.letters, q.options)]
            if q.numeric:
                lines.append("  - a number")
    return "\n".join(lines)
