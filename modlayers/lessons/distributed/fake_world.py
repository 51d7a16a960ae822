"""Any world size without launching it: one rank of ``W`` simulated on fake tensors and a fake process group.

Under :class:`torch._subclasses.fake_tensor.FakeTensorMode` a tensor has a shape, a dtype and a device but no
data, so building and training a model costs no memory and almost no time; a fake process group
(``init_process_group("fake", store=FakeStore())``, a testing utility of torch's) answers every collective without
talking to anyone. So this process can *be* rank 0 of 64: FSDP2 (``fully_shard``) cuts every parameter into
its 1/64 shard, the optimizer builds its state for that shard, and the forward pass saves the activations of
the rank's batch. They are measured as a real rank's are (:func:`~modlayers.lessons.distributed.rank_memory.
measure_state_bytes`, :class:`~modlayers.lessons.distributed.rank_memory.RankActivationCounter`), shapes times element
sizes. torchtitan's ``scripts/estimate/estimation.py`` does the same on GPUs with ``FSDPMemTracker``.

DDP keeps the whole state on every rank and runs the model as it is, so its rank is the unwrapped model on the
rank's batch (DDP's reducer does not run on fake tensors); FSDP2 is ``fully_shard`` per layer and at the root,
as :func:`~modlayers.lessons.distributed.strategies.wrap_model` does. FSDP2 pads each parameter's first dimension to a
multiple of ``W``, so at large ``W`` a shard is a little more than ``P / W``.
"""

from __future__ import annotations

import contextlib

import torch
import torch.distributed as dist
from torch import nn

from modlayers.checkpointing import checkpointable_layers
from modlayers.lessons.distributed.rank_memory import RankActivationCounter, RankMemory, measure_state_bytes
from modlayers.lessons.distributed.training_run import enable_checkpointing

FAKE_STRATEGIES = ("ddp", "fsdp2")


@contextlib.contextmanager
def fake_process_group(world_size: int):
    """This process as rank 0 of ``world_size`` in a fake process group, for the block.

    Raises:
        ValueError: a process group is already running here (a real one must not be replaced).
    """
    from torch.testing._internal.distributed.fake_pg import FakeStore

    if dist.is_initialized():
        raise ValueError("A process group is already running in this process; estimate in a fresh process (or after "
                         "torch.distributed.destroy_process_group()).")
    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=world_size)
    try:
        yield
    finally:
        dist.destroy_process_group()


def fake_rank_memory(make_model, world_size: int, *, strategy: str = "fsdp2", batch_per_rank: int = 2,
                     seq_len: int = 32, precision: str = "fp32", checkpointing: str = "off",
                     vocab_size: int | None = None) -> RankMemory:
    """Rank 0's memory of one AdamW step with ``world_size`` ranks, on fake tensors: no memory, no other process.

    Args:
        make_model: builds the model (called under ``FakeTensorMode``), e.g. ``lambda: TinyTransformerModel(config)``.
        world_size: ``W``, 1 to thousands.
        strategy: ``"ddp"`` or ``"fsdp2"``.
        batch_per_rank, seq_len: the rank's batch of token ids ``(batch_per_rank, seq_len)``.
        precision: ``"fp32"`` or ``"bf16-autocast"``.
        checkpointing: a kit policy (:func:`~modlayers.lessons.distributed.training_run.enable_checkpointing`).
        vocab_size: token ids are drawn below it (default: the model's config's).

    Returns:
        A :class:`~modlayers.lessons.distributed.rank_memory.RankMemory` (``peak`` not measured), in bytes.

    Raises:
        ValueError: an unknown strategy or precision, ``world_size < 1``, a process group already running.

    Example:
        >>> from modlayers.lessons.tiny_transformer import TinyTransformerConfig, TinyTransformerModel
        >>> config = TinyTransformerConfig(hidden_dropout=0.0, attention_dropout=0.0)  # 196,864 parameters
        >>> fake_rank_memory(lambda: TinyTransformerModel(config), world_size=64).parameters  # 4 * 196,864 / 64 = 12,304, padded
        12400
    """
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    if strategy not in FAKE_STRATEGIES:
        raise ValueError(f"strategy must be one of {FAKE_STRATEGIES}, got {strategy!r}.")
    if precision not in ("fp32", "bf16-autocast"):
        raise ValueError(f"precision must be 'fp32' or 'bf16-autocast', got {precision!r}.")
    if not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive integer, got {world_size!r}.")
    with fake_process_group(world_size):
        mesh = init_device_mesh("cpu", (world_size,)) if strategy == "fsdp2" else None  # before fake mode: real ranks
        with FakeTensorMode():
            model: nn.Module = make_model().train()
            enable_checkpointing(model, checkpointing)
            if mesh is not None:
                for layer in checkpointable_layers(model):
                    fully_shard(layer, mesh=mesh)
                fully_shard(model, mesh=mesh)
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
            vocab = vocab_size or model.config.vocab_size
            input_ids = torch.randint(1, vocab, (batch_per_rank, seq_len))  # (b, s), fake
            autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16-autocast"
                        else contextlib.nullcontext())
            counter = RankActivationCounter(model)
            with counter:
                with autocast:
                    hidden = model(input_ids=input_ids).last_hidden_state  # (b, s, h)
                loss = hidden.float().pow(2).mean()
            loss.backward()
            gradients = measure_state_bytes(model)["gradients"]
            optimizer.step()
            state = measure_state_bytes(model, optimizer)
    return RankMemory(0, world_size, strategy, checkpointing, "cpu (fake)", batch_per_rank, seq_len,
                      state["parameters"], gradients, state["optimizer_state"], counter.saved_bytes)


def world_size_sweep(make_model, world_sizes=(2, 4, 8, 16, 32, 64), **settings) -> list[RankMemory]:
    """:func:`fake_rank_memory` for each world size (the same ``settings``): how one rank's memory falls with ``W``.

    Example:
        >>> records = world_size_sweep(lambda: TinyTransformerModel(config), (2, 64))  # doctest: +SKIP
    """
    return [fake_rank_memory(make_model, w, **settings) for w in world_sizes]
