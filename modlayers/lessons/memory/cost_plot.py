"""Checkpointing's trade-off drawn: saved bytes against recompute FLOPs, with the Pareto front.

Both axes are exact and the same on any machine: the saved activations counted by saved-tensor hooks
(or read off the compile partitioner's graphs) and the recompute FLOPs counted by ``FlopCounterMode``
(:mod:`modlayers.lessons.memory.recompute_flops`, :mod:`modlayers.lessons.memory.compile_budget`). Wall time, which
depends on the machine and on whatever else runs on it, is drawn beside, labelled as such.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt

from modlayers.lessons.memory.recompute_flops import StepFlops, pareto_front

MIB = 2**20
KINDS = {  # policy name prefix -> (legend, marker)
    "compile budget": ("torch.compile, activation_memory_budget (min-cut)", "s"),
    "inductor budget": ("inductor's partition (attention fused)", "^"),
    "": ("the kit's policies (eager)", "o"),
}


def _kind(step: StepFlops) -> str:
    return next(prefix for prefix in KINDS if step.policy.startswith(prefix))


def plot_memory_flops_tradeoff(steps: Sequence[StepFlops], *, time_ratios: dict[str, float] | None = None,
                               machine: str = "this machine", title: str | None = None):
    """Saved MiB against recompute (% of a step's FLOPs) for every step, the Pareto front as a line.

    The front is drawn over the steps that run the same operations: the kit's policies and the
    min-cut compile budgets. Inductor's points (``"inductor budget ..."``) are drawn, not in the front:
    its graphs fuse the attention, a different computation.

    Args:
        steps: counted steps (``saved_bytes`` set): the kit's policies and compile budgets alike.
        time_ratios: ``{policy: step time / step time without checkpointing}`` measured here; drawn on
            a second panel, titled as this machine's and noisy. ``None`` leaves it out.
        machine: how the time panel names the machine (e.g. ``"2-core CPU, load 3.1"``).
        title: the figure's title.

    Returns:
        The matplotlib figure (one or two axes).
    """
    columns = 2 if time_ratios else 1
    fig, axes = plt.subplots(1, columns, figsize=(6.5 * columns, 4.2), squeeze=False,
                             gridspec_kw={"width_ratios": [1.6, 1][:columns]})
    ax = axes[0][0]
    seen = set()
    for step in steps:
        legend, marker = KINDS[_kind(step)]
        ax.scatter(100 * step.overhead, step.saved_bytes / MIB, marker=marker, s=50, zorder=3,
                   label=None if legend in seen else legend, color=f"C{list(KINDS).index(_kind(step))}")
        seen.add(legend)
    labels: dict[tuple[float, float], list[str]] = {}
    for step in steps:  # one label per point: equal costs (off and offload) share it
        labels.setdefault((100 * step.overhead, step.saved_bytes / MIB), []).append(
            step.policy.replace("compile budget ", "").replace("inductor budget ", "ind. "))
    for (x, y), names in labels.items():
        ax.annotate(", ".join(names), (x, y), textcoords="offset points", xytext=(5, 4), fontsize="x-small")
    # Inductor's graphs run other operations (fused attention): the front compares like with like.
    front = pareto_front(step for step in steps if _kind(step) != "inductor budget")
    ax.step([100 * s.overhead for s in front], [s.saved_bytes / MIB for s in front], where="post",
            color="black", alpha=0.4, linestyle="--", label="Pareto front (same operations)")
    ax.set_xlabel("recompute, % of a step's FLOPs (forward + backward)")
    ax.set_ylabel("saved activations (MiB)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="x-small", loc="upper right")
    ax.set_title("exact: counted, any machine", fontsize="small")
    if time_ratios:
        right = axes[0][1]
        names = list(time_ratios)
        right.barh(names, [time_ratios[name] for name in names], color="grey")
        right.axvline(1.0, color="black", linewidth=1)
        right.invert_yaxis()
        right.set_xlabel("step time / step time without checkpointing")
        right.set_title(f"wall time on {machine}: noisy", fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
