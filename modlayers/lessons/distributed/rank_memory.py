"""What each rank holds in memory while it trains, measured and predicted.

Training with Adam keeps four kinds of tensors on every rank:

=================  =====================================  ==========================================
kind               no sharding (``none``, ``ddp``)        ``fsdp2`` over ``W`` ranks
=================  =====================================  ==========================================
parameters         ``P`` bytes                            ``P / W``
gradients          ``P``                                  ``P / W``
optimizer state    ``2 P`` (Adam's two moments)           ``2 P / W``
activations        ``A(b)`` for the rank's batch ``b``    ``A(b)``
=================  =====================================  ==========================================

with ``P`` the parameters' bytes and ``A(b)`` the activations saved for backward, proportional to the batch a
rank runs: ``b = global batch / W`` under DDP and FSDP2. So DDP saves activations (each rank runs a share of the
batch) but copies the whole state to every rank; FSDP2 divides the state too. Checkpointing divides the
activations instead. :func:`predict_rank_memory` is that table; :func:`measure_state_bytes` and
:class:`~modlayers.lessons.memory.saved_tensors.SavedTensorCounter` measure it.

DDP's all-reduce **buckets** are not alive only for a moment: DDP allocates them when it is built and keeps them
for the whole training. The kit builds DDP with ``gradient_as_bucket_view=True``, so the gradients are views into
the buckets and the table holds; plain DDP (the default, ``False``) keeps the buckets *beside* the gradients, one
more ``P`` per rank (PyTorch PR #41954; :mod:`~modlayers.lessons.distributed.ddp_buckets`).

On top comes what is alive only for a moment (FSDP2's gathered layers, the gradients being reduce-scattered, the
recompute of a checkpointed layer, the gradients of the activations): the **peak**, from
``torch.cuda.max_memory_allocated`` on a GPU and from the profiler's memory timeline on a CPU
(:mod:`~modlayers.lessons.distributed.step_timeline` splits it item by item).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.distributed as dist
from torch import nn

from modlayers.lessons.distributed.strategies import local_tensor
from modlayers.lessons.memory.saved_tensors import SavedTensorCounter, _storage_key

MIB = 2**20
ADAM_STATE_COPIES = 2  # exp_avg and exp_avg_sq, each the size of the parameters
COLUMNS = ("parameters", "gradients", "optimizer_state", "activations")


@dataclasses.dataclass
class RankMemory:
    """One rank's memory during one training step, in bytes.

    Attributes:
        rank, world_size: which process, of how many.
        strategy, checkpointing: how it trained (``"ddp"``, ``"every-layer"``, ...).
        device: ``"cpu"`` or ``"cuda"``.
        batch_per_rank, seq_len: the shape of the batch this rank ran.
        parameters, gradients, optimizer_state: this rank's own (local) tensors: a shard under FSDP2.
        activations: saved for backward by this rank's forward pass (exact count, parameters excluded).
        peak: the most memory allocated at any moment of the step (``None`` when not measured).
        peak_source: how ``peak`` was measured.
    """

    rank: int
    world_size: int
    strategy: str
    checkpointing: str
    device: str
    batch_per_rank: int
    seq_len: int
    parameters: int
    gradients: int
    optimizer_state: int
    activations: int
    peak: int | None = None
    peak_source: str = ""

    @property
    def total(self) -> int:
        """Parameters + gradients + optimizer state + activations."""
        return sum(getattr(self, column) for column in COLUMNS)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class RankActivationCounter(SavedTensorCounter):
    """:class:`~modlayers.lessons.memory.saved_tensors.SavedTensorCounter` for a model that may be sharded by FSDP2.

    Parameters are left out as usual, by their local tensors (a sharded parameter is a ``DTensor`` whose own storage
    is not a real one), and so are the whole parameters FSDP2 gathers for a layer: a layer saves its gathered
    weight for backward, but FSDP2 frees that storage after the layer's forward and gathers it again in backward,
    so it is not held in between.

    Example:
        >>> with RankActivationCounter(model) as counter:  # doctest: +SKIP
        ...     loss = model(**batch).loss
    """

    def __init__(self, model: nn.Module):
        super().__init__([local_tensor(t) for t in (*model.parameters(), *model.buffers())])
        self._model = model

    def _record(self, tensor: torch.Tensor) -> None:
        # while a layer runs, FSDP2 has swapped its gathered parameters into the module: a saved tensor on their
        # storage (the weight, or the transposed view a Linear keeps) is a parameter, not an activation
        gathered = {_storage_key(p) for p in self._model.parameters() if not hasattr(p, "to_local")}
        if _storage_key(tensor) in gathered:
            return
        super()._record(tensor)


def tensors_bytes(tensors: Iterable[torch.Tensor | None]) -> int:
    """Bytes of the local part of each tensor (a ``DTensor``'s shard), ``None`` skipped."""
    return sum(local_tensor(t).numel() * t.element_size() for t in tensors if t is not None)


def measure_state_bytes(model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict[str, int]:
    """Bytes of this rank's parameters, gradients and optimizer state.

    Returns:
        ``{"parameters": ..., "gradients": ..., "optimizer_state": ...}``; gradients that are ``None`` count 0,
        and the optimizer's state is empty until its first ``step()``.

    Example:
        >>> layer = torch.nn.Linear(4, 4)  # 20 float32 parameters
        >>> measure_state_bytes(layer)
        {'parameters': 80, 'gradients': 0, 'optimizer_state': 0}
    """
    parameters = list(model.parameters())
    state = []
    if optimizer is not None:
        for per_parameter in optimizer.state.values():
            state.extend(v for v in per_parameter.values() if isinstance(v, torch.Tensor) and v.dim() > 0)
    return {
        "parameters": tensors_bytes(parameters),
        "gradients": tensors_bytes(p.grad for p in parameters),
        "optimizer_state": tensors_bytes(state),
    }


def predict_rank_memory(parameter_bytes: int, strategy: str, world_size: int, activation_bytes: int) -> dict[str, float]:
    """The formula of the module docstring: what one rank holds.

    Args:
        parameter_bytes: ``P``, the whole model's parameters in bytes.
        strategy: ``"none"``, ``"ddp"`` or ``"fsdp2"`` (only FSDP2 divides the state by ``world_size``).
        world_size: ``W``.
        activation_bytes: ``A(b)``, the activations of the rank's own batch (see
            :func:`activations_for_batch`).

    Returns:
        ``{"parameters", "gradients", "optimizer_state", "activations"}`` in bytes (floats: ``P / W``).

    Raises:
        ValueError: an unknown strategy or ``world_size < 1``.

    Example:
        >>> predict_rank_memory(1000, "fsdp2", 2, 300)
        {'parameters': 500.0, 'gradients': 500.0, 'optimizer_state': 1000.0, 'activations': 300.0}
    """
    if strategy not in ("none", "ddp", "fsdp2"):
        raise ValueError(f"Unknown strategy {strategy!r}; choose one of none, ddp, fsdp2.")
    if world_size < 1:
        raise ValueError(f"world_size must be at least 1, got {world_size}.")
    shards = world_size if strategy == "fsdp2" else 1
    per_rank = parameter_bytes / shards
    return {"parameters": per_rank, "gradients": per_rank, "optimizer_state": ADAM_STATE_COPIES * per_rank,
            "activations": float(activation_bytes)}


def fsdp2_shard_rows(rows: int, world_size: int, rank: int) -> int:
    """How many of a parameter's ``rows`` (its dim 0) rank ``rank`` holds under FSDP2 over ``world_size`` ranks.

    ``fully_shard`` splits every parameter along dim 0 as ``torch.chunk`` does: chunks of ``ceil(rows / W)``
    rows, the last ones shorter or empty. So a ``(5, 3)`` weight over 2 ranks is 3 rows on rank 0 and 2 on rank 1,
    and a ``(1,)`` bias is all on rank 0 (FSDP2 pads the shards to one size for its collectives, but a rank's
    ``to_local()`` tensor, and its gradient and optimizer state, hold only its own rows).

    Example:
        >>> [fsdp2_shard_rows(5, 2, r) for r in range(2)], [fsdp2_shard_rows(5, 4, r) for r in range(4)]
        ([3, 2], [2, 2, 1, 0])
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need world_size >= 1 and 0 <= rank < world_size, got world_size={world_size}, rank={rank}.")
    chunk = -(-rows // world_size)  # ceil
    return max(0, min(chunk, rows - rank * chunk))


def state_bytes_per_rank(model: nn.Module, strategy: str, world_size: int, rank: int) -> dict[str, int]:
    """Exactly what :func:`measure_state_bytes` finds on rank ``rank`` after one Adam step, counted without running.

    ``predict_rank_memory`` is the rule of thumb (``P / W``); this is the count to the byte: each parameter at its own
    dtype's size, FSDP2's uneven shards (:func:`fsdp2_shard_rows`), and frozen parameters (``requires_grad=False``),
    which are held but get no gradient and no optimizer state. Every parameter of ``model`` is sharded under
    ``fsdp2`` (each one at least 1-dimensional).

    Args:
        model: the unwrapped model, whole (as every rank builds it before wrapping).
        strategy: ``"none"``, ``"ddp"`` (every rank the whole) or ``"fsdp2"``.
        world_size, rank: ``W`` and this rank, ``0 <= rank < W``.

    Returns:
        ``{"parameters", "gradients", "optimizer_state"}`` in bytes, Adam's two moments in the parameters' dtype.

    Example:
        >>> model = nn.Linear(3, 5)  # weight (5, 3), bias (5,): 20 float32 numbers
        >>> state_bytes_per_rank(model, "ddp", 2, 1), state_bytes_per_rank(model, "fsdp2", 2, 1)
        ({'parameters': 80, 'gradients': 80, 'optimizer_state': 160}, {'parameters': 32, 'gradients': 32, 'optimizer_state': 64})
    """
    if strategy not in ("none", "ddp", "fsdp2"):
        raise ValueError(f"Unknown strategy {strategy!r}; choose one of none, ddp, fsdp2.")
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need world_size >= 1 and 0 <= rank < world_size, got world_size={world_size}, rank={rank}.")
    held = trained = 0
    for parameter in model.parameters():
        numel = parameter.numel()
        if strategy == "fsdp2":
            rows = parameter.shape[0]
            numel = numel // rows * fsdp2_shard_rows(rows, world_size, rank) if rows else 0
        size = numel * parameter.element_size()
        held += size
        trained += size if parameter.requires_grad else 0
    return {"parameters": held, "gradients": trained, "optimizer_state": ADAM_STATE_COPIES * trained}


def activations_for_batch(measured_bytes: int, measured_batch: int, batch: int) -> float:
    """``A(b) = A(B) * b / B``: activations grow in proportion to the batch (same sequence length).

    Example:
        >>> activations_for_batch(800, measured_batch=16, batch=8)
        400.0
    """
    if measured_batch < 1 or batch < 1:
        raise ValueError(f"batches must be positive, got measured_batch={measured_batch}, batch={batch}.")
    return measured_bytes * batch / measured_batch


def step_peak_bytes(step: Callable[[], object], device: torch.device, held_at_start: int) -> tuple[int, str]:
    """Run ``step()`` and return ``(peak bytes, how it was measured)``.

    On CUDA: ``torch.cuda.max_memory_allocated`` over the step (everything this process allocated on the GPU). On
    the CPU: the torch profiler's memory timeline gives the peak above the step's start, and ``held_at_start``
    (parameters, optimizer state: what the step starts with) is added to it.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device), "torch.cuda.max_memory_allocated"
    return held_at_start + allocation_peak_bytes(step), "profiler allocations + state at start"


def allocation_peak_bytes(step: Callable[[], object]) -> int:
    """Peak bytes allocated during ``step()`` above its start, from the torch profiler's allocation events.

    Every allocation and release the step makes is an event with a size (positive or negative); their running
    sum, in time order, is the memory the step holds at each moment, and its maximum the peak. (Works under FSDP2,
    whose in-place collectives defeat the profiler's own tensor-lifetime analysis.)
    """
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, _utils, profile

    from modlayers.lessons.memory.measure import _native_output_silenced

    with _native_output_silenced():  # the profiler's C++ start/stop chatter
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            step()
    events = _utils.traverse_dfs(prof.profiler.kineto_results.experimental_event_tree())
    allocations = sorted((e for e in events if e.typed[0] == _EventType.Allocation), key=lambda e: e.start_time_ns)
    in_use = peak = 0
    for event in allocations:
        in_use += event.typed[1].alloc_size  # > 0 allocated, < 0 released
        peak = max(peak, in_use)
    return peak


def gather_objects(value) -> list:
    """Every rank's ``value`` (picklable), in rank order (a collective under a process group; ``[value]`` without)."""
    if not dist.is_initialized():
        return [value]
    values: list = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values


def gather_rank_memory(record: RankMemory) -> list[RankMemory]:
    """Every rank's record, in rank order (a collective under a process group; ``[record]`` without one)."""
    return [RankMemory(**r) for r in gather_objects(record.to_dict())]


def memory_table(records: Sequence[RankMemory], unit: int = MIB, unit_name: str = "MiB") -> str:
    """The records as a text table, one row per rank.

    Example:
        >>> print(memory_table([RankMemory(0, 1, "none", "off", "cpu", 8, 32, 2**20, 2**20, 2**21, 3 * 2**20)]))  # doctest: +NORMALIZE_WHITESPACE
        rank  strategy  checkpointing  batch  parameters  gradients  optimizer  activations  total  peak  (MiB)
           0  none      off                8        1.00       1.00       2.00         3.00   7.00     -
    """
    header = (f"{'rank':>4}  {'strategy':8}  {'checkpointing':13}  {'batch':>5}  {'parameters':>10}  {'gradients':>9}  "
              f"{'optimizer':>9}  {'activations':>11}  {'total':>6}  {'peak':>6}  ({unit_name})")
    lines = [header]
    for r in records:
        peak = f"{r.peak / unit:6.2f}" if r.peak is not None else f"{'-':>6}"
        lines.append(
            f"{r.rank:>4}  {r.strategy:8}  {r.checkpointing:13}  {r.batch_per_rank:>5}  {r.parameters / unit:10.2f}  "
            f"{r.gradients / unit:9.2f}  {r.optimizer_state / unit:9.2f}  {r.activations / unit:11.2f}  "
            f"{r.total / unit:6.2f}  {peak}"
        )
    return "\n".join(lines)


def memory_json(records: Sequence[RankMemory]) -> str:
    """The records as JSON: a list of objects, one per rank, sizes in bytes."""
    return json.dumps([r.to_dict() for r in records], indent=2)
