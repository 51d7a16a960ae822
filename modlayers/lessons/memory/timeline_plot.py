"""The memory timeline drawn: allocated bytes over one training step, by kind, with the peak named."""

from collections.abc import Sequence

import matplotlib.pyplot as plt

from modlayers.lessons.memory.timeline import KINDS, MemoryTimeline

MIB = 2**20
KIND_COLOURS = {
    "kept from the forward pass": "#6baed6",
    "recompute": "#fd8d3c",
    "gradients": "#74c476",
    "backward temporaries": "#bdbdbd",
}


def plot_memory_timeline(timeline: MemoryTimeline, *, ax=None, title: str | None = None, ymax: float | None = None):
    """Stacked areas of ``timeline``'s kinds over the step's allocator events, the peak marked and broken down.

    The x axis counts allocator events (each tensor made or freed), so the picture is the same on any
    machine; a dashed line marks where the backward pass starts. The weights sit under every curve
    (allocated before the step) and are named in the box, not drawn.

    Returns:
        the axes.

    Example:
        >>> plot_memory_timeline(memory_timeline(model, batch, "every-layer"))
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    steps = range(len(timeline.allocated))
    ax.stackplot(steps, *[[b / MIB for b in timeline.by_kind[kind]] for kind in KINDS],
                 labels=KINDS, colors=[KIND_COLOURS[kind] for kind in KINDS], alpha=0.9)
    ax.axvline(timeline.backward_starts, color="black", linestyle="--", linewidth=1)
    top = ymax or max(timeline.allocated) / MIB * 1.45
    ax.text(timeline.backward_starts, top * 0.3, "forward | backward", ha="center", va="center", fontsize=8,
            bbox=dict(boxstyle="round", facecolor="white", edgecolor="none", alpha=0.9))
    peak = timeline.peak_bytes / MIB
    ax.plot([timeline.peak_index], [peak], marker="v", color="#d62728", markersize=8)
    lines = [f"peak {peak:.2f} MiB ({timeline.peak_phase})"]
    lines += [f"{kind}: {timeline.at_peak[kind] / MIB:.2f}" for kind in KINDS if timeline.at_peak[kind]]
    lines.append(f"(+ weights {timeline.weights_bytes / MIB:.2f}, before the step)")
    ax.annotate("\n".join(lines), xy=(timeline.peak_index, peak), xytext=(0.02, 0.97), textcoords="axes fraction",
                ha="left", va="top", fontsize=8, bbox=dict(boxstyle="round", facecolor="white", alpha=0.9),
                arrowprops=dict(arrowstyle="->", color="#d62728"))
    ax.set_ylim(0, top)
    ax.set_xlim(0, max(len(timeline.allocated) - 1, 1))
    ax.set_xlabel("allocator events in the step (tensors made or freed)")
    ax.set_ylabel("MiB allocated above the step's start")
    ax.set_title(title or timeline.policy)
    return ax


def plot_memory_timelines(timelines: Sequence[MemoryTimeline], *, title: str | None = None):
    """:func:`plot_memory_timeline` for each timeline, side by side on one y scale, one legend below.

    Returns:
        the figure.
    """
    fig, axes = plt.subplots(1, len(timelines), figsize=(6.2 * len(timelines), 4.4), sharey=True, squeeze=False)
    ymax = max(max(t.allocated) for t in timelines) / MIB * 1.45
    for ax, timeline in zip(axes[0], timelines):
        plot_memory_timeline(timeline, ax=ax, ymax=ymax)
    for ax in axes[0][1:]:
        ax.set_ylabel("")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(KINDS), fontsize=9, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig
