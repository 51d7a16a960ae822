"""Per-device memory of a training step for a real model: weights, gradients, optimizer state, activations, buffers.

**State** (what a device holds for the whole run), with ``P`` parameters and ``W`` devices:

=================  ==========  =========  ======================================  =====================
precision          weights     gradients  optimizer state (AdamW / SGD)           total with AdamW
=================  ==========  =========  ======================================  =====================
``fp32``           ``4P``      ``4P``     ``8P`` (two moments) / ``0``            ``16P``
``bf16-mixed``     ``2P``      ``2P``     ``12P`` (fp32 master, two moments)      ``16P``
                                          / ``4P`` (master)
``bf16-autocast``  ``4P``      ``4P``     ``8P`` / ``0``                          ``16P``
=================  ==========  =========  ======================================  =====================

``bf16-mixed`` is what the ZeRO paper (Rajbhandari et al. 2020, arXiv:1910.02054, section 3.1: ``K = 12``) and
Megatron keep; ``bf16-autocast`` is ``torch.autocast``: the weights stay float32 and each matmul gets a 16-bit copy
of its weight (a **buffer**, ``2`` bytes per matmul weight, held from forward to backward). SGD means plain SGD
(no momentum: no state). Sharding divides some of it by ``W``:

==================  ==========================================  ======================================
sharding            divided by ``W``                            bf16-mixed + AdamW, per device
==================  ==========================================  ======================================
``none``/``ddp``    nothing                                     ``2P + 2P + 12P``
``zero1``           optimizer state                             ``2P + 2P + 12P / W``
``zero2``           optimizer state, gradients                  ``2P + 14P / W``
``zero3``           everything                                  ``16P / W``
``fsdp2``           everything (float32 shards, 16-bit gather)  ``(4P + 4P + 8P) / W``
==================  ==========================================  ======================================

DDP's gradients are the kit's ``gradient_as_bucket_view=True`` buckets, no second copy. ZeRO-3 and FSDP2 gather
one layer's whole parameters before it runs and prefetch the next: two of the largest layer in 16 bits (a
**buffer**, alive while the layer runs).

**Activations** (saved for backward, per device, for its own micro-batch ``b``), two formulas:

- ``"korthikanti"`` (the default): Korthikanti et al. 2022 (arXiv:2205.05198) eq. 1, per layer
  ``s*b*h*(34 + 5*a*s/h)`` bytes for 16-bit activations with 1-byte dropout masks; a checkpointed layer keeps
  its input, ``2*s*b*h``; the selective policy (``attention-core``: recompute the attention core) ``34*s*b*h``.
  A GPT layer as the paper counts it; the embeddings and logits (``s*b*V``) are not in it, nor the differences of
  Llama's SwiGLU MLP and grouped keys/values. In ``fp32`` every 2-byte term doubles. With
  ``flash_attention=True`` the ``5*a*s/h`` term goes: a fused attention kernel (FlashAttention, ``sdpa`` on a
  GPU) never stores the ``s x s`` scores, it recomputes them in backward.
- ``"counted"``: the kit's own tensor-by-tensor formulas (:mod:`~modlayers.lessons.memory.analytic`) for its tiny
  transformer, the ones the tests check against :class:`~modlayers.lessons.memory.saved_tensors.SavedTensorCounter`
  on the CPU. On the CPU, "activations" are exactly that: the distinct storages autograd keeps between
  forward and backward (parameters excluded), counted by the saved-tensor hooks, with the memory lab's stand-in
  loss ``last_hidden_state.float().pow(2).mean()``. Under ``bf16-autocast`` LayerNorm, softmax and the residual
  stream stay float32 on the CPU, the matmuls' inputs are 16-bit copies.

A checkpointing policy also recomputes one layer at a time in backward: the full activations of one layer are
alive again for a moment (a **buffer**).
"""

from __future__ import annotations

import dataclasses
import math
import re

import torch
from transformers import PretrainedConfig

from modlayers.lessons.memory.model_configs import ParameterCounts, get_config, parameter_counts

PRECISIONS = ("fp32", "bf16-mixed", "bf16-autocast")
OPTIMIZERS = ("adamw", "adam", "sgd")
SHARDINGS = ("none", "ddp", "zero1", "zero2", "zero3", "fsdp2")
ACTIVATION_FORMULAS = ("korthikanti", "counted")
COLUMNS = ("weights", "gradients", "optimizer_state", "activations", "buffers")

