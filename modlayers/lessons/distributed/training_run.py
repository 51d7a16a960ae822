"""The training loop, for one process or many: each rank trains on its share of every global batch.

Every rank draws the same sequence of **global batches** (same seed), cuts out its own rows (rank ``r`` of ``W``
takes rows ``r * b .. (r + 1) * b`` with ``b = global batch / W``), runs forward and backward on them, and the
strategy averages the gradients across ranks. The result equals one process on the whole global batch when the
loss is weighted right: a head's loss is the mean over the items of *its* rows (labels that are not ``-100``,
windows with the answer), and two ranks may hold different numbers of items (tagging: tokens). So each rank
scales its loss by ``W * n_rank / n_global`` (``n_global`` summed over ranks with an all-reduce): after DDP or
FSDP2 averages over ``W`` ranks, the gradient is that of the mean over all ``n_global`` items, exactly as one
process computes it. transformers' ``Trainer`` does the same through ``num_items_in_batch``.

The loss it reports is the global one, the same number on every rank.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping

import torch
from torch import nn
from tqdm.auto import tqdm

from modlayers.checkpointing import checkpointable_layers, disable_gradient_checkpointing, enable_gradient_checkpointing
from modlayers.lessons.distributed.launching import DistributedContext
from modlayers.lessons.distributed.comm_bytes import CollectiveCounter
from modlayers.lessons.distributed.ddp_buckets import ddp_bucket_bytes
from modlayers.lessons.distributed.rank_memory import (RankActivationCounter, RankMemory, gather_objects,
                                               gather_rank_memory, measure_state_bytes, step_peak_bytes)
from modlayers.lessons.distributed.step_timeline import record_step_timeline
from modlayers.lessons.distributed.strategies import all_reduce_sum, unwrap, wrap_model
from modlayers.lessons.distributed.tasks import items_in_batch
from modlayers.lessons.training import adamw, batches_from

CHECKPOINTING = ("off", "every-layer", "every-N", "attention-core")


def enable_checkpointing(model: nn.Module, checkpointing: str, use_reentrant: bool = False) -> None:
    """Switch one of the kit's checkpointing policies on (or ``off``) through ``enable_gradient_checkpointing``.

    Args:
        checkpointing: ``"off"``, ``"every-layer"``, ``"every-N"`` with a number (``"every-2"``: layers 0, 2, ...)
            or ``"attention-core"`` (only the tiny transformer's attention cores).
        use_reentrant: torch's re-entrant checkpoint (``True``) or the newer one (``False``, the default).

    Raises:
        ValueError: an unknown policy, ``every-N`` with ``N < 1``, or ``attention-core`` on a model without
            ``TinyTransformerAttentionCore`` layers.
    """
    if checkpointable_layers(model):
        disable_gradient_checkpointing(model)
    if checkpointing == "off":
        return
    if checkpointing == "attention-core":
        from modlayers.lessons.tiny_transformer import TinyTransformerAttentionCore

        if not any(isinstance(m, TinyTransformerAttentionCore) for m in model.modules()):
            raise ValueError(
                f"checkpointing='attention-core' recomputes TinyTransformerAttentionCore layers and {type(model).__name__} "
                "has none (it is the tiny model's policy). Use 'every-layer' or 'every-N' instead."
            )
        enable_gradient_checkpointing(model, use_reentrant=use_reentrant, layer_type=TinyTransformerAttentionCore)
        return
    check_checkpointing(checkpointing)
    match = re.fullmatch(r"every-(layer|\d+)", checkpointing)
    every = 1 if match.group(1) == "layer" else int(match.group(1))
    enable_gradient_checkpointing(model, use_reentrant=use_reentrant, every_n_layers=every)


def check_checkpointing(checkpointing: str) -> None:
    """Raise ``ValueError`` unless ``checkpointing`` is off, every-layer, every-N (N >= 1) or attention-core."""
    if checkpointing in ("off", "attention-core"):
        return
    match = re.fullmatch(r"every-(layer|\d+)", checkpointing)
    if match is None or (match.group(1) != "layer" and int(match.group(1)) < 1):
        raise ValueError(
            f"Unknown checkpointing {checkpointing!r}; choose off, every-layer, every-N with a number N >= 1 "
            "(e.g. every-2), or attention-core."
        )


def rank_share(batch: Mapping[str, torch.Tensor], rank: int, world_size: int) -> dict[str, torch.Tensor]:
    """Rank ``rank``'s rows of a global batch: ``(B, ...)`` -> ``(B / world_size, ...)``.

    Raises:
        ValueError: the batch does not split evenly.

    Example:
        >>> rank_share({"input_ids": torch.arange(8).view(4, 2)}, rank=1, world_size=2)["input_ids"].tolist()
        [[4, 5], [6, 7]]
    """
    size = next(iter(batch.values())).shape[0]
    if size % world_size:
        raise ValueError(f"A batch of {size} rows does not split evenly over {world_size} ranks.")
    share = size // world_size
    return {name: tensor[rank * share : (rank + 1) * share] for name, tensor in batch.items()}


@dataclasses.dataclass
class TrainingRun:
    """What :func:`train_distributed` returns.

    Attributes:
        model: the trained model, wrapped as the strategy wraps it.
        losses: the loss of every step over the whole global batch (the same on every rank).
        memory: every rank's :class:`~modlayers.lessons.distributed.rank_memory.RankMemory` of the last step, in rank
            order (``None`` unless ``measure_memory``).
        collectives: every rank's collectives of the first step, ``{"calls": {kind: n}, "bytes": {kind: bytes}}``
            (:class:`~modlayers.lessons.distributed.comm_bytes.CollectiveCounter`; ``None`` unless ``measure_memory``, and
            one ``None`` per rank for a single step, which the memory measurement takes).
        timelines: every rank's :class:`~modlayers.lessons.distributed.step_timeline.StepTimeline` of the last step, as a
            dict (on the CPU with ``measure_memory`` and ``measure_peak``; else ``None``).
    """

    model: nn.Module
    losses: list[float]
    memory: list[RankMemory] | None = None
    collectives: list[dict] | None = None
    timelines: list[dict] | None = None


def _steps(epoch_source: Callable[[], Iterator[dict]], epochs: int, steps: int | None) -> Iterator[dict]:
    taken = 0
    for _ in range(epochs):
        for batch in epoch_source():
            if steps is not None and taken >= steps:
                return
            taken += 1
            yield batch


def train_distributed(
    model: nn.Module,
    features: Mapping[str, torch.Tensor],
    context: DistributedContext,
    *,
    task: str,
    strategy: str = "none",
    checkpointing: str = "off",
    use_reentrant: bool = False,
    static_graph: bool = False,
    find_unused_parameters: bool = False,
    gradient_as_bucket_view: bool = True,
    global_batch_size: int = 32,
    epochs: int = 1,
    steps: int | None = None,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    max_grad_norm: float | None = 1.0,
    seed: int = 0,
    shuffle: bool = True,
    trim_padding: bool = True,
    measure_memory: bool = False,
    measure_peak: bool = True,
    progress: bool = True,
) -> TrainingRun:
    """Train ``model`` on ``features`` with AdamW under ``strategy``; every rank calls it with the same arguments.

    Args:
        model: a fresh head (the same weights on every rank: build it after the same seed).
        features: name -> tensor, one row per example (see :func:`~modlayers.lessons.distributed.tasks.build_task`).
        context: from :func:`~modlayers.lessons.distributed.launching.init_distributed`.
        task: ``"classification"``, ``"qa"`` or ``"tagging"`` (what the loss averages over).
        strategy: ``"none"``, ``"ddp"`` or ``"fsdp2"``.
        checkpointing, use_reentrant: see :func:`enable_checkpointing`.
        static_graph, find_unused_parameters, gradient_as_bucket_view: DDP's options
            (:mod:`~modlayers.lessons.distributed.strategies`).
        global_batch_size: examples per optimisation step, all ranks together; must divide by the world size.
        epochs, steps: passes over the data; ``steps`` stops earlier.
        lr, weight_decay, max_grad_norm: AdamW and gradient clipping (``None``: no clipping).
        seed: order of the batches.
        shuffle, trim_padding: as :func:`modlayers.lessons.training.batches_from` (trimmed per global batch, so every
            rank's share has the same length).
        measure_memory: measure every rank's memory during the last step and count its collectives during the
            first (a collective; rank order).
        measure_peak: with ``measure_memory``, also the peak (on the CPU through the profiler, with the step's
            memory timeline: slower).
        progress: a tqdm bar on rank 0.

    Returns:
        A :class:`TrainingRun`.

    Raises:
        ValueError: ``epochs`` or ``steps`` below 1, a global batch that does not divide by the world size, an
            unknown strategy or policy.

    Example:
        >>> task = build_task("classification")  # doctest: +SKIP
        >>> run = train_distributed(task.make_model(), task.features, init_distributed(), task="classification")  # doctest: +SKIP
    """
    if epochs < 1 or (steps is not None and steps < 1):
        raise ValueError(f"Train at least one step: got epochs={epochs}, steps={steps}.")
    if global_batch_size < context.world_size or global_batch_size % context.world_size:
        raise ValueError(
            f"global_batch_size={global_batch_size} must be a multiple of the world size {context.world_size}: "
            "every rank takes the same number of rows of each batch."
        )
    enable_checkpointing(model, checkpointing, use_reentrant)
    model = wrap_model(model, strategy, context, static_graph=static_graph, find_unused_parameters=find_unused_parameters,
                       gradient_as_bucket_view=gradient_as_bucket_view)
    model.train()
    optimizer = adamw(model.parameters(), lr=lr, weight_decay=weight_decay)  # fused: works on FSDP2's DTensors too
    epoch_source = batches_from(features, global_batch_size, shuffle=shuffle, seed=seed, trim_padding=trim_padding)
    per_epoch = -(-next(iter(features.values())).shape[0] // global_batch_size)
    total = min(per_epoch * epochs, steps) if steps is not None else per_epoch * epochs
    bar = tqdm(total=total, desc=f"{task} ({strategy}, {context.world_size} rank{'s' * (context.world_size > 1)})",
               disable=not (progress and context.is_main))
    losses: list[float] = []
    memory = collectives = timelines = comms = None
    for index, global_batch in enumerate(_steps(epoch_source, epochs, steps)):
        batch = {k: v.to(context.device) for k, v in rank_share(global_batch, context.rank, context.world_size).items()}
        n_rank = items_in_batch(task, batch)
        n_global = all_reduce_sum(n_rank, context)
        last = index == total - 1
        counter = RankActivationCounter(unwrap(model)) if measure_memory and last else None
        # DDP's gradients are views into its all-reduce buckets, which stay allocated: zero them in place
        optimizer.zero_grad(set_to_none=strategy != "ddp")
        measured: dict[str, float] = {}

        def step() -> None:
            with counter if counter is not None else contextlib.nullcontext():
                output = model(**batch)
            # (W * n_rank / n_global) * mean over this rank's items; averaged over W ranks: the global mean
            weight = context.world_size * n_rank / n_global if n_global else 0.0
            (output.loss * weight).backward()
            if max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            if counter is not None:
                measured["gradients"] = measure_state_bytes(model)["gradients"]
            optimizer.step()
            measured["loss_sum"] = output.loss.item() * n_rank

        peak, source, timeline = None, "", None
        if counter is not None and measure_peak:
            # parameters, gradients (DDP: in its buckets), Adam state, and plain DDP's buckets beside the gradients
            held = sum(measure_state_bytes(model, optimizer).values())
            if strategy == "ddp" and not gradient_as_bucket_view:
                held += ddp_bucket_bytes(model)
            if context.device.type == "cpu":
                timeline = record_step_timeline(step, held)
                peak, source = timeline.peak()[0], "profiler allocations + state at start"
            else:
                peak, source = step_peak_bytes(step, context.device, held)
        elif measure_memory and index == 0:
            # the collectives are counted on the first step: a dispatch mode hides the operations' names from the
            # profiler that draws the last step's timeline (and FSDP2 moves the same bytes every step)
            comms = CollectiveCounter()
            with comms:
                step()
        else:
            step()
        if counter is not None:
            state = measure_state_bytes(model, optimizer)  # Adam's state exists after its first step
            memory = gather_rank_memory(RankMemory(
                context.rank, context.world_size, strategy, checkpointing, context.device.type,
                batch["input_ids"].shape[0], batch["input_ids"].shape[1], state["parameters"], int(measured["gradients"]),
                state["optimizer_state"], counter.saved_bytes, peak, source,
            ))
            collectives = gather_objects(comms.summary() if comms is not None else None)
            timelines = gather_objects(timeline.to_dict()) if timeline is not None else None
        losses.append(all_reduce_sum(measured["loss_sum"], context) / n_global if n_global else 0.0)
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    bar.close()
    return TrainingRun(model, losses, memory, collectives, timelines)
