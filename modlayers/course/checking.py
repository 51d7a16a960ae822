"""What every assignment check shares: calling the learner's code, comparing results, reporting.

A check runs the learner's function on small cases and, on the first wrong answer, raises
:class:`CheckFailed` (an ``AssertionError``) whose message names the case, what came back, what was
expected and the likely cause. Three rules hold for every check:

- **expected values first, on copies.** The reference result of a case is computed before the
  learner's function runs, and the learner's function gets its own copy of the inputs, so a correct
  answer that changes its inputs in place (``labels[labels == -100] = 0``) is still graded right, and a
  failure message shows the input as it was given.
- **the learner's own code.** While the learner's function runs, :func:`call` watches which Python
  functions it calls: an answer that is, wraps or imports the kit's reference implementation (anything
  in ``modlayers`` outside the question's allowed modules), or is a verbatim copy of its code, fails
  with :class:`CheckFailed` saying so.
- **short tracebacks.** In a notebook, a failed check shows its message (and the learner's own frames
  when their code crashed), not the kit's internals: both exceptions define IPython's
  ``_render_traceback_``. A function that is still the ``raise NotImplementedError()`` stub raises
  :class:`NotWrittenYet` (a ``NotImplementedError``) with one line saying so.

Example:
    >>> call("double", lambda x: 2 * x, 3)
    6
"""

from __future__ import annotations

import copy
import inspect
import math
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch

PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)  # .../modlayers
CHECKING_FILE = str(Path(__file__).resolve())

__all__ = [
    "CheckFailed",
    "NotWrittenYet",
    "assert_matches_reference",
    "call",
    "passed",
    "require_scalar_loss",
    "require_tensor",
    "same",
    "short",
]


def _own_frames(error: BaseException | None) -> list[str]:
    """The traceback lines of ``error`` outside the kit (the learner's code, torch), or []."""
    if error is None or error.__traceback__ is None:
        return []
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith(PACKAGE_DIR)]
    if not frames:
        return []
    return ["Traceback (your code):\n", *traceback.format_list(frames),
            *traceback.format_exception_only(type(error), error)]


class CheckFailed(AssertionError):
    """A check found a wrong answer; the message says which case, what came back, what was expected.

    In IPython the traceback is the message alone (plus the learner's own frames when their code
    crashed), not the frames of the kit's checking code.
    """

    def _render_traceback_(self) -> list[str]:
        lines = [line.rstrip("\n") for line in "".join(_own_frames(self.__cause__)).splitlines()]
        return [*lines, f"\x1b[0;31mAssertionError\x1b[0m: {self}"]


class NotWrittenYet(NotImplementedError):
    """The learner's function is still the ``raise NotImplementedError()`` stub; shown as one line."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31mNotImplementedError\x1b[0m: {self}"]


# ---------------------------------------------------------------- calling the learner's code


class _Watch:
    """Records the kit functions a learner's function calls (a ``sys.setprofile`` hook while it runs)."""

    def __init__(self, allowed: Sequence):
        paths = [Path(PACKAGE_DIR) / path for path in allowed if isinstance(path, str)]
        missing = [str(path) for path in paths if not path.exists()]
        if missing:  # a path that moved would forbid what it should allow, and cost a right answer its points
            raise ValueError(f"allowed names {missing}, which do not exist; give paths under {PACKAGE_DIR}.")
        self.allowed = tuple(str(path) for path in paths)
        self.allowed_code = {_code_of(fn) for fn in allowed if not isinstance(fn, str)}
        self.found: list[str] = []

    def __call__(self, frame, event, arg):
        if event != "call" or self.found:
            return
        filename = frame.f_code.co_filename
        if (filename.startswith(PACKAGE_DIR) and filename != CHECKING_FILE and not filename.startswith(self.allowed)
                and frame.f_code not in self.allowed_code):
            module = frame.f_globals.get("__name__", filename)
            self.found.append(f"{module}.{frame.f_code.co_qualname}")


