"""The memory timeline (modlayers/lessons/memory/timeline.py) and the peak predicted on paper (peak_breakdown.py).

The measurement is the torch profiler's record of every allocation of the step; the prediction is
written tensor by tensor from the model's shape. At the notebook's shape they agree to the byte, kind
by kind, with and without checkpointing.
"""

import matplotlib.pyplot as plt
import pytest
import torch

from modlayers.lessons.memory.measure import count_saved_bytes, profiler_peak_bytes, tiny_model_and_batch, training_step
from modlayers.lessons.memory.peak_breakdown import predicted_peak_breakdown
from modlayers.lessons.memory.policies import get_policy
from modlayers.lessons.memory.timeline import KINDS, memory_timeline
from modlayers.lessons.memory.timeline_plot import plot_memory_timelines

NOTEBOOK_SHAPE = dict(hidden_size=64, num_heads=4, seq_len=128, batch=2)  # notebook 04's peak section
MIB = 2**20


@pytest.fixture(scope="module")
def notebook_model():
    return tiny_model_and_batch(layers=2, **NOTEBOOK_SHAPE)


@pytest.fixture(scope="module")
def timelines(notebook_model):
    model, batch = notebook_model
    return {policy: memory_timeline(model, batch, policy) for policy in ("off", "every-layer")}


@pytest.mark.parametrize("layers", [2, 4, 6])
@pytest.mark.parametrize("policy", ["off", "every-layer"])
def test_what_is_alive_at_the_peak_equals_the_prediction_kind_by_kind(layers, policy):
    model, batch = tiny_model_and_batch(layers=layers, **NOTEBOOK_SHAPE)
    timeline = memory_timeline(model, batch, policy)
    predicted = predicted_peak_breakdown(model.config, NOTEBOOK_SHAPE["batch"], NOTEBOOK_SHAPE["seq_len"], policy)
    assert timeline.at_peak == {kind: sum(predicted[kind].values()) for kind in KINDS}
    assert timeline.peak_phase == ("forward" if policy == "off" else "backward")


def test_the_timelines_peak_is_the_profiler_peak_the_kit_reports(notebook_model, timelines):
    model, batch = notebook_model
    for policy, timeline in timelines.items():
        model.zero_grad(set_to_none=True)  # as memory_timeline starts: no gradients yet
        get_policy(policy).enable(model)
        reported = profiler_peak_bytes(lambda: training_step(model, batch, get_policy(policy)))
        assert timeline.peak_bytes == reported
        assert timeline.freed_from_before_bytes == 0


def test_every_gradient_is_classified_as_one_and_alive_at_the_end(notebook_model, timelines):
    model, _ = notebook_model
    parameter_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    for timeline in timelines.values():
        assert timeline.by_kind["gradients"][-1] == parameter_bytes
        assert timeline.weights_bytes == parameter_bytes  # (the model has no buffers)


def test_only_the_checkpointed_step_recomputes(timelines):
    assert max(timelines["off"].by_kind["recompute"]) == 0
    assert timelines["every-layer"].at_peak["recompute"] > 0


def test_the_peak_falls_far_less_than_the_saved_activations(notebook_model, timelines):
    """The lesson's figures: saved activations 4.70 -> 0.44 MiB, peak 5.14 -> 3.03 MiB."""
    model, batch = notebook_model
    saved = {policy: count_saved_bytes(model, batch, policy)["cpu"] for policy in ("off", "every-layer")}
    assert round(saved["off"] / MIB, 2) == 4.70 and round(saved["every-layer"] / MIB, 2) == 0.44
    peaks = {policy: timeline.peak_bytes / MIB for policy, timeline in timelines.items()}
    assert round(peaks["off"], 2) == 5.14 and round(peaks["every-layer"], 2) == 3.03
    # The checkpointed peak is mostly what only the backward pass makes: a recompute, gradients, temporaries.
    at_peak = timelines["every-layer"].at_peak
    assert at_peak["kept from the forward pass"] < 0.1 * timelines["every-layer"].peak_bytes


def test_the_prediction_refuses_a_policy_it_does_not_describe(notebook_model):
    model, _ = notebook_model
    with pytest.raises(ValueError, match="'off' and 'every-layer'.*got 'selective'"):
        predicted_peak_breakdown(model.config, 2, 128, "selective")


def test_the_timeline_refuses_a_model_off_the_cpu():
    with pytest.raises(ValueError, match="the model is on meta"):
        memory_timeline(torch.nn.Linear(2, 2, device="meta"), {}, "off")


def test_the_timeline_figure_names_the_peak_without_overlapping_labels(timelines):
    from tests.test_plots_legibility import overlapping_texts

    fig = plot_memory_timelines([timelines["off"], timelines["every-layer"]], title="One training step")
    texts = [t.get_text() for t in fig.findobj(plt.Text)]
    assert any(text.startswith("peak 5.14 MiB (forward)") for text in texts)
    assert any(text.startswith("peak 3.03 MiB (backward)") for text in texts)
    assert overlapping_texts(fig) == []
    plt.close(fig)
