"""The kit's own small transformer: a base model built from ``GradientCheckpointingLayer`` s.

A pre-norm transformer with learned positions and plain (written-out) attention,
small enough to read in one sitting and to train on a laptop CPU. Its layers are
the kit's :class:`~modlayers.checkpointing.GradientCheckpointingLayer`, so
``model.gradient_checkpointing_enable()`` and
:func:`~modlayers.checkpointing.enable_gradient_checkpointing` both reach them.
It is registered with ``AutoConfig``/``AutoModel`` as ``"tiny-transformer"``, so the
generic heads can wrap it::

    class TinyClassifier(GenericForSequenceClassification, TinyTransformerPreTrainedModel):
        pass

and ``AutoModelForSequenceClassification``, ``AutoModelForQuestionAnswering`` and
``AutoModelForTokenClassification`` build the kit's three heads on it
(``TinyTransformerFor<Task>``) from a ``tiny-transformer`` config or checkpoint.

``is_causal=True`` (default) makes it a decoder (each token sees the ones before it);
``False`` makes it an encoder.

Each layer's attention core (scores, softmax, dropout, weighted sum: no weights) is a
checkpointable layer of its own, :class:`TinyTransformerAttentionCore`, so a selective
policy can recompute just that part (the memory lab's ``attention-core`` policy).
Checkpointing the whole layer recomputes the core with it, once.
"""

import math

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.modeling_outputs import BaseModelOutputWithPast

from modlayers.base_model import output_cache_field
from modlayers.checkpointing import GradientCheckpointingLayer, set_gradient_checkpointing
from modlayers.heads import GenericForQuestionAnswering, GenericForSequenceClassification, GenericForTokenClassification


class TinyTransformerConfig(PretrainedConfig):
    """Configuration of :class:`TinyTransformerModel`.

    Args:
        vocab_size: number of token ids.
        hidden_size: width of the residual stream.
        num_hidden_layers: number of :class:`TinyTransformerLayer` s.
        num_attention_heads: must divide ``hidden_size``.
        intermediate_size: width of the MLP (default ``4 * hidden_size``).
        max_position_embeddings: longest sequence (learned positions).
        hidden_dropout: dropout on the embeddings and on each residual branch (``nn.Dropout``).
        attention_dropout: dropout on the attention probabilities (a ``bool`` mask drawn
            by :meth:`TinyTransformerAttentionCore.dropout_mask`).
        is_causal: decoder (``True``) or encoder (``False``) attention.
        layer_norm_eps, initializer_range: as in transformers' configs.
    """

    model_type = "tiny-transformer"

    def __init__(
        self,
        vocab_size: int = 1000,
        hidden_size: int = 64,
        num_hidden_layers: int = 2,
        num_attention_heads: int = 4,
        intermediate_size: int | None = None,
        max_position_embeddings: int = 512,
        hidden_dropout: float = 0.1,
        attention_dropout: float = 0.1,
        is_causal: bool = True,
        layer_norm_eps: float = 1e-5,
        initializer_range: float = 0.02,
        use_cache: bool = False,
        pad_token_id: int | None = 0,
        **kwargs,
    ):
        if hidden_size % num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({hidden_size}) must be divisible by num_attention_heads ({num_attention_heads})."
            )
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size or 4 * hidden_size
        self.max_position_embeddings = max_position_embeddings
        self.hidden_dropout = hidden_dropout
        self.attention_dropout = attention_dropout
        self.is_causal = is_causal
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self.use_cache = use_cache
        super().__init__(pad_token_id=pad_token_id, **kwargs)


