"""What the C allocator says a training step holds: a check of the saved-tensor count from outside torch.

:class:`~modlayers.lessons.memory.saved_tensors.SavedTensorCounter` counts what autograd and the
checkpoints report. A tensor kept alive some other way (by a closure, a cache, a
checkpoint's bound keyword argument) would be missed without a trace. The C allocator
misses nothing: on Linux with glibc, torch's CPU allocator gets every tensor's memory
from ``malloc`` (``posix_memalign``), and glibc's ``mallinfo2()`` reports the bytes in
use, in its arenas (``uordblks``) and in chunks mapped on their own (``hblkhd``, every
large tensor). Read it after the forward pass and the loss, subtract what was in use
before, and you have everything the step keeps until backward.

Why ``mallinfo2`` and not the torch profiler's memory events: it sits below torch, so it
also sees memory torch does not report as a tensor; it costs one call, not a profiled
step; and it is deterministic (the same step gives the same bytes, run after run).
What it adds to the count: the autograd graph itself (its nodes and their saved-variable
records, a few tens of KiB per layer) and the loss, a one-sided margin the tests bound.
It needs glibc 2.33 or newer; elsewhere the functions return ``None``.
"""

import ctypes
import gc

from torch import nn

from modlayers.lessons.memory.measure import hidden_state_loss, training_step
from modlayers.lessons.memory.policies import MemoryPolicy, get_policy


class _MallInfo2(ctypes.Structure):
    """``struct mallinfo2`` from ``<malloc.h>`` (glibc >= 2.33): every field a ``size_t``."""

    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _mallinfo2():
    try:
        function = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    function.restype = _MallInfo2
    return function


def malloc_in_use_bytes() -> int | None:
    """Bytes glibc's ``malloc`` has handed out and not had back, all arenas and mapped chunks; ``None`` without glibc.

    Example:
        >>> before = malloc_in_use_bytes()
        >>> x = torch.empty(2**20)  # 4 MiB
        >>> malloc_in_use_bytes() - before >= 4 * 2**20
        True
    """
    mallinfo2 = _mallinfo2()
    if mallinfo2 is None:
        return None
    info = mallinfo2()
    return info.uordblks + info.hblkhd


def malloc_held_bytes(model: nn.Module, batch: dict, policy: MemoryPolicy | str = "off", loss_fn=hidden_state_loss) -> int | None:
    """Bytes a CPU training step holds between forward and backward, by glibc's count; ``None`` without glibc.

    Enables ``policy`` on ``model``, runs one whole step first (the first step allocates
    things that stay: thread pools, kernel caches), then measures the memory in use before
    the forward pass and after the loss, and runs the backward pass. Compare it with
    :func:`~modlayers.lessons.memory.measure.count_saved_bytes` on the same model, batch and policy:
    the allocator's figure is the count plus the autograd graph and the loss.

    Example:
        >>> model, batch = tiny_model_and_batch(layers=2, seq_len=64)
        >>> malloc_held_bytes(model, batch, "every-layer") >= count_saved_bytes(model, batch, "every-layer")["cpu"]
        True
    """
    if _mallinfo2() is None:
        return None
    policy = get_policy(policy) if isinstance(policy, str) else policy
    policy.enable(model)
    model.train()
    training_step(model, batch, policy, loss_fn)  # warm-up
    model.zero_grad(set_to_none=True)
    gc.collect()
    before = malloc_in_use_bytes()
    with policy.step_context():
        loss = loss_fn(model, batch)
    held = malloc_in_use_bytes() - before
    loss.backward()
    return held
