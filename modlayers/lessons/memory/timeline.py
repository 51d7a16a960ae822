"""The memory timeline of one training step: every allocation, what it is, and what is alive at the peak.

:func:`memory_timeline` runs forward, loss and backward under the torch profiler
(``profile_memory=True``): the profiler records every tensor the step allocates and
frees, with the CPU allocator's byte counts (the same events
:func:`~modlayers.lessons.memory.measure.profiler_peak_bytes` replays). Each allocation is put
in one of five kinds by *when* it was made and *what it became*:

``kept from the forward pass``
    made during the forward pass (and the loss): the activations autograd saves for
    backward, a checkpoint's inputs, the attention bias bound into a checkpointed call,
    and while the forward pass runs, the tensors it is working on.
``recompute``
    made during the backward pass by a checkpointed layer running its forward again
    (the kit's layers mark their checkpointed call; transformers' own layers are not
    marked and land in ``backward temporaries``).
``gradients``
    the parameters' ``.grad``, made during the backward pass and alive after it.
``backward temporaries``
    everything else the backward pass makes: the gradients of activations flowing from
    layer to layer, and the scratch space of each operation's backward.

The weights are allocated before the step and are not in the timeline (it counts
bytes *above* the step's start, as ``peak_bytes`` does); :attr:`MemoryTimeline.weights_bytes`
says how much sits underneath. The step starts with no gradients (``zero_grad(set_to_none=True)``).

:func:`predicted_peak_breakdown` says what is alive at the peak from the model's shape
alone; the tests assert it against the measurement.
"""

import contextlib
import dataclasses

import torch
from torch import nn

import modlayers.checkpointing
from modlayers.lessons.memory.measure import _native_output_silenced, _resolve, hidden_state_loss, training_step
from modlayers.lessons.memory.policies import MemoryPolicy

KINDS = ("kept from the forward pass", "recompute", "gradients", "backward temporaries")
_RECOMPUTE = "modlayers::recompute"
_BACKWARD_NODE = "autograd::engine::evaluate_function"  # how the profiler names each node the backward pass runs


@dataclasses.dataclass
class MemoryTimeline:
    """One training step's allocated bytes, event by event, split by kind.

    Attributes:
        policy: the policy's name.
        allocated: bytes allocated above the step's start after each allocator event.
        by_kind: for each of :data:`KINDS`, the same curve for that kind alone (they add up to ``allocated``).
        backward_starts: index of the first event of the backward pass.
        peak_bytes: ``max(allocated)``.
        peak_index: the event at which the peak is first reached.
        at_peak: bytes of each kind alive at the peak.
        peak_phase: ``"forward"`` or ``"backward"``.
        weights_bytes: parameters (and buffers), allocated before the step, under every curve.
        freed_from_before_bytes: bytes of tensors made before the step and freed during it (left out of the
            curves; :func:`~modlayers.lessons.memory.measure.profiler_peak_bytes` subtracts them, so its peak can be
            lower by up to this much).
    """

    policy: str
    allocated: list[int]
    by_kind: dict[str, list[int]]
    backward_starts: int
    peak_bytes: int
    peak_index: int
    at_peak: dict[str, int]
    peak_phase: str
    weights_bytes: int
    freed_from_before_bytes: int = 0


@contextlib.contextmanager
def _recompute_marked():
    """Wrap every checkpointed call of the kit's layers in a profiler range, so the recompute can be told apart."""
    original = modlayers.checkpointing._run_checkpointed

    def marked(forward, layer, *args, **kwargs):
        with torch.profiler.record_function(_RECOMPUTE):
            return original(forward, layer, *args, **kwargs)

    modlayers.checkpointing._run_checkpointed = marked
    try:
        yield
    finally:
        modlayers.checkpointing._run_checkpointed = original


