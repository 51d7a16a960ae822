"""modlayers.memory.predictor_widget and breakdown_plot: the widget redraws what the predictor says."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from modlayers.memory.breakdown_plot import GIB, plot_breakdown, plot_world_size_sweep  # noqa: E402
from modlayers.memory.predictor import SHARDINGS, predict_memory  # noqa: E402
from modlayers.memory.predictor_widget import predictor_widget  # noqa: E402


def test_widget_draws_every_sharding_and_redraws_when_a_control_is_set_from_code():
    widget = predictor_widget(model="llama-3-8b", world_size=8, seq_len=4096)
    assert list(widget.bars) == list(SHARDINGS)
    assert widget.bars["zero3"].total == predict_memory("llama-3-8b", sharding="zero3", world_size=8, seq_len=4096,
                                                        checkpointing="every-layer", flash_attention=True).total
    zero3_at_8 = widget.bars["zero3"].state
    widget.children[0].children[3].value = 64  # world size
    assert widget.bars["zero3"].state == pytest.approx(zero3_at_8 / 8)
    assert widget.bars["ddp"].state == widget.bars["none"].state  # DDP divides nothing
    widget.children[0].children[0].value = "qwen2-0.5b"
    assert widget.bars["none"].parameters == 494_032_768
    plt.close("all")


def test_widget_refuses_a_start_value_outside_its_options():
    with pytest.raises(ValueError, match="world_size=3 is not one of"):
        predictor_widget(world_size=3)


def test_breakdown_bars_stack_the_five_columns_to_the_total():
    bars = {s: predict_memory("minilm", sharding=s, world_size=4, seq_len=512) for s in ("ddp", "zero2")}
    ax = plot_breakdown(bars, device_bytes=16e9)
    tops = [max(p.get_y() + p.get_height() for p in ax.patches if abs(p.get_x() + p.get_width() / 2 - i) < 0.01)
            for i in range(2)]
    assert tops == pytest.approx([b.total / GIB for b in bars.values()])
    with pytest.raises(ValueError, match="bars is empty"):
        plot_breakdown({})
    ax = plot_world_size_sweep([2, 4], {"state": [4.0, 2.0]}, {"state": [4.0, 2.0]})
    assert len(ax.lines) == 2
    plt.close("all")
