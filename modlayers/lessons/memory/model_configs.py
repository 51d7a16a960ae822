"""Real models as transformers configs, built from their published hyperparameters (nothing is downloaded).

Each entry copies the fields of the model's ``config.json`` on the Hugging Face Hub that decide its size; the
source is named beside it. :func:`parameter_counts` builds the model on PyTorch's ``meta`` device (shapes, no
storage), so a 70-billion-parameter model is counted exactly in a second, with transformers' own classes.

=================  ==============================================================  ======================
name               source (``config.json``)                                        parameters
=================  ==============================================================  ======================
``llama-3-8b``     https://huggingface.co/meta-llama/Meta-Llama-3-8B               8,030,261,248
``llama-3-70b``    https://huggingface.co/meta-llama/Meta-Llama-3-70B              70,553,706,496
``qwen2-0.5b``     https://huggingface.co/Qwen/Qwen2-0.5B                          494,032,768
``bert-base``      https://huggingface.co/google-bert/bert-base-uncased            109,482,240
``minilm``         https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2   22,713,216
=================  ==============================================================  ======================

The decoders are counted with their language-model head (``AutoModelForCausalLM``: Qwen2-0.5B ties it to the
embeddings, the Llamas do not); the encoders as the base ``BertModel`` with its pooler, as the checkpoints ship.
"""

from __future__ import annotations

import dataclasses
import functools

import torch
from torch import nn
from transformers import BertConfig, LlamaConfig, PretrainedConfig, Qwen2Config


@dataclasses.dataclass(frozen=True)
class NamedModel:
    """A published model: its config and where the numbers come from."""

    name: str
    source: str
    config: PretrainedConfig


def _llama3(hidden, intermediate, layers, heads) -> LlamaConfig:
    return LlamaConfig(vocab_size=128256, hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=8, max_position_embeddings=8192,
                       rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=False)


def named_models() -> dict[str, NamedModel]:
    """The five models of the module docstring, by name (fresh configs on every call)."""
    hub = "https://huggingface.co/{}/blob/main/config.json"
    return {
        "llama-3-8b": NamedModel("llama-3-8b", hub.format("meta-llama/Meta-Llama-3-8B"), _llama3(4096, 14336, 32, 32)),
        "llama-3-70b": NamedModel("llama-3-70b", hub.format("meta-llama/Meta-Llama-3-70B"), _llama3(8192, 28672, 80, 64)),
        "qwen2-0.5b": NamedModel("qwen2-0.5b", hub.format("Qwen/Qwen2-0.5B"), Qwen2Config(
            vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
            num_key_value_heads=2, max_position_embeddings=131072, tie_word_embeddings=True, rope_theta=1000000.0)),
        "bert-base": NamedModel("bert-base", hub.format("google-bert/bert-base-uncased"), BertConfig(
            vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
            max_position_embeddings=512, type_vocab_size=2)),
        "minilm": NamedModel("minilm", hub.format("sentence-transformers/all-MiniLM-L6-v2"), BertConfig(
            vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536,
            max_position_embeddings=512, type_vocab_size=2)),
    }


MODEL_NAMES = tuple(named_models())


def get_config(name: str) -> PretrainedConfig:
    """The config of a named model.

    Raises:
        ValueError: an unknown name (the message lists the known ones).

    Example:
        >>> get_config("llama-3-8b").num_key_value_heads
        8
    """
    models = named_models()
    if name not in models:
        raise ValueError(f"Unknown model {name!r}; choose one of {', '.join(models)} or pass a transformers config.")
    return models[name].config


def build_on_meta(config: PretrainedConfig) -> nn.Module:
    """The model of ``config`` on the ``meta`` device: every parameter has its shape and dtype, none has storage."""
    from transformers import AutoModel, AutoModelForCausalLM

    with torch.device("meta"):
        if config.model_type in ("bert", "tiny-transformer"):
            return AutoModel.from_config(config)
        return AutoModelForCausalLM.from_config(config)


@dataclasses.dataclass(frozen=True)
class ParameterCounts:
    """Parameter counts of a model, split the way memory needs them.

    Attributes:
        total: every parameter (tied ones once).
        matmul_weights: the weights of its ``nn.Linear`` layers: what autocast copies to 16 bits (embeddings and
            norms it leaves in float32).
        largest_layer: the parameters of its largest repeated layer: what ZeRO-3 / FSDP2 gather at once.
        layers: the number of repeated layers.
    """

    total: int
    matmul_weights: int
    largest_layer: int
    layers: int


def _repeated_layers(model: nn.Module) -> list[nn.Module]:
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList)]
    return list(max(lists, key=len)) if lists else []


def _count(config: PretrainedConfig) -> ParameterCounts:
    model = build_on_meta(config)
    unique = {id(p): p for p in model.parameters()}  # tied embeddings once
    linear = {id(m.weight): m.weight for m in model.modules() if isinstance(m, nn.Linear)}
    layers = _repeated_layers(model)
    largest = max((sum(p.numel() for p in layer.parameters()) for layer in layers), default=0)
    return ParameterCounts(sum(p.numel() for p in unique.values()), sum(w.numel() for w in linear.values()),
                           largest, len(layers))


@functools.lru_cache(maxsize=32)
def _count_cached(key: str) -> ParameterCounts:
    return _count(_CONFIGS_BY_KEY[key])


_CONFIGS_BY_KEY: dict[str, PretrainedConfig] = {}


def parameter_counts(config: PretrainedConfig | str) -> ParameterCounts:
    """Count the parameters of a config (or a named model) exactly, on the ``meta`` device; cached.

    Example:
        >>> parameter_counts("minilm").total
        22713216
    """
    if isinstance(config, str):
        config = get_config(config)
    if not isinstance(config, PretrainedConfig):
        raise TypeError(f"config must be a transformers PretrainedConfig or a model name, got {type(config).__name__}.")
    key = config.to_json_string(use_diff=False)
    _CONFIGS_BY_KEY[key] = config
    return _count_cached(key)
