"""What every walkthrough exercise shares: a blank answer, a prediction compared after the run, a choice,
a number and a function checked the way the assignments check them.

An exercise in a walkthrough notebook is a cell the learner fills in (a variable, a function) and a check
under it. The rules:

- **a blank is not wrong.** The notebooks ship every answer as the learner's blank (``None`` or ``...``),
  so *Run All* goes through; a check of a blank prints one line, ``… <exercise>: not answered yet``, and
  returns ``False`` instead of failing.
- **a wrong answer is named, never corrected.** A wrong choice, number or function raises
  :class:`~modlayers.course.checking.CheckFailed` naming the case, what came back and the likely mistake
  (one of the exercise's known mistakes), never the right answer.
- **a prediction is not graded.** :func:`check_prediction` runs after the cell that computes the real
  value; it prints the prediction next to the run's value (both are visible now) and never raises.

Example:
    >>> check_choice("the loss", None, options={"a": (True, "right"), "b": (False, "wrong")})
    … the loss: not answered yet: set it to one of 'a', 'b' and run this cell again.
    False
    >>> check_prediction("rows", 3, 3)
    ✓ rows: you predicted 3, the run gives 3.
    True
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence

from modlayers.course.checking import CheckFailed, NotWrittenYet, call, describe_args, normalize, passed, same, short

__all__ = ["BLANKS", "as_number", "check_choice", "check_function", "check_number", "check_prediction", "is_blank", "not_answered"]

BLANKS = (None, Ellipsis)


def is_blank(answer) -> bool:
    """Whether ``answer`` is still the learner's blank (``None`` or ``...``)."""
    return any(answer is blank for blank in BLANKS)


def not_answered(name: str, how: str) -> bool:
    """Print that exercise ``name`` is not answered yet and how to answer it; return ``False``."""
    print(f"… {name}: not answered yet: {how}")
    return False


def check_prediction(name: str, prediction, actual, *, tolerance: float = 0.0, why: str = "") -> bool:
    """Compare a prediction made before a run with the run's value; print both, never raise.

    Args:
        name: what was predicted, as the notebook says it.
        prediction: the learner's prediction (a number, a string, a list), or a blank.
        actual: what the run gave.
        tolerance: for numbers, how far a prediction may be and still count as right (absolute).
        why: one sentence shown when the prediction differs: what decides the value.

    Returns:
        Whether the prediction matched (``False`` for a blank).

    Example:
        >>> check_prediction("pooled positions", [4, 7], [4, 8], why="left padding ends every row in the last column.")
        ✗ pooled positions: you predicted [4, 7], the run gives [4, 8]. Why: left padding ends every row in the last column.
        False
    """
    if is_blank(prediction):
        return not_answered(name, "write your prediction in the cell above the run, run it, then run this cell.")
    if isinstance(actual, (int, float)) and not isinstance(actual, bool):
        prediction = as_number(name, prediction)  # the run's value is a number: so must the prediction be
        right = math.isclose(prediction, actual, abs_tol=tolerance, rel_tol=0.0)
    else:
        right = same(normalize(prediction), normalize(actual), atol=tolerance)
    if right:
        print(f"✓ {name}: you predicted {short(prediction)}, the run gives {short(actual)}.")
        return True
    print(f"✗ {name}: you predicted {short(prediction)}, the run gives {short(actual)}." + (f" Why: {why}" if why else ""))
    return False


def check_choice(name: str, answer, *, options: Mapping[str, tuple[bool, str]]) -> bool:
    """Check a choice among ``options`` (``{option: (is_right, why)}``); a wrong one is named with its why.

    The ``why`` of a wrong option says what that choice overlooks, never which option is right.

    Raises:
        CheckFailed: a wrong option, with its explanation.
        ValueError: an answer that is none of the options (the options are listed).
    """
    if is_blank(answer):
        return not_answered(name, f"set it to one of {', '.join(repr(o) for o in options)} and run this cell again.")
    if answer not in options:
        raise ValueError(f"{name}: {answer!r} is none of the options; expected one of "
                         f"{', '.join(repr(o) for o in options)} (the exact text, in quotes).")
    right, why = options[answer]
    if not right:
        raise CheckFailed(f"{name}: {answer!r} is not it. {why}")
    passed(name, f"{answer!r}. {why}")
    return True


