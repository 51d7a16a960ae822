"""Memory policies: what a training step keeps for backward, and how it is switched on.

Every checkpointing policy goes through the kit's own switch,
:func:`~modlayers.checkpointing.enable_gradient_checkpointing` (which also reaches
transformers' ``GradientCheckpointingLayer`` s); none adds a second mechanism.

==========================  ==============================================================
``off``                     keep everything (the baseline)
``every-layer``             checkpoint every layer: keep only each layer's inputs (its
                            hidden states, and what it gets by keyword: the attention bias)
``every-N``                 checkpoint layers 0, N, 2N, ... (e.g. ``every-2``)
``selective``               checkpoint every layer, but keep the outputs of the matrix
                            multiplications (torch's selective activation checkpointing,
                            ``create_selective_checkpoint_contexts``, passed as
                            ``context_fn``): only the cheap element-wise work is redone
``attention-core``          checkpoint only each layer's attention core (scores, softmax,
                            dropout, weighted sum; a ``TinyTransformerAttentionCore``): its
                            4-byte tensors that grow with the square of the sequence length
                            go (its 1-byte dropout mask stays), the projections and the MLP
                            keep theirs (what Megatron-LM calls selective activation
                            recomputation). Needs a model whose
                            attention core is a checkpointable layer (the kit's
                            ``TinyTransformerModel``)
``offload``                 no checkpointing; move every saved tensor to CPU memory
                            (``torch.autograd.graph.save_on_cpu``). On a GPU it saves the
                            device memory of *all* the activations (the full ``off``
                            count moves to host: most copy traffic of any policy); on a
                            CPU the "offloaded" tensors stay in the same memory, so it
                            saves nothing there
``checkpoint-and-offload``  checkpoint every layer AND hold what each checkpoint keeps
                            (its positional inputs, the hidden states) in host memory:
                            transformers' ``gradient_checkpointing_enable(offload=True)``.
                            On a GPU the device keeps only the keyword inputs (the
                            attention bias) and what the layers outside the checkpoints
                            save; only ``layers x batch x seq_len x hidden`` values are
                            copied. On a CPU nothing moves and nothing is saved
==========================  ==============================================================

``checkpoint_sequential``-style segments need a stack whose layers can be grouped;
they live in :mod:`modlayers.lessons.memory.segments`.
"""

import contextlib
import dataclasses
import functools
import re
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts

from modlayers.checkpointing import checkpointable_layers, disable_gradient_checkpointing, enable_gradient_checkpointing
from modlayers.lessons.memory.saved_tensors import hold_for_backward
from modlayers.lessons.tiny_transformer import TinyTransformerAttentionCore

POLICY_NAMES = ("off", "every-layer", "every-N", "selective", "attention-core", "offload", "checkpoint-and-offload")

MATMUL_OPS = (torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default)


def save_matmul_outputs(ctx, op, *args, **kwargs) -> CheckpointPolicy:
    """Selective-checkpoint policy: keep the outputs of ``mm``/``addmm``/``bmm``, recompute the rest.

    Matrix multiplications are where the compute is; softmax, dropout, GELU and
    LayerNorm are cheap to redo. The outputs kept are reported to an open
    :class:`~modlayers.lessons.memory.saved_tensors.SavedTensorCounter` (torch keeps them in
    the checkpoint, outside the saved-tensor hooks).
    """
    if op in MATMUL_OPS:
        if not ctx.is_recompute and isinstance(ctx.op_output, torch.Tensor):
            hold_for_backward(ctx.op_output)
        return CheckpointPolicy.MUST_SAVE
    return CheckpointPolicy.PREFER_RECOMPUTE


@dataclasses.dataclass(frozen=True)
class MemoryPolicy:
    """A named way to run a training step.

    Attributes:
        name: as given on the command line (``"every-2"``).
        description: one line for tables and plots.
        enable: ``enable(model)`` switches the policy on (and any other off).
        step_context: ``step_context()`` returns the context manager to run the step's
            forward pass in (a ``saved_tensors_hooks`` instance for ``offload``, else a
            no-op).
    """

    name: str
    description: str
    enable: Callable[[nn.Module], None]
    step_context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext


