"""Tests for modlayers/lessons/memory/recompute_flops.py: FLOPs counted by torch's FlopCounterMode equal the formula, exactly."""

import functools

import pytest
import torch
from torch.utils.checkpoint import create_selective_checkpoint_contexts, set_checkpoint_early_stop
from torch.utils.flop_counter import FlopCounterMode

from modlayers.checkpointing import enable_gradient_checkpointing
from modlayers.lessons.memory import recompute_flops
from modlayers.lessons.memory.analytic import tiny_transformer_saved_bytes
from modlayers.lessons.memory.measure import count_saved_bytes, hidden_state_loss, tiny_model_and_batch
from modlayers.lessons.memory.policies import MemoryPolicy, get_policy
from modlayers.lessons.memory.recompute_flops import (
    count_step_flops,
    flop_table,
    layer_forward_flops,
    minilm_shaped_model_and_batch,
    predicted_step_flops,
    registered_policies,
)
from modlayers.lessons.tiny_transformer import TinyTransformerAttentionCore

B, S, H, LAYERS = 2, 128, 64, 2


@pytest.fixture(scope="module", params=[0.0, 0.1], ids=["no-dropout", "dropout"])
def tiny(request):
    return tiny_model_and_batch(layers=LAYERS, hidden_size=H, num_heads=4, seq_len=S, batch=B, dropout=request.param)


@pytest.mark.parametrize("policy", registered_policies(every_n=(2, 3)))
def test_counted_flops_equal_the_formula_for_every_registered_policy(tiny, policy):
    model, batch = tiny
    counted = count_step_flops(model, batch, policy)
    predicted = predicted_step_flops(model, batch, policy)
    assert (counted.forward, counted.backward, counted.recompute) == (
        predicted.forward, predicted.backward, predicted.recompute)


def test_minilm_shaped_bert_counts_equal_the_formula_for_every_policy_it_runs():
    model, batch = minilm_shaped_model_and_batch(layers=2, seq_len=32, batch=2)
    rows = flop_table(model, batch)
    assert [row["policy"] for row in rows] == [p for p in registered_policies() if p != "attention-core"]
    for row in rows:
        assert (row["forward"], row["backward"], row["recompute"]) == (
            row["predicted_forward"], row["predicted_backward"], row["predicted_recompute"]), row["policy"]
    every_layer = next(row for row in rows if row["policy"] == "every-layer")
    assert every_layer["recompute"] == every_layer["forward"]  # BERT's LayerNorm keeps the sum: all redone


def test_the_forward_count_is_korthikantis_24bsh2_plus_4bs2h_per_layer():
    model, batch = tiny_model_and_batch(layers=3, hidden_size=32, num_heads=2, seq_len=48, batch=3, dropout=0.0)
    with FlopCounterMode(display=False) as counter:
        hidden_state_loss(model, batch)
    b, s, h = 3, 48, 32
    assert counter.get_total_flops() == 3 * (24 * b * s * h * h + 4 * b * s * s * h)
    assert sum(layer_forward_flops(b, s, h, 4 * h).values()) == 24 * b * s * h * h + 4 * b * s * s * h


def test_the_backward_pass_is_twice_the_forward_and_every_layer_adds_a_third_of_a_step(tiny):
    model, batch = tiny
    off = count_step_flops(model, batch, "off")
    assert off.backward == 2 * off.forward and off.recompute == 0
    every_layer = count_step_flops(model, batch, "every-layer")
    assert every_layer.backward == off.backward  # the gradient work is unchanged, only recompute is added
    if model.config.hidden_dropout > 0:
        assert every_layer.overhead == pytest.approx(1 / 3, abs=0)  # Chen et al.: one more forward = 33%
    else:
        assert every_layer.recompute == off.forward - LAYERS * 2 * B * S * H * 4 * H  # fc2 not redone