# bytes per parameter: (weights, gradients, optimizer state with Adam, optimizer state with plain SGD)
BYTES_PER_PARAMETER = {"fp32": (4, 4, 8, 0), "bf16-mixed": (2, 2, 12, 4), "bf16-autocast": (4, 4, 8, 0)}
# which state each sharding divides by the world size: (weights, gradients, optimizer state)
SHARDED = {"none": (False, False, False), "ddp": (False, False, False), "zero1": (False, False, True),
           "zero2": (False, True, True), "zero3": (True, True, True), "fsdp2": (True, True, True)}


@dataclasses.dataclass(frozen=True)
class MemoryBreakdown:
    """What one device holds during a training step, in bytes (floats: a share ``P / W`` need not be whole).

    Attributes:
        weights, gradients, optimizer_state: the state, this device's share.
        activations: saved for backward by this device's forward pass.
        buffers: what the state and the activations formulas leave out: gathered layers (ZeRO-3, FSDP2) and the
            recompute of one checkpointed layer, alive for a moment; autocast's 16-bit weight copies, which every
            layer that is not checkpointed keeps from its forward to its backward pass, like its activations.
        parameters: the model's parameter count (all devices together).
        details: the named terms behind ``activations`` and ``buffers``.
    """

    weights: float
    gradients: float
    optimizer_state: float
    activations: float
    buffers: float
    parameters: int
    details: dict = dataclasses.field(default_factory=dict)

    @property
    def state(self) -> float:
        """Weights + gradients + optimizer state."""
        return self.weights + self.gradients + self.optimizer_state

    @property
    def total(self) -> float:
        """Everything: the state, the activations and the buffers."""
        return self.state + self.activations + self.buffers

    def as_dict(self) -> dict[str, float]:
        """``{column: bytes}`` for the five columns, ready for a stacked bar."""
        return {column: getattr(self, column) for column in COLUMNS}


def state_bytes(parameters: int, precision: str = "bf16-mixed", optimizer: str = "adamw", sharding: str = "none",
                world_size: int = 1) -> dict[str, float]:
    """This device's weights, gradients and optimizer state (the two tables of the module docstring).

    Example:
        >>> psi = 7.5e9  # the ZeRO paper's Figure 1: 7.5B parameters on 64 devices
        >>> [round(sum(state_bytes(psi, sharding=s, world_size=64).values()) / 1e9, 1) for s in ("ddp", "zero1", "zero2", "zero3")]
        [120.0, 31.4, 16.6, 1.9]
    """
    _check_choice("precision", precision, PRECISIONS)
    _check_choice("optimizer", optimizer, OPTIMIZERS)
    _check_choice("sharding", sharding, SHARDINGS)
    if not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive integer, got {world_size!r}.")
    if sharding == "none" and world_size != 1:
        raise ValueError(f"sharding='none' is one device, got world_size={world_size}; use 'ddp' (or a ZeRO stage) "
                         "for several.")
    weights, gradients, adam, sgd = BYTES_PER_PARAMETER[precision]
    optimizer_bytes = sgd if optimizer == "sgd" else adam
    if sharding == "fsdp2" and precision == "bf16-mixed":  # FSDP2 keeps float32 shards, gathers them in bf16
        weights, gradients, optimizer_bytes = 4, 4, optimizer_bytes - 4
    divided = SHARDED[sharding]
    return {name: parameters * per / (world_size if split else 1)
            for name, per, split in zip(("weights", "gradients", "optimizer_state"),
                                        (weights, gradients, optimizer_bytes), divided)}


def korthikanti_layer_bytes(seq_len: int, batch: int, hidden_size: int, num_heads: int,
                            activation_bytes: int = 2) -> int:
    """Korthikanti et al. 2022, eq. 1: bytes one transformer layer saves, ``s*b*h*(34 + 5*a*s/h)`` in 16 bits.

    Term by term (``e`` bytes per activation, masks 1 byte): attention ``11sbh + 5as²b`` (QKV input, Q and K,
    V, the softmax output, its dropout mask and output, the projection input, a dropout mask), MLP ``19sbh``
    (two inputs, the GeLU input, a dropout mask), two LayerNorms ``4sbh``; with ``e = 2`` that is eq. 1. With
    ``activation_bytes=4`` (fp32) every 2-byte term doubles and the masks stay 1 byte.

    Example:
        >>> korthikanti_layer_bytes(2048, 1, 12288, 96) == 2048 * 12288 * (34 + 5 * 96 * 2048 / 12288)  # GPT-3
        True
    """
    s, b, h, a, e = seq_len, batch, hidden_size, num_heads, activation_bytes
    linear = 16 * e + 2  # 32 sbh in 2-byte tensors (16 elements' worth) + 2 sbh of masks
    squared = 2 * e + 1  # softmax output and dropout output + the 1-byte mask, per a*s*s*b
    return s * b * h * linear + a * s * s * b * squared


