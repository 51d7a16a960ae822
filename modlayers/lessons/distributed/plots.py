"""The per-rank memory picture: what each rank holds, stacked, against the formula's prediction."""

from __future__ import annotations

from collections.abc import Mapping

from modlayers.lessons.distributed.rank_memory import COLUMNS, MIB
from modlayers.lessons.plots import plot_memory_bars

LABELS = {"parameters": "parameters", "gradients": "gradients", "optimizer_state": "Adam state",
          "activations": "saved activations"}


def plot_rank_memory(measured: Mapping[str, Mapping[str, float]], predicted: Mapping[str, Mapping[str, float]] | None = None,
                     peaks: Mapping[str, float | None] | None = None, *, ax=None, title: str | None = None):
    """Stacked bars of one rank's memory per setting, with the predicted total (black) and the peak (purple).

    Args:
        measured: setting name (e.g. ``"fsdp2\\nevery-layer"``) -> ``{"parameters", "gradients",
            "optimizer_state", "activations"}`` in bytes.
        predicted: the same, from :func:`~modlayers.lessons.distributed.rank_memory.predict_rank_memory`; its total is
            drawn as a black bar across each column.
        peaks: setting name -> peak bytes (or ``None``), drawn as a purple dash.

    Returns:
        The matplotlib axes.
    """
    bars = {name: {LABELS[c]: parts[c] for c in COLUMNS} for name, parts in measured.items()}
    ymax = max([sum(parts.values()) for parts in bars.values()] + [p or 0 for p in (peaks or {}).values()]) / MIB
    ax = plot_memory_bars(bars, ax=ax, title=title, ymax=1.2 * ymax)
    ax.set_ylabel("one rank's memory (MiB)")
    for index, name in enumerate(bars):
        if predicted is not None:
            total = sum(predicted[name][c] for c in COLUMNS) / MIB
            ax.hlines(total, index - 0.4, index + 0.4, colors="black", linewidth=2,
                      label="predicted" if index == 0 else None)
        if peaks is not None and peaks.get(name) is not None:
            ax.plot(index, peaks[name] / MIB, "_", color="tab:purple", markersize=24, markeredgewidth=3,
                    label="peak" if index == 0 else None)
    ax.legend(fontsize="small", loc="upper right")
    return ax
