"""What checkpointing costs, in FLOPs: counted by torch, predicted by a formula.

Checkpointing trades memory for compute, and the compute side can be counted exactly on any machine
(wall time on a shared CPU cannot). :func:`count_step_flops` runs one training step under a policy with
``torch.utils.flop_counter.FlopCounterMode`` and splits it in three:

``forward``
    the forward pass (and the loss);
``backward``
    the gradient computation proper;
``recompute``
    the forward work the backward pass does again because a checkpoint dropped its results. The
    checkpoint replays its function with gradients *enabled*, while autograd runs the gradient formulas
    with gradients disabled: an operation the backward pass runs with ``torch.is_grad_enabled()`` is a
    recompute.

``FlopCounterMode`` counts matrix multiplications (``mm``, ``addmm``, ``bmm``, attention kernels): the
element-wise work (softmax, GELU, LayerNorm, dropout) is free in this count, as in Korthikanti et al.'s.

**The formula** (:func:`layer_forward_flops`; one ``m x k`` by ``k x n`` product costs ``2*m*k*n``), with
``b`` batch, ``s`` sequence length, ``h`` hidden size, ``i`` MLP width, ``n = b*s`` tokens, per layer:

=============================  ===========
q, k, v projections            ``6*n*h^2``
attention scores ``q @ k^T``   ``2*b*s^2*h``
attention over values          ``2*b*s^2*h``
output projection              ``2*n*h^2``
MLP (two matrices)             ``4*n*h*i``
=============================  ===========

With ``i = 4h`` that is ``24*b*s*h^2 + 4*b*s^2*h``, Korthikanti et al. (2022, "Reducing Activation
Recomputation in Large Transformer Models", section 5) per layer. The backward pass costs **twice** the
forward (each product has two gradients, one per operand). The **recompute** is the forward of what the
policy drops (Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost": one extra forward of each
checkpointed segment), with one rule of torch's non-reentrant checkpoint on top: it stops recomputing
once the last tensor the backward needs is back (*early stop*, ``torch.utils.checkpoint.set_checkpoint_early_stop``).
An operation whose output nothing in the checkpoint keeps is not run again:

- a checkpointed attention core ends with ``probs @ v``, which keeps its inputs only: the recompute stops
  before it, so only ``q @ k^T`` is redone (``2*b*s^2*h``), half of the core;
- a checkpointed tiny-transformer layer without dropout ends with ``x + fc2(...)``: ``fc2`` keeps its
  input, the sum keeps nothing, so ``fc2`` is not redone. With dropout, the mask is drawn from ``fc2``'s
  output and the whole layer is redone;
- ``use_reentrant=True`` has no early stop: the whole checkpointed function runs again.

torch's selective checkpointing with the kit's rule (keep every matmul output) recomputes no product at all:
its recompute is element-wise only, zero in this count.

Example:
    >>> model, batch = tiny_model_and_batch(layers=2, hidden_size=64, seq_len=128, batch=2, dropout=0.0)
    >>> counted = count_step_flops(model, batch, "every-layer")
    >>> counted.recompute == predicted_step_flops(model, batch, "every-layer").recompute
    True
"""

import dataclasses
import functools
from collections.abc import Iterable

import torch
from torch import nn
from torch.utils.checkpoint import create_selective_checkpoint_contexts
from torch.utils.flop_counter import FlopCounterMode

from modlayers.checkpointing import CHECKPOINTABLE_LAYERS, _uses_reentrant
from modlayers.lessons.memory.measure import hidden_state_loss
from modlayers.lessons.memory.policies import POLICY_NAMES, MemoryPolicy, get_policy, save_matmul_outputs
from modlayers.lessons.memory.saved_tensors import SavedTensorCounter
from modlayers.lessons.tiny_transformer import TinyTransformerAttentionCore, TinyTransformerLayer


@dataclasses.dataclass(frozen=True)
class StepFlops:
    """One training step's FLOPs (and, when counted, its saved activations).

    Attributes:
        policy: the policy's name (or a label such as ``"compile budget 0.5"``).
        forward: FLOPs of the forward pass and the loss.
        backward: FLOPs of the gradient computation, recompute not included.
        recompute: FLOPs the backward pass spends redoing forward work.
        saved_bytes: activations held between forward and backward (``None`` for a prediction).
    """

    policy: str
    forward: int
    backward: int
    recompute: int
    saved_bytes: int | None = None

    @property
    def step(self) -> int:
        """All the FLOPs of the step: forward, backward and recompute."""
        return self.forward + self.backward + self.recompute

    @property
    def overhead(self) -> float:
        """Recompute as a fraction of a step without it: ``recompute / (forward + backward)``."""
        return self.recompute / (self.forward + self.backward)


