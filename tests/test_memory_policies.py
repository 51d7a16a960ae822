"""Tests for modlayers/lessons/memory/policies.py: every policy keeps less (or moves it) and leaves gradients unchanged."""

import functools

import pytest
import torch
from torch.utils.checkpoint import checkpoint

from modlayers.checkpointing import checkpointable_layers
from modlayers.lessons.memory.measure import count_saved_bytes, tiny_model_and_batch, training_step
from modlayers.lessons.memory.policies import POLICY_NAMES, get_policy, parse_policies

POLICIES = ["off", "every-layer", "every-2", "every-3", "selective", "attention-core", "offload", "checkpoint-and-offload"]


def _gradients(model, batch, policy_name, seed=0):
    policy = get_policy(policy_name)
    policy.enable(model)
    torch.manual_seed(seed)  # the same dropout masks for every policy
    training_step(model, batch, policy)
    return [p.grad.clone() for p in model.parameters()]


@pytest.fixture(scope="module")
def model_and_batch():
    return tiny_model_and_batch(layers=3, hidden_size=32, num_heads=4, seq_len=16, batch=2, dropout=0.2)


@pytest.mark.parametrize("name", POLICIES)
def test_gradients_with_every_policy_equal_the_gradients_without_it(model_and_batch, name):
    model, batch = model_and_batch
    expected = _gradients(model, batch, "off")
    got = _gradients(model, batch, name)
    for reference, gradient in zip(expected, got):
        torch.testing.assert_close(gradient, reference, rtol=1e-6, atol=1e-7)


def test_dropout_is_really_active_so_the_gradient_test_means_something(model_and_batch):
    model, batch = model_and_batch
    assert not all(torch.equal(a, b) for a, b in zip(_gradients(model, batch, "off", 0), _gradients(model, batch, "off", 1)))


def test_without_rng_state_preservation_the_recompute_draws_other_masks(model_and_batch):
    model, batch = model_and_batch
    expected = _gradients(model, batch, "off")
    get_policy("every-layer").enable(model)
    for layer in checkpointable_layers(model):  # what preserve_rng_state=True protects against
        layer._gradient_checkpointing_func = functools.partial(checkpoint, use_reentrant=False, preserve_rng_state=False)
    torch.manual_seed(0)
    training_step(model, batch, get_policy("every-layer"))
    assert not all(torch.allclose(p.grad, e) for p, e in zip(model.parameters(), expected))


def test_saved_bytes_order_off_selective_every_layer(model_and_batch):
    model, batch = model_and_batch
    names = ("off", "every-2", "selective", "attention-core", "every-layer")
    saved = {name: count_saved_bytes(model, batch, name)["cpu"] for name in names}
    assert saved["off"] > saved["every-2"] > saved["every-layer"]
    assert saved["off"] > saved["selective"] > saved["every-layer"]
    assert saved["off"] > saved["attention-core"] > saved["every-layer"]


def test_attention_core_policy_checkpoints_only_the_cores_and_off_undoes_it(model_and_batch):
    model, _ = model_and_batch
    get_policy("every-layer").enable(model)
    get_policy("attention-core").enable(model)
    assert not any(layer.gradient_checkpointing for layer in model.layers)
    assert all(layer.attention.core.gradient_checkpointing for layer in model.layers)
    get_policy("off").enable(model)
    assert not any(layer.attention.core.gradient_checkpointing for layer in model.layers)


def test_attention_core_policy_on_a_model_without_cores_says_what_to_use_instead():
    from transformers import LlamaConfig, LlamaModel

    model = LlamaModel(LlamaConfig(vocab_size=30, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                   num_attention_heads=2))
    with pytest.raises(ValueError, match="LlamaModel has none.*Use 'selective'"):
        get_policy("attention-core").enable(model)
    assert not any(layer.gradient_checkpointing for layer in checkpointable_layers(model))


def test_offload_on_cpu_saves_nothing_because_cpu_memory_is_the_same_memory(model_and_batch):
    model, batch = model_and_batch
    off = count_saved_bytes(model, batch, "off")
    offload = count_saved_bytes(model, batch, "offload")
    assert set(offload) == {"cpu"} and offload["cpu"] >= off["cpu"]


def test_every_n_checkpoints_layers_zero_n_two_n(model_and_batch):
    model, _ = model_and_batch
    get_policy("every-2").enable(model)
    assert [layer.gradient_checkpointing for layer in model.layers] == [True, False, True]
    get_policy("off").enable(model)
    assert not any(layer.gradient_checkpointing for layer in model.layers)


def test_unknown_policy_error_lists_the_valid_ones():
    with pytest.raises(ValueError) as error:
        get_policy("everything")
    for name in POLICY_NAMES:
        assert name in str(error.value)


def test_every_zero_and_repeated_or_empty_lists_are_errors():
    with pytest.raises(ValueError, match="N >= 1"):
        get_policy("every-0")
    with pytest.raises(ValueError, match="listed twice"):
        parse_policies("off,every-layer,off")
    with pytest.raises(ValueError, match="at least one policy"):
        parse_policies(" , ")
    with pytest.raises(TypeError, match="string"):
        get_policy(2)


def test_parse_policies_keeps_order():
    assert [p.name for p in parse_policies("selective, off,every-4")] == ["selective", "off", "every-4"]