def checkpointed_layers(policy: str, layers: int) -> int:
    """How many of ``layers`` a kit policy checkpoints: off 0, every-layer all, every-N ``ceil(L / N)``.

    Example:
        >>> checkpointed_layers("every-3", 32)  # layers 0, 3, ..., 30
        11
    """
    if policy in ("off", "attention-core"):
        return 0
    match = re.fullmatch(r"every-(layer|\d+)", policy)
    if match is None or (match.group(1) != "layer" and int(match.group(1)) < 1):
        raise ValueError(f"Unknown checkpointing {policy!r}; choose off, every-layer, every-N (N >= 1) or attention-core.")
    every = 1 if match.group(1) == "layer" else int(match.group(1))
    return math.ceil(layers / every)


def _korthikanti(config, batch, seq_len, policy, precision, flash_attention=False) -> dict[str, float]:
    e = 4 if precision == "fp32" else 2
    layers, h, a = config.num_hidden_layers, config.hidden_size, config.num_attention_heads
    full = korthikanti_layer_bytes(seq_len, batch, h, a, e) - (_squared_bytes(seq_len, batch, a, e) if flash_attention else 0)
    kept_input = seq_len * batch * h * e
    if policy == "attention-core":  # selective recomputation: the s² terms are recomputed
        squared = 0 if flash_attention else _squared_bytes(seq_len, batch, a, e)
        return {"layers (selective: no s² terms)": layers * (full - squared)}
    checkpointed = checkpointed_layers(policy, layers)
    return {"layers kept whole": (layers - checkpointed) * full, "inputs of checkpointed layers": checkpointed * kept_input}


def _squared_bytes(seq_len, batch, num_heads, e) -> int:
    """Korthikanti's ``5as²b``: the softmax output and the dropped probabilities (``e`` bytes) and the 1-byte mask."""
    return num_heads * seq_len * seq_len * batch * (2 * e + 1)


def _counted(config, batch, seq_len, policy, precision, flash_attention=False) -> dict[str, float]:
    from modlayers.lessons.memory.analytic import tiny_transformer_saved_bytes

    if getattr(config, "model_type", None) != "tiny-transformer":
        raise ValueError(f"activation_formula='counted' is the kit's tensor-by-tensor formula for its tiny transformer, "
                         f"got a {type(config).__name__}; use activation_formula='korthikanti'.")
    layers = config.num_hidden_layers
    checkpointed = checkpointed_layers(policy, layers)
    e = 2 if precision == "bf16-mixed" else 4  # autocast keeps the model's float32 bias
    bias_kept = checkpointed > 0 or policy == "attention-core"
    # an encoder without a padding mask gets a (b, 1, 1, s) bias, not the decoder's (b, 1, s, s)
    encoder_bias = {} if config.is_causal or not bias_kept else {
        "encoder's attention bias is (b, 1, 1, s), not (b, 1, s, s)": batch * seq_len * e * (1 - seq_len)}
    if precision != "bf16-autocast":
        dtype = torch.float32 if precision == "fp32" else torch.bfloat16
        return {"saved tensors (counted formula)": tiny_transformer_saved_bytes(
            config, batch, seq_len, dtype, "cpu", checkpointed, policy == "attention-core"), **encoder_bias}
    from modlayers.lessons.memory.autocast_activations import tiny_transformer_autocast_saved_bytes

    if policy == "attention-core":
        raise ValueError("activation_formula='counted' with bf16-autocast models off, every-layer and every-N; "
                         "for attention-core use precision='fp32' or activation_formula='korthikanti'.")
    return {"saved tensors (counted formula, autocast)": tiny_transformer_autocast_saved_bytes(
        config, batch, seq_len, checkpointed), **encoder_bias}


