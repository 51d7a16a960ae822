"""Predicting, on paper, how many bytes one transformer layer keeps for backward.

Each function returns the saved tensors of one layer as named terms (bytes), so a
learner can see *which* tensors dominate; ``sum(terms.values())`` is the total. The
terms were read off the operations in the layer's ``forward``; the tests check them
against :class:`~modlayers.lessons.memory.saved_tensors.SavedTensorCounter` on real layers.

Notation: ``N = batch * seq_len`` token positions, ``H`` hidden size, ``I``
intermediate (MLP) size, ``S2 = batch * heads * seq_len**2`` attention scores.

Device and dtype rules that matter:
    - ``a`` = bytes per element of the activations (4 for float32, 2 for bfloat16).
    - A dropout with ``p > 0`` saves its mask; ``p == 0`` returns its input and saves
      nothing. For ``nn.Dropout`` on CPU the mask is a tensor of the activation dtype
      (``a`` bytes per element); CUDA's fused dropout keeps a ``bool`` mask (1 byte).
      The tiny transformer's attention dropout draws its own ``bool`` mask (1 byte, any
      device), so a checkpointed attention core can keep it.
    - LayerNorm keeps its input plus a mean and a 1/std per position. On CPU they
      have the activation dtype; on CUDA they are float32.
    - ``q @ k^T`` and ``probs @ v`` on 4-d tensors fold ``(batch, heads)`` into one
      batch dimension; for the transposed head layout that is a copy, and the copies
      (``q``, ``k^T``, ``v``) are what the matmuls keep.
    - Everything of size ``S2`` grows with the *square* of the sequence length: the
      softmax output, and with attention dropout its mask and the dropped
      probabilities. That is why long sequences run out of memory first.

With checkpointing the layer keeps only its inputs: the hidden states
(:func:`checkpointed_layer_saved_bytes`) and what it receives by keyword, the attention
bias (:func:`attention_bias_bytes`, one tensor for all layers). With only the attention
core checkpointed (``checkpointed_attention_core=True``), the core's tensors are replaced
by its inputs.
"""

import torch

CPU_AND_CUDA = ("cpu", "cuda")


def _check(batch, seq_len, hidden_size, num_heads, dtype, hidden_dropout, attention_dropout, device_type):
    for name, value in (("batch", batch), ("seq_len", seq_len), ("hidden_size", hidden_size), ("num_heads", num_heads)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if hidden_size % num_heads:
        raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads}).")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype such as torch.float32, got {dtype!r}.")
    for name, p in (("hidden_dropout", hidden_dropout), ("attention_dropout", attention_dropout)):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {p!r}.")
    if device_type not in CPU_AND_CUDA:
        raise ValueError(f"device_type must be one of {CPU_AND_CUDA}, got {device_type!r}.")


def _element_sizes(dtype: torch.dtype, device_type: str) -> tuple[int, int, int]:
    """Bytes per element of (activations, dropout masks, LayerNorm statistics)."""
    activation = torch.empty((), dtype=dtype).element_size()
    mask = activation if device_type == "cpu" else 1
    stats = activation if device_type == "cpu" else 4
    return activation, mask, stats


# What a TinyTransformerAttentionCore saves, and stops saving when it is checkpointed. (Its dropout
# mask is one of its inputs, drawn outside it: a checkpointed core keeps it.)
ATTENTION_CORE_TERMS = (
    "q and k^T copies for q @ k^T",
    "softmax output",
    "v copy for probs @ v",
    "dropped probabilities",
)


