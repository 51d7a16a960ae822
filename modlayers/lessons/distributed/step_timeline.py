"""One rank's memory over one training step, allocation by allocation, and what is alive at its peak.

The torch profiler records every allocation and release a step makes (``profile_memory=True``), each inside the
operation that made it. The operation's ancestors say what the memory is for:

==========================  ====================================================================================
category                    made inside
==========================  ====================================================================================
``state at start``          before the step: parameters (a shard under FSDP2), Adam's moments, DDP's buckets
                            holding the gradients; only its releases show in the step
``forward pass``            the forward: outputs, saved activations (what survives until backward)
``all-gather buffers``      FSDP2's ``FSDP::all_gather*``: a layer's whole parameters, gathered before it runs
``backward pass``           autograd's engine: gradients of activations, a checkpointed layer's recompute
``reduce-scatter buffers``  FSDP2's ``FSDP::post_backward_reduce``: a layer's whole gradient, then its shard
``optimizer step``          after the backward pass: gradient clipping, ``Optimizer.step``
==========================  ====================================================================================

A release is charged to the category of the allocation it frees, so the running sum of each category is what it
holds at each moment, and their sum (plus the state at start) is the rank's memory. :func:`record_step_timeline`
records it; :meth:`StepTimeline.live_at_peak` splits the peak item by item. Above the predicted total (parameters,
gradients, Adam state and saved activations: :func:`~modlayers.lessons.distributed.rank_memory.predict_rank_memory`), the
peak holds what lives only for a moment: under FSDP2 the root's gathered parameters (gathered once, kept from
forward to backward) and two layers' (the one running and the next, prefetched), the gradients being
reduce-scattered, and the gradients of the activations in flight.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

CATEGORIES = ("state at start", "forward pass", "all-gather buffers", "backward pass", "reduce-scatter buffers",
              "optimizer step")


def allocation_category(names: list[str]) -> str:
    """The category of an allocation made inside operations ``names`` (innermost first).

    Example:
        >>> allocation_category(["aten::empty", "FSDP::all_gather (model.layers.0)", "FSDP::pre_forward (model.layers.0)"])
        'all-gather buffers'
        >>> allocation_category(["aten::mm", "AddmmBackward0", "autograd::engine::evaluate_function: AddmmBackward0"])
        'backward pass'
    """
    if any(name.startswith("FSDP::all_gather") for name in names):
        return "all-gather buffers"
    if any("post_backward_reduce" in name or "reduce_scatter" in name for name in names):
        return "reduce-scatter buffers"
    if any(name.startswith("Optimizer.") for name in names):
        return "optimizer step"
    if any(name.startswith("autograd::engine") for name in names):
        return "backward pass"
    return "forward pass"


@dataclasses.dataclass
class StepTimeline:
    """One step's allocations, in time order.

    Attributes:
        held_at_start: bytes the rank holds when the step begins (parameters, Adam state, DDP's buckets).
        events: ``[time in ms from the step's start, category, bytes]`` per allocation (> 0) or release (< 0).
        phases: ``{"backward": ms, "optimizer": ms, "end": ms}``, when each begins (the forward at 0; the
            optimizer phase, clipping included, when the backward pass ends).
    """

    held_at_start: int
    events: list[list]
    phases: dict[str, float]

    def series(self) -> tuple[list[float], dict[str, list[int]]]:
        """``(times, {category: bytes held after each event})``; ``state at start`` begins at ``held_at_start``."""
        held = {category: 0 for category in CATEGORIES}
        held["state at start"] = self.held_at_start
        times, series = [0.0], {category: [held[category]] for category in CATEGORIES}
        for time, category, size in self.events:
            held[category] += size
            times.append(time)
            for name in CATEGORIES:
                series[name].append(held[name])
        return times, series

    def peak(self) -> tuple[int, float]:
        """``(peak bytes, when in ms)``: the most the rank held at any moment of the step."""
        in_use, best, when = self.held_at_start, self.held_at_start, 0.0
        for time, _, size in self.events:
            in_use += size
            if in_use > best:
                best, when = in_use, time
        return best, when

    def live_at_peak(self) -> dict[str, int]:
        """What each category holds at the peak (they sum to :meth:`peak`'s bytes)."""
        times, series = self.series()
        totals = [sum(series[c][i] for c in CATEGORIES) for i in range(len(times))]
        index = max(range(len(totals)), key=totals.__getitem__)  # the first moment at the peak
        return {category: series[category][index] for category in CATEGORIES}

    def phase_at(self, time: float) -> str:
        """``"forward"``, ``"backward"`` or ``"optimizer"``: the phase running at ``time`` ms."""
        if time >= self.phases.get("optimizer", float("inf")):
            return "optimizer"
        return "backward" if time >= self.phases.get("backward", float("inf")) else "forward"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def record_step_timeline(step: Callable[[], object], held_at_start: int) -> StepTimeline:
    """Run ``step()`` under the torch profiler and return its :class:`StepTimeline` (CPU or GPU memory alike).

    Args:
        step: one training step (forward, backward, optimizer step).
        held_at_start: what the rank holds before it (the profiler sees only what the step allocates).
    """
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, _utils, profile

    from modlayers.lessons.memory.measure import _native_output_silenced

    with _native_output_silenced():  # the profiler's C++ start/stop chatter
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            step()
    everything = list(_utils.traverse_dfs(prof.profiler.kineto_results.experimental_event_tree()))
    allocations = sorted((e for e in everything if e.typed[0] == _EventType.Allocation), key=lambda e: e.start_time_ns)
    start = min((e.start_time_ns for e in everything), default=0)
    engine = [e for e in everything if e.name.startswith("autograd::engine")]
    backward_start = min((e.start_time_ns for e in engine), default=None)
    backward_end = max((e.end_time_ns for e in engine), default=None)
    category_of: dict[int, str] = {}  # address -> category of the block allocated there
    events = []
    for event in allocations:
        fields = event.typed[1]
        if fields.alloc_size > 0:
            names, parent = [], event.parent
            while parent is not None:
                names.append(parent.name)
                parent = parent.parent
            category = allocation_category(names)
            if category == "forward pass" and backward_end is not None and event.start_time_ns > backward_end:
                category = "optimizer step"  # gradient clipping, between backward and the optimizer
            category_of[fields.ptr] = category
        else:  # a release: charged to what allocated it, or to the state when that was before the step
            category = category_of.pop(fields.ptr, "state at start")
        events.append([(event.start_time_ns - start) / 1e6, category, int(fields.alloc_size)])

    phases = {"backward": None if backward_start is None else (backward_start - start) / 1e6,
              "optimizer": None if backward_end is None else (backward_end - start) / 1e6,
              "end": (max(e.end_time_ns for e in everything) - start) / 1e6 if everything else 0.0}
    return StepTimeline(held_at_start, events, {k: v for k, v in phases.items() if v is not None})


def peak_accounting(timeline: StepTimeline, predicted: dict[str, float], *, gradients_held: bool) -> list[dict]:
    """The gap between the predicted total and the peak, item by item.

    Args:
        timeline: one rank's step.
        predicted: :func:`~modlayers.lessons.distributed.rank_memory.predict_rank_memory`'s ``{"parameters", "gradients",
            "optimizer_state", "activations"}`` for that rank (with DDP's buckets, when plain, in ``"buckets"``).

    Returns:
        One row per item: ``{"item", "predicted", "at_peak", "difference"}`` in bytes. ``predicted`` is the
        item's share of the predicted total (0 for what the table does not hold), ``at_peak`` what the item holds
        at the peak; the differences add up to ``peak - predicted total``.

    Example:
        >>> timeline = StepTimeline(100, [[0.0, "forward pass", 30], [1.0, "backward pass", 20]], {})
        >>> [(row["item"], row["difference"]) for row in peak_accounting(timeline, {"parameters": 50,
        ...     "gradients": 0, "optimizer_state": 50, "activations": 40}, gradients_held=True)][:2]
        [('state at start', 0), ('forward pass', -10)]
    """
    live = timeline.live_at_peak()
    held_gradients = predicted["gradients"] if gradients_held else 0
    shares = {
        "state at start": predicted["parameters"] + predicted["optimizer_state"] + held_gradients
                          + predicted.get("buckets", 0),
        "forward pass": predicted["activations"],
        "all-gather buffers": 0,
        "backward pass": 0,
        "reduce-scatter buffers": predicted["gradients"] - held_gradients,
        "optimizer step": 0,
    }
    return [{"item": item, "predicted": shares[item], "at_peak": live[item], "difference": live[item] - shares[item]}
            for item in CATEGORIES]