class TinyTransformerAttentionCore(GradientCheckpointingLayer):
    """The weight-free middle of attention: ``dropout(softmax(q k^T / sqrt(d) + bias)) v``.

    Most of what it saves grows with the *square* of the sequence length (the
    softmax output, the dropped probabilities), and none of it has weights, so it is
    the cheapest part of a layer to recompute for the memory it holds. Checkpointed on its own, it keeps only its
    inputs: ``q``, ``k``, ``v`` (views of one ``qkv`` output), the bias and the dropout
    mask.

    The dropout mask is an *input*, drawn by :meth:`dropout_mask` before the core runs:
    random numbers are the most expensive part of the core on a CPU (more than both
    matrix multiplications and the softmax together), so a checkpointed core keeps
    the mask, one byte per element (as CUDA's fused dropout does), and recomputes only
    the arithmetic.
    """

    def __init__(self, config: TinyTransformerConfig):
        super().__init__()
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.dropout_p = config.attention_dropout

    def dropout_mask(self, batch: int, num_heads: int, query_len: int, key_len: int, device) -> torch.Tensor | None:
        """``(B, nh, T, S)`` bool, ``True`` (kept) with probability ``1 - p``; ``None`` in eval or when ``p == 0``."""
        if not self.training or self.dropout_p == 0:
            return None
        return torch.rand(batch, num_heads, query_len, key_len, device=device) >= self.dropout_p

    def forward(self, q, k, v, attention_bias, keep=None):
        """``q (B, nh, T, hd)``, ``k, v (B, nh, S, hd)``, bias ``(B, 1, T, S)``, ``keep`` ``(B, nh, T, S)`` bool or
        ``None`` -> context ``(B, nh, T, hd)``."""
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, nh, T, S)
        probs = torch.softmax(scores + attention_bias, dim=-1)  # (B, nh, T, S)
        if keep is not None:  # dropout: zero the dropped probabilities, scale the kept ones by 1 / (1 - p)
            probs = probs * keep / (1 - self.dropout_p)
        return probs @ v  # (B, nh, T, hd)


