"""Figures a lesson states, checked against the run that produces them.

A notebook that writes "about 0.38 exact match" in its text must get 0.38 from its own run, on any
machine and at any load. :func:`check_figure` is how a notebook says so: it asserts that the run's value
lies within the stated tolerance of the stated figure, prints one line a student can read, and records
the value under a name. The test suite reads the record back (:func:`recorded_figures`) to compare two
runs of the same notebook, one on an idle machine and one on a busy one (``tests/test_notebooks.py``).

Only steps, seeds and data decide a figure; wall time never does, so the two runs must agree.

Example:
    >>> _ = check_figure("best rule exact match", 0.15, stated=0.15, tolerance=0.005)
    ✓ best rule exact match: 0.150 (stated 0.15 ± 0.005)
    >>> recorded_figures()["best rule exact match"]
    {'value': 0.15, 'stated': 0.15, 'tolerance': 0.005}
"""

from __future__ import annotations

import math
from numbers import Real

MARKER = "MODLAYERS_STATED_FIGURES"  # the line the test suite's last cell prints, followed by JSON

_RECORDED: dict[str, dict[str, float]] = {}


class FigureMismatch(AssertionError):
    """The run produced a value outside the tolerance of the figure the lesson states (or a claim failed)."""


def changed_settings(settings: dict | None) -> list[str]:
    """The settings a learner changed: ``{name: (this run's value, the lesson's value)}`` -> ``["NAME = 6 (the
    lesson's 2)", ...]`` for those that differ.

    Example:
        >>> changed_settings({"FREEZE_LAYERS": (6, 2), "STEPS": (80, 80)})
        ["FREEZE_LAYERS = 6 (the lesson's 2)"]
    """
    if settings is None:
        return []
    if not isinstance(settings, dict) or not all(isinstance(v, tuple) and len(v) == 2 for v in settings.values()):
        raise TypeError(f"settings must be {{name: (this run's value, the lesson's value)}}, got {settings!r}.")
    return [f"{name} = {mine!r} (the lesson's {lesson!r})" for name, (mine, lesson) in settings.items() if mine != lesson]


def _settings_note(what: str, changed: list[str]) -> None:
    print(f"ℹ {what}. Your settings differ from the lesson's: {', '.join(changed)}. The text states its figures "
          "for the lesson's settings, so this is the effect of your change, not a bug; set them back and rerun "
          "to see the stated figures again.")


def check_claim(what: str, holds: bool, *, settings: dict | None = None) -> bool:
    """Assert a claim the text makes (``holds``), unless the learner changed a setting it depends on.

    Args:
        what: the claim, as the text says it ("the pretrained reader beats every rule").
        holds: whether this run bears it out.
        settings: ``{name: (this run's value, the lesson's value)}`` the claim depends on.

    Raises:
        FigureMismatch: the claim fails with the lesson's settings.

    Example:
        >>> check_claim("pretrained beats tiny", False, settings={"FREEZE_LAYERS": (6, 2)})
        ℹ pretrained beats tiny: not in this run. Your settings differ from the lesson's: FREEZE_LAYERS = 6 (the lesson's 2). The text states its figures for the lesson's settings, so this is the effect of your change, not a bug; set them back and rerun to see the stated figures again.
        False
    """
    if holds:
        print(f"✓ {what}")
        return True
    changed = changed_settings(settings)
    if changed:
        _settings_note(f"{what}: not in this run", changed)
        return False
    raise FigureMismatch(f"{what}: not in this run. Something that changes training (the data, the head, the loss, "
                         "the decoder, a cell edited above) changed the result; rerun the notebook from the top, and "
                         "if it still fails, the change broke the lesson.")


