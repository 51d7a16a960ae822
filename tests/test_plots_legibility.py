"""What the figures and widgets look like: no two labels drawn on top of each other, subtitles that name
only what is drawn, widget labels and text boxes wide enough for their text. Seen in JupyterLab first;
checked here on the drawn figure (text extents in pixels after ``canvas.draw()``)."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from modlayers.lessons.memory import tiny_transformer_policy_bars  # noqa: E402
from modlayers.lessons.plots import plot_memory_bars, plot_policy_tradeoff, plot_span_logits, plot_token_losses  # noqa: E402

TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-DATE", "I-DATE"]


def overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty texts of ``fig`` whose drawn boxes overlap (by more than 1 pixel)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in fig.findobj(plt.Text) if t.get_visible() and t.get_text().strip()]
    boxes = [(t.get_text(), t.get_window_extent(renderer).expanded(1.0, 1.0).padded(-1)) for t in texts]
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:] if box_a.overlaps(box_b)]


def test_token_losses_labels_do_not_overlap_in_the_notebooks_side_by_side_figure():
    # Notebook 03 draws an untrained and a trained tagger side by side, 13 x 3.4 inches, ~16 tokens each.
    tokens = ["[CLS]", "ada", "lind", "##qvist", "joined", "oster", "##by", "bank", "in", "march", "2019", ".",
              "and", "left", "early", "[SEP]"]
    labels = [-100, 1, 2, -100, 0, 3, -100, 4, 0, 7, 8, 0, 0, 0, 0, -100]
    fig, (before, after) = plt.subplots(1, 2, figsize=(13, 3.4), sharey=True)
    plot_token_losses(tokens, [0.0 if l == -100 else 2.2 for l in labels], labels, label_names=TAGS, ax=before,
                      title="untrained")
    plot_token_losses(tokens, [0.0 if l == -100 else 0.05 * i for i, l in enumerate(labels)], labels,
                      label_names=TAGS, ax=after, title="trained")
    fig.tight_layout()
    assert overlapping_texts(fig) == []
    assert [t.get_text() for t in before.get_xticklabels()][1] == "ada  B-PER"
    plt.close(fig)


def test_memory_bars_totals_legend_and_policy_names_do_not_overlap():
    bars = tiny_transformer_policy_bars(layers=12, seq_len=512, batch=4)
    fig, ax = plt.subplots(figsize=(6, 4.8))
    plot_memory_bars(bars, ax=ax, title="Predicted saved activations: 12 layers, seq_len 512, batch 4")
    fig.tight_layout()
    assert overlapping_texts(fig) == []
    plt.close(fig)
    many = {name: bars["off"] for name in ["off", "every-layer", "every-2", "selective", "attention-core", "offload"]}
    fig, ax = plt.subplots(figsize=(6, 4.8))
    plot_memory_bars(many, ax=ax)
    fig.tight_layout()
    assert overlapping_texts(fig) == []
    plt.close(fig)


def test_policy_tradeoff_names_policies_without_overlapping_labels():
    # Close trade-offs, as measured on a CPU: the point labels used to sit on top of each other.
    rows = [{"policy": p, "time_ratio": t, "memory_ratio": m} for p, t, m in [
        ("off", 1.0, 1.0), ("every-layer", 1.5, 0.04), ("every-2", 1.25, 0.52), ("selective", 1.41, 0.53),
        ("attention-core", 1.1, 0.56), ("offload", 1.05, 0.02)]]
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_policy_tradeoff(rows, ax=ax, title="Memory vs time per policy")
    fig.tight_layout()
    assert overlapping_texts(fig) == []
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [r["policy"] for r in rows]
    plt.close(fig)


@pytest.mark.parametrize("expected, named", [((25, 26), "dashed green = true span"), (None, None)])
def test_span_logits_subtitle_names_only_the_frames_drawn(expected, named):
    tokens = ["[CLS]", "who", "[SEP]"] + [f"t{i}" for i in range(40)] + ["[SEP]"]
    start, end = torch.zeros(len(tokens)), torch.zeros(len(tokens))
    top, bottom = plot_span_logits(tokens, start, end, predicted=(20, 22), expected=expected, zoom=2)
    title = bottom.get_title()
    assert "red = decoded span" in title
    assert ("green" in title) == (named is not None)
    frames = {p.get_gid(): p for p in bottom.patches}
    assert ("expected" in frames) == (expected is not None)
    assert not frames["predicted"].get_clip_on()  # drawn whole, also on the image's border
    plt.close("all")


def test_widget_labels_are_sized_to_their_text_and_the_sentence_box_is_wide():
    from modlayers.lessons.data import load_tokenizer
    from modlayers.lessons.widgets import memory_widget, pooling_widget, tagging_widget

    pooling = pooling_widget(load_tokenizer(), ["Rain in Osterby.", "Who won the final on Monday?"])
    memory = memory_widget(layers=2, seq_len=64, batch=1)
    controls = list(pooling.children[:-1]) + list(memory.children[0].children)
    for control in controls:
        assert control.style.description_width == "initial", control.description

    class Tagger:  # the widget only needs something to tag with; the layout is what is checked
        pass

    import modlayers.lessons.widgets as widgets_module

    original = widgets_module.draw_tagged_text
    widgets_module.draw_tagged_text = lambda *args, **kwargs: []
    try:
        box = tagging_widget(Tagger(), None, TAGS).children[0]
    finally:
        widgets_module.draw_tagged_text = original
    assert box.style.description_width == "initial"
    assert box.layout.width == "95%"
    plt.close("all")
