"""Figures for the notebooks: each function draws one idea and returns the matplotlib ``Axes``.

Every function takes an optional ``ax`` so that figures can be composed side by side
(``fig, (left, right) = plt.subplots(1, 2)``); without one it makes a new figure. Nothing here
computes anything the lessons teach -- the pooled index, the losses -- those come from the package's
pure functions and are passed in, so a figure shows exactly what the code computed.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Rectangle

PAD_COLOUR = "#d9d9d9"
TOKEN_COLOUR = "#deebf7"
POOLED_COLOUR = "#d62728"
EXPECTED_COLOUR = "#2ca02c"


def _new_axes(ax, width: float, height: float):
    if ax is None:
        _, ax = plt.subplots(figsize=(width, height))
    return ax


def _as_index(index, batch_size: int) -> list[int]:
    """(batch,) tensor, list, or one int (-1 = last) -> list of non-negative ints later."""
    if isinstance(index, int):
        return [index] * batch_size
    values = index.tolist() if isinstance(index, torch.Tensor) else list(index)
    if len(values) != batch_size:
        raise ValueError(f"pooled_index must give one position per row ({batch_size}), got {len(values)}.")
    return [int(v) for v in values]


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
    raw = _as_index(pooled_index, batch_size)
    if any(not -seq_len <= p < seq_len for p in raw):
        raise ValueError(f"pooled_index {raw} points outside rows of length {seq_len}.")
    pooled = [p % seq_len for p in raw]  # -1 -> seq_len - 1
    if attention_mask is not None:
        is_pad = attention_mask == 0  # (batch, seq_len)
    elif pad_token_id is not None:
        is_pad = input_ids == pad_token_id  # (batch, seq_len)
    else:
        is_pad = torch.zeros_like(input_ids, dtype=torch.bool)

    ax = _new_axes(ax, width=max(4.0, 0.75 * seq_len), height=0.55 * batch_size + 1.0)
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
        for row, expected in enumerate(_as_index(expected_index, batch_size)):
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
    """Draw a batch from :func:`modlayers.widgets.pooling_batch` with :func:`plot_pooling_grid`.

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


def plot_loss_curve(losses: Sequence[float], *, smooth: int = 10, ax=None, title: str = "training loss"):
    """Plot the loss of every step, and its moving average over ``smooth`` steps.

    Args:
        losses: one loss per optimisation step (what ``modlayers.training.train`` returns).
        smooth: window of the moving average; 1 draws only the raw curve.
        ax: axes to draw into; a new figure when ``None``.
        title: axes title.

    Returns:
        The ``Axes``; its first line is the raw loss, the second (if any) the moving average.

    Raises:
        ValueError: ``losses`` is empty or ``smooth < 1``.

    Example:
        >>> ax = plot_loss_curve([1.4, 1.1, 0.7, 0.5, 0.4], smooth=2)  # doctest: +SKIP
    """
    losses = [float(x) for x in losses]
    if not losses:
        raise ValueError("plot_loss_curve needs at least one loss; did training run any steps?")
    if smooth < 1:
        raise ValueError(f"smooth must be at least 1, got {smooth}.")
    ax = _new_axes(ax, width=6.0, height=3.2)
    steps = range(1, len(losses) + 1)
    ax.plot(steps, losses, color="#9ecae1", linewidth=1, label="loss per step")
    if smooth > 1 and len(losses) >= smooth:
        averages = [sum(losses[i - smooth + 1 : i + 1]) / smooth for i in range(smooth - 1, len(losses))]
        ax.plot(range(smooth, len(losses) + 1), averages, color="#08519c", linewidth=2, label=f"mean of {smooth} steps")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    return ax


# ---------------------------------------------------------------- question answering and tagging

SPAN_COLOUR = POOLED_COLOUR  # the decoded span: solid red, like the pooled token
ENTITY_COLOURS = {"PER": "#fdd0a2", "ORG": "#c6dbef", "LOC": "#c7e9c0", "DATE": "#dadaeb"}
OTHER_ENTITY_COLOUR = "#fcbba1"


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
    ax = _new_axes(ax, width=max(5.0, 0.45 * len(tokens)), height=3.2)
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
    ax = _new_axes(ax, width=min(14.0, max(4.0, 0.9 * total + 1)), height=1.5)
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
    ax = _new_axes(ax, width=10.0, height=0.45 * n_windows + 1.2)
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

MIB = 2**20


