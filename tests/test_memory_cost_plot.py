"""Tests for modlayers/lessons/memory/cost_plot.py and recompute_flops.pareto_front: the front is the non-dominated set."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from modlayers.lessons.memory.cost_plot import plot_memory_flops_tradeoff  # noqa: E402
from modlayers.lessons.memory.recompute_flops import StepFlops, pareto_front  # noqa: E402

STEPS = [
    StepFlops("off", 10, 20, 0, 100), StepFlops("offload", 10, 20, 0, 100), StepFlops("every-layer", 10, 20, 10, 10),
    StepFlops("every-2", 10, 20, 5, 60), StepFlops("compile budget 0.5", 10, 20, 2, 40),
    StepFlops("inductor budget 1", 10, 20, 0, 5),
]


def test_the_front_keeps_exactly_the_steps_nothing_beats_on_both_axes():
    front = pareto_front(STEPS[:5])
    assert [step.policy for step in front] == ["off", "offload", "compile budget 0.5", "every-layer"]  # every-2 is beaten


def test_a_prediction_without_saved_bytes_is_refused_by_name():
    with pytest.raises(ValueError, match="'p' has no saved_bytes"):
        pareto_front([StepFlops("p", 1, 2, 0)])


def test_the_plot_draws_every_step_labels_equal_costs_once_and_keeps_inductor_out_of_the_front():
    fig = plot_memory_flops_tradeoff(STEPS, time_ratios={"off": 1.0, "every-layer": 1.4}, machine="a test")
    left, right = fig.axes
    assert sum(len(collection.get_offsets()) for collection in left.collections) == len(STEPS)
    assert "off, offload" in [text.get_text() for text in left.texts]
    front_line = next(line for line in left.lines if line.get_label().startswith("Pareto front"))
    assert min(front_line.get_ydata()) == pytest.approx(10 / 2**20)  # every-layer, not inductor's 5 bytes
    assert "noisy" in right.get_title() and "a test" in right.get_title()