def layer_forward_flops(batch: int, seq_len: int, hidden_size: int, intermediate_size: int) -> dict[str, int]:
    """Forward FLOPs of one transformer layer's matrix products, by term (the table in the module's docstring).

    Holds for the kit's ``TinyTransformerLayer`` and for transformers' ``BertLayer`` with eager
    attention: both project to q, k, v (one fused matrix or three), multiply ``q @ k^T`` and
    ``probs @ v``, project back, and run a two-matrix MLP.

    Raises:
        ValueError: a size that is not a positive integer.

    Example:
        >>> terms = layer_forward_flops(batch=2, seq_len=128, hidden_size=64, intermediate_size=256)
        >>> sum(terms.values()) == 24 * 2 * 128 * 64**2 + 4 * 2 * 128**2 * 64  # Korthikanti's 24bsh² + 4bs²h
        True
    """
    for name, value in (("batch", batch), ("seq_len", seq_len), ("hidden_size", hidden_size),
                        ("intermediate_size", intermediate_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    n, h, i = batch * seq_len, hidden_size, intermediate_size
    return {
        "q, k, v projections": 6 * n * h * h,
        "attention scores q @ k^T": 2 * batch * seq_len**2 * h,
        "attention over values probs @ v": 2 * batch * seq_len**2 * h,
        "output projection": 2 * n * h * h,
        "MLP": 4 * n * h * i,
    }


def registered_policies(every_n: Iterable[int] = (2,)) -> list[str]:
    """Every policy name the kit registers (:data:`~modlayers.lessons.memory.policies.POLICY_NAMES`), ``every-N`` spelled out.

    A policy added to the registry shows up here, in the FLOP table and in the plot, without a change to
    this module.

    Example:
        >>> registered_policies()[:3]
        ['off', 'every-layer', 'every-2']
    """
    names = []
    for name in POLICY_NAMES:
        names += [f"every-{n}" for n in every_n] if name == "every-N" else [name]
    return names


class _RecomputeSplittingCounter(FlopCounterMode):
    """``FlopCounterMode`` that also adds up, apart, the FLOPs of operations run with gradients enabled."""

    def __init__(self):
        # _count_flops is FlopCounterMode's private per-operation hook (there in torch 2.13, the kit's tested torch): were it renamed,
        # the override would never run and every recompute would read 0, a silent wrong answer. Refuse instead.
        if not callable(getattr(FlopCounterMode, "_count_flops", None)):
            raise RuntimeError(f"torch {torch.__version__}'s FlopCounterMode has no _count_flops, which this counter "
                               "extends to split off the recompute; use torch 2.13, which the kit is tested with.")
        super().__init__(display=False)
        self.with_grad_enabled = 0

    def _count_flops(self, func_packet, out, args, kwargs):
        before = self.get_total_flops()
        out = super()._count_flops(func_packet, out, args, kwargs)
        if torch.is_grad_enabled():  # in the backward pass: a checkpoint's recompute
            self.with_grad_enabled += self.get_total_flops() - before
        return out


def _resolve(policy: MemoryPolicy | str) -> MemoryPolicy:
    if isinstance(policy, MemoryPolicy):
        return policy
    return get_policy(policy)


def count_step_flops(model: nn.Module, batch: dict, policy: MemoryPolicy | str = "off",
                     loss_fn=hidden_state_loss) -> StepFlops:
    """Count one training step's forward, backward and recompute FLOPs, and its saved bytes, under ``policy``.

    Enables ``policy`` on ``model`` (left enabled), runs forward, loss and backward once. The
    backward pass is counted with ``FlopCounterMode`` and split: operations run with gradients
    enabled are the checkpoints' recompute, the rest is the gradient computation. Saved bytes come
    from :class:`~modlayers.lessons.memory.saved_tensors.SavedTensorCounter` in the same step.

    Args:
        model: a model with checkpointable layers, on any device.
        batch: keyword arguments for ``model``.
        policy: a :class:`~modlayers.lessons.memory.policies.MemoryPolicy` or its name.
        loss_fn: ``loss_fn(model, batch) -> scalar``.

    Raises:
        TypeError, ValueError: an unknown policy (from :func:`~modlayers.lessons.memory.policies.get_policy`).
    """
    policy = _resolve(policy)
    policy.enable(model)
    model.train()
    model.zero_grad(set_to_none=True)
    inner = policy.step_context()
    hooks = inner if isinstance(inner, torch.autograd.graph.saved_tensors_hooks) else None
    with FlopCounterMode(display=False) as forward:
        with SavedTensorCounter(model, inner=hooks) as saved:
            loss = loss_fn(model, batch)
    with _RecomputeSplittingCounter() as backward:
        loss.backward()
    model.zero_grad(set_to_none=True)
    recompute = backward.with_grad_enabled
    return StepFlops(policy.name, forward.get_total_flops(), backward.get_total_flops() - recompute, recompute,
                     saved.saved_bytes)


def _checkpointed_modules(model: nn.Module) -> list[nn.Module]:
    """The checkpointed modules that really run their own checkpoint: the outermost ones switched on."""
    found = []

    def visit(module):
        if isinstance(module, CHECKPOINTABLE_LAYERS) and module.gradient_checkpointing:
            found.append(module)
            return  # a checkpointed layer inside it runs plainly
        for child in module.children():
            visit(child)

    visit(model)
    return found


def _keeps_matmul_outputs(layer: nn.Module) -> bool:
    """Whether the layer's checkpoint is torch's selective checkpoint with the kit's keep-the-matmuls rule."""
    func = layer._gradient_checkpointing_func
    while isinstance(func, functools.partial):
        context_fn = func.keywords.get("context_fn")
        if context_fn is not None:
            if (isinstance(context_fn, functools.partial) and context_fn.func is create_selective_checkpoint_contexts
                    and context_fn.args[:1] == (save_matmul_outputs,)):
                return True
            raise ValueError(
                f"No FLOP formula for the selective checkpoint context_fn {context_fn!r} on "
                f"{type(layer).__name__}: the formula knows the kit's rule (keep every matmul output, "
                "save_matmul_outputs). Count such a policy with count_step_flops."
            )
        func = func.func
    return False


def _config_sizes(model: nn.Module) -> tuple[int, int, int, float]:
    config = getattr(model, "config", None)
    if config is None:
        raise TypeError(f"predicted_step_flops needs a model with a transformers config, got {type(model).__name__}.")
    dropout = getattr(config, "hidden_dropout", getattr(config, "hidden_dropout_prob", 0.0))
    return config.num_hidden_layers, config.hidden_size, config.intermediate_size, dropout


def _recompute_of(module, terms, dropout, early_stop) -> int:
    """Forward FLOPs a checkpointed ``module`` redoes in the backward pass (the rules in the module docstring)."""
    if _keeps_matmul_outputs(module):
        return 0  # only element-wise work is redone
    early_stop = early_stop and not _uses_reentrant(module._gradient_checkpointing_func)
    if isinstance(module, TinyTransformerAttentionCore):
        scores = terms["attention scores q @ k^T"]
        return scores if early_stop else scores + terms["attention over values probs @ v"]
    full = sum(terms.values())
    if isinstance(module, TinyTransformerLayer) and early_stop and dropout == 0:
        return full - terms["MLP"] // 2  # fc2: its output feeds only the residual sum, which keeps nothing
    if isinstance(module, TinyTransformerLayer) or type(module).__name__ == "BertLayer":
        return full  # with dropout on fc2's output (tiny) or a LayerNorm keeping the sum (BERT): all of it
    raise ValueError(
        f"No FLOP formula for a checkpointed {type(module).__name__}: the formula covers the kit's "
        "TinyTransformerLayer and TinyTransformerAttentionCore and transformers' BertLayer. Count it with "
        "count_step_flops."
    )


def predicted_step_flops(model: nn.Module, batch: dict, policy: MemoryPolicy | str = "off",
                         early_stop: bool = True) -> StepFlops:
    """Predict one training step's FLOPs under ``policy`` from the model's config and the batch's shape.

    Enables ``policy`` on ``model`` (left enabled) to see which modules it checkpoints, then adds up
    :func:`layer_forward_flops`: forward = layers x one layer, backward = 2 x forward, recompute = the
    forward of each checkpointed module as the module's docstring says (early stop, selective rule).
    Nothing outside the layers is a matrix product in these models (embeddings, LayerNorm, the stand-in
    loss), so it adds nothing. Run nothing: the prediction needs no step.

    Args:
        model: the kit's ``TinyTransformerModel`` or a transformers ``BertModel`` with eager attention
            and no pooler (a pooler's product would not be in the loss's backward).
        batch: ``{"input_ids": (batch, seq_len)}``.
        policy: a :class:`~modlayers.lessons.memory.policies.MemoryPolicy` or its name.
        early_stop: torch's checkpoint early stop (on by default; ``set_checkpoint_early_stop(False)``).

    Raises:
        ValueError: a checkpointed module or a selective rule the formula does not cover.
        TypeError: a model without a config.
    """
    policy = _resolve(policy)
    layers, hidden, intermediate, dropout = _config_sizes(model)
    batch_size, seq_len = batch["input_ids"].shape  # (B, T)
    terms = layer_forward_flops(int(batch_size), int(seq_len), hidden, intermediate)
    policy.enable(model)
    forward = layers * sum(terms.values())
    recompute = sum(_recompute_of(module, terms, dropout, early_stop) for module in _checkpointed_modules(model))
    return StepFlops(policy.name, forward, 2 * forward, recompute)


def _applies_to(model: nn.Module, name: str) -> bool:
    """Whether policy ``name`` can be switched on for ``model`` (its ``enable`` raises ``ValueError`` when not)."""
    try:
        _resolve(name).enable(model)
    except ValueError:
        return False
    return True


def flop_table(model: nn.Module, batch: dict, policies: Iterable[str] | None = None,
               loss_fn=hidden_state_loss) -> list[dict]:
    """Counted and predicted FLOPs and saved bytes of every policy, one row each.

    ``policies`` defaults to :func:`registered_policies`. A policy the model cannot run (the
    ``attention-core`` policy on a model without attention cores) is left out.

    Returns:
        Rows ``{"policy", "saved_bytes", "forward", "backward", "recompute", "predicted_forward",
        "predicted_backward", "predicted_recompute", "overhead"}`` (``overhead``: recompute as a
        fraction of forward + backward).
    """
    rows = []
    for name in registered_policies() if policies is None else policies:
        if not _applies_to(model, name):
            continue
        counted = count_step_flops(model, batch, name, loss_fn)
        predicted = predicted_step_flops(model, batch, name)
        rows.append({
            "policy": name, "saved_bytes": counted.saved_bytes,
            "forward": counted.forward, "backward": counted.backward, "recompute": counted.recompute,
            "predicted_forward": predicted.forward, "predicted_backward": predicted.backward,
            "predicted_recompute": predicted.recompute, "overhead": counted.overhead,
        })
    get_policy("off").enable(model)
    return rows


def minilm_shaped_model_and_batch(layers: int = 6, seq_len: int = 128, batch: int = 2, dropout: float = 0.1,
                                  seed: int = 0) -> tuple[nn.Module, dict]:
    """A randomly initialised ``BertModel`` of MiniLM-L6's shape (hidden 384, 12 heads, MLP 1536), and a batch.

    Eager attention (so ``FlopCounterMode`` sees the two attention products; CPU's fused attention
    kernel is not in its table) and no pooler (nothing in a hidden-state loss uses it). Nothing is
    downloaded.

    Example:
        >>> model, batch = minilm_shaped_model_and_batch(layers=2, seq_len=64)
        >>> model.config.hidden_size, batch["input_ids"].shape
        (384, torch.Size([2, 64]))
    """
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(hidden_size=384, num_hidden_layers=layers, num_attention_heads=12, intermediate_size=1536,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
                        max_position_embeddings=max(512, seq_len), attn_implementation="eager")
    model = BertModel(config, add_pooling_layer=False).train()
    input_ids = torch.randint(1, config.vocab_size, (batch, seq_len))
    return model, {"input_ids": input_ids}


def pareto_front(steps: Iterable[StepFlops]) -> list[StepFlops]:
    """The steps no other step beats on both saved bytes and recompute FLOPs, by increasing recompute.

    A step is dominated when another saves no more bytes and recomputes no more FLOPs, and is strictly
    better in one of the two. Steps with equal costs (``off`` and ``offload`` on a CPU) are all kept.

    Raises:
        ValueError: a step without ``saved_bytes`` (a prediction: count it with :func:`count_step_flops`).

    Example:
        >>> front = pareto_front([StepFlops("a", 1, 2, 0, 10), StepFlops("b", 1, 2, 5, 10), StepFlops("c", 1, 2, 5, 4)])
        >>> [step.policy for step in front]
        ['a', 'c']
    """
    steps = list(steps)
    for step in steps:
        if step.saved_bytes is None:
            raise ValueError(f"{step.policy!r} has no saved_bytes (a prediction?); count it with count_step_flops.")

    def dominated(step):
        return any(other.saved_bytes <= step.saved_bytes and other.recompute <= step.recompute
                   and (other.saved_bytes, other.recompute) != (step.saved_bytes, step.recompute) for other in steps)

    return sorted((step for step in steps if not dominated(step)), key=lambda step: (step.recompute, -step.saved_bytes))