def predict_memory(
    config: PretrainedConfig | str,
    *,
    precision: str = "bf16-mixed",
    optimizer: str = "adamw",
    sharding: str = "none",
    world_size: int = 1,
    batch: int = 1,
    seq_len: int = 2048,
    checkpointing: str = "off",
    activation_formula: str = "korthikanti",
    flash_attention: bool = False,
) -> MemoryBreakdown:
    """Predict one device's memory for a training step of ``config`` (see the module docstring for every formula).

    Args:
        config: a transformers config, or a name of :mod:`~modlayers.lessons.memory.model_configs` (``"llama-3-8b"``).
        precision: ``"fp32"``, ``"bf16-mixed"`` or ``"bf16-autocast"``.
        optimizer: ``"adamw"`` / ``"adam"`` (two moments) or ``"sgd"`` (no momentum).
        sharding: ``"none"``, ``"ddp"``, ``"zero1"``, ``"zero2"``, ``"zero3"`` or ``"fsdp2"``.
        world_size: devices training together (``1`` for ``"none"``).
        batch: the micro-batch **each device** runs (sequences).
        seq_len: tokens per sequence.
        checkpointing: the kit's policy: ``"off"``, ``"every-layer"``, ``"every-N"``, ``"attention-core"``.
        activation_formula: ``"korthikanti"`` or ``"counted"`` (the kit's tiny transformer, CPU).
        flash_attention: with ``"korthikanti"``, a fused attention kernel that keeps no ``s x s`` scores.

    Returns:
        A :class:`MemoryBreakdown`.

    Raises:
        ValueError: an unknown choice, a non-positive size, ``"none"`` with several devices.
        TypeError: ``config`` neither a config nor a name.

    Example:
        >>> m = predict_memory("llama-3-8b", sharding="fsdp2", world_size=8, batch=1, seq_len=8192, checkpointing="every-layer")
        >>> round(m.state / 2**30, 1), round(m.activations / 2**30, 1)  # GiB per GPU
        (15.0, 2.0)
    """
    if isinstance(config, str):
        config = get_config(config)
    _check_choice("activation_formula", activation_formula, ACTIVATION_FORMULAS)
    for name, value in (("batch", batch), ("seq_len", seq_len)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    checkpointed_layers(checkpointing, 1)  # refuse an unknown policy before any work
    state_bytes(1, precision, optimizer, sharding, world_size)  # and an unknown precision, optimizer or sharding
    if flash_attention and activation_formula == "counted":
        raise ValueError("flash_attention=True goes with activation_formula='korthikanti' (the kit's tiny transformer "
                         "writes its attention out).")
    counts = parameter_counts(config)
    state = state_bytes(counts.total, precision, optimizer, sharding, world_size)
    formula = _korthikanti if activation_formula == "korthikanti" else _counted
    activation_terms = formula(config, batch, seq_len, checkpointing, precision, flash_attention)
    buffer_terms = _buffers(config, counts, batch, seq_len, precision, sharding, world_size, checkpointing, flash_attention)
    return MemoryBreakdown(**state, activations=float(sum(activation_terms.values())),
                           buffers=float(sum(buffer_terms.values())), parameters=counts.total,
                           details={"activations": activation_terms, "buffers": buffer_terms})


def _buffers(config, counts: ParameterCounts, batch, seq_len, precision, sharding, world_size, policy,
             flash_attention=False) -> dict[str, float]:
    terms = {}
    if sharding in ("zero3", "fsdp2") and world_size > 1:
        gathered_bytes = 2 if precision == "bf16-mixed" else 4  # autocast gathers the float32 weights and casts after
        # the whole layer, less this rank's own shard, which it already holds
        terms["gathered layers (this one and the next)"] = 2 * counts.largest_layer * gathered_bytes * (1 - 1 / world_size)
    if precision == "bf16-autocast":
        terms["16-bit weight copies (autocast)"] = 2 * counts.matmul_weights
    e = 4 if precision == "fp32" else 2
    squared = _squared_bytes(seq_len, batch, config.num_attention_heads, e)
    if policy == "attention-core" and not flash_attention:
        terms["one attention core recomputed in backward"] = squared
    elif policy not in ("off", "attention-core"):
        terms["one layer recomputed in backward"] = korthikanti_layer_bytes(
            seq_len, batch, config.hidden_size, config.num_attention_heads, e) - (squared if flash_attention else 0)
    return terms


def _check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"Unknown {name} {value!r}; choose one of {', '.join(choices)}.")
