"""Lesson 04: the memory lab's sweeps, policy trade-offs, segment curves and memory bars."""

from __future__ import annotations

from collections.abc import Sequence

from modlayers.lessons.plots.style import MIB, PAD_COLOUR, POOLED_COLOUR, new_axes


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
    ax = new_axes(ax, 6, 4)
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
    ax = new_axes(ax, 6, 4)
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

    ``rows`` from :func:`modlayers.lessons.memory.measure_segment_peaks`: the exact held
    activations (dots), the prediction ``segments + longest segment`` (dashed) and, where
    measured, the profiler's peak of the whole step (squares). A dotted line marks
    ``sqrt(depth)``.
    """
    ax = new_axes(ax, 6, 4)
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
    ax = new_axes(ax, 6, 4.8)
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
