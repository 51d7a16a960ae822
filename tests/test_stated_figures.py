"""modlayers/lessons/stated_figures.py: a stated figure is asserted against the run and recorded for the load test."""

import pytest
import torch

from modlayers.lessons import stated_figures
from modlayers.lessons.stated_figures import FigureMismatch, check_claim, check_figure, compare_runs, recorded_figures


@pytest.fixture(autouse=True)
def fresh_record(monkeypatch):
    monkeypatch.setattr(stated_figures, "_RECORDED", {})


def test_a_value_within_tolerance_passes_prints_and_is_recorded(capsys):
    assert check_figure("accuracy", torch.tensor(0.91), stated=0.9, tolerance=0.02) == pytest.approx(0.91)
    assert "✓ accuracy: 0.910 (stated 0.9 ± 0.02)" in capsys.readouterr().out
    assert recorded_figures()["accuracy"]["value"] == pytest.approx(0.91)


def test_a_value_outside_tolerance_fails_naming_figure_value_and_statement():
    with pytest.raises(FigureMismatch, match=r"exact match: this run gives 0\.092, but the text states 0\.38 ± 0\.1"):
        check_figure("exact match", 0.092, stated=0.38, tolerance=0.1)
    assert recorded_figures()["exact match"]["value"] == 0.092  # recorded even when it fails


def test_a_percent_figure_states_its_figure_and_tolerance_in_percent_too(capsys):
    check_figure("activations removed", 0.399, stated=0.40, tolerance=0.005, fmt=".1%")
    assert "✓ activations removed: 39.9% (stated 40% ± 0.5%)" in capsys.readouterr().out
    with pytest.raises(FigureMismatch, match=r"gives 30\.0%, but the text states 40% ± 0\.5%"):
        check_figure("activations removed", 0.30, stated=0.40, tolerance=0.005, fmt=".1%")


@pytest.mark.parametrize("bad, error", [("0.3", TypeError), (True, TypeError), (float("nan"), ValueError)])
def test_a_value_that_is_no_number_is_refused(bad, error):
    with pytest.raises(error):
        check_figure("x", bad, stated=0.3, tolerance=0.1)


def test_compare_runs_reports_missing_figures_and_values_further_apart_than_the_tolerance():
    first = {"a": {"value": 0.30, "stated": 0.3, "tolerance": 0.05}, "b": {"value": 1.0, "stated": 1, "tolerance": 0}}
    second = {"a": {"value": 0.36, "stated": 0.3, "tolerance": 0.05}, "c": {"value": 1.0, "stated": 1, "tolerance": 0}}
    problems = compare_runs(first, second)
    assert "b: checked in one run only" in problems and "c: checked in one run only" in problems
    assert any(p.startswith("a: 0.3 in one run, 0.36") for p in problems)
    assert compare_runs(first, first) == []


def test_a_changed_setting_turns_a_figure_mismatch_into_a_note_naming_the_setting_and_records_nothing(capsys):
    """A *Try it* that changes a setting (notebook 02: FREEZE_LAYERS = 6) ends in an explanation, not an assert."""
    settings = {"FREEZE_LAYERS": (6, 2), "PRETRAINED_STEPS": (80, 80)}
    assert check_figure("pretrained reader exact match", 0.092, stated=0.408, tolerance=0.05, settings=settings) == 0.092
    out = capsys.readouterr().out
    assert "this run gives 0.092, the text states 0.408 ± 0.05" in out and "FREEZE_LAYERS = 6 (the lesson's 2)" in out
    assert "PRETRAINED_STEPS" not in out and "not a bug" in out
    check_figure("tiny", 0.06, stated=0.058, tolerance=0.04, settings=settings)
    assert "with your settings" in capsys.readouterr().out
    assert recorded_figures() == {}  # an idle and a busy run compare the lesson's settings only


def test_the_lessons_own_settings_still_fail_on_a_mismatch():
    with pytest.raises(FigureMismatch, match="exact match: this run gives 0.092"):
        check_figure("exact match", 0.092, stated=0.408, tolerance=0.05, settings={"FREEZE_LAYERS": (2, 2)})
    with pytest.raises(TypeError, match="this run's value, the lesson's value"):
        check_figure("exact match", 0.4, stated=0.408, tolerance=0.05, settings={"FREEZE_LAYERS": 6})


def test_a_claim_fails_with_the_lessons_settings_and_explains_with_changed_ones(capsys):
    assert check_claim("pretrained beats tiny", True) and "✓ pretrained beats tiny" in capsys.readouterr().out
    with pytest.raises(FigureMismatch, match="pretrained beats tiny: not in this run"):
        check_claim("pretrained beats tiny", False, settings={"FREEZE_LAYERS": (2, 2)})
    assert check_claim("pretrained beats tiny", False, settings={"FREEZE_LAYERS": (6, 2)}) is False
    assert "FREEZE_LAYERS = 6 (the lesson's 2)" in capsys.readouterr().out
