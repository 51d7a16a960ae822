"""What the tiny transformer saves for backward under ``torch.autocast("cpu", dtype=torch.bfloat16)``, tensor by tensor.

Autocast runs the matmuls in bfloat16 and keeps LayerNorm and softmax in float32 (CPU autocast's float32 list);
the residual stream, sums of float32 and bfloat16, stays float32. So a layer keeps a mix
(``N = batch * seq_len``, ``H`` hidden, ``I`` MLP width, ``S2 = batch * heads * seq_len**2``):

- float32 (4 bytes): the two LayerNorm inputs and their mean and 1/std, the softmax output;
- bfloat16 (2 bytes): the 16-bit copies of the matmul inputs (the normed states, ``q``, ``k^T``, ``v``, the
  softmax output once more for ``probs @ v``, the context), the GELU input and output;
- and the 16-bit copy of each ``nn.Linear`` weight, which its matmul keeps: weights, not activations, so the
  predictor shows them as a buffer (:func:`saved_weight_copies_bytes`).

Modelled without dropout (the check runs ``hidden_dropout = attention_dropout = 0``).
"""

from __future__ import annotations

FLOAT32, BFLOAT16 = 4, 2


def tiny_transformer_autocast_layer_terms(batch: int, seq_len: int, hidden_size: int, num_heads: int,
                                          intermediate_size: int | None = None) -> dict[str, int]:
    """Bytes one tiny-transformer layer saves under CPU bfloat16 autocast, weight copies left out, by tensor.

    Example:
        >>> terms = tiny_transformer_autocast_layer_terms(4, 32, 64, 4)
        >>> terms["softmax output (float32)"], terms["probabilities, 16-bit copy for probs @ v"]
        (65536, 32768)
    """
    n, h = batch * seq_len, hidden_size
    i = intermediate_size or 4 * hidden_size
    s2 = batch * num_heads * seq_len * seq_len
    return {
        "attention_norm input (float32)": n * h * FLOAT32,
        "attention_norm mean and 1/std (float32)": 2 * n * FLOAT32,
        "qkv input, 16-bit copy": n * h * BFLOAT16,
        "q and k^T copies for q @ k^T": 2 * n * h * BFLOAT16,
        "softmax output (float32)": s2 * FLOAT32,
        "probabilities, 16-bit copy for probs @ v": s2 * BFLOAT16,
        "v copy for probs @ v": n * h * BFLOAT16,
        "out_proj input (context)": n * h * BFLOAT16,
        "mlp_norm input (float32)": n * h * FLOAT32,
        "mlp_norm mean and 1/std (float32)": 2 * n * FLOAT32,
        "fc1 input, 16-bit copy": n * h * BFLOAT16,
        "GELU input": n * i * BFLOAT16,
        "fc2 input (GELU output)": n * i * BFLOAT16,
    }


def tiny_transformer_autocast_saved_bytes(config, batch: int, seq_len: int, checkpointed_layers: int = 0) -> int:
    """Activations of a whole tiny-transformer step under CPU bfloat16 autocast (weight copies left out).

    The layers (``checkpointed_layers`` of them keep only their float32 input and, once for all, the float32
    attention bias) plus what the model keeps outside them, in float32 as without autocast
    (:func:`~modlayers.lessons.memory.analytic.outside_layers_saved_bytes`: embeddings, final LayerNorm, loss).

    Raises:
        ValueError: a config with dropout (not modelled), ``checkpointed_layers`` outside ``[0, layers]``.
    """
    from modlayers.lessons.memory.analytic import attention_bias_bytes, outside_layers_saved_bytes

    if config.hidden_dropout or config.attention_dropout:
        raise ValueError(f"The autocast formula is written for dropout 0, got hidden_dropout={config.hidden_dropout}, "
                         f"attention_dropout={config.attention_dropout}; build the config with both at 0.")
    layers = config.num_hidden_layers
    if not 0 <= checkpointed_layers <= layers:
        raise ValueError(f"checkpointed_layers must be in [0, {layers}], got {checkpointed_layers}.")
    layer = sum(tiny_transformer_autocast_layer_terms(batch, seq_len, config.hidden_size, config.num_attention_heads,
                                                      config.intermediate_size).values())
    kept_input = batch * seq_len * config.hidden_size * FLOAT32
    bias = attention_bias_bytes(batch, seq_len) if checkpointed_layers else 0
    outside = outside_layers_saved_bytes(batch, seq_len, config.hidden_size, 0.0)
    return (layers - checkpointed_layers) * layer + checkpointed_layers * kept_input + bias + outside


def saved_weight_copies_bytes(config, checkpointed_layers: int = 0) -> int:
    """Bytes of the 16-bit weight copies the matmuls of the non-checkpointed layers keep for backward.

    A checkpointed layer keeps none: its copies are made again in the recompute. Per layer the tiny
    transformer has four matmul weights: ``qkv`` (``3H x H``), ``out_proj`` (``H x H``), ``fc1`` and ``fc2``
    (``I x H`` each).

    Example:
        >>> from modlayers.lessons.tiny_transformer import TinyTransformerConfig
        >>> saved_weight_copies_bytes(TinyTransformerConfig(hidden_size=64, num_hidden_layers=2))
        196608
    """
    h, i = config.hidden_size, config.intermediate_size or 4 * config.hidden_size
    per_layer = (3 * h * h + h * h + 2 * h * i) * BFLOAT16
    return (config.num_hidden_layers - checkpointed_layers) * per_layer