def test_attention_core_recomputes_only_the_scores_product_because_the_checkpoint_stops_early(tiny):
    model, batch = tiny
    scores = 2 * B * S * S * H
    assert count_step_flops(model, batch, "attention-core").recompute == LAYERS * scores
    with set_checkpoint_early_stop(False):  # torch replays the whole core: q @ k^T and probs @ v
        counted = count_step_flops(model, batch, "attention-core")
    assert counted.recompute == LAYERS * 2 * scores
    assert predicted_step_flops(model, batch, "attention-core", early_stop=False).recompute == counted.recompute


def test_the_formula_reads_use_reentrant_off_the_layers_and_counts_the_whole_function_again():
    model, batch = tiny_model_and_batch(layers=2, hidden_size=32, num_heads=2, seq_len=32, batch=2, dropout=0.0)
    policy = MemoryPolicy("reentrant-core", "re-entrant attention cores", lambda m: enable_gradient_checkpointing(
        m, use_reentrant=True, layer_type=TinyTransformerAttentionCore))
    counted, predicted = count_step_flops(model, batch, policy), predicted_step_flops(model, batch, policy)
    assert counted.recompute == predicted.recompute == 2 * 2 * (2 * 2 * 32 * 32 * 32)


def test_the_saved_bytes_of_a_counted_step_are_the_memory_labs(tiny):
    model, batch = tiny
    for policy in ("off", "every-layer"):
        assert count_step_flops(model, batch, policy).saved_bytes == count_saved_bytes(model, batch, policy)["cpu"]
    assert count_step_flops(model, batch, "off").saved_bytes == tiny_transformer_saved_bytes(model.config, B, S)


def test_a_policy_added_to_the_registry_appears_in_the_table_without_a_change(monkeypatch):
    def checkpoint_and_offload(name):
        if name == "checkpoint-offload":
            return MemoryPolicy(name, "checkpoint every layer, inputs in CPU memory", get_policy("every-layer").enable,
                                lambda: torch.autograd.graph.save_on_cpu())
        return get_policy(name)

    monkeypatch.setattr(recompute_flops, "POLICY_NAMES", ("off", "checkpoint-offload"))
    monkeypatch.setattr(recompute_flops, "get_policy", checkpoint_and_offload)
    model, batch = tiny_model_and_batch(layers=2, hidden_size=32, num_heads=2, seq_len=32, batch=2)
    rows = flop_table(model, batch)
    assert [row["policy"] for row in rows] == ["off", "checkpoint-offload"]
    assert rows[1]["recompute"] == rows[1]["predicted_recompute"] == rows[1]["forward"]


def test_a_selective_rule_the_formula_does_not_know_is_refused_by_name():
    model, batch = tiny_model_and_batch(layers=1, hidden_size=32, num_heads=2, seq_len=16, batch=1)
    keep_nothing = functools.partial(create_selective_checkpoint_contexts, [])
    policy = MemoryPolicy("mine", "", lambda m: enable_gradient_checkpointing(m, context_fn=keep_nothing))
    with pytest.raises(ValueError, match="No FLOP formula for the selective checkpoint context_fn"):
        predicted_step_flops(model, batch, policy)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_layer_forward_flops_refuses_a_size_that_is_not_a_positive_integer(bad):
    with pytest.raises(ValueError, match="seq_len must be a positive integer, got"):
        layer_forward_flops(2, bad, 64, 256)


def test_the_docstring_examples_run_as_written():
    import doctest

    result = doctest.testmod(recompute_flops, extraglobs={"torch": torch, "tiny_model_and_batch": tiny_model_and_batch},
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_a_torch_without_the_per_operation_hook_is_refused_instead_of_counting_no_recompute(monkeypatch):
    monkeypatch.delattr(FlopCounterMode, "_count_flops")
    with pytest.raises(RuntimeError, match="FlopCounterMode has no _count_flops"):
        recompute_flops._RecomputeSplittingCounter()
