"""Lesson 01: which token a classification head pools, and the pooling weights of each rule."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Rectangle

from modlayers.lessons.plots.style import (
    EXPECTED_COLOUR,
    PAD_COLOUR,
    POOLED_COLOUR,
    TOKEN_COLOUR,
    as_index,
    new_axes,
)


def plot_pooling_grid(
    input_ids: torch.Tensor,
    pooled_index: torch.Tensor | Sequence[int] | int,
    *,
    pad_token_id: int | None = None,
    attention_mask: torch.Tensor | None = None,
    tokens: Sequence[Sequence[str]] | None = None,
    expected_index: torch.Tensor | Sequence[int] | None = None,
    ax=None,
    title: str | None = None,
):
    """Draw a batch as a grid (a row per sequence, a column per position) and mark the pooled token.

    Padding cells are grey: positions where ``attention_mask == 0`` when a mask is given, else where
    ``input_ids == pad_token_id``. The pooled cell of each row gets a solid red frame; when
    ``expected_index`` is given and differs, the expected cell gets a dashed green frame, which makes a
    wrong pick visible (e.g. pooling by pad id when the pad token is also the end-of-sequence token).

    Args:
        input_ids: ``(batch, seq_len)`` token ids.
        pooled_index: ``(batch,)`` positions that were pooled (e.g. from ``last_non_pad_index``), or
            one int for every row (``-1`` = the last position).
        pad_token_id: id treated as padding when no ``attention_mask`` is given.
        attention_mask: ``(batch, seq_len)``, 1 = token, 0 = padding.
        tokens: the token strings to write in the cells (default: the ids).
        expected_index: ``(batch,)`` positions that *should* be pooled, drawn only where they differ.
        ax: axes to draw into; a new figure when ``None``.
        title: axes title.

    Returns:
        The ``Axes``. The frames are ``Rectangle`` patches with gid ``"pooled-<row>"`` and
        ``"expected-<row>"``, at x = column - 0.5, y = row - 0.5.

    Raises:
        ValueError: ``input_ids`` is not 2-D, or an index has the wrong length or points outside a row.

    Example:
        >>> ids = torch.tensor([[2, 7, 3, 0], [2, 7, 8, 3]])
        >>> ax = plot_pooling_grid(ids, last_non_pad_index(ids, 0), pad_token_id=0)  # doctest: +SKIP
    """
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must have shape (batch, seq_len), got {tuple(input_ids.shape)}.")
    batch_size, seq_len = input_ids.shape
    raw = as_index(pooled_index, batch_size)
    if any(not -seq_len <= p < seq_len for p in raw):
        raise ValueError(f"pooled_index {raw} points outside rows of length {seq_len}.")
    pooled = [p % seq_len for p in raw]  # -1 -> seq_len - 1
    if attention_mask is not None:
        is_pad = attention_mask == 0  # (batch, seq_len)
    elif pad_token_id is not None:
        is_pad = input_ids == pad_token_id  # (batch, seq_len)
    else:
        is_pad = torch.zeros_like(input_ids, dtype=torch.bool)

    ax = new_axes(ax, width=max(4.0, 0.75 * seq_len), height=0.55 * batch_size + 1.0)
    for row in range(batch_size):
        for col in range(seq_len):
            colour = PAD_COLOUR if is_pad[row, col] else TOKEN_COLOUR
            ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, facecolor=colour, edgecolor="white", linewidth=1.5))
            text = tokens[row][col] if tokens is not None else str(int(input_ids[row, col]))
            ax.text(col, row, text, ha="center", va="center", fontsize=8, color="#555555" if is_pad[row, col] else "black")
        frame = Rectangle((pooled[row] - 0.5, row - 0.5), 1, 1, fill=False, edgecolor=POOLED_COLOUR, linewidth=2.5)
        frame.set_gid(f"pooled-{row}")
        frame.set_clip_on(False)  # a frame on the border stays whole
        ax.add_patch(frame)
    if expected_index is not None:
        for row, expected in enumerate(as_index(expected_index, batch_size)):
            if expected % seq_len != pooled[row]:
                frame = Rectangle((expected % seq_len - 0.42, row - 0.42), 0.84, 0.84, fill=False,
                                  edgecolor=EXPECTED_COLOUR, linewidth=2, linestyle="--")
                frame.set_gid(f"expected-{row}")
                ax.add_patch(frame)
    ax.set_xlim(-0.5, seq_len - 0.5)
    ax.set_ylim(batch_size - 0.5, -0.5)  # row 0 on top, like the tensor
    ax.set_xticks(range(seq_len))
    ax.set_yticks(range(batch_size))
    ax.set_xlabel("position")
    ax.set_ylabel("row of the batch")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title)
    return ax


def plot_pooled_batch(batch: dict, *, ax=None, title: str | None = None):
    """Draw a batch from :func:`modlayers.lessons.widgets.pooling_batch` with :func:`plot_pooling_grid`.

    Red frame: the token ``last_non_pad_index`` pools; dashed green: the last real token, where the
    two differ. The default title names the padding side and the pad token.

    Example:
        >>> ax = plot_pooled_batch(pooling_batch(load_tokenizer(), ["Rain in Osterby."]))  # doctest: +SKIP
    """
    if title is None:
        title = (f"{batch['padding_side']} padding with {batch['pad_token']}: "
                 "red = pooled, dashed green = last real token")
    return plot_pooling_grid(batch["input_ids"], batch["pooled_index"], attention_mask=batch["attention_mask"],
                             tokens=batch["tokens"], expected_index=batch["last_real_index"], ax=ax, title=title)


def plot_pooling_weights(
    attention_mask: torch.Tensor,
    last_index: torch.Tensor,
    *,
    tokens: Sequence[Sequence[str]] | None = None,
    axes=None,
):
    """Compare first-token, last-token and mean pooling as weights over the positions of a batch.

    Each pooling is a weighted sum of the token vectors: first-token pooling puts weight 1 on position
    0, last-token pooling weight 1 on ``last_index``, mean pooling ``1 / n`` on each of the ``n`` kept
    tokens. Three heat maps, one per rule, show where each rule looks.

    Args:
        attention_mask: ``(batch, seq_len)``, 1 = token, 0 = padding.
        last_index: ``(batch,)`` the last real token of each row (``last_non_pad_index``).
        tokens: token strings to write in the cells.
        axes: three axes to draw into; a new figure when ``None``.

    Returns:
        The three ``Axes``; ``axes[i].images[0].get_array()`` holds the weights drawn, and
        ``axes[i].images[0].colorbar`` is the scale beside it (each panel has its own: 1/n next to 1).

    Example:
        >>> mask = torch.tensor([[1, 1, 1, 0]])
        >>> axes = plot_pooling_weights(mask, torch.tensor([2]))  # doctest: +SKIP
    """
    batch_size, seq_len = attention_mask.shape
    rows = torch.arange(batch_size)
    first = torch.zeros(batch_size, seq_len)
    first[:, 0] = 1.0  # (batch, seq_len)
    last = torch.zeros(batch_size, seq_len)
    last[rows, last_index] = 1.0  # (batch, seq_len)
    kept = attention_mask.float()
    mean = kept / kept.sum(dim=1, keepdim=True).clamp(min=1)  # (batch, seq_len)
    if axes is None:
        _, axes = plt.subplots(3, 1, figsize=(max(4.0, 0.75 * seq_len), 1.6 * batch_size + 2.5), sharex=True)
    rules = [("first token", first, "weight 1 on position 0"), ("last token", last, "weight 1 on the last real token"),
             ("mean", mean, "weight 1/n on each of the n real tokens")]
    for ax, (name, weights, rule) in zip(axes, rules):
        top = weights.max().item() or 1.0  # each panel on its own scale, so 1/n is as visible as 1
        image = ax.imshow(weights.numpy(), cmap="Blues", vmin=0, vmax=top, aspect="auto")
        ax.figure.colorbar(image, ax=ax, pad=0.01, fraction=0.04).set_label("weight", fontsize=8)
        for r in range(batch_size):
            for c in range(seq_len):
                label = tokens[r][c] if tokens is not None else f"{weights[r, c]:.2f}".rstrip("0").rstrip(".")
                dark = weights[r, c] > 0.6 * top
                ax.text(c, r, label, ha="center", va="center", fontsize=7, color="white" if dark else "black")
        ax.set_title(f"{name} pooling: {rule}")
        ax.set_yticks(range(batch_size))
        ax.set_ylabel("row")
    axes[-1].set_xlabel("position")
    return axes