def tiny_transformer_layer_saved_bytes(
    batch: int,
    seq_len: int,
    hidden_size: int,
    num_heads: int,
    intermediate_size: int | None = None,
    dtype: torch.dtype = torch.float32,
    hidden_dropout: float = 0.1,
    attention_dropout: float = 0.1,
    device_type: str = "cpu",
    checkpointed_attention_core: bool = False,
) -> dict[str, int]:
    """Bytes one :class:`~modlayers.lessons.tiny_transformer.TinyTransformerLayer` saves for backward, by tensor.

    Args:
        batch, seq_len, hidden_size, num_heads: the shapes (``hidden_size % num_heads == 0``).
        intermediate_size: MLP width (default ``4 * hidden_size``, as the config).
        dtype: activation dtype.
        hidden_dropout, attention_dropout: the config's dropout probabilities.
        device_type: ``"cpu"`` or ``"cuda"`` (dropout masks and LayerNorm statistics differ).
        checkpointed_attention_core: the layer's ``TinyTransformerAttentionCore`` is
            checkpointed (the ``attention-core`` policy): the q/k/v copies, the softmax
            output and the dropped probabilities are replaced by the core's inputs ``q``,
            ``k``, ``v``, which share the ``qkv`` output; the ``bool`` dropout mask, also
            an input, stays. (The attention bias the cores also keep is one tensor for
            the whole model: :func:`tiny_transformer_saved_bytes` adds it.)

    Returns:
        ``{term: bytes}``; the layer total is ``sum(result.values())``.

    Raises:
        ValueError, TypeError: a non-positive size, heads not dividing the hidden size,
            a non-floating dtype, a probability outside [0, 1), an unknown device type.

    Example:
        >>> terms = tiny_transformer_layer_saved_bytes(batch=4, seq_len=512, hidden_size=256, num_heads=4)
        >>> terms["softmax output"] / 2**20  # 4 * 4 * 512 * 512 float32, in MiB
        16.0
    """
    _check(batch, seq_len, hidden_size, num_heads, dtype, hidden_dropout, attention_dropout, device_type)
    a, mask, stats = _element_sizes(dtype, device_type)
    n, h = batch * seq_len, hidden_size
    i = intermediate_size or 4 * hidden_size
    s2 = batch * num_heads * seq_len * seq_len
    terms = {
        "attention_norm input": n * h * a,
        "attention_norm mean and 1/std": 2 * n * stats,
        "qkv input (normed)": n * h * a,
        "q and k^T copies for q @ k^T": 2 * n * h * a,
        "softmax output": s2 * a,
        "v copy for probs @ v": n * h * a,
        "out_proj input (context)": n * h * a,
        "mlp_norm input": n * h * a,
        "mlp_norm mean and 1/std": 2 * n * stats,
        "fc1 input (normed)": n * h * a,
        "GELU input": n * i * a,
        "fc2 input (GELU output)": n * i * a,
    }
    if attention_dropout > 0:
        terms["attention dropout mask"] = s2  # bool, drawn by the attention core's dropout_mask
        terms["dropped probabilities"] = s2 * a  # probs @ v keeps these instead of the softmax output alone
    if hidden_dropout > 0:
        terms["residual dropout masks (2)"] = 2 * n * h * mask
    if checkpointed_attention_core:
        for name in ATTENTION_CORE_TERMS:
            terms.pop(name, None)
        terms["q, k, v (the checkpointed core's inputs: the qkv output)"] = 3 * n * h * a
    return terms


ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")