class TinyTransformerAttention(nn.Module):
    """Multi-head self-attention, written out: project to q, k, v; the core; project back."""

    def __init__(self, config: TinyTransformerConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.core = TinyTransformerAttentionCore(config)
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states, attention_bias, layer_past=None):
        batch, seq_len, hidden = hidden_states.shape
        q, k, v = self.qkv(hidden_states).split(hidden, dim=-1)  # 3 x (B, T, H)
        q, k, v = (t.view(batch, seq_len, self.num_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hd)
        if layer_past is not None:  # prepend the cached keys and values of earlier positions
            k = torch.cat([layer_past[0], k], dim=2)  # (B, nh, S, hd), S = past + T
            v = torch.cat([layer_past[1], v], dim=2)
        keep = self.core.dropout_mask(batch, self.num_heads, seq_len, k.shape[2], hidden_states.device)  # (B, nh, T, S)
        # All positional: a checkpointed core keeps them as its inputs (and the counter sees them).
        context = self.core(q, k, v, attention_bias, keep)  # (B, nh, T, hd)
        context = context.transpose(1, 2).reshape(batch, seq_len, hidden)  # (B, T, H)
        return self.out_proj(context), (k, v)


class TinyTransformerLayer(GradientCheckpointingLayer):
    """One pre-norm block: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: TinyTransformerConfig):
        super().__init__()
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = TinyTransformerAttention(config)
        self.mlp_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = nn.Sequential(
            nn.Linear(config.hidden_size, config.intermediate_size),
            nn.GELU(),
            nn.Linear(config.intermediate_size, config.hidden_size),
        )
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, hidden_states, attention_bias=None, layer_past=None, use_cache=False):
        """``(B, T, H) -> (B, T, H)``; returns ``(hidden_states,)`` or ``(hidden_states, (k, v))`` with ``use_cache``."""
        attention_output, present = self.attention(self.attention_norm(hidden_states), attention_bias, layer_past)
        hidden_states = hidden_states + self.dropout(attention_output)
        hidden_states = hidden_states + self.dropout(self.mlp(self.mlp_norm(hidden_states)))
        return (hidden_states, present) if use_cache else (hidden_states,)


class TinyTransformerPreTrainedModel(PreTrainedModel):
    """Shared set-up: config class, weight initialisation, checkpointing support."""

    config_class = TinyTransformerConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["TinyTransformerLayer"]
    # transformers' own version counts only its own layers, so every_n_layers would be ignored on the kit's.
    _set_gradient_checkpointing = set_gradient_checkpointing

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.normal_(mean=0.0, std=self.config.initializer_range)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.zero_()
        if isinstance(module, nn.LayerNorm):
            module.weight.fill_(1.0)
            module.bias.zero_()


def attention_bias(attention_mask, query_len: int, past_len: int, is_causal: bool, dtype) -> torch.Tensor:
    """Additive bias ``(B, 1, T, S)``: 0 where a query may look, the dtype's minimum where not.

    ``attention_mask`` is ``(B, S)`` with 1 for tokens and 0 for padding, ``S = past_len + T``.
    """
    key_len = past_len + query_len
    allowed = attention_mask[:, None, None, :].bool()  # (B, 1, 1, S)
    if is_causal:
        query_positions = torch.arange(past_len, key_len, device=attention_mask.device)[:, None]  # (T, 1)
        key_positions = torch.arange(key_len, device=attention_mask.device)[None, :]  # (1, S)
        allowed = allowed & (key_positions <= query_positions)  # (B, 1, T, S)
    bias = torch.zeros(allowed.shape, dtype=dtype, device=attention_mask.device)
    return bias.masked_fill(~allowed, torch.finfo(dtype).min)


class TinyTransformerModel(TinyTransformerPreTrainedModel):
    """Token and position embeddings, ``num_hidden_layers`` blocks, a final LayerNorm.

    ``forward`` returns ``BaseModelOutputWithPast`` with ``last_hidden_state``
    ``(B, T, H)``; with ``use_cache=True`` also the per-layer ``(key, value)`` cache, in
    the field the installed transformers names (``cache`` or ``past_key_values``).
    """

    def __init__(self, config: TinyTransformerConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.embed_positions = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList(TinyTransformerLayer(config) for _ in range(config.num_hidden_layers))
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        position_ids=None,
        past_key_values=None,
        inputs_embeds=None,
        use_cache=None,
        output_hidden_states=None,
        return_dict=None,
    ):
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds.")
        if output_hidden_states is None:  # as transformers' models: the config gives the default
            output_hidden_states = self.config.output_hidden_states
        if return_dict is None:
            return_dict = getattr(self.config, "return_dict", True)
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)  # (B, T, H)
        batch, seq_len, _ = inputs_embeds.shape
        use_cache = self.config.use_cache if use_cache is None else use_cache
        past_len = 0 if past_key_values is None else past_key_values[0][0].shape[2]
        if position_ids is None:
            position_ids = torch.arange(past_len, past_len + seq_len, device=inputs_embeds.device)[None, :]  # (1, T)
        if attention_mask is None:
            attention_mask = torch.ones(batch, past_len + seq_len, dtype=torch.long, device=inputs_embeds.device)
        bias = attention_bias(attention_mask, seq_len, past_len, self.config.is_causal, inputs_embeds.dtype)

        hidden_states = self.dropout(inputs_embeds + self.embed_positions(position_ids))  # (B, T, H)
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        presents = [] if use_cache else None
        for index, layer in enumerate(self.layers):
            layer_past = None if past_key_values is None else past_key_values[index]
            # hidden_states positionally: with use_reentrant=True only positional inputs get gradients.
            outputs = layer(hidden_states, attention_bias=bias, layer_past=layer_past, use_cache=use_cache)
            hidden_states = outputs[0]
            if use_cache and len(outputs) > 1:
                presents.append(outputs[1])
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
        hidden_states = self.norm(hidden_states)
        if output_hidden_states:
            all_hidden_states = all_hidden_states[:-1] + (hidden_states,)

        output = BaseModelOutputWithPast(
            last_hidden_state=hidden_states,
            hidden_states=all_hidden_states,
            **{output_cache_field(): tuple(presents) if presents else None},
        )
        return output if return_dict else output.to_tuple()


class TinyTransformerForSequenceClassification(GenericForSequenceClassification, TinyTransformerPreTrainedModel):
    """The kit's sequence head on the tiny transformer (what ``AutoModelForSequenceClassification`` builds)."""


class TinyTransformerForQuestionAnswering(GenericForQuestionAnswering, TinyTransformerPreTrainedModel):
    """The kit's QA head on the tiny transformer (what ``AutoModelForQuestionAnswering`` builds)."""


class TinyTransformerForTokenClassification(GenericForTokenClassification, TinyTransformerPreTrainedModel):
    """The kit's token head on the tiny transformer (what ``AutoModelForTokenClassification`` builds)."""


AutoConfig.register(TinyTransformerConfig.model_type, TinyTransformerConfig, exist_ok=True)
AutoModel.register(TinyTransformerConfig, TinyTransformerModel, exist_ok=True)
AutoModelForSequenceClassification.register(TinyTransformerConfig, TinyTransformerForSequenceClassification, exist_ok=True)
AutoModelForQuestionAnswering.register(TinyTransformerConfig, TinyTransformerForQuestionAnswering, exist_ok=True)
AutoModelForTokenClassification.register(TinyTransformerConfig, TinyTransformerForTokenClassification, exist_ok=True)