def _code_of(fn):
    """The code object of a function, method or wrapped function (``GradientCheckpointingLayer`` wraps forward)."""
    return getattr(inspect.unwrap(getattr(fn, "__func__", fn)), "__code__", None)


def _is_copy_of(fn: Callable, references: Iterable[Callable]) -> str | None:
    """The name of the reference whose compiled code ``fn`` repeats instruction for instruction."""
    mine = _code_of(fn)
    if mine is None:
        return None
    for reference in references:
        theirs = _code_of(reference)
        if theirs is not None and mine is not theirs and (mine.co_code, mine.co_names, mine.co_consts) == (
            theirs.co_code, theirs.co_names, theirs.co_consts
        ):
            return f"{reference.__module__}.{reference.__qualname__}"
    return None


def call(name: str, fn: Callable, *args, allowed: Sequence[str] = (), references: Iterable[Callable] = (), **kwargs):
    """Call the learner's function ``fn(*args, **kwargs)`` and return its result; say plainly what went wrong.

    Args:
        name: the function's name in the assignment, for the messages.
        fn: the learner's function (or class).
        allowed: paths under ``modlayers/`` (files or folders) whose code the answer may call, e.g.
            ``("checkpointing.py", "lessons/memory/")``, and kit functions it may call (the model's ``forward``);
            any other kit code it calls is the reference, or wraps it.
        references: the kit's implementations; an answer whose compiled code is theirs is a copy.

    Raises:
        TypeError: ``fn`` is not callable.
        NotWrittenYet: ``fn`` raised ``NotImplementedError`` (the stub).
        CheckFailed: ``fn`` crashed (the case and the cause are named), or it used or copied the kit's
            own implementation.
    """
    if not callable(fn):
        raise TypeError(
            f"expected the function {name}, got {type(fn).__name__} ({fn!r}). Run the cell that defines {name} "
            f"and pass the function itself, e.g. check_{name}({name})."
        )
    copied = _is_copy_of(fn, references)
    if copied:
        raise CheckFailed(f"{name} is a copy of the kit's {copied}. Write it yourself: copied code scores no points.")
    watch = _Watch(allowed)
    previous = sys.getprofile()
    sys.setprofile(watch)
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError:
        raise NotWrittenYet(
            f"{name} is not written yet: replace `raise NotImplementedError()` in its cell with your code, "
            "run that cell, then run this check again."
        ) from None
    except Exception as error:  # the learner's code crashed: say on which case, keep the cause
        raise CheckFailed(
            f"{name} raised {type(error).__name__}: {error}\n  called with {describe_args(args, kwargs)}"
        ) from error
    finally:
        sys.setprofile(previous)
    if watch.found:
        raise CheckFailed(
            f"{name} calls the kit's own {watch.found[0]}. The assignment is to write it yourself: an answer that "
            "is, wraps or imports the kit's implementation scores no points."
        )
    return result


def short(value, limit: int = 220) -> str:
    """``value`` on one line, at most ``limit`` characters (big tensors by their shape)."""
    if isinstance(value, torch.Tensor):
        text = repr(value.detach()) if value.numel() <= 64 else f"tensor of shape {tuple(value.shape)}"
    else:
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_args(args: Sequence, kwargs: dict | None = None) -> str:
    parts = [short(a) for a in args] + [f"{k}={short(v)}" for k, v in (kwargs or {}).items()]
    return ", ".join(parts)


def passed(name: str, what: str) -> None:
    print(f"✓ {name}: {what}")


def require_tensor(name: str, result, shape: tuple[int, ...], case: str) -> torch.Tensor:
    if not isinstance(result, torch.Tensor):
        raise CheckFailed(f"{case}: {name} returned {type(result).__name__} ({short(result)}); return a torch.Tensor.")
    if tuple(result.shape) != shape:
        raise CheckFailed(f"{case}: {name} returned shape {tuple(result.shape)}, expected {shape}.")
    return result


