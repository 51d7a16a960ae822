"""What is alive at the peak of a training step, predicted on paper for the tiny transformer.

Checkpointing every layer cuts the activations kept between forward and backward by about
15x, yet the peak only falls by 40%. The reason is *where* each peak is:

- **No checkpointing**: the peak is at the end of the forward pass, inside the last layer.
  Every layer's saved activations are alive, plus the model's inputs, the attention bias,
  and the last layer's tensors in flight. No gradient exists yet.
- **Every layer checkpointed**: the peak is in the backward pass of the *first* layer (the
  last one the backward pass reaches), in its attention dropout's backward. Alive then: what
  the forward pass kept (layer 0's input, the attention bias, the embeddings' dropout mask, layer
  0's checkpoint's RNG state), nearly all the gradients, the part of layer 0's recomputed
  activations its attention backward still needs, and the backward's own ``seq_len²``
  temporaries (the gradient of the dropped probabilities, the dropout mask as floats, the
  gradient through it).

:func:`predicted_peak_breakdown` writes both down tensor by tensor, in the kinds
:mod:`modlayers.lessons.memory.timeline` measures. It describes a CPU step in float32 with dropout
on (the kit's ``tiny_model_and_batch`` defaults), and it names the operations where the peaks
are at the notebook's shape (hidden 64, 4 heads, ``seq_len`` 128, batch 2; the tests check 2, 4
and 6 layers to the byte). The peak is wherever the most is alive, and that moves with the shape:
with batch 1 a transpose is already contiguous and one copy disappears; with fewer heads or a
wider MLP the checkpointed peak moves to the end of layer 0's recompute; a shallow model without
checkpointing peaks in its backward pass. :func:`~modlayers.lessons.memory.timeline.memory_timeline`
measures any shape; compare before trusting the formula there.
"""

import torch

from modlayers.lessons.memory.analytic import _element_sizes, tiny_transformer_layer_saved_bytes

RNG_STATE_BYTES = 5056  # torch.get_rng_state(): the CPU generator's state, which a checkpoint keeps to replay dropout
SCALAR_BYTES = 8  # a Python number in a tensor expression (the 1/sqrt(d) and 1/(1-p) divisors) becomes a float64 scalar


def _layer_parameter_elements(hidden: int, intermediate: int) -> dict[str, int]:
    return {
        "attention_norm": 2 * hidden,
        "qkv": 3 * hidden * hidden + 3 * hidden,
        "out_proj": hidden * hidden + hidden,
        "mlp_norm": 2 * hidden,
        "mlp": 2 * hidden * intermediate + intermediate + hidden,
    }


def predicted_peak_breakdown(config, batch: int, seq_len: int, policy: str) -> dict[str, dict[str, int]]:
    """Bytes alive at the peak of one step, by kind and tensor, for ``"off"`` or ``"every-layer"``.

    Args:
        config: the model's ``TinyTransformerConfig`` (hidden size, heads, layers, MLP width, dropout).
        batch, seq_len: the batch's shape.
        policy: ``"off"``, ``"every-layer"`` or ``"checkpoint-and-offload"`` (the same as
            ``"every-layer"`` on a CPU, where offloading moves nothing).

    Returns:
        ``{kind: {term: bytes}}`` with the kinds of :data:`modlayers.lessons.memory.timeline.KINDS`;
        the peak is the sum of everything.

    Raises:
        ValueError: another policy, or a config without dropout.

    Example:
        >>> terms = predicted_peak_breakdown(model.config, batch=2, seq_len=128, policy="every-layer")
        >>> sum(terms["gradients"].values())  # all but the embeddings' and layer 0's first half
        349952
    """
    if policy not in ("off", "every-layer", "checkpoint-and-offload"):
        raise ValueError(
            f"predicted_peak_breakdown knows the peak of 'off' and 'every-layer' (and 'checkpoint-and-offload', the "
            f"same on a CPU), got {policy!r}. Measure other policies with memory_timeline."
        )
    hidden, heads, layers = config.hidden_size, config.num_attention_heads, config.num_hidden_layers
    intermediate = config.intermediate_size or 4 * hidden
    if not (config.hidden_dropout > 0 and config.attention_dropout > 0):
        raise ValueError(
            f"The formula describes a step with dropout on (got hidden_dropout={config.hidden_dropout}, "
            f"attention_dropout={config.attention_dropout}); without it other tensors are alive at the peak."
        )
    a, mask, stats = _element_sizes(torch.float32, "cpu")  # activation, dropout-mask and LayerNorm-statistic sizes
    bsh = batch * seq_len * hidden * a  # one hidden-state tensor (B, T, H)
    s2 = batch * heads * seq_len * seq_len  # elements of one attention-probability tensor (B, nh, T, T)
    bias = batch * seq_len * seq_len * a  # the additive attention bias (B, 1, T, T)
    if policy == "off":
        layer = sum(tiny_transformer_layer_saved_bytes(
            batch, seq_len, hidden, heads, intermediate, hidden_dropout=config.hidden_dropout,
            attention_dropout=config.attention_dropout).values()) + 2 * SCALAR_BYTES
        kept = {
            f"saved activations of the {layers} layers": layers * layer,
            "token embeddings, embedding dropout mask and output": 2 * bsh + batch * seq_len * hidden * mask,
            "position ids and attention mask (int64)": seq_len * 8 + batch * seq_len * 8,
            "attention bias": bias,
            "last layer in flight: qkv output (kept by the returned k, v)": 3 * bsh,
            "last layer in flight: attention output, MLP output, dropout output, less the residual sum not made yet": 2 * bsh,
        }
        return {"kept from the forward pass": kept, "recompute": {}, "gradients": {}, "backward temporaries": {}}
    parameters = _layer_parameter_elements(hidden, intermediate)
    layer_0_done = parameters["out_proj"] + parameters["mlp_norm"] + parameters["mlp"]
    return {
        "kept from the forward pass": {
            "attention bias": bias,
            "layer 0's input (its checkpoint's input)": bsh,
            "embedding dropout mask": batch * seq_len * hidden * mask,
            "position ids (int64)": seq_len * 8,
            "layer 0's checkpoint's RNG state (the others are released with their layer's backward)": RNG_STATE_BYTES,
            "the loss, its seed gradient (ones) and the 1/sqrt(d) scalar": 4 + 4 + SCALAR_BYTES,
        },
        "recompute": {
            "layer 0's softmax output": s2 * a,
            "layer 0's attention dropout mask (bool)": s2,
            "layer 0's attention_norm output and k^T, v copies": 3 * bsh,
            "layer 0's attention_norm mean and 1/std": 2 * batch * seq_len * stats,
        },
        "gradients": {
            "layer 1" if layers == 2 else f"layers 1 to {layers - 1}": (layers - 1) * sum(parameters.values()) * 4,
            "final norm": 2 * hidden * 4,
            "layer 0's out_proj, mlp_norm and MLP": layer_0_done * 4,
        },
        "backward temporaries": {
            "gradient of the dropped probabilities, the dropout mask as floats, the gradient through it": 3 * s2 * a,
            "gradient of the residual stream and of v": 2 * bsh,
        },
    }
