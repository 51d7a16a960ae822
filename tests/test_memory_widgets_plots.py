"""Tests for the memory lab's figures (modlayers/lessons/plots/memory.py) and widget (modlayers/lessons/widgets.py)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from modlayers.lessons.memory.analytic import tiny_transformer_policy_bars  # noqa: E402
from modlayers.lessons.plots import plot_memory_bars, plot_memory_sweep, plot_policy_tradeoff, plot_segment_curve  # noqa: E402
from modlayers.lessons.widgets import memory_widget  # noqa: E402


def test_memory_widget_redraws_when_sliders_are_set_from_code():
    widget = memory_widget(layers=4, seq_len=128, batch=2)
    layers, seq_len, batch = widget.children[0].children
    before = widget.bars["off"]["attention, grows with seq_len²"]
    seq_len.value = 256
    assert widget.bars["off"]["attention, grows with seq_len²"] == 4 * before
    layers.value = 8
    assert widget.bars == tiny_transformer_policy_bars(8, 256, 2)
    plt.close("all")


def test_memory_widget_rejects_a_start_value_beyond_its_slider():
    with pytest.raises(ValueError, match="between 1 and max_layers"):
        memory_widget(layers=100)


def test_memory_plots_draw_their_elements():
    ax = plot_memory_sweep([1, 2], {"off": [2**20, 2**21]}, {"off": [2**20, 2**21]}, title="t")
    assert len(ax.lines) == 2
    rows = [{"policy": "off", "time_ratio": 1.0, "memory_ratio": 1.0}, {"policy": "every-layer", "time_ratio": 1.3, "memory_ratio": 0.1}]
    assert len(plot_policy_tradeoff(rows).collections) == 2
    segment_rows = [{"segments": s, "held_units": s + 16 / s, "predicted_units": s + 16 / s, "peak_units": None} for s in (1, 4, 16)]
    assert len(plot_segment_curve(segment_rows, depth=16).lines) == 3
    ax = plot_memory_bars(tiny_transformer_policy_bars(2, 64, 1))
    assert len(ax.patches) == 16  # 4 policies x 4 parts
    plt.close("all")