def bert_layer_saved_bytes(
    batch: int,
    seq_len: int,
    hidden_size: int,
    num_heads: int,
    intermediate_size: int | None = None,
    dtype: torch.dtype = torch.float32,
    hidden_dropout: float = 0.1,
    attention_dropout: float = 0.1,
    device_type: str = "cpu",
    attn_implementation: str = "sdpa",
) -> dict[str, int]:
    """Bytes one transformers ``BertLayer`` (no cross-attention) saves for backward.

    BERT is post-norm: ``LayerNorm(x + dropout(attention(x)))``, then
    ``LayerNorm(h + dropout(mlp(h)))``. Arguments, returns and errors as
    :func:`tiny_transformer_layer_saved_bytes` (``hidden_dropout`` is the config's
    ``hidden_dropout_prob``, ``attention_dropout`` its ``attention_probs_dropout_prob``), plus:

    Args:
        attn_implementation: the config's ``attn_implementation``: ``"sdpa"`` (transformers'
            default for BERT) or ``"eager"`` (attention written out, the softmax output kept).
            On CPU, ``scaled_dot_product_attention`` without dropout runs a fused kernel that
            keeps ``q``, ``k``, ``v``, its output and one log-sum-exp per row (float32) instead
            of the ``seq_len**2`` softmax output; with attention dropout it falls back to the
            written-out computation and keeps what eager keeps. Modelled without a padding
            mask (with one, the fused kernel also keeps a ``(batch, 1, seq_len, seq_len)`` mask).

    Raises:
        ValueError: as :func:`tiny_transformer_layer_saved_bytes`, an unknown
            ``attn_implementation``, or a case of ``"sdpa"`` not modelled: on CUDA (the fused
            kernel, and what it keeps, depends on the GPU), or with attention dropout in a
            16-bit dtype (the CPU fallback computes in float32). Count those with
            ``SavedTensorCounter``.

    Example:
        >>> eager = bert_layer_saved_bytes(1, 128, 768, 12, 3072, hidden_dropout=0.0, attention_dropout=0.0,
        ...                                attn_implementation="eager")
        >>> sdpa = bert_layer_saved_bytes(1, 128, 768, 12, 3072, hidden_dropout=0.0, attention_dropout=0.0)
        >>> sum(eager.values()), sum(sdpa.values())  # sdpa: no 12 x 128 x 128 softmax output, 1 float per row
        (7079936, 6299648)
    """
    _check(batch, seq_len, hidden_size, num_heads, dtype, hidden_dropout, attention_dropout, device_type)
    if attn_implementation not in ATTENTION_IMPLEMENTATIONS:
        raise ValueError(
            f"attn_implementation must be one of {ATTENTION_IMPLEMENTATIONS} (the BertConfig's), got {attn_implementation!r}."
        )
    if attn_implementation == "sdpa" and (device_type != "cpu" or (attention_dropout > 0 and dtype != torch.float32)):
        raise ValueError(
            f"bert_layer_saved_bytes does not model 'sdpa' on {device_type} in {dtype} with attention dropout "
            f"{attention_dropout}: it models 'sdpa' on CPU, in float32 or without attention dropout (on CUDA the "
            "fused kernel, and what it keeps, depends on the GPU; the CPU fallback with dropout computes 16-bit "
            "inputs in float32). Count such a step with SavedTensorCounter, or pass attn_implementation='eager'."
        )
    a, mask, stats = _element_sizes(dtype, device_type)
    n, h = batch * seq_len, hidden_size
    i = intermediate_size or 4 * hidden_size
    s2 = batch * num_heads * seq_len * seq_len
    fused = attn_implementation == "sdpa" and attention_dropout == 0
    if fused:
        attention = {
            "q, k, v (the fused kernel's inputs)": 3 * n * h * a,
            "attention output (fused kernel's, the output dense's input)": n * h * a,
            "log-sum-exp per row (float32)": batch * num_heads * seq_len * 4,
        }
    else:
        attention = {
            "q and k^T copies for q @ k^T": 2 * n * h * a,
            "softmax output": s2 * a,
            "v copy for probs @ v": n * h * a,
            "attention output dense input (context)": n * h * a,
        }
    terms = {
        "layer input (query, key, value share it)": n * h * a,
        **attention,
        "attention LayerNorm input": n * h * a,
        "attention LayerNorm mean and 1/std": 2 * n * stats,
        "intermediate dense input": n * h * a,
        "GELU input": n * i * a,
        "output dense input (GELU output)": n * i * a,
        "output LayerNorm input": n * h * a,
        "output LayerNorm mean and 1/std": 2 * n * stats,
    }
    if attention_dropout > 0:
        terms["attention dropout mask"] = s2 * mask
        terms["dropped probabilities"] = s2 * a
    if hidden_dropout > 0:
        terms["hidden dropout masks (2)"] = 2 * n * h * mask
    return terms


def checkpointed_layer_saved_bytes(batch: int, seq_len: int, hidden_size: int, dtype: torch.dtype = torch.float32) -> int:
    """Bytes a checkpointed layer keeps of its own: its positional input, the hidden states ``(batch, seq_len, hidden_size)``.

    A checkpointed layer also keeps the tensors it receives by keyword, bound into its call until the
    backward pass; in the tiny transformer that is the attention bias, one tensor shared by every layer
    (:func:`attention_bias_bytes`, added once by :func:`tiny_transformer_saved_bytes`).

    Example:
        >>> checkpointed_layer_saved_bytes(4, 512, 256) / 2**20  # MiB
        2.0
    """
    return batch * seq_len * hidden_size * torch.empty((), dtype=dtype).element_size()


