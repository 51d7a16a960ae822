"""Strategies: how the processes share a model.

=========  ==========================================================================================
``none``   one process, the whole model and the whole batch (the baseline)
``ddp``    DistributedDataParallel: every rank holds a full copy of the parameters, the gradients and the
           optimizer state; each rank runs its share of the batch, and the gradients are averaged across
           ranks (all-reduce, in buckets, overlapped with the backward pass) before the optimizer step
``fsdp2``  Fully Sharded Data Parallel (torch's ``fully_shard``): every rank holds ``1 / world_size`` of each
           parameter, of its gradient and of its optimizer state. Before a layer runs, its parameters are
           gathered (all-gather) and freed again after; gradients are averaged and sharded in one
           reduce-scatter
=========  ==========================================================================================

DDP's options, and the one combination that fails with a re-entrant checkpoint:

- ``find_unused_parameters=True`` walks the autograd graph after each forward to find parameters that get no
  gradient this step (a head that never uses the pooler, a branch not taken). It costs a traversal per step, and
  with ``use_reentrant=True`` checkpointing it fails: the recompute in backward marks the layer's parameters
  ready a second time ("Expected to mark a variable ready only once").
- ``static_graph=True`` tells DDP that the same parameters are used the same way every step; it records the
  first step and then needs no traversal. It works with both checkpoint implementations.
- ``use_reentrant=False`` checkpointing works with every DDP setting.
- ``gradient_as_bucket_view=True`` (the kit's choice; torch's default is ``False``) makes each gradient a view into
  DDP's all-reduce bucket. DDP keeps its buckets for the whole training, so without it every rank holds the
  gradients twice: once in ``.grad``, once in the buckets (PyTorch PR #41954).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from modlayers.checkpointing import checkpointable_layers
from modlayers.lessons.distributed.launching import DistributedContext

STRATEGIES = ("none", "ddp", "fsdp2")


def check_strategy(strategy: str, context: DistributedContext) -> None:
    """Refuse a strategy this process cannot run.

    Raises:
        ValueError: an unknown strategy, ``ddp`` / ``fsdp2`` without a process group (not launched by
            torchrun), or ``none`` in one of several processes.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    if strategy != "none" and not context.distributed:
        raise ValueError(
            f"strategy={strategy!r} needs a process group, and this process was not started by torchrun. Launch it "
            f"with `torchrun --nproc_per_node=2 -m modlayers train --strategy {strategy} ...`, or use --strategy none."
        )
    if strategy == "none" and context.world_size > 1:
        raise ValueError(
            f"strategy='none' trains one process on the whole batch, but this is one of {context.world_size} processes: "
            "without a strategy each would train its own model. Use --strategy ddp or fsdp2 under torchrun, or run "
            "plain python for no sharding."
        )


def wrap_model(
    model: nn.Module,
    strategy: str,
    context: DistributedContext,
    *,
    static_graph: bool = False,
    find_unused_parameters: bool = False,
    gradient_as_bucket_view: bool = True,
) -> nn.Module:
    """Move ``model`` to the context's device and wrap it for ``strategy``.

    Call it after switching checkpointing on and before building the optimizer (FSDP2 replaces the parameters
    with sharded ``DTensor`` s, which the optimizer must see).

    Args:
        model: the same freshly built model on every rank (build it after the same seed: FSDP2 does not
            broadcast the weights, DDP does).
        strategy: ``"none"``, ``"ddp"`` or ``"fsdp2"``.
        context: from :func:`~modlayers.lessons.distributed.launching.init_distributed`.
        static_graph, find_unused_parameters: DDP's options (see the module docstring); ignored otherwise.
        gradient_as_bucket_view: DDP's option, ``True`` here (torch's default is ``False``): the gradients are
            views into DDP's all-reduce buckets instead of a second copy beside them (one ``P`` less per rank).

    Returns:
        The model to train: the model itself (``none``), a ``DistributedDataParallel`` wrapper (``ddp``) or the
        model with every checkpointable layer and the root sharded in place (``fsdp2``).

    Raises:
        ValueError: see :func:`check_strategy`.

    Example:
        >>> model = wrap_model(model, "ddp", init_distributed(), static_graph=True)  # doctest: +SKIP
    """
    check_strategy(strategy, context)
    model = model.to(context.device)
    if strategy == "none":
        return model
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(
            model,
            device_ids=[context.local_rank] if context.device.type == "cuda" else None,
            static_graph=static_graph,
            find_unused_parameters=find_unused_parameters,
            # True: gradients live in the all-reduce buckets; False (torch's default): buckets beside them, one more P
            gradient_as_bucket_view=gradient_as_bucket_view,
        )
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(context.device.type, (context.world_size,))
    for layer in checkpointable_layers(model):  # one all-gather per layer: only one layer is whole at a time
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)  # the rest: embeddings, final norm, the head
    return model


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DDP wrapper (FSDP2 shards in place, so its model is already the model)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def local_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """This rank's part of ``tensor``: the local shard of a ``DTensor`` (FSDP2), else the tensor itself."""
    return tensor.to_local() if hasattr(tensor, "to_local") else tensor


def full_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter, whole, on the CPU, by its name in the unwrapped model.

    Under FSDP2 each sharded parameter is gathered from every rank (``DTensor.full_tensor()``, a collective:
    call it on every rank at the same time).

    Example:
        >>> parameters = full_parameters(model)  # doctest: +SKIP
        >>> parameters["score.weight"].shape  # doctest: +SKIP
        torch.Size([4, 64])
    """
    full = {}
    for name, parameter in unwrap(model).named_parameters():
        value = parameter.detach()
        if hasattr(value, "full_tensor"):
            value = value.full_tensor()
        full[name] = value.cpu().clone()
    return full


def all_reduce_sum(value: float | int, context: DistributedContext) -> float:
    """Sum a number over all ranks (the number itself in a single process)."""
    if not context.distributed:
        return float(value)
    tensor = torch.tensor([float(value)], dtype=torch.float64, device=context.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return float(tensor.item())
