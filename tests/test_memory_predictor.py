"""modlayers.lessons.memory.predictor and model_configs: the published anchors (ZeRO paper, Korthikanti eq. 1, the models'
parameter counts) and the rules of precision, optimizer, sharding and checkpointing."""

import doctest
import json

import pytest
import torch

import modlayers.lessons.memory.autocast_activations
import modlayers.lessons.memory.model_configs
import modlayers.lessons.memory.predictor
from modlayers.lessons.memory.model_configs import MODEL_NAMES, get_config, parameter_counts
from modlayers.lessons.memory.predictor import (
    SHARDINGS,
    checkpointed_layers,
    korthikanti_layer_bytes,
    predict_memory,
    state_bytes,
)

GB = 1e9  # the ZeRO paper's gigabytes


def test_zero_paper_figure_1_per_device_memory_of_7_5b_parameters_on_64_devices():
    """Rajbhandari et al. 2020, Figure 1: Psi = 7.5B, N_d = 64, K = 12 (mixed precision Adam)."""
    psi = 7.5e9
    per_device = {s: sum(state_bytes(psi, "bf16-mixed", "adamw", s, 64).values()) / GB
                  for s in ("ddp", "zero1", "zero2", "zero3")}
    assert {s: round(v, 1) for s, v in per_device.items()} == {"ddp": 120.0, "zero1": 31.4, "zero2": 16.6, "zero3": 1.9}
    # and the formulas behind them, exactly: 2P + 2P + 12P/N, 2P + 14P/N, 16P/N
    assert per_device["zero1"] * GB == pytest.approx(4 * psi + 12 * psi / 64)
    assert per_device["zero2"] * GB == pytest.approx(2 * psi + 14 * psi / 64)
    assert per_device["zero3"] * GB == pytest.approx(16 * psi / 64)


@pytest.mark.parametrize("s, b, h, a", [(2048, 1, 12288, 96), (4096, 2, 4096, 32), (512, 8, 768, 12)])
def test_korthikanti_equation_1_in_16_bits_and_its_fp32_counterpart(s, b, h, a):
    assert korthikanti_layer_bytes(s, b, h, a) == pytest.approx(s * b * h * (34 + 5 * a * s / h))
    # fp32: the 2-byte tensors double (32 sbh + 4 as²b of them), the 1-byte masks (2 sbh + as²b) do not
    assert korthikanti_layer_bytes(s, b, h, a, 4) == s * b * h * 66 + a * s * s * b * 9


def test_korthikanti_equation_1_is_the_kits_counted_gpt_layer_on_cuda_without_layernorm_statistics():
    """The kit's tensor-by-tensor formula (checked against saved-tensor hooks in test_memory_analytic.py) for a
    GPT layer in bf16 on CUDA (1-byte dropout masks, MLP 4h) sums to eq. 1 plus the LayerNorm statistics, which
    the paper leaves out."""
    from modlayers.lessons.memory.analytic import tiny_transformer_layer_saved_bytes

    s, b, h, a = 512, 2, 256, 4
    counted = tiny_transformer_layer_saved_bytes(b, s, h, a, dtype=torch.bfloat16, device_type="cuda")
    layer_norm_statistics = 2 * (2 * b * s * 4)  # mean and 1/std per position, float32, two LayerNorms
    assert sum(counted.values()) - layer_norm_statistics == korthikanti_layer_bytes(s, b, h, a)


def test_checkpointing_keeps_the_layer_inputs_as_korthikanti_counts_full_and_selective_recomputation():
    config = get_config("llama-3-8b")
    s, b, h, a, layers = 4096, 1, 4096, 32, 32
    off = predict_memory(config, batch=b, seq_len=s)
    full = predict_memory(config, batch=b, seq_len=s, checkpointing="every-layer")
    selective = predict_memory(config, batch=b, seq_len=s, checkpointing="attention-core")
    every_4 = predict_memory(config, batch=b, seq_len=s, checkpointing="every-4")
    assert off.activations == layers * s * b * h * (34 + 5 * a * s / h)
    assert full.activations == layers * 2 * s * b * h  # paper section 4.1: 2sbhL
    assert selective.activations == layers * 34 * s * b * h  # paper eq. 2 without tensor parallelism
    assert every_4.activations == 24 * korthikanti_layer_bytes(s, b, h, a) + 8 * 2 * s * b * h
    flash = predict_memory(config, batch=b, seq_len=s, flash_attention=True)
    assert flash.activations == selective.activations  # a fused kernel stores no s x s scores either
    assert checkpointed_layers("every-3", 32) == 11 and checkpointed_layers("off", 32) == 0


