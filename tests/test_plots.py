"""Tests for modlayers/lessons/plots/pooling.py and training.py: figures are drawn, and they mark what the code computed."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from modlayers.lessons.plots import plot_loss_curve, plot_pooled_batch, plot_pooling_grid, plot_pooling_weights  # noqa: E402
from modlayers.pooling import last_attended_index, last_non_pad_index  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def frame(ax, gid):
    found = [p for p in ax.patches if p.get_gid() == gid]
    assert len(found) == 1, f"expected one patch with gid {gid!r}, found {len(found)}"
    return found[0]


def column_of(patch):
    x, _ = patch.get_xy()
    return round(x + patch.get_width() / 2)


def test_pooling_grid_frames_the_last_real_token_for_right_and_left_padding():
    right = torch.tensor([[2, 7, 3, 0, 0], [2, 7, 8, 9, 3]])
    left = torch.tensor([[0, 0, 2, 7, 3], [2, 7, 8, 9, 3]])
    ax_right = plot_pooling_grid(right, last_non_pad_index(right, 0), pad_token_id=0)
    ax_left = plot_pooling_grid(left, last_non_pad_index(left, 0), pad_token_id=0)
    assert [column_of(frame(ax_right, f"pooled-{r}")) for r in range(2)] == [2, 4]
    assert [column_of(frame(ax_left, f"pooled-{r}")) for r in range(2)] == [4, 4]
    _, y = frame(ax_right, "pooled-1").get_xy()
    assert y == 0.5  # row 1 spans 0.5 .. 1.5


def test_pooling_grid_greys_padding_and_writes_the_tokens():
    ids = torch.tensor([[2, 7, 0]])
    ax = plot_pooling_grid(ids, -1, pad_token_id=0, tokens=[["[CLS]", "hi", "[PAD]"]])
    cells = [p for p in ax.patches if p.get_gid() is None]
    colours = [matplotlib.colors.to_hex(p.get_facecolor()) for p in cells]
    assert colours[2] == "#d9d9d9" and colours[0] != colours[2]
    assert [t.get_text() for t in ax.texts] == ["[CLS]", "hi", "[PAD]"]
    assert column_of(frame(ax, "pooled-0")) == 2  # -1 means the last position, pad or not


def test_pooling_grid_marks_the_expected_token_only_where_pooling_went_wrong():
    ids = torch.tensor([[2, 7, 3, 3], [2, 7, 8, 3]])  # pad = [SEP] = 3
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    ax = plot_pooling_grid(ids, last_non_pad_index(ids, 3), attention_mask=mask, expected_index=last_attended_index(mask))
    assert column_of(frame(ax, "pooled-0")) == 1 and column_of(frame(ax, "expected-0")) == 2
    assert column_of(frame(ax, "pooled-1")) == 2 and column_of(frame(ax, "expected-1")) == 3


def test_pooling_grid_refuses_an_index_outside_the_row():
    with pytest.raises(ValueError, match="outside"):
        plot_pooling_grid(torch.tensor([[1, 2]]), torch.tensor([2]))
    with pytest.raises(ValueError, match="one position per row"):
        plot_pooling_grid(torch.tensor([[1, 2]]), torch.tensor([0, 1]))


def test_pooling_weights_put_all_weight_where_each_rule_looks():
    mask = torch.tensor([[1, 1, 1, 0], [0, 1, 1, 1]])
    axes = plot_pooling_weights(mask, torch.tensor([2, 3]))
    first, last, mean = (ax.images[0].get_array() for ax in axes)
    assert first.tolist() == [[1, 0, 0, 0], [1, 0, 0, 0]]
    assert last.tolist() == [[0, 0, 1, 0], [0, 0, 0, 1]]
    assert mean[0].tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0])
    assert mean[1].tolist() == pytest.approx([0, 1 / 3, 1 / 3, 1 / 3])


def test_pooling_weights_each_heat_map_has_a_colorbar_on_its_own_scale():
    mask = torch.tensor([[1, 1, 1, 0], [0, 1, 1, 1]])
    axes = plot_pooling_weights(mask, torch.tensor([2, 3]))
    scales = []
    for ax in axes:
        colorbar = ax.images[0].colorbar
        assert colorbar is not None, f"{ax.get_title()!r} has no colorbar"
        assert colorbar.ax.get_ylabel() == "weight"
        scales.append((colorbar.vmin, colorbar.vmax))
    # first and last token put weight 1 somewhere; the mean's largest weight is 1/3 (three real tokens)
    assert scales == [(0, 1), (0, 1), (0, pytest.approx(1 / 3))]


def test_loss_curve_draws_raw_losses_and_their_moving_average():
    ax = plot_loss_curve([4.0, 2.0, 3.0, 1.0], smooth=2)
    raw, average = ax.lines
    assert list(raw.get_ydata()) == [4.0, 2.0, 3.0, 1.0]
    assert list(average.get_xdata()) == [2, 3, 4]
    assert list(average.get_ydata()) == [3.0, 2.5, 2.0]


def test_loss_curve_explains_empty_input():
    with pytest.raises(ValueError, match="at least one loss"):
        plot_loss_curve([])


def test_pooled_batch_draws_both_rules_from_a_pooling_batch():
    from modlayers.lessons.data import load_tokenizer
    from modlayers.lessons.widgets import pooling_batch

    batch = pooling_batch(load_tokenizer(), ["Rain in Osterby.", "Who won?"], pad_token="[SEP]")
    ax = plot_pooled_batch(batch)
    assert "[SEP]" in ax.get_title()
    for row in range(2):
        assert column_of(frame(ax, f"pooled-{row}")) == batch["pooled_index"][row].item()
        assert column_of(frame(ax, f"expected-{row}")) == batch["last_real_index"][row].item()
