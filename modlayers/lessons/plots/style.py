"""Colours and small helpers shared by every figure of the kit."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

PAD_COLOUR = "#d9d9d9"
TOKEN_COLOUR = "#deebf7"
POOLED_COLOUR = "#d62728"
EXPECTED_COLOUR = "#2ca02c"
SPAN_COLOUR = POOLED_COLOUR  # the decoded span: solid red, like the pooled token
ENTITY_COLOURS = {"PER": "#fdd0a2", "ORG": "#c6dbef", "LOC": "#c7e9c0", "DATE": "#dadaeb"}
OTHER_ENTITY_COLOUR = "#fcbba1"
MIB = 2**20


def new_axes(ax, width: float, height: float):
    """The ``ax`` given, or a new figure's axes of ``width`` x ``height`` inches."""
    if ax is None:
        _, ax = plt.subplots(figsize=(width, height))
    return ax


def as_index(index, batch_size: int) -> list[int]:
    """(batch,) tensor, list, or one int (-1 = last) -> list of non-negative ints later."""
    if isinstance(index, int):
        return [index] * batch_size
    values = index.tolist() if isinstance(index, torch.Tensor) else list(index)
    if len(values) != batch_size:
        raise ValueError(f"pooled_index must give one position per row ({batch_size}), got {len(values)}.")
    return [int(v) for v in values]

