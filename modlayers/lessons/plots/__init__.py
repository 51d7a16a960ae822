"""Figures for the notebooks: each function draws one idea and returns the matplotlib ``Axes``.

Every function takes an optional ``ax`` so that figures can be composed side by side
(``fig, (left, right) = plt.subplots(1, 2)``); without one it makes a new figure. Nothing here
computes anything the lessons teach -- the pooled index, the losses -- those come from the package's
pure functions and are passed in, so a figure shows exactly what the code computed.

The figures live in one module per lesson: ``pooling`` (01), ``spans`` (02), ``tagging`` (03), ``memory`` (04),
``training`` (loss curves); colours shared by all are in ``style``.
"""

from modlayers.lessons.plots.memory import (
    plot_memory_bars,
    plot_memory_sweep,
    plot_policy_tradeoff,
    plot_segment_curve,
)
from modlayers.lessons.plots.pooling import (
    plot_pooled_batch,
    plot_pooling_grid,
    plot_pooling_weights,
)
from modlayers.lessons.plots.spans import plot_span_logits, plot_windows
from modlayers.lessons.plots.tagging import plot_tagged_words, plot_token_losses
from modlayers.lessons.plots.training import plot_loss_curve

__all__ = [
    "plot_loss_curve", "plot_memory_bars", "plot_memory_sweep", "plot_policy_tradeoff", "plot_pooled_batch",
    "plot_pooling_grid", "plot_pooling_weights", "plot_segment_curve", "plot_span_logits", "plot_tagged_words",
    "plot_token_losses", "plot_windows",
]
