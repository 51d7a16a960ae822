"""Training curves."""

from __future__ import annotations

from collections.abc import Sequence

from modlayers.lessons.plots.style import new_axes


def plot_loss_curve(losses: Sequence[float], *, smooth: int = 10, ax=None, title: str = "training loss"):
    """Plot the loss of every step, and its moving average over ``smooth`` steps.

    Args:
        losses: one loss per optimisation step (what ``modlayers.lessons.training.train`` returns).
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
    ax = new_axes(ax, width=6.0, height=3.2)
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