def as_number(name: str, answer) -> float | int:
    """The learner's number as a Python ``int`` or ``float``: numpy scalars and one-element tensors or arrays count.

    A student who computes ``np.prod(shape) * 4`` or ``tensor.sum()`` has written a number; only ``.item()`` stood
    between them and the check.

    Example:
        >>> import numpy as np, torch
        >>> as_number("bytes", np.int64(12)), as_number("share", torch.tensor(0.5))
        (12, 0.5)

    Raises:
        TypeError: a bool, a string, or a tensor or array of more than one element (its shape is named).
        ValueError: NaN or infinity (what a division by zero or an overflow gives).
    """
    if hasattr(answer, "numel") or hasattr(answer, "ndim"):  # a torch tensor, a numpy array or scalar
        size = answer.numel() if hasattr(answer, "numel") else getattr(answer, "size", 1)
        if size != 1:
            raise TypeError(f"{name}: expected one number, got a {type(answer).__name__} of shape "
                            f"{tuple(answer.shape)}; reduce it to the one number asked for (a sum, one entry).")
        answer = answer.item()
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {type(answer).__name__} {answer!r}; write it as 12 or 0.5.")
    if not math.isfinite(answer):
        raise ValueError(f"{name}: got {answer}, which is no finite number; look for a division by zero or an "
                         "overflow in the cell that computes it.")
    return answer


def check_number(name: str, answer, *, expected: float, tolerance: float,
                 mistakes: Sequence[tuple[float, str]] = (), hint: str = "") -> bool:
    """Check a number the learner worked out; a known wrong value is named with its mistake.

    Args:
        name: the exercise.
        answer: the learner's number (or a blank).
        expected: the right value (never shown).
        tolerance: absolute tolerance.
        mistakes: ``(value, what that value means)`` for the typical wrong answers.
        hint: said for any other wrong value: what to count, not the count.

    Raises:
        CheckFailed: a wrong number, with the mistake it matches or the hint.
        TypeError, ValueError: ``answer`` is not one finite number (see :func:`as_number`).
    """
    if is_blank(answer):
        return not_answered(name, "set it to a number and run this cell again.")
    answer = as_number(name, answer)
    if math.isclose(answer, expected, abs_tol=tolerance, rel_tol=0.0):
        passed(name, f"{answer}.")
        return True
    for value, mistake in mistakes:
        if math.isclose(answer, value, abs_tol=tolerance, rel_tol=0.0):
            raise CheckFailed(f"{name}: {answer} is what you get when {mistake}")
    direction = "too large" if answer > expected else "too small"
    raise CheckFailed(f"{name}: {answer} is {direction}. {hint}".rstrip())


def check_function(name: str, fn: Callable, reference: Callable, cases: Iterable[tuple[str, tuple]], *,
                   mistakes: Sequence[tuple[str, Callable]] = (), atol: float = 1e-5,
                   allowed: Sequence = (), references: Iterable[Callable] = ()) -> bool:
    """Run the learner's ``fn`` on named cases and compare with ``reference``; name the case and the mistake.

    Args:
        name: the function's name in the notebook.
        fn: the learner's function; a blank, the ``raise NotImplementedError()`` stub or a function that
            returns ``None`` (its body still ``...``) is not answered yet.
        reference: the kit's function with the same arguments.
        cases: ``(case name, args)``.
        mistakes: ``(what the mistake is, a function making it)``: when the learner's result equals one of
            them on the failing case, the message names that mistake.
        atol, allowed, references: as in :func:`modlayers.course.checking.call`.

    Raises:
        CheckFailed: the first case that differs: its name, the input, what came back and the likely mistake.
    """
    how = f"write the body of {name} in the cell above (replace the `...`), run it, then run this cell."
    if is_blank(fn):
        return not_answered(name, how)
    count = 0
    for case, args in cases:
        expected = normalize(reference(*copy.deepcopy(args)))
        try:
            mine = call(name, fn, *copy.deepcopy(args), allowed=allowed, references=references)
        except NotWrittenYet:
            return not_answered(name, how)
        if is_blank(mine):  # the template's body is still `...`: it returns None
            return not_answered(name, how)
        mine = normalize(mine)
        if same(mine, expected, atol):
            count += 1
            continue
        likely = next((what for what, wrong in mistakes if same(mine, normalize(wrong(*copy.deepcopy(args))), atol)), None)
        raise CheckFailed(
            f"{name}, {case}: your result differs.\n  input: {describe_args(args)}\n  yours: {short(mine)}"
            + (f"\n  likely mistake: {likely}" if likely else "")
        )
    passed(name, f"right on {count} cases.")
    return True
