"""Bytes moved between ranks in one training step: counted from the collectives torch runs, and predicted.

Each strategy talks through a few **collectives** (every rank calls the same one at the same time):

==================  ===================================================  =========================================
strategy            collectives of one step                              bytes handed to them, per rank
==================  ===================================================  =========================================
``ddp``             all-reduce of the gradients (in buckets), during     ``P`` (the gradients), plus the buffers
                    backward; a broadcast of the buffers before each     (``broadcast_buffers``, from the second
                    forward after the first                              step on)
``fsdp2``           all-gather of each layer's parameters before its     ``P_root + 2 * sum(P_layer)`` gathered,
                    forward and again before its backward (the root:     ``P`` reduce-scattered (each padded to a
                    once, it stays whole from forward to backward);      multiple of ``W`` rows)
                    reduce-scatter of each layer's gradients
==================  ===================================================  =========================================

A collective's size is not what crosses the wire. On a **ring** of ``W`` ranks each rank sends, for a tensor of
``S`` bytes, ``(W - 1) / W * S`` in an all-gather or a reduce-scatter and ``2 (W - 1) / W * S`` in an all-reduce
(an all-reduce *is* a reduce-scatter followed by an all-gather). So DDP sends ``2 (W-1)/W * P`` per rank and step,
and FSDP2 ``(W-1)/W * (P_root + 2 P_layers + P)``: about 1.5 times DDP's traffic, for ``1 / W`` of the memory.

Checkpointing moves no extra byte under FSDP2 in this torch: the recompute runs while the layer is already gathered
for its backward (the kit checkpoints ``forward`` only, so FSDP2's hooks run once; and even with the hooks inside
the checkpoint, re-entrant or not, FSDP2 does not gather again). The test counts it.

:class:`CollectiveCounter` counts: a ``TorchDispatchMode`` that sees every ``c10d`` operation the step dispatches
(DDP's reducer and FSDP2 call them through the dispatcher), including those issued from the backward pass. It does
not see a collective issued *inside* another operation's dispatch: the one-float all-reduce of the gradient norm
that ``clip_grad_norm_`` triggers on FSDP2's ``DTensor`` s (4 bytes) is left out, of the count and the prediction.
While it is active, the profiler no longer sees which operation (``FSDP::all_gather``) made an allocation, so the
kit counts the first step and draws the memory timeline of the last.
:func:`predict_step_collectives` predicts from the parameters' shapes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from modlayers.checkpointing import checkpointable_layers

KINDS = ("all_reduce", "all_gather", "reduce_scatter", "broadcast", "all_to_all")
_NAME_TO_KIND = (("allreduce", "all_reduce"), ("all_reduce", "all_reduce"), ("allgather", "all_gather"),
                 ("all_gather", "all_gather"), ("reduce_scatter", "reduce_scatter"), ("broadcast", "broadcast"),
                 ("alltoall", "all_to_all"), ("all_to_all", "all_to_all"))
# what each rank sends on a ring, per byte of the collective's full tensor, times W / (W - 1)
RING_FACTOR = {"all_reduce": 2, "all_gather": 1, "reduce_scatter": 1, "broadcast": 1, "all_to_all": 1}


def collective_kind(op_name: str) -> str | None:
    """``"c10d._allgather_base_.default"`` -> ``"all_gather"``; ``None`` for what moves no data (barrier, wait).

    Example:
        >>> collective_kind("c10d.allreduce_.default"), collective_kind("_c10d_functional.wait_tensor.default")
        ('all_reduce', None)
    """
    name = op_name.split(".")[1] if "." in op_name else op_name
    for fragment, kind in _NAME_TO_KIND:
        if fragment in name:
            return kind
    return None


def _bytes(value) -> int:
    return sum(t.numel() * t.element_size() for t in tree_leaves(value) if isinstance(t, torch.Tensor))


def collective_bytes(kind: str, namespace: str, args: tuple) -> int:
    """The full tensor's bytes of one collective call (the gathered output, the reduce-scattered input).

    ``c10d`` ops take ``(output, input, ...)`` for all-gather and reduce-scatter, so the larger of the two is
    the whole tensor; torch's functional collectives take the input and the group size.
    """
    if namespace != "c10d" and kind == "all_gather":  # functional: (shard, group_size, group)
        return _bytes(args[0]) * int(args[1])
    if kind in ("all_gather", "reduce_scatter"):
        return max(_bytes(args[0]), _bytes(args[1]))
    return _bytes(args[0])


class CollectiveCounter(TorchDispatchMode):
    """Count the collectives run inside the block: how many of each kind and their bytes.

    Attributes:
        calls: kind -> number of calls.
        bytes: kind -> bytes of the full tensors (see :func:`collective_bytes`).
        log: ``(kind, bytes)`` per call, in order.

    Example:
        >>> with CollectiveCounter() as counter:  # doctest: +SKIP
        ...     model(**batch).loss.backward()
        >>> counter.bytes  # doctest: +SKIP
        {'all_gather': 1606716, 'reduce_scatter': 671272}
    """

    def __init__(self):
        super().__init__()
        self.calls: Counter = Counter()
        self.bytes: Counter = Counter()
        self.log: list[tuple[str, int]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.namespace in ("c10d", "_c10d_functional", "c10d_functional"):
            kind = collective_kind(str(func))
            if kind is not None:
                size = collective_bytes(kind, func.namespace, args)
                self.calls[kind] += 1
                self.bytes[kind] += size
                self.log.append((kind, size))
        return func(*args, **kwargs)

    def summary(self) -> dict:
        """``{"calls": {kind: n}, "bytes": {kind: bytes}}`` (JSON-ready)."""
        return {"calls": dict(self.calls), "bytes": dict(self.bytes)}


def ring_bytes_sent(collective: Mapping[str, int], world_size: int) -> float:
    """Bytes each rank sends on a ring for collectives of the given sizes (kind -> bytes).

    Example:
        >>> ring_bytes_sent({"all_reduce": 1000}, world_size=2)  # 2 (W-1)/W * 1000
        1000.0
        >>> ring_bytes_sent({"all_gather": 3000, "reduce_scatter": 1000}, world_size=4)
        3000.0
    """
    if world_size < 1:
        raise ValueError(f"world_size must be at least 1, got {world_size}.")
    unknown = set(collective) - set(RING_FACTOR)
    if unknown:
        raise ValueError(f"Unknown collective kind(s) {sorted(unknown)}; expected some of {', '.join(KINDS)}.")
    return sum(RING_FACTOR[kind] * (world_size - 1) / world_size * size for kind, size in collective.items())


def padded_bytes(parameters, world_size: int) -> int:
    """Bytes of ``parameters`` once each is padded, as FSDP2 shards it, to a multiple of ``world_size`` rows.

    Example:
        >>> padded_bytes([torch.zeros(3, 4), torch.zeros(5)], world_size=2)  # 4 rows of 4 + 6 = 22 floats
        88
    """
    total = 0
    for p in parameters:
        rows = p.shape[0] if p.dim() else 1
        per_row = p.numel() // rows if rows else 0
        total += math.ceil(rows / world_size) * world_size * per_row * p.element_size()
    return total


def predict_step_collectives(model: nn.Module, strategy: str, world_size: int, *, step_index: int = 0,
                             used_map: bool = False) -> dict[str, int]:
    """The bytes each kind of collective handles in one training step (kind -> bytes), from the shapes.

    Args:
        model: the model before wrapping (or unwrapped: DDP's ``.module``; FSDP2's sharded parameters are
            ``DTensor`` s whose ``.shape`` is the whole parameter's).
        strategy: ``"ddp"`` or ``"fsdp2"`` (as :func:`~modlayers.lessons.distributed.strategies.wrap_model` wraps it:
            one FSDP2 group per checkpointable layer, one for the rest).
        world_size: ``W``.
        step_index: 0 for the first step (DDP broadcasts the buffers from the second on; at the second it also
            sends its bucket order once, a few hundred bytes, not predicted here).
        used_map: DDP all-reduces which parameters got a gradient (one int32 each): every step with
            ``find_unused_parameters=True``, on the first step with ``static_graph=True``.

    Raises:
        ValueError: another strategy.

    Example:
        >>> predict_step_collectives(torch.nn.Linear(4, 2), "ddp", 2)  # 10 float32 gradients
        {'all_reduce': 40}
    """
    if strategy not in ("ddp", "fsdp2"):
        raise ValueError(f"Collectives are predicted for 'ddp' and 'fsdp2', got {strategy!r} ('none' runs none).")
    trainable = [p for p in model.parameters() if p.requires_grad]
    if strategy == "ddp":
        predicted = {"all_reduce": sum(p.numel() * p.element_size() for p in trainable) + 4 * len(trainable) * used_map}
        buffers = sum(b.numel() * b.element_size() for b in model.buffers())
        if step_index > 0 and buffers:
            predicted["broadcast"] = buffers
        return predicted
    layers = checkpointable_layers(model)
    in_layers = {id(p) for layer in layers for p in layer.parameters()}
    layer_bytes = [padded_bytes(list(layer.parameters()), world_size) for layer in layers]
    root_bytes = padded_bytes([p for p in model.parameters() if id(p) not in in_layers], world_size)
    return {"all_gather": root_bytes + 2 * sum(layer_bytes), "reduce_scatter": root_bytes + sum(layer_bytes)}


def group_bytes(model: nn.Module, world_size: int) -> dict[str, int]:
    """Whole (gathered, padded) bytes of each FSDP2 group: ``{"root": ..., "layer": largest layer}``."""
    layers = checkpointable_layers(model)
    in_layers = {id(p) for layer in layers for p in layer.parameters()}
    return {"root": padded_bytes([p for p in model.parameters() if id(p) not in in_layers], world_size),
            "layer": max((padded_bytes(list(layer.parameters()), world_size) for layer in layers), default=0)}