def memory_timeline(model: nn.Module, batch: dict, policy: MemoryPolicy | str = "off", loss_fn=hidden_state_loss) -> MemoryTimeline:
    """Profile one training step of ``model`` on ``batch`` under ``policy`` and split its memory by kind.

    CPU only, as the kit uses it (on a GPU, ``torch.cuda.memory._record_memory_history`` is the tool). The
    model is left in train mode with ``policy`` enabled and this step's gradients.

    Raises:
        ValueError: the model's parameters are not on the CPU.

    Example:
        >>> timeline = memory_timeline(*tiny_model_and_batch(layers=2, seq_len=128, batch=2), "every-layer")
        >>> timeline.peak_phase, timeline.at_peak["recompute"] > 0
        ('backward', True)
    """
    from torch.profiler import ProfilerActivity, profile

    policy = _resolve(policy)
    parameter = next(model.parameters(), None)
    if parameter is not None and parameter.device.type != "cpu":
        raise ValueError(
            f"memory_timeline replays the CPU profiler's allocations; the model is on {parameter.device}. "
            "Move it to the CPU (model.cpu()), or use torch.cuda.memory._record_memory_history on a GPU."
        )
    policy.enable(model)
    model.train()
    model.zero_grad(set_to_none=True)
    with _native_output_silenced(), _recompute_marked():
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True) as prof:
            training_step(model, batch, policy, loss_fn)  # exactly the step profiler_peak_bytes measures
    gradient_pointers = {p.grad.untyped_storage().data_ptr() for p in model.parameters() if p.grad is not None}
    weights = sum(t.untyped_storage().nbytes() for t in (*model.parameters(), *model.buffers()))
    return _split_by_kind(prof._memory_profile(), policy.name, gradient_pointers, weights)


def _name(node) -> str:
    try:
        return node.name
    except UnicodeDecodeError:  # (some of the profiler's internal events carry undecodable names: not ours)
        return ""


def _ranges(memory_profile, name: str) -> list[tuple[int, int]]:
    return [(node.start_time_ns, node.end_time_ns) for node in memory_profile._op_tree.sorted_nodes if _name(node) == name]


def _backward_start(memory_profile) -> int:
    """When the backward pass starts: the first node autograd's engine runs."""
    return min(node.start_time_ns for node in memory_profile._op_tree.sorted_nodes if _name(node).startswith(_BACKWARD_NODE))


def _by_allocation(events) -> list[tuple]:
    """``(time, action, allocation, size)``: one identity per allocation, from its creation to its release.

    A tensor's storage is one allocation (the profiler may give its release another tensor id than its
    creation). Allocations the profiler cannot tie to a tensor (the RNG states a checkpoint keeps, 5056
    bytes each) all share one key; their releases are paired with the latest creation of the same size.
    """
    untracked: dict[int, list[tuple]] = {}
    paired = []
    for time, action, (key, _), size in events:
        if hasattr(key, "storage"):
            paired.append((time, action, key.storage, size))
            continue
        stack = untracked.setdefault(size, [])
        if action.name == "CREATE":
            stack.append(("untracked", size, len(paired)))
            paired.append((time, action, stack[-1], size))
        else:
            paired.append((time, action, stack.pop() if stack else ("freed, made before the step", size), size))
    return paired


def _split_by_kind(memory_profile, policy: str, gradient_pointers: set[int], weights: int) -> MemoryTimeline:
    backward_start = _backward_start(memory_profile)
    recomputes = [(start, end) for start, end in _ranges(memory_profile, _RECOMPUTE) if start >= backward_start]
    events = [event for event in sorted(memory_profile.timeline, key=lambda e: e[0]) if event[1].name in ("CREATE", "DESTROY")]
    alive_at_end = {}
    events = _by_allocation(events)
    for time, action, key, size in events:
        if action.name == "CREATE":
            alive_at_end[key] = time
        else:
            alive_at_end.pop(key, None)

    def kind_of(key, time) -> str:
        if time < backward_start:
            return "kept from the forward pass"
        if any(start <= time <= end for start, end in recomputes):
            return "recompute"
        if key in alive_at_end and getattr(key, "ptr", None) in gradient_pointers:
            return "gradients"
        return "backward temporaries"

    kinds, running = {}, dict.fromkeys(KINDS, 0)
    allocated, by_kind = [], {kind: [] for kind in KINDS}
    backward_starts, freed_from_before = None, 0
    for time, action, key, size in events:
        if backward_starts is None and time >= backward_start:
            backward_starts = len(allocated)
        if action.name == "CREATE":
            kinds[key] = kind_of(key, time)
            running[kinds[key]] += size
        elif key in kinds:
            running[kinds.pop(key)] -= size
        else:  # a tensor made before the step and freed in it is not in the step's count
            freed_from_before += size
        allocated.append(sum(running.values()))
        for kind in KINDS:
            by_kind[kind].append(running[kind])
    peak_index = max(range(len(allocated)), key=allocated.__getitem__)
    return MemoryTimeline(
        policy=policy,
        allocated=allocated,
        by_kind=by_kind,
        backward_starts=len(allocated) if backward_starts is None else backward_starts,
        peak_bytes=allocated[peak_index],
        peak_index=peak_index,
        at_peak={kind: by_kind[kind][peak_index] for kind in KINDS},
        peak_phase="forward" if backward_starts is None or peak_index < backward_starts else "backward",
        weights_bytes=weights,
        freed_from_before_bytes=freed_from_before,
    )
