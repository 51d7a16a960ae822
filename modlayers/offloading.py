"""Checkpoint and offload: a checkpoint's saved inputs held in host memory until the backward pass.

transformers 5.25's ``activation_checkpointing_enable(..., offload=True)`` (and
``gradient_checkpointing_enable``) runs each checkpoint inside
``torch.autograd.graph.save_on_cpu(pin_memory=True, device_type=...)``. A checkpointed layer keeps
only its inputs for the backward pass; under ``save_on_cpu`` the inputs autograd saves (the
positional ones: the hidden states, ``layers x batch x seq_len x hidden`` in all) are copied to
pinned host memory in the forward pass and back to the device when the recompute needs them.
The device keeps what no hook sees: the keyword arguments bound into the checkpointed call (an
attention mask or bias) and whatever the layers outside the checkpoints save.

:func:`checkpoint_offloading_saved_tensors` is that wrapper for the kit
(:func:`~modlayers.checkpointing.enable_gradient_checkpointing` with ``offload=True``), with two
differences from transformers 5.25:

- On a machine without an accelerator transformers' version fails (``pin_memory=True`` needs a
  pinned-memory allocator: "pin_memory=True requires a CUDA or other accelerator backend").
  The kit pins only when there is an accelerator; on a CPU the "offloaded" tensors are the very
  tensors saved (``tensor.cpu()`` of a CPU tensor is itself): nothing is copied and no memory is
  saved.
- Every tensor handed to host memory is reported to :data:`OFFLOAD_OBSERVERS`, so the memory
  lab's ``SavedTensorCounter`` can count it (the hooks installed here are the innermost ones,
  and only the innermost pair of saved-tensor hooks runs).
"""

import torch
from torch.autograd.graph import save_on_cpu

# Called with (tensor as saved on its device, the tensor held in host memory) for each tensor offloaded.
OFFLOAD_OBSERVERS: list = []


def offload_device_type() -> str:
    """The device type activations are offloaded *from*: the current accelerator's (``"cuda"``), else ``"cpu"``."""
    accelerator = torch.accelerator.current_accelerator() if hasattr(torch, "accelerator") else None
    return accelerator.type if accelerator is not None else "cpu"


def offloading_saved_tensors(device_type: str | None = None) -> save_on_cpu:
    """``save_on_cpu`` as transformers' ``offload=True`` opens it, reporting each tensor it moves.

    Args:
        device_type: ``"cuda"`` (or another accelerator's type), or ``"cpu"``; default
            :func:`offload_device_type`. Host memory is pinned unless it is ``"cpu"``.

    Example:
        >>> with offloading_saved_tensors():
        ...     loss = model(**batch).loss  # what autograd saves in the block waits in host memory
    """
    device_type = device_type or offload_device_type()
    hooks = save_on_cpu(pin_memory=device_type != "cpu", device_type=device_type)
    pack_to_cpu = hooks.pack_hook

    def pack_and_report(tensor: torch.Tensor):
        device, held = pack_to_cpu(tensor)  # held: (the host copy of) tensor
        for observer in list(OFFLOAD_OBSERVERS):
            observer(tensor, held)
        return device, held

    hooks.pack_hook = pack_and_report
    return hooks


def checkpoint_offloading_saved_tensors(function, *args, **kwargs):
    """The checkpoint of ``function(*args)`` run under :func:`offloading_saved_tensors`: checkpoint AND offload.

    What the checkpoint saves for the backward pass (its positional inputs) waits in host memory;
    the recompute then runs on the device as usual. ``kwargs`` go to ``torch.utils.checkpoint.checkpoint``
    (``use_reentrant`` among them). The tensors ``function`` binds by keyword are reported as
    :func:`~modlayers.checkpointing.checkpoint_reporting_bound_tensors` does.
    """
    from modlayers.checkpointing import checkpoint_reporting_bound_tensors  # (checkpointing imports this module)

    with offloading_saved_tensors():
        return checkpoint_reporting_bound_tensors(function, *args, **kwargs)
