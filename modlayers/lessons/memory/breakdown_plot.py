"""Pictures of the predictor: one device's memory as a stacked bar, and one rank's state as the world grows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt

from modlayers.lessons.memory.predictor import COLUMNS, MemoryBreakdown

GIB = 2**30
LABELS = {"weights": "weights", "gradients": "gradients", "optimizer_state": "optimizer state",
          "activations": "activations", "buffers": "buffers"}
COLORS = {"weights": "tab:blue", "gradients": "tab:orange", "optimizer_state": "tab:green",
          "activations": "tab:red", "buffers": "tab:gray"}


def plot_breakdown(bars: Mapping[str, MemoryBreakdown], *, ax=None, title: str | None = None,
                   device_bytes: float | None = None, device_name: str = "device", unit: int = GIB,
                   unit_name: str = "GiB"):
    """Stacked bars, one per setting: weights, gradients, optimizer state, activations and buffers of one device.

    Args:
        bars: setting name -> :class:`~modlayers.lessons.memory.predictor.MemoryBreakdown`.
        device_bytes: the memory of one device (e.g. ``80e9``), drawn as a dashed line; ``None``: no line.
        device_name: its name in the legend.
        unit, unit_name: the y axis unit (GiB by default).

    Returns:
        The matplotlib axes. The total of each bar is written on top.

    Example:
        >>> from modlayers.lessons.memory.predictor import predict_memory
        >>> ax = plot_breakdown({s: predict_memory("qwen2-0.5b", sharding=s, world_size=8) for s in ("ddp", "zero3")})
    """
    if not bars:
        raise ValueError("bars is empty: give at least one {setting: MemoryBreakdown}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.6))
    names = list(bars)
    bottoms = [0.0] * len(names)
    for column in COLUMNS:
        heights = [getattr(bars[name], column) / unit for name in names]
        ax.bar(range(len(names)), heights, bottom=bottoms, label=LABELS[column], color=COLORS[column])
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    for index, total in enumerate(bottoms):
        ax.annotate(f"{total:.3g}", (index, total), ha="center", va="bottom", fontsize="small")
    top = max(bottoms)
    if device_bytes is not None:
        ax.axhline(device_bytes / unit, color="black", linestyle="--", linewidth=1,
                   label=f"{device_name}: {device_bytes / unit:.0f} {unit_name}")
        top = max(top, device_bytes / unit)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=0 if len(names) <= 6 else 90)
    ax.set_ylabel(f"one device's memory ({unit_name})")
    ax.set_ylim(0, 1.15 * top or 1.0)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax


def plot_world_size_sweep(world_sizes: Sequence[int], estimated: Mapping[str, Sequence[float]],
                          predicted: Mapping[str, Sequence[float]], *, ax=None, title: str | None = None,
                          unit: int = 2**20, unit_name: str = "MiB"):
    """One rank's memory against the world size (log-log): fake-tensor estimates as dots, the predictor as lines.

    Args:
        world_sizes: the ``W`` of each point.
        estimated: column (``"state"``, ``"activations"``) -> bytes per ``W``, from the fake-tensor runs.
        predicted: the same columns from the predictor.

    Returns:
        The matplotlib axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.2))
    for index, (column, values) in enumerate(estimated.items()):
        color = f"C{index}"
        ax.plot(world_sizes, [v / unit for v in predicted[column]], "-", color=color, label=f"{column}: predicted")
        ax.plot(world_sizes, [v / unit for v in values], "o", color=color, label=f"{column}: fake-tensor rank")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(list(world_sizes))
    ax.set_xticklabels([str(w) for w in world_sizes])
    ax.set_xlabel("world size W (ranks)")
    ax.set_ylabel(f"one rank's memory ({unit_name})")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return ax
