"""Pictures of what moves between ranks and of one rank's memory over a step.

- :func:`plot_bytes_moved`: per setting, the bytes each kind of collective handles in one step, counted (bars)
  and predicted (black dashes), and what each rank sends on a ring (a dot).
- :func:`plot_step_timeline`: one rank's memory over one step, stacked by what holds it
  (:mod:`~modlayers.lessons.distributed.step_timeline`), with the phases shaded, the predicted total as a line and the
  peak marked.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt

from modlayers.lessons.distributed.comm_bytes import ring_bytes_sent
from modlayers.lessons.distributed.rank_memory import MIB
from modlayers.lessons.distributed.step_timeline import CATEGORIES, StepTimeline

KIND_LABELS = {"all_reduce": "all-reduce", "all_gather": "all-gather", "reduce_scatter": "reduce-scatter",
               "broadcast": "broadcast", "all_to_all": "all-to-all"}
CATEGORY_COLOURS = {"state at start": "tab:gray", "forward pass": "tab:blue", "all-gather buffers": "tab:orange",
                    "backward pass": "tab:green", "reduce-scatter buffers": "tab:red", "optimizer step": "tab:purple"}


def plot_bytes_moved(counted: Mapping[str, Mapping[str, int]], predicted: Mapping[str, Mapping[str, int]],
                     world_size: int, *, ax=None, title: str | None = None):
    """Stacked bars of one rank's collectives in one step, per setting, in MiB.

    Args:
        counted: setting name -> ``{kind: bytes}`` (:class:`~modlayers.lessons.distributed.comm_bytes.CollectiveCounter`).
        predicted: the same from :func:`~modlayers.lessons.distributed.comm_bytes.predict_step_collectives`; its total is
            a black dash across each bar.
        world_size: for the bytes each rank sends on a ring (:func:`~modlayers.lessons.distributed.comm_bytes.ring_bytes_sent`),
            drawn as a dot.

    Returns:
        The matplotlib axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4))
    names = list(counted)
    kinds = [kind for kind in KIND_LABELS if any(kind in counted[name] for name in names)]
    bottoms = [0.0] * len(names)
    for kind in kinds:
        heights = [counted[name].get(kind, 0) / MIB for name in names]
        ax.bar(range(len(names)), heights, bottom=bottoms, label=f"{KIND_LABELS[kind]} (counted)")
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    for index, name in enumerate(names):
        ax.hlines(sum(predicted[name].values()) / MIB, index - 0.4, index + 0.4, colors="black", linewidth=2,
                  label="predicted" if index == 0 else None)
        ax.plot(index, ring_bytes_sent(counted[name], world_size) / MIB, "o", color="black", markerfacecolor="white",
                label=f"sent per rank on a ring of {world_size}" if index == 0 else None)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.set_ylabel("one rank, one step (MiB)")
    ax.set_ylim(0, 1.15 * max(bottoms, default=1.0))
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # beside: no bar hidden
    if title:
        ax.set_title(title)
    return ax


def plot_step_timeline(timeline: StepTimeline, predicted_total: float | None = None, *, ax=None,
                       title: str | None = None):
    """One rank's memory over one step, stacked by category, with the peak annotated.

    Args:
        timeline: the step (a :class:`~modlayers.lessons.distributed.step_timeline.StepTimeline`).
        predicted_total: the formula's total (parameters, gradients, Adam state, saved activations), as a dashed
            line; ``None`` for none.

    Returns:
        The matplotlib axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4))
    times, series = timeline.series()
    ax.stackplot(times, *[[value / MIB for value in series[c]] for c in CATEGORIES], step="post",
                 labels=CATEGORIES, colors=[CATEGORY_COLOURS[c] for c in CATEGORIES], alpha=0.8)
    edges = [0.0, timeline.phases.get("backward"), timeline.phases.get("optimizer"), timeline.phases.get("end")]
    for (start, end), phase in zip(zip(edges, edges[1:]), ("forward", "backward", "optimizer")):
        if start is not None and end is not None:
            ax.axvspan(start, end, color="black", alpha=0.04 if phase == "backward" else 0.0)
            ax.annotate(phase, ((start + end) / 2, 0), xycoords=("data", "axes fraction"), ha="center",
                        va="bottom", fontsize="small")
    if predicted_total is not None:
        ax.axhline(predicted_total / MIB, color="black", linestyle="--", linewidth=1.5, label="predicted total")
    peak, when = timeline.peak()
    ax.annotate(f"peak {peak / MIB:.1f} MiB\n({timeline.phase_at(when)})", (when, peak / MIB),
                xytext=(0, 12), textcoords="offset points", ha="center", fontsize="small",
                arrowprops={"arrowstyle": "->"})
    ax.set_ylim(0, 1.3 * peak / MIB)
    ax.set_xlabel("time in the step (ms, this machine)")
    ax.set_ylabel("one rank's memory (MiB)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if title:
        ax.set_title(title)
    return ax