def _enable_off(model: nn.Module) -> None:
    if checkpointable_layers(model):
        disable_gradient_checkpointing(model)


def _enable_every(n: int) -> Callable[[nn.Module], None]:
    def enable(model: nn.Module) -> None:
        _enable_off(model)
        enable_gradient_checkpointing(model, every_n_layers=n)

    return enable


def _enable_selective(model: nn.Module) -> None:
    _enable_off(model)
    enable_gradient_checkpointing(
        model, context_fn=functools.partial(create_selective_checkpoint_contexts, save_matmul_outputs)
    )


def _enable_attention_core(model: nn.Module) -> None:
    if not any(isinstance(module, TinyTransformerAttentionCore) for module in model.modules()):
        raise ValueError(
            f"The 'attention-core' policy checkpoints TinyTransformerAttentionCore layers, and {type(model).__name__} "
            "has none (its attention core is not a layer of its own). Use 'selective' instead, which works on any "
            "model with checkpointable layers."
        )
    _enable_off(model)
    enable_gradient_checkpointing(model, layer_type=TinyTransformerAttentionCore)


def _enable_checkpoint_and_offload(model: nn.Module) -> None:
    _enable_off(model)
    enable_gradient_checkpointing(model, offload=True)


def _offload_context() -> torch.autograd.graph.save_on_cpu:
    return torch.autograd.graph.save_on_cpu(pin_memory=torch.cuda.is_available())


def get_policy(name: str) -> MemoryPolicy:
    """The :class:`MemoryPolicy` called ``name``.

    Raises:
        ValueError: an unknown name (the message lists the valid ones), or ``every-N``
            with ``N < 1``.

    Example:
        >>> policy = get_policy("every-2")
        >>> policy.enable(model)  # layers 0, 2, 4, ... are now checkpointed
    """
    if not isinstance(name, str):
        raise TypeError(f"policy must be a string such as 'every-layer', got {type(name).__name__}.")
    if name == "off":
        return MemoryPolicy("off", "keep every activation", _enable_off)
    if name in ("every-layer", "every-1"):
        return MemoryPolicy(name, "checkpoint every layer", _enable_every(1))
    match = re.fullmatch(r"every-(\d+)", name)
    if match:
        n = int(match.group(1))
        if n < 1:
            raise ValueError(f"every-N needs N >= 1, got {name!r}; 'every-1' is 'every-layer'.")
        return MemoryPolicy(name, f"checkpoint every {n}th layer", _enable_every(n))
    if name == "selective":
        return MemoryPolicy(name, "checkpoint every layer, keep matmul outputs", _enable_selective)
    if name == "attention-core":
        return MemoryPolicy(name, "recompute only the attention core", _enable_attention_core)
    if name == "offload":
        return MemoryPolicy(name, "keep activations in CPU memory", _enable_off, _offload_context)
    if name == "checkpoint-and-offload":
        return MemoryPolicy(name, "checkpoint every layer, its inputs in CPU memory", _enable_checkpoint_and_offload)
    raise ValueError(
        f"Unknown memory policy {name!r}. Valid policies: {', '.join(POLICY_NAMES)} "
        "(every-N with a number, e.g. every-2)."
    )


def parse_policies(text: str) -> list[MemoryPolicy]:
    """``"off,every-layer,selective"`` -> the three policies, in order, each checked.

    Raises:
        ValueError: an empty list, a repeated name, or an unknown name.
    """
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError(f"Give at least one policy, comma-separated, e.g. 'off,every-layer'; got {text!r}.")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"Policy {repeated[0]!r} is listed twice in {text!r}; list each policy once.")
    return [get_policy(name) for name in names]
