"""What DDP keeps between steps: its all-reduce buckets, and whether the gradients live inside them.

DDP does not all-reduce each gradient on its own: it packs them into **buckets** (25 MiB each by default,
``bucket_cap_mb``) and all-reduces a bucket as soon as all its gradients are ready, overlapping communication with
the rest of the backward pass. The buckets are allocated when DDP is built and **kept for the whole training**.

- ``gradient_as_bucket_view=False`` (torch's default): autograd writes each ``.grad``; DDP copies it into the bucket,
  all-reduces, and copies the average back. Every rank holds the gradients twice: ``2 P`` for ``P`` in ``.grad``.
- ``gradient_as_bucket_view=True`` (the kit's setting, PyTorch PR #41954): each ``.grad`` *is* a view into its
  bucket, so autograd writes straight into the bucket; ``P`` in all, and no copies.

:func:`measure_ddp_kept_bytes` measures it: the bytes that building DDP and one forward and backward leave
allocated, from the torch profiler's allocation events (activations are freed by then; what stays is what DDP
keeps). :func:`ddp_bucket_bytes` is what DDP itself reports.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def ddp_bucket_bytes(model: nn.Module) -> int:
    """Bytes of DDP's buckets, as DDP reports them (``bucket_sizes`` of its logging data, set at its first
    backward; 0 before, or for a model that is not DDP)."""
    if not isinstance(model, nn.parallel.DistributedDataParallel):
        return 0
    sizes = model._get_ddp_logging_data().get("bucket_sizes", "")
    return sum(int(size) for size in str(sizes).replace(",", " ").split())


def predict_ddp_kept_bytes(parameter_bytes: int, gradient_as_bucket_view: bool) -> int:
    """``P`` with the gradients in the buckets, ``2 P`` beside them.

    Example:
        >>> predict_ddp_kept_bytes(1000, gradient_as_bucket_view=False)
        2000
    """
    return parameter_bytes if gradient_as_bucket_view else 2 * parameter_bytes


def measure_ddp_kept_bytes(model: nn.Module, loss: Callable[[nn.Module], torch.Tensor], *,
                           gradient_as_bucket_view: bool) -> dict[str, int]:
    """Build DDP around ``model`` and run one forward and backward; return what stays allocated.

    Call it on every rank at once (building DDP broadcasts the weights; backward all-reduces).

    Args:
        model: a fresh model on this rank's device, without gradients, the same on every rank (same seed).
        loss: ``model -> scalar loss`` on this rank's batch.
        gradient_as_bucket_view: DDP's option.

    Returns:
        A dict: ``"kept"``, the bytes still allocated after backward; ``"buckets"``, DDP's reported bucket
        bytes; ``"gradients"``, the bytes of the ``.grad`` tensors.
    """
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, _utils, profile

    from modlayers.lessons.memory.measure import _native_output_silenced

    with _native_output_silenced():
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            # init_sync=False: no broadcast of the weights (every rank built them from the same seed), whose
            # buffers gloo releases on its own threads, where the profiler does not see them
            ddp = nn.parallel.DistributedDataParallel(model, gradient_as_bucket_view=gradient_as_bucket_view,
                                                      init_sync=False)
            loss(ddp).backward()
    events = _utils.traverse_dfs(prof.profiler.kineto_results.experimental_event_tree())
    kept = sum(e.typed[1].alloc_size for e in events if e.typed[0] == _EventType.Allocation)
    gradients = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters() if p.grad is not None)
    return {"kept": int(kept), "buckets": ddp_bucket_bytes(ddp), "gradients": gradients}
