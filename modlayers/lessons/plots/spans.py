"""Lesson 02: start/end logits over the tokens, and the windows a long context is cut into."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Rectangle

from modlayers.lessons.plots.style import EXPECTED_COLOUR, PAD_COLOUR, SPAN_COLOUR, new_axes


def plot_span_logits(
    tokens: Sequence[str],
    start_logits,
    end_logits,
    *,
    predicted: tuple[int, int] | None = None,
    expected: tuple[int, int] | None = None,
    context_mask=None,
    zoom: int | None = 12,
    axes=None,
    title: str | None = None,
):
    """Show a QA head's start and end logits over the tokens of one window, and the chosen span.

    Two panels. Top: both logits as curves over every position, non-context tokens shaded. Bottom:
    a heat map (row 0 = start, row 1 = end) over the tokens around the spans, each column labelled
    with its token, where the decoded span is framed solid red and the true span dashed green.

    Args:
        tokens: the window's token strings, ``(seq,)``.
        start_logits, end_logits: ``(seq,)`` floats.
        predicted: the decoded ``(start, end)`` token span (inclusive), framed red.
        expected: the true ``(start, end)`` token span, framed dashed green.
        context_mask: ``(seq,)`` bools, True on context tokens; other tokens are shaded grey on top.
        zoom: tokens shown on each side of the spans in the heat map; ``None`` shows every token
            (unreadable beyond ~40 tokens).
        axes: two axes to draw into; a new figure when ``None``.
        title: title of the top panel.

    Returns:
        ``(top, bottom)`` axes. The frames are patches with gid ``"predicted"`` and ``"expected"``;
        ``bottom.images[0].get_array()`` holds the logits shown (``bottom.images[0].colorbar`` is their
        scale, labelled "logit"), ``bottom`` x tick labels the tokens.

    Raises:
        ValueError: lengths differ, or a span lies outside the window.

    Example:
        >>> top, bottom = plot_span_logits(tokens, out.start_logits[0], out.end_logits[0], predicted=(5, 6))  # doctest: +SKIP
    """
    start = torch.as_tensor(start_logits, dtype=torch.float32).detach().cpu()
    end = torch.as_tensor(end_logits, dtype=torch.float32).detach().cpu()
    seq_len = len(tokens)
    if start.shape != (seq_len,) or end.shape != (seq_len,):
        raise ValueError(
            f"expected one start and one end logit per token ({seq_len}), got {tuple(start.shape)} and {tuple(end.shape)}."
        )
    spans = [s for s in (predicted, expected) if s is not None]
    for span in spans:
        if not 0 <= span[0] <= span[1] < seq_len:
            raise ValueError(f"span {span} is not a (start, end) pair inside the window of {seq_len} tokens.")
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(11, 4.6), gridspec_kw={"height_ratios": [1.2, 1]})
    top, bottom = axes

    positions = range(seq_len)
    if context_mask is not None:
        for i, inside in enumerate(torch.as_tensor(context_mask).tolist()):
            if not inside:
                top.axvspan(i - 0.5, i + 0.5, color=PAD_COLOUR, alpha=0.5, linewidth=0)
    top.plot(positions, start.numpy(), color="#08519c", label="start logit")
    top.plot(positions, end.numpy(), color="#e6550d", label="end logit")
    if predicted is not None:
        top.axvspan(predicted[0] - 0.5, predicted[1] + 0.5, color=SPAN_COLOUR, alpha=0.2, label="decoded span")
    top.set_xlim(-0.5, seq_len - 0.5)
    top.set_xlabel("position in the window (grey: question, special tokens, padding)")
    top.set_ylabel("logit")
    top.legend(loc="upper right", fontsize=8)
    top.set_title(title or "start and end logits over the window")

    if zoom is None or not spans:
        lo, hi = 0, seq_len - 1
    else:
        lo = max(0, min(s[0] for s in spans) - zoom)
        hi = min(seq_len - 1, max(s[1] for s in spans) + zoom)
    grid = torch.stack([start[lo : hi + 1], end[lo : hi + 1]])  # (2, shown)
    image = bottom.imshow(grid.numpy(), cmap="viridis", aspect="auto")
    # The scale hangs just right of the heat map instead of taking width from it, so with zoom=None its
    # columns stay under the same positions as the curves above.
    scale = bottom.figure.colorbar(image, cax=bottom.inset_axes((1.005, 0.0, 0.012, 1.0)))
    scale.set_label("logit", fontsize=8)
    bottom.set_yticks([0, 1])
    bottom.set_yticklabels(["start", "end"])
    bottom.set_xticks(range(hi - lo + 1))
    bottom.set_xticklabels(tokens[lo : hi + 1], rotation=90, fontsize=7)
    legend = []
    for gid, span, style, meaning in (
        ("predicted", predicted, {"edgecolor": SPAN_COLOUR, "linewidth": 2.5}, "red = decoded span"),
        ("expected", expected, {"edgecolor": EXPECTED_COLOUR, "linewidth": 2, "linestyle": "--"}, "dashed green = true span"),
    ):
        if span is not None:
            frame = Rectangle((span[0] - lo - 0.5, -0.5), span[1] - span[0] + 1, 2, fill=False, **style)
            frame.set_gid(gid)
            frame.set_clip_on(False)  # a frame on the image's border stays whole
            frame.set_zorder(3)
            bottom.add_patch(frame)
            legend.append(meaning)
    # The subtitle names only the frames drawn (no true span in this window: no green frame).
    bottom.set_title(f"tokens {lo} to {hi}" + (": " + ", ".join(legend) if legend else ""), fontsize=9)
    return top, bottom




def plot_windows(offset_mapping, context_mask, context_length: int, *, answer: tuple[int, int] | None = None,
                 labelled=None, ax=None, title: str = "windows over the context"):
    """Draw which characters of a long context each window covers, and where the answer lies.

    One horizontal bar per window, from the first to the last character of its context tokens; the
    overlap of consecutive windows is the ``stride``. The answer's characters are shaded green.

    Args:
        offset_mapping: ``(windows, seq, 2)`` character offsets (``encode_qa_windows``).
        context_mask: ``(windows, seq)`` bools, True on context tokens.
        context_length: ``len(context)``.
        answer: the answer's ``(char_start, char_end)``.
        labelled: optional ``(windows,)`` bools, True where the window holds the answer; those bars are
            blue, the others grey.
        ax: axes to draw into; a new figure when ``None``.
        title: axes title.

    Returns:
        The ``Axes``; bar ``w`` is the patch with gid ``"window-<w>"`` spanning its characters.

    Example:
        >>> ax = plot_windows(windows["offset_mapping"], windows["context_mask"], len(context))  # doctest: +SKIP
    """
    offsets = torch.as_tensor(offset_mapping)
    mask = torch.as_tensor(context_mask).bool()
    if offsets.dim() != 3 or mask.shape != offsets.shape[:2]:
        raise ValueError(
            f"expected offset_mapping (windows, seq, 2) and context_mask (windows, seq), got "
            f"{tuple(offsets.shape)} and {tuple(mask.shape)}."
        )
    n_windows = offsets.shape[0]
    ax = new_axes(ax, width=10.0, height=0.45 * n_windows + 1.2)
    for w in range(n_windows):
        chars = offsets[w][mask[w]]  # (context tokens, 2)
        first, last = int(chars[0, 0]), int(chars[-1, 1])
        holds = labelled is None or bool(labelled[w])
        bar = Rectangle((first, w - 0.35), last - first, 0.7, color="#6baed6" if holds else PAD_COLOUR)
        bar.set_gid(f"window-{w}")
        ax.add_patch(bar)
        ax.text(first, w, f" chars {first}-{last}", va="center", fontsize=8)
    if answer is not None:
        ax.axvspan(answer[0], answer[1], color=EXPECTED_COLOUR, alpha=0.35, label="answer")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlim(0, context_length)
    ax.set_ylim(n_windows - 0.5, -0.5)
    ax.set_yticks(range(n_windows))
    ax.set_yticklabels([f"window {w}" for w in range(n_windows)])
    ax.set_xlabel("character position in the context")
    ax.set_title(title)
    return ax


# ---------------------------------------------------------------- memory lab (gradient checkpointing)