def attention_bias_bytes(batch: int, seq_len: int, dtype: torch.dtype = torch.float32) -> int:
    """Bytes of the tiny transformer's additive attention bias ``(batch, 1, seq_len, seq_len)``: one for all layers.

    Checkpointed layers keep it (they receive it by keyword and keep it bound into their call until the
    backward pass), and so do checkpointed attention cores (as an input). Without checkpointing nothing does.

    Example:
        >>> attention_bias_bytes(4, 512) / 2**20  # MiB
        4.0
    """
    return batch * seq_len * seq_len * torch.empty((), dtype=dtype).element_size()


def outside_layers_saved_bytes(
    batch: int, seq_len: int, hidden_size: int, hidden_dropout: float = 0.1,
    dtype: torch.dtype = torch.float32, device_type: str = "cpu",
) -> int:
    """Bytes a :class:`~modlayers.lessons.tiny_transformer.TinyTransformerModel` step keeps outside its layers.

    With the memory lab's stand-in loss ``last_hidden_state.float().pow(2).mean()``: the token ids and
    the position ids (int64, kept by the embeddings' backward), the embedding dropout mask, the final
    LayerNorm's input, mean and 1/std, and the loss's input. All grow with ``seq_len``, none with its square.

    Example:
        >>> outside_layers_saved_bytes(4, 512, 256, hidden_dropout=0.0) / 2**20  # mostly: LayerNorm input + loss input
        4.03515625
    """
    a, mask, stats = _element_sizes(dtype, device_type)
    n, h = batch * seq_len, hidden_size
    return (
        n * 8  # token ids (int64), kept by the embedding's backward
        + seq_len * 8  # position ids (int64)
        + (n * h * mask if hidden_dropout > 0 else 0)  # embedding dropout mask
        + n * h * a + 2 * n * stats  # final LayerNorm input, mean and 1/std
        + n * h * 4  # the loss's input: last_hidden_state as float32 (``.float()``)
    )


def tiny_transformer_saved_bytes(
    config,
    batch: int,
    seq_len: int,
    dtype: torch.dtype = torch.float32,
    device_type: str = "cpu",
    checkpointed_layers: int = 0,
    checkpointed_attention_cores: bool = False,
) -> int:
    """Bytes a whole :class:`~modlayers.lessons.tiny_transformer.TinyTransformerModel` step keeps for backward.

    The model run by :func:`modlayers.lessons.memory.measure.measure_training_step` with its
    stand-in loss ``last_hidden_state.pow(2).mean()``: the layers (``checkpointed_layers``
    of them keep only their inputs) plus what is kept outside them
    (:func:`outside_layers_saved_bytes`).

    The attention bias ``(batch, 1, seq_len, seq_len)`` is one tensor for the whole model,
    and it is kept once when anything checkpointed holds it: a checkpointed layer, which
    receives it by keyword and keeps it bound into its call until the backward pass, or
    checkpointed attention cores (``checkpointed_attention_cores``, the ``attention-core``
    policy), which receive it as an input. Without checkpointing nothing keeps it (adding
    it to the scores needs no saved tensor).

    Example:
        >>> from modlayers.lessons.tiny_transformer import TinyTransformerConfig
        >>> cfg = TinyTransformerConfig(hidden_size=64, num_hidden_layers=4)
        >>> tiny_transformer_saved_bytes(cfg, 2, 32) > tiny_transformer_saved_bytes(cfg, 2, 32, checkpointed_layers=4)
        True
    """
    layers = config.num_hidden_layers
    if not isinstance(checkpointed_layers, int) or not 0 <= checkpointed_layers <= layers:
        raise ValueError(f"checkpointed_layers must be an integer in [0, {layers}], got {checkpointed_layers!r}.")
    layer = sum(
        tiny_transformer_layer_saved_bytes(
            batch, seq_len, config.hidden_size, config.num_attention_heads, config.intermediate_size,
            dtype, config.hidden_dropout, config.attention_dropout, device_type, checkpointed_attention_cores,
        ).values()
    )
    checkpointed = checkpointed_layer_saved_bytes(batch, seq_len, config.hidden_size, dtype)
    bias_kept = checkpointed_layers > 0 or (checkpointed_attention_cores and checkpointed_layers < layers)
    rest = outside_layers_saved_bytes(batch, seq_len, config.hidden_size, config.hidden_dropout, dtype, device_type)
    bias = attention_bias_bytes(batch, seq_len, dtype) if bias_kept else 0
    return (layers - checkpointed_layers) * layer + checkpointed_layers * checkpointed + rest + bias


