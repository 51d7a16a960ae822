"""Interactive widgets for the notebooks (ipywidgets 7.7 and 8).

Only APIs present in both major versions are used: ``widgets.interactive`` with explicit control
widgets (``IntSlider``, ``ToggleButtons``), whose ``.children`` are the controls followed by the
output area, ``.result`` is the callback's last return value, and ``.update()`` redraws. Setting a
control's ``.value`` from code runs the callback too, which is how the tests (and the notebooks' check
cells) drive a widget without a browser.

Each widget draws with a function from :mod:`modlayers.plots` and computes with the package's pure
functions, so what it shows is what the code does.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display

from modlayers.plots import plot_pooling_grid
from modlayers.pooling import last_attended_index, last_non_pad_index


def pad_sequences(
    sequences: Sequence[Sequence[int]], pad_token_id: int, padding_side: str = "right"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token-id lists to one length, on the right or the left, like a tokenizer does.

    Returns:
        ``(input_ids, attention_mask)``, both ``(batch, longest)`` int64; the mask is 1 on tokens.

    Raises:
        ValueError: ``padding_side`` is neither ``"right"`` nor ``"left"``, or ``sequences`` is empty.

    Example:
        >>> pad_sequences([[5, 6, 7], [5]], pad_token_id=0, padding_side="left")[0]
        tensor([[5, 6, 7],
                [0, 0, 5]])
    """
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}.")
    if not sequences:
        raise ValueError("pad_sequences needs at least one sequence.")
    longest = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), longest), pad_token_id, dtype=torch.long)  # (batch, longest)
    attention_mask = torch.zeros((len(sequences), longest), dtype=torch.long)  # (batch, longest)
    for row, sequence in enumerate(sequences):
        n = len(sequence)
        columns = slice(0, n) if padding_side == "right" else slice(longest - n, longest)
        input_ids[row, columns] = torch.tensor(list(sequence), dtype=torch.long)
        attention_mask[row, columns] = 1
    return input_ids, attention_mask


def pooling_widget(tokenizer, texts: Sequence[str], *, max_tokens: int = 12):
    """A widget to watch the pooled position move as padding side, lengths and pad token change.

    One row per text: ``[CLS]``, the first ``length - 2`` word pieces, ``[SEP]``. The batch is padded
    on the chosen side with the chosen pad token, and the figure marks (red) the token that
    ``last_non_pad_index`` pools, and (dashed green) the last real token from ``last_attended_index``
    when the two disagree -- which happens when the pad token is also the end-of-sequence token.

    Controls (in ``widget.children`` order): ``padding side`` (ToggleButtons ``"right"``/``"left"``),
    ``pad token`` (ToggleButtons ``"[PAD]"``/``"[SEP]"``; the latter plays "pad = end of sequence"),
    then one ``IntSlider`` per text for its length in tokens (2 to ``max_tokens``). The last child is
    the output area.

    Args:
        tokenizer: a tokenizer with ``cls``, ``sep`` and ``pad`` tokens (e.g. ``load_tokenizer()``).
        texts: one to four sentences, one batch row each.
        max_tokens: largest length a slider allows.

    Returns:
        An ``ipywidgets.interactive``. After every change ``widget.result`` is a dict with
        ``input_ids`` and ``attention_mask`` ``(batch, seq_len)``, ``pooled_index`` (by pad id) and
        ``last_real_index`` (by attention mask), both ``(batch,)``.

    Raises:
        ValueError: no texts, more than four, or ``max_tokens < 3``.

    Example:
        >>> w = pooling_widget(load_tokenizer(), ["Rain in Osterby.", "Who won the final?"])  # doctest: +SKIP
        >>> w.children[0].value = "left"  # redraws; w.result["pooled_index"] is now all seq_len - 1
    """
    if not 1 <= len(texts) <= 4:
        raise ValueError(f"pooling_widget draws one to four texts, got {len(texts)}.")
    if max_tokens < 3:
        raise ValueError(f"max_tokens must be at least 3 ([CLS], a word piece, [SEP]), got {max_tokens}.")
    pieces = [tokenizer(text, add_special_tokens=False)["input_ids"][: max_tokens - 2] for text in texts]
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    pad_ids = {"[PAD]": tokenizer.pad_token_id, "[SEP]": sep_id}

    def draw(padding_side, pad_token, **lengths):
        sequences = [[cls_id] + p[: lengths[f"length_{i}"] - 2] + [sep_id] for i, p in enumerate(pieces)]
        pad_token_id = pad_ids[pad_token]
        input_ids, attention_mask = pad_sequences(sequences, pad_token_id, padding_side)
        pooled_index = last_non_pad_index(input_ids, pad_token_id)  # (batch,)
        last_real_index = last_attended_index(attention_mask)  # (batch,)
        fig, ax = plt.subplots(figsize=(0.75 * max_tokens + 1, 0.55 * len(texts) + 1.2))
        tokens = [tokenizer.convert_ids_to_tokens(row.tolist()) for row in input_ids]
        plot_pooling_grid(input_ids, pooled_index, attention_mask=attention_mask, tokens=tokens,
                          expected_index=last_real_index, ax=ax,
                          title=f"{padding_side} padding with {pad_token}: red = pooled, dashed green = last real token")
        display(fig)
        plt.close(fig)
        return {"input_ids": input_ids, "attention_mask": attention_mask,
                "pooled_index": pooled_index, "last_real_index": last_real_index}

    controls = {
        "padding_side": widgets.ToggleButtons(options=["right", "left"], value="right", description="padding side"),
        "pad_token": widgets.ToggleButtons(options=["[PAD]", "[SEP]"], value="[PAD]", description="pad token"),
    }
    for i, p in enumerate(pieces):
        controls[f"length_{i}"] = widgets.IntSlider(
            value=len(p) + 2, min=2, max=len(p) + 2, description=f"row {i} length", continuous_update=False
        )
    return widgets.interactive(draw, **controls)