# Published parameter counts (each model card / the safetensors index's total_size / bytes per parameter).
PUBLISHED = {"llama-3-8b": 8_030_261_248, "llama-3-70b": 70_553_706_496, "qwen2-0.5b": 494_032_768,
             "bert-base": 109_482_240, "minilm": 22_713_216}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_named_configs_have_the_published_parameter_counts(name):
    assert parameter_counts(name).total == PUBLISHED[name]


def test_minilm_config_matches_the_kits_packaged_checkpoint():
    from modlayers.lessons.pretrained import pretrained_model_dir

    try:
        path = pretrained_model_dir() / "config.json"
    except ModuleNotFoundError as error:
        pytest.skip(str(error).splitlines()[0])
    shipped = json.loads(path.read_text())
    ours = get_config("minilm").to_dict()
    for field in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                  "max_position_embeddings", "type_vocab_size"):
        assert ours[field] == shipped[field], field


def test_llama_3_8b_state_per_gpu_by_sharding_in_bf16_mixed_precision():
    p = PUBLISHED["llama-3-8b"]
    per_gpu = {s: predict_memory("llama-3-8b", sharding=s, world_size=8 if s != "none" else 1) for s in SHARDINGS}
    assert per_gpu["none"].state == per_gpu["ddp"].state == 16 * p
    assert per_gpu["zero1"].optimizer_state == 12 * p / 8 and per_gpu["zero1"].weights == 2 * p
    assert per_gpu["zero2"].gradients == 2 * p / 8
    assert per_gpu["zero3"].state == pytest.approx(16 * p / 8)
    # FSDP2 keeps float32 shards and no separate master copy: the same 16P / W, split differently
    assert per_gpu["fsdp2"].state == pytest.approx(16 * p / 8) and per_gpu["fsdp2"].weights == 4 * p / 8
    assert per_gpu["fsdp2"].details["buffers"]["gathered layers (this one and the next)"] > 0


def test_precision_and_optimizer_set_the_bytes_per_parameter():
    assert state_bytes(10, "fp32", "adamw") == {"weights": 40, "gradients": 40, "optimizer_state": 80}
    assert state_bytes(10, "fp32", "sgd")["optimizer_state"] == 0
    assert state_bytes(10, "bf16-mixed", "sgd") == {"weights": 20, "gradients": 20, "optimizer_state": 40}
    autocast = predict_memory("minilm", precision="bf16-autocast", seq_len=128)
    assert autocast.state == 16 * PUBLISHED["minilm"]
    assert autocast.details["buffers"]["16-bit weight copies (autocast)"] == 2 * parameter_counts("minilm").matmul_weights


@pytest.mark.parametrize("kwargs, fragment", [
    ({"precision": "fp16"}, "precision 'fp16'"),
    ({"sharding": "zero4", "world_size": 8}, "sharding 'zero4'"),
    ({"sharding": "none", "world_size": 8}, "use 'ddp'"),
    ({"batch": 0}, "batch must be a positive integer"),
    ({"checkpointing": "every-0"}, "every-N (N >= 1)"),
    ({"activation_formula": "counted"}, "activation_formula='korthikanti'"),
])
def test_bad_settings_are_refused_with_what_to_do(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        predict_memory("qwen2-0.5b", **kwargs)
    with pytest.raises(ValueError, match="choose one of llama-3-8b"):
        get_config("gpt-5")
    with pytest.raises(TypeError, match="PretrainedConfig"):
        parameter_counts(42)


@pytest.mark.parametrize("module", [modlayers.lessons.memory.predictor, modlayers.lessons.memory.model_configs,
                                    modlayers.lessons.memory.autocast_activations], ids=lambda m: m.__name__)
def test_docstring_examples_run_as_written(module):
    result = doctest.testmod(module, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_buffers_are_the_gathered_layers_the_weight_copies_and_one_recompute():
    """A Llama-3-8B decoder layer holds 218,112,000 parameters (4 attention and 3 MLP matrices, 2 norms)."""
    h, i, kv = 4096, 14336, 1024
    layer = 2 * h * h + 2 * h * kv + 3 * h * i + 2 * h
    assert parameter_counts("llama-3-8b").largest_layer == layer == 218_112_000
    zero3 = predict_memory("llama-3-8b", sharding="zero3", world_size=8, seq_len=4096, checkpointing="every-layer")
    assert zero3.details["buffers"] == {
        "gathered layers (this one and the next)": 2 * layer * 2 * 7 / 8,  # bf16, less the rank's own 1/8
        "one layer recomputed in backward": korthikanti_layer_bytes(4096, 1, h, 32),
    }
    assert predict_memory("llama-3-8b", sharding="ddp", world_size=8).buffers == 0  # no checkpointing, no gathering
    selective = predict_memory("llama-3-8b", seq_len=4096, checkpointing="attention-core").details["buffers"]
    assert selective == {"one attention core recomputed in backward": 32 * 4096**2 * 5}