def check_figure(name: str, value, *, stated: float, tolerance: float, fmt: str = ".3f",
                 settings: dict | None = None) -> float:
    """Assert ``|value - stated| <= tolerance``, record ``value`` under ``name``, print a ✓ line.

    When the learner changed a setting the figure depends on (a *Try it*), a value outside the tolerance
    is explained instead: which settings differ from the lesson's, and that the stated figure holds for
    the lesson's settings. Such a value is not recorded.

    Args:
        name: what the figure is, as the text calls it ("pretrained reader exact match"); unique per notebook.
        value: the run's number (a float, an int, or a one-element tensor).
        stated: the figure the notebook's text states.
        tolerance: how far the run may be from ``stated`` on any machine (absolute, same units).
        fmt: format of the printed value. A percent format (``".1%"``) prints the stated figure and the
            tolerance as percentages too, so the line reads ``39.9% (stated 40% ± 0.5%)``.
        settings: ``{name: (this run's value, the lesson's value)}`` of the settings the figure depends on,
            e.g. ``{"FREEZE_LAYERS": (FREEZE_LAYERS, 2)}``.

    Returns:
        ``value`` as a float, so a cell can go on using it.

    Raises:
        TypeError: ``value`` is not a real number (or a one-element tensor).
        ValueError: ``tolerance`` is negative, or ``value`` is NaN.
        FigureMismatch: the run's value is outside ``stated ± tolerance``; the message names the figure,
            the value, the stated figure and the tolerance.
    """
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"check_figure({name!r}) needs a number, got {type(value).__name__} {value!r}.")
    if tolerance < 0:
        raise ValueError(f"check_figure({name!r}): tolerance must be >= 0, got {tolerance}.")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"check_figure({name!r}): the run produced NaN, the text states {stated}.")
    changed = changed_settings(settings)
    if changed:
        if abs(value - stated) > tolerance:
            _settings_note(f"{name}: this run gives {value:{fmt}}, the text states "
                           f"{_statement(stated, tolerance, fmt)}", changed)
        else:
            print(f"✓ {name}: {value:{fmt}} (stated {_statement(stated, tolerance, fmt)}, with your settings)")
        return value
    _RECORDED[name] = {"value": value, "stated": stated, "tolerance": tolerance}
    statement = _statement(stated, tolerance, fmt)
    if abs(value - stated) > tolerance:
        raise FigureMismatch(
            f"{name}: this run gives {value:{fmt}}, but the text states {statement}. Something that "
            "changes training (the data, the head, the loss, the decoder, a cell edited above) changed the result; "
            "rerun the notebook from the top, and if it still differs, the change broke the lesson."
        )
    print(f"✓ {name}: {value:{fmt}} (stated {statement})")
    return value


def _statement(stated: float, tolerance: float, fmt: str) -> str:
    """``stated ± tolerance`` as the text writes it: in percent when the value is printed in percent."""
    if fmt.endswith("%"):
        return f"{100 * stated:g}% ± {100 * tolerance:g}%"
    return f"{stated} ± {tolerance}"


def recorded_figures() -> dict[str, dict[str, float]]:
    """Every figure checked so far in this process: ``{name: {"value", "stated", "tolerance"}}`` (a copy)."""
    return {name: dict(entry) for name, entry in _RECORDED.items()}


def compare_runs(first: dict, second: dict) -> list[str]:
    """Differences between two runs' :func:`recorded_figures`: names missing from one, values further apart
    than the figure's tolerance. An empty list means the runs state the same figures.

    Example:
        >>> compare_runs({"em": {"value": 0.38, "stated": 0.38, "tolerance": 0.05}},
        ...              {"em": {"value": 0.40, "stated": 0.38, "tolerance": 0.05}})
        []
    """
    problems = [f"{name}: checked in one run only" for name in sorted(set(first) ^ set(second))]
    for name in sorted(set(first) & set(second)):
        a, b = first[name]["value"], second[name]["value"]
        tolerance = max(first[name]["tolerance"], second[name]["tolerance"])
        if abs(a - b) > tolerance:
            problems.append(f"{name}: {a} in one run, {b} in the other (tolerance {tolerance})")
    return problems