def plot_memory_sweep(
    xs: Sequence[int],
    measured: dict[str, Sequence[float]],
    predicted: dict[str, Sequence[float]] | None = None,
    *,
    xlabel: str = "layers",
    ax=None,
    title: str | None = None,
):
    """Saved activation memory (MiB) against a size, one line per policy.

    Args:
        xs: the swept values (layers, sequence lengths, ...).
        measured: ``{policy: bytes per x}``, drawn as solid lines with dots.
        predicted: optional ``{label: bytes per x}`` from the analytic model, drawn as
            dashed lines with crosses on top, so agreement is visible.
    """
    ax = _new_axes(ax, 6, 4)
    for name, values in measured.items():
        ax.plot(xs, [v / MIB for v in values], marker="o", label=f"{name} (measured)")
    for name, values in (predicted or {}).items():
        ax.plot(xs, [v / MIB for v in values], linestyle="--", marker="x", color="black", alpha=0.6,
                label=f"{name} (predicted)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("saved activations (MiB)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return ax


def plot_policy_tradeoff(rows: Sequence[dict], *, ax=None, title: str | None = None):
    """Memory against time per policy: one labelled point per row of ``ratios_to_baseline``.

    x: step time relative to ``off``; y: saved activations relative to ``off``. The best
    policies sit bottom left; ``off`` is at (1, 1).
    """
    ax = _new_axes(ax, 6, 4)
    markers = "osD^vP*Xh"
    for index, row in enumerate(rows):
        if row.get("time_ratio") is None or row.get("memory_ratio") is None:
            continue
        # Named in the legend, not next to the point: policies with close trade-offs would overlap.
        ax.scatter(row["time_ratio"], row["memory_ratio"], s=45, marker=markers[index % len(markers)],
                   label=row["policy"], zorder=3)
    if ax.collections:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    ax.axhline(1.0, color=PAD_COLOUR, linewidth=1)
    ax.axvline(1.0, color=PAD_COLOUR, linewidth=1)
    ax.set_xlabel("step time / step time without checkpointing")
    ax.set_ylabel("saved activations / without checkpointing")
    ax.set_ylim(bottom=0)
    if title:
        ax.set_title(title)
    return ax


def plot_segment_curve(rows: Sequence[dict], *, depth: int, ax=None, title: str | None = None):
    """Peak activations (in layer outputs) against the number of checkpointed segments.

    ``rows`` from :func:`modlayers.memory.measure_segment_peaks`: the exact held
    activations (dots), the prediction ``segments + longest segment`` (dashed) and, where
    measured, the profiler's peak of the whole step (squares). A dotted line marks
    ``sqrt(depth)``.
    """
    ax = _new_axes(ax, 6, 4)
    counts = [row["segments"] for row in rows]
    ax.plot(counts, [row["held_units"] for row in rows], marker="o", label="held for backward (counted)")
    ax.plot(counts, [row["predicted_units"] for row in rows], linestyle="--", color="black", alpha=0.6,
            label="predicted: segments + n / segments")
    profiled = [row for row in rows if row.get("peak_units") is not None]
    if profiled:
        ax.scatter([row["segments"] for row in profiled], [row["peak_units"] for row in profiled], marker="s",
                   color=POOLED_COLOUR, zorder=3, label="step peak (torch profiler, CPU)")
    ax.axvline(depth**0.5, linestyle=":", color="grey", label=f"sqrt({depth})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(counts, [str(count) for count in counts])
    ax.minorticks_off()
    ax.set_xlabel(f"segments (of a stack of {depth} equal layers)")
    ax.set_ylabel("peak, in layer outputs")
    ax.legend(fontsize="small", loc="upper center")
    if title:
        ax.set_title(title)
    return ax


def plot_memory_bars(bars: dict[str, dict[str, float]], *, ax=None, title: str | None = None, ymax: float | None = None):
    """Stacked bars: one per policy, split into parts (``{policy: {part: bytes}}``), in MiB.

    The total of each bar is written on top; the parts are named in a legend under the axes (inside,
    it would cover the tallest bars). Give the figure room for it: about 6 x 4.8 inches.
    """
    ax = _new_axes(ax, 6, 4.8)
    names = list(bars)
    parts = list(dict.fromkeys(part for policy in bars.values() for part in policy))
    bottoms = [0.0] * len(names)
    for part in parts:
        heights = [bars[name].get(part, 0) / MIB for name in names]
        ax.bar(range(len(names)), heights, bottom=bottoms, label=part)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    for index, total in enumerate(bottoms):
        ax.annotate(f"{total:.0f}", (index, total), ha="center", va="bottom", fontsize="small")
    ax.set_xticks(range(len(names)))
    # Many or long policy names would run into each other: stand them up.
    slanted = len(names) > 4 or max((len(n) for n in names), default=0) > 14
    ax.set_xticklabels(names, rotation=90 if slanted else 0)
    ax.set_ylabel("saved activations (MiB)")
    ax.set_ylim(0, ymax or 1.15 * max(bottoms, default=1.0) or 1.0)
    # Under the axes: inside, the legend covers the tallest bars and their totals.
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.42 if slanted else -0.1), ncol=1,
              frameon=False)
    if title:
        ax.set_title(title)
    return ax