def require_scalar_loss(name: str, result, case: str) -> torch.Tensor:
    if not isinstance(result, torch.Tensor):
        raise CheckFailed(
            f"{case}: {name} returned {type(result).__name__} ({short(result)}); return a scalar torch.Tensor "
            "(loss.backward() needs a tensor, not a Python number)."
        )
    if result.numel() != 1:
        raise CheckFailed(
            f"{case}: {name} returned shape {tuple(result.shape)}; a loss is one number, the mean over the "
            "examples (or tokens) it counts."
        )
    return result.reshape(())


# ---------------------------------------------------------------- comparing with the reference


def normalize(value):
    """A value in a form that compares across tensors, numbers, tuples and named tuples."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return float(value) if value.dim() == 0 and value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    return value


def same(mine, reference, atol: float) -> bool:
    """Whether the learner's (normalized) result equals the reference's, floats to ``atol``."""
    if isinstance(reference, torch.Tensor):
        if not isinstance(mine, torch.Tensor) or mine.shape != reference.shape:
            return False
        if reference.is_floating_point():
            return bool(torch.allclose(mine.float(), reference.float(), atol=atol, rtol=1e-4, equal_nan=True))
        return bool(torch.equal(mine.long(), reference.long()))
    if isinstance(reference, float):
        if isinstance(mine, torch.Tensor) and mine.numel() == 1:
            mine = float(mine)
        if not isinstance(mine, (int, float)) or isinstance(mine, bool):
            return False
        if math.isnan(reference):
            return math.isnan(mine)
        return math.isclose(mine, reference, rel_tol=1e-4, abs_tol=atol)
    if isinstance(reference, list):
        if isinstance(mine, torch.Tensor):
            mine = mine.tolist()
        return (
            isinstance(mine, list) and len(mine) == len(reference)
            and all(same(m, r, atol) for m, r in zip(mine, reference))
        )
    if isinstance(reference, int) and isinstance(mine, (int, float, torch.Tensor)) and not isinstance(mine, bool):
        return float(mine) == reference
    return mine == reference


def assert_matches_reference(
    name: str,
    fn: Callable,
    reference: Callable,
    cases: Iterable[tuple],
    *,
    atol: float = 1e-5,
    allowed: Sequence[str] = (),
    references: Iterable[Callable] = (),
) -> int:
    """Raise :class:`CheckFailed` unless ``fn(*case) == reference(*case)`` for every case; return the count.

    Used by the hidden tests, on random cases drawn with the instructor's seed. For each case the
    reference runs first, on a copy; the learner's function then runs on another copy, so neither can
    change what the other sees, and a failure shows the case as it was drawn. Tensors are compared by
    shape and value (floats to ``atol``), losses as numbers, lists (of spans, of labels) element by element.

    Args:
        name: the learner's function name, for the message.
        fn: the learner's function.
        reference: the kit's function with the same arguments.
        cases: tuples of positional arguments.
        atol: absolute tolerance for floating-point results.
        allowed, references: as in :func:`call`.

    Raises:
        CheckFailed: the first case where the results differ, with the input and both results.
        NotWrittenYet: ``fn`` is still the stub.
        ValueError: ``cases`` is empty.

    Example:
        >>> assert_matches_reference("double", lambda x: x + x, lambda x: 2 * x, [(1,), (2.5,)])
        2
    """
    count = 0
    for case in cases:
        expected = normalize(reference(*copy.deepcopy(case)))
        mine = normalize(call(name, fn, *copy.deepcopy(case), allowed=allowed, references=references))
        if not same(mine, expected, atol):
            raise CheckFailed(
                f"{name} differs from the kit's reference on an input you have not seen:\n"
                f"  input:    {describe_args(case)}\n  yours:    {short(mine)}\n  expected: {short(expected)}"
            )
        count += 1
    if count == 0:
        raise ValueError("assert_matches_reference got no cases; pass at least one tuple of arguments.")
    return count
