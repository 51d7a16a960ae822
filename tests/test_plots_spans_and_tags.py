"""Tests for the QA and tagging figures of modlayers/lessons/plots/spans.py and tagging.py: they mark what the code computed."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from modlayers.lessons.plots import plot_span_logits, plot_tagged_words, plot_token_losses  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def patch(ax, gid):
    found = [p for p in ax.patches if p.get_gid() == gid]
    assert len(found) == 1, f"expected one patch with gid {gid!r}, found {len(found)}"
    return found[0]


TOKENS = ["[CLS]", "who", "[SEP]"] + [f"t{i}" for i in range(40)] + ["[SEP]"]


def test_span_logits_frames_the_spans_in_the_zoomed_heat_map():
    start, end = torch.zeros(len(TOKENS)), torch.zeros(len(TOKENS))
    start[20], end[22] = 3.0, 4.0
    top, bottom = plot_span_logits(TOKENS, start, end, predicted=(20, 22), expected=(25, 26), zoom=2)
    # Heat map covers tokens 18 .. 28 (2 before the first span, 2 after the last).
    assert [t.get_text() for t in bottom.get_xticklabels()] == TOKENS[18:29]
    shown = bottom.images[0].get_array()
    assert shown.shape == (2, 11) and shown[0, 2] == 3.0 and shown[1, 4] == 4.0
    predicted = patch(bottom, "predicted")
    assert predicted.get_x() == pytest.approx(20 - 18 - 0.5) and predicted.get_width() == 3
    assert patch(bottom, "expected").get_x() == pytest.approx(25 - 18 - 0.5)
    assert len(top.lines) == 2


def test_span_logits_heat_map_has_a_logit_colorbar_spanning_the_values_shown():
    start, end = torch.zeros(len(TOKENS)), torch.zeros(len(TOKENS))
    start[20], end[22], start[0] = 3.0, 4.0, -9.0  # -9 lies outside the zoomed columns
    _, bottom = plot_span_logits(TOKENS, start, end, predicted=(20, 22), zoom=2)
    colorbar = bottom.images[0].colorbar
    assert colorbar is not None and colorbar.ax.get_ylabel() == "logit"
    assert (colorbar.vmin, colorbar.vmax) == (0.0, 4.0)


def test_span_logits_rejects_mismatched_lengths_and_spans_outside_the_window():
    with pytest.raises(ValueError, match="one start and one end logit per token"):
        plot_span_logits(TOKENS, torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="inside the window"):
        plot_span_logits(TOKENS, torch.zeros(len(TOKENS)), torch.zeros(len(TOKENS)), predicted=(5, 99))


def test_token_losses_grey_out_ignored_tokens_and_report_the_counted_mean():
    ax = plot_token_losses(["[CLS]", "Ada", "##x", "[SEP]"], [0.0, 1.0, 0.0, 0.0], [-100, 1, -100, -100],
                           label_names=["O", "B-PER"])
    assert [p.get_gid() for p in ax.patches] == ["ignored", "counted", "ignored", "ignored"]
    assert "mean over counted = 1.000" in ax.get_title()
    with pytest.raises(ValueError, match="one of each per token"):
        plot_token_losses(["a"], [0.0, 1.0], [0])


def test_tagged_words_draw_one_box_per_entity():
    ax = plot_tagged_words(["Ada", "Lind", "joined", "Osterby", "Bank"], ["B-PER", "I-PER", "O", "B-ORG", "I-ORG"])
    assert sorted(p.get_gid() for p in ax.patches) == ["ORG 3-4", "PER 0-1"]
    with pytest.raises(ValueError, match="one tag per word"):
        plot_tagged_words(["Ada"], [])
    with pytest.raises(ValueError, match="unknown tag"):
        plot_tagged_words(["Ada"], ["PER"])


def test_windows_draw_one_bar_per_window_over_its_context_characters():
    from modlayers.lessons.plots import plot_windows

    # Two windows of 4 tokens: [CLS] q [SEP] c ; context tokens cover chars 0-10 and 6-20.
    offsets = torch.tensor([[[0, 0], [0, 1], [0, 0], [0, 10]], [[0, 0], [0, 1], [0, 0], [6, 20]]])
    mask = torch.tensor([[False, False, False, True], [False, False, False, True]])
    ax = plot_windows(offsets, mask, 20, answer=(12, 15), labelled=torch.tensor([False, True]))
    first, second = patch(ax, "window-0"), patch(ax, "window-1")
    assert (first.get_x(), first.get_width()) == (0, 10) and (second.get_x(), second.get_width()) == (6, 14)
    assert first.get_facecolor() != second.get_facecolor()  # grey: no answer; blue: holds it
    with pytest.raises(ValueError, match="offset_mapping"):
        plot_windows(offsets[0], mask, 20)