SEQ_LEN_SQUARED_TERMS = ("softmax output", "attention dropout mask", "dropped probabilities")
OUTSIDE_LAYERS = "outside the layers: embeddings, final norm, loss"


def tiny_transformer_policy_bars(
    layers: int,
    seq_len: int,
    batch: int,
    hidden_size: int = 256,
    num_heads: int = 4,
    dropout: float = 0.1,
    dtype: torch.dtype = torch.float32,
    device_type: str = "cpu",
) -> dict[str, dict[str, int]]:
    """Predicted saved bytes of a ``layers``-layer tiny transformer step under off, attention-core, every-2 and every-layer.

    Each policy is split into the parts a learner should tell apart: the attention
    tensors that grow with ``seq_len**2``, the other activations of the layers that grow
    with ``seq_len``, the inputs the checkpointed layers (or attention cores) keep, and
    what is kept outside the layers (embeddings, final LayerNorm, loss:
    :func:`outside_layers_saved_bytes`). Each bar's total is
    :func:`tiny_transformer_saved_bytes` of the same model. Under every checkpointing
    policy the ``seq_len**2`` part holds the attention bias ``(batch, 1, seq_len, seq_len)``,
    one for all layers, that the checkpointed calls keep; under ``attention-core`` also
    each layer's ``bool`` dropout mask.

    Returns:
        ``{policy: {part: bytes}}``, ready for :func:`modlayers.lessons.plots.plot_memory_bars`.

    Example:
        >>> bars = tiny_transformer_policy_bars(layers=12, seq_len=512, batch=4)
        >>> bars["every-layer"]["inputs of checkpointed layers"] / 2**20  # 12 layer inputs of 2 MiB
        24.0
        >>> bars["every-layer"]["attention, grows with seq_len²"] / 2**20  # the one attention bias they keep
        4.0
    """
    if not isinstance(layers, int) or layers < 1:
        raise ValueError(f"layers must be a positive integer, got {layers!r}.")
    terms = tiny_transformer_layer_saved_bytes(batch, seq_len, hidden_size, num_heads, None, dtype, dropout, dropout, device_type)
    squared = sum(bytes_ for name, bytes_ in terms.items() if name in SEQ_LEN_SQUARED_TERMS)
    linear = sum(terms.values()) - squared
    kept_input = checkpointed_layer_saved_bytes(batch, seq_len, hidden_size, dtype)
    bias = attention_bias_bytes(batch, seq_len, dtype)
    outside = outside_layers_saved_bytes(batch, seq_len, hidden_size, dropout, dtype, device_type)
    bars = {}
    for policy, checkpointed in (("off", 0), ("every-2", (layers + 1) // 2), ("every-layer", layers)):
        full = layers - checkpointed
        bars[policy] = {
            "attention, grows with seq_len²": full * squared + (bias if checkpointed else 0),
            "other activations, grow with seq_len": full * linear,
            "inputs of checkpointed layers": checkpointed * kept_input,
            OUTSIDE_LAYERS: outside,
        }
    core_terms = tiny_transformer_layer_saved_bytes(batch, seq_len, hidden_size, num_heads, None, dtype, dropout, dropout,
                                                    device_type, checkpointed_attention_core=True)
    core_squared = sum(bytes_ for name, bytes_ in core_terms.items() if name in SEQ_LEN_SQUARED_TERMS)  # the bool mask
    core_inputs = 3 * kept_input  # q, k, v: the qkv output
    bars["attention-core"] = {
        "attention, grows with seq_len²": layers * core_squared + bias,
        "other activations, grow with seq_len": layers * (sum(core_terms.values()) - core_squared - core_inputs),
        "inputs of checkpointed layers": layers * core_inputs,
        OUTSIDE_LAYERS: outside,
    }
    return {name: bars[name] for name in ("off", "attention-core", "every-2", "every-layer")}
