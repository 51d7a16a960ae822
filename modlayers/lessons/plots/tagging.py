"""Lesson 03: per-token losses and tagged words."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.patches import Rectangle

from modlayers.lessons.plots.style import (
    ENTITY_COLOURS,
    OTHER_ENTITY_COLOUR,
    PAD_COLOUR,
    SPAN_COLOUR,
    new_axes,
)


def plot_token_losses(
    tokens: Sequence[str],
    losses,
    labels: Sequence[int],
    *,
    label_names: Sequence[str] | None = None,
    ignore_index: int = -100,
    ax=None,
    title: str = "loss of each token",
):
    """Bar chart of the per-token cross-entropy over one sentence; ignored tokens (``-100``) are grey.

    Args:
        tokens: the sentence's token strings, ``(seq,)``.
        losses: ``(seq,)`` per-token losses (``reduction="none"``; 0 where the label is ignored).
        labels: ``(seq,)`` label ids or ``ignore_index``.
        label_names: tag names to print over the bars (default: the ids).
        ignore_index: the label that marks tokens left out of the loss.
        ax: axes to draw into; a new figure when ``None``.
        title: axes title; the mean over the counted tokens (the loss the head returns) is added.

    Returns:
        The ``Axes``; ``ax.patches`` are the bars, one per token, ignored ones with gid ``"ignored"``.

    Raises:
        ValueError: the three sequences differ in length.

    Example:
        >>> ax = plot_token_losses(["[CLS]", "Ada", "[SEP]"], [0.0, 1.2, 0.0], [-100, 1, -100])  # doctest: +SKIP
    """
    values = torch.as_tensor(losses, dtype=torch.float32).detach().cpu().tolist()
    labels = labels.tolist() if isinstance(labels, torch.Tensor) else list(labels)
    if not len(tokens) == len(values) == len(labels):
        raise ValueError(
            f"got {len(tokens)} tokens, {len(values)} losses and {len(labels)} labels; pass one of each per token."
        )
    ax = new_axes(ax, width=max(5.0, 0.45 * len(tokens)), height=3.2)
    counted = [v for v, label in zip(values, labels) if label != ignore_index]
    names = []
    for i, (value, label) in enumerate(zip(values, labels)):
        ignored = label == ignore_index
        bar = ax.bar(i, value, color=PAD_COLOUR if ignored else "#3182bd", width=0.8)[0]
        bar.set_gid("ignored" if ignored else "counted")
        names.append("-100" if ignored else (label_names[label] if label_names is not None else str(label)))
    # Each token's label goes under its bar, in its tick label ("Ada  B-PER"): text over the bars
    # collides with the title and the neighbouring labels when the bars are tall.
    ax.set_xticks(range(len(tokens)))
    ax.set_xticklabels([f"{token}  {name}" for token, name in zip(tokens, names)], rotation=90, fontsize=7)
    for tick, label in zip(ax.get_xticklabels(), labels):
        tick.set_color("#777777" if label == ignore_index else "black")
    ax.set_ylabel("cross-entropy")
    mean = sum(counted) / len(counted) if counted else 0.0
    ax.axhline(mean, color=SPAN_COLOUR, linestyle=":", linewidth=1)
    ax.set_title(f"{title}: mean over counted = {mean:.3f}\n(grey: label -100, not counted)", fontsize=9)
    ax.margins(y=0.1)
    return ax


def plot_tagged_words(words: Sequence[str], tags: Sequence[str], *, ax=None, title: str | None = None):
    """Draw a sentence with its entities highlighted: one coloured box per entity, its type above it.

    Args:
        words: the sentence's words.
        tags: one BIO tag per word.
        ax: axes to draw into; a new figure when ``None``.
        title: axes title.

    Returns:
        The ``Axes``; each entity box is a patch with gid ``"<TYPE> <first word>-<last word>"``.

    Raises:
        ValueError: different numbers of words and tags, or a tag that is not BIO.

    Example:
        >>> ax = plot_tagged_words(["Ada", "lives", "in", "Osterby"], ["B-PER", "O", "O", "B-LOC"])  # doctest: +SKIP
    """
    from modlayers.metrics import bio_entities

    if len(words) != len(tags):
        raise ValueError(f"got {len(words)} words but {len(tags)} tags; pass one tag per word.")
    entities = bio_entities(tags)
    widths = [0.12 * max(len(w), 1) + 0.25 for w in words]
    starts = [sum(widths[:i]) for i in range(len(words))]
    total = sum(widths) if words else 1.0
    ax = new_axes(ax, width=min(14.0, max(4.0, 0.9 * total + 1)), height=1.5)
    for entity in entities:
        x0 = starts[entity.start] - 0.05
        x1 = starts[entity.end] + widths[entity.end] - 0.15
        box = Rectangle((x0, -0.35), x1 - x0, 0.7, color=ENTITY_COLOURS.get(entity.type, OTHER_ENTITY_COLOUR))
        box.set_gid(f"{entity.type} {entity.start}-{entity.end}")
        ax.add_patch(box)
        ax.text((x0 + x1) / 2, 0.5, entity.type, ha="center", va="bottom", fontsize=8, fontweight="bold")
    for word, x in zip(words, starts):
        ax.text(x, 0, word, ha="left", va="center", fontsize=10)
    ax.set_xlim(-0.2, total + 0.2)
    ax.set_ylim(-0.6, 1.0)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return ax
