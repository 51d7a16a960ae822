"""modlayers.lessons.memory.predictor_widget and breakdown_plot: the widget redraws what the predictor says."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from modlayers.lessons.memory.breakdown_plot import GIB, plot_breakdown, plot_world_size_sweep  # noqa: E402
from modlayers.lessons.memory.predictor import SHARDINGS, predict_memory  # noqa: E402
from modlayers.lessons.memory.predictor_widget import predictor_widget  # noqa: E402


@pytest.mark.parametrize("name", ["breakdown_plot", "predictor_widget", "scale_table"])
def test_docstring_examples_run_as_written(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"modlayers.lessons.memory.{name}"))
    plt.close("all")
    assert result.attempted > 0 and result.failed == 0


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


def test_widget_draws_in_the_gb_of_the_notebooks_text_and_the_gpu_line_at_80_gb(monkeypatch):
    """Notebook 06 and the scale table state GB (1e9 bytes); bars in GiB would show Llama-3-8B's 16.1 GB of
    FSDP2 state as 15.0, under a line labelled 'an 80 GB GPU: 75 GiB'."""
    from modlayers.lessons.memory import predictor_widget as module

    calls = []
    monkeypatch.setattr(module, "plot_breakdown", lambda bars, **kwargs: calls.append(kwargs) or plot_breakdown(
        bars, **kwargs))
    predictor_widget(model="llama-3-8b", world_size=8, seq_len=4096)
    ax = calls[-1]["ax"]
    assert ax.get_ylabel() == "one device's memory (GB)"
    assert "an 80 GB GPU: 80 GB" in [text.get_text() for text in ax.get_legend().get_texts()]
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


def test_widget_figure_and_world_size_sweep_draw_no_label_over_another():
    from test_plots_legibility import overlapping_texts

    widget = predictor_widget(model="llama-3-70b", world_size=64, seq_len=32768, checkpointing="off",
                              flash_attention=False)  # the longest title, the tallest bars
    fig, ax = plt.subplots(figsize=(8, 4.6))
    plot_breakdown(widget.bars, ax=ax, device_bytes=80e9, device_name="an 80 GB GPU",
                   title="llama-3-70b, bf16-autocast, W=1024, batch 64 x 32768 tokens, attention-core")
    assert overlapping_texts(fig) == []
    assert all(c.style.description_width == "initial" for c in widget.children[0].children)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    sizes = [2, 4, 8, 16, 32, 64]
    plot_world_size_sweep(sizes, {"state": [64 / w * 2**20 for w in sizes], "activations": [9 * 2**20] * 6},
                          {"state": [64 / w * 2**20 for w in sizes], "activations": [9 * 2**20] * 6},
                          title="One FSDP2 rank of a MiniLM-shaped model, 2 sequences of 32 tokens per rank")
    assert overlapping_texts(fig) == []
    plt.close("all")


def test_the_scale_table_command_prints_the_table_and_refuses_a_bad_world_size(capsys):
    from modlayers.lessons.memory import scale_table

    assert scale_table.main(["8"]) == 0
    printed = capsys.readouterr().out
    assert printed.strip() == scale_table.scale_table(8) and "fsdp2 (W=8)" in printed
    with pytest.raises(SystemExit) as stopped:
        scale_table.main(["0"])
    assert stopped.value.code == 2 and "world_size: must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        scale_table.main(["--help"])
    assert stopped.value.code == 0 and "[world_size]" in capsys.readouterr().out
