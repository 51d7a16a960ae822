"""Show a fine-tuning run: validation curves of several models in one plot, and a table against the baselines.

Both take the dicts that ``modlayers.lessons.finetuning.<task>.finetune`` returns, so every task notebook and the
``finetune`` command report the same way.
"""

from __future__ import annotations

from collections.abc import Mapping


def plot_validation_curves(results: Mapping[str, dict], baselines: Mapping[str, float] | None = None, *, ax=None, title=None):
    """One line per run (validation metric against step), one dashed horizontal line per baseline.

    Args:
        results: label -> a ``finetune`` result (its ``"history"`` entries need ``"step"`` and the metric).
        baselines: name -> value, drawn as horizontal lines (default: the first result's ``"baselines"``).
        ax: axes to draw into; a new figure when ``None``.
        title: axes title (default: the task's name and metric).

    Returns:
        The ``Axes``: ``len(results)`` solid lines first, then one dashed line per baseline.

    Raises:
        ValueError: ``results`` is empty.

    Example:
        >>> ax = plot_validation_curves({"tiny": tiny_result, "pretrained": pretrained_result})  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("plot_validation_curves needs at least one finetune result, got none.")
    first = next(iter(results.values()))
    metric = first["metric_name"]
    baselines = first.get("baselines", {}) if baselines is None else baselines
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for label, result in results.items():
        steps = [entry["step"] for entry in result["history"]]
        ax.plot(steps, [entry[metric] for entry in result["history"]], marker="o", label=label)
    for i, (name, value) in enumerate(baselines.items()):
        ax.axhline(value, linestyle="--", color=f"C{len(results) + i}", label=f"{name} (baseline)")
    ax.set_xlabel("optimisation step")
    ax.set_ylabel(f"validation {metric}")
    ax.set_title(title or f"{first['task']}: validation {metric}")
    ax.legend(fontsize="small")
    return ax


def results_table(results: Mapping[str, dict], baselines: Mapping[str, float] | None = None) -> str:
    """A Markdown table: each run and each baseline with its validation metric, best first.

    Example:
        >>> print(results_table({"tiny": {"task": "classification", "metric_name": "accuracy", "metric": 0.5,
        ...                               "steps": 10, "baselines": {"majority class": 0.25}}}))
        | classification | validation accuracy |
        | --- | ---: |
        | tiny (10 steps) | 0.500 |
        | majority class (baseline) | 0.250 |
    """
    if not results:
        raise ValueError("results_table needs at least one finetune result, got none.")
    first = next(iter(results.values()))
    baselines = first.get("baselines", {}) if baselines is None else baselines
    rows = [(f"{label} ({r['steps']} steps)", r["metric"]) for label, r in results.items()]
    rows += [(f"{name} (baseline)", value) for name, value in baselines.items()]
    lines = [f"| {first['task']} | validation {first['metric_name']} |", "| --- | ---: |"]
    lines += [f"| {name} | {value:.3f} |" for name, value in sorted(rows, key=lambda row: -row[1])]
    return "\n".join(lines)
