"""Tests for modlayers/lessons/memory/compile_budget.py: the partitioner's plan, read off its graphs, is what runs.

The saved bytes read off the backward graph are checked against what the compiled step really hands
to autograd at run time (``SavedTensorCounter``'s saved-tensor hooks), once against the recording
backend and once against inductor, the backend ``torch.compile`` uses by default.
"""

import pytest
import torch
from functorch.compile import make_boxed_func
from torch._dynamo.backends.common import aot_autograd
from torch._functorch.partitioners import min_cut_rematerialization_partition

from modlayers.lessons.memory.analytic import tiny_transformer_saved_bytes
from modlayers.lessons.memory.compile_budget import budget_sweep, check_no_dropout, partition_for_budget
from modlayers.lessons.memory.measure import hidden_state_loss, tiny_model_and_batch
from modlayers.lessons.memory.recompute_flops import count_step_flops
from modlayers.lessons.memory.saved_tensors import SavedTensorCounter

B, S, H = 2, 64, 32


@pytest.fixture(scope="module")
def sweep():
    model, batch = tiny_model_and_batch(layers=2, hidden_size=H, num_heads=2, seq_len=S, batch=B, dropout=0.0)
    return model, batch, budget_sweep(model, batch, (1.0, 0.5, 0.2, 0.0))


def test_budget_one_saves_exactly_what_eager_keeps_without_checkpointing(sweep):
    model, batch, plans = sweep
    eager = count_step_flops(model, batch, "off")
    assert plans[0].saved_bytes == eager.saved_bytes == tiny_transformer_saved_bytes(model.config, B, S)
    assert plans[0].flops.recompute == 0


def test_budget_zero_keeps_only_the_token_ids_and_recomputes_the_whole_forward(sweep):
    model, batch, plans = sweep
    assert plans[-1].saved_bytes == batch["input_ids"].nbytes
    assert plans[-1].flops.recompute == plans[-1].flops.forward


def test_lower_budgets_save_less_and_recompute_more_while_forward_and_backward_stay(sweep):
    model, batch, plans = sweep
    saved = [plan.saved_bytes for plan in plans]
    recompute = [plan.flops.recompute for plan in plans]
    assert saved == sorted(saved, reverse=True) and len(set(saved)) == len(saved)
    assert recompute == sorted(recompute) and len(set(recompute)) == len(recompute)
    eager = count_step_flops(model, batch, "off")
    for plan in plans:
        assert (plan.flops.forward, plan.flops.backward) == (eager.forward, eager.backward), plan.budget


@pytest.mark.parametrize("budget", [1.0, 0.5, 0.0])
def test_the_bytes_read_off_the_graph_are_what_the_compiled_step_saves_at_run_time(budget):
    model, batch = tiny_model_and_batch(layers=2, hidden_size=H, num_heads=2, seq_len=S, batch=B, dropout=0.0)
    with SavedTensorCounter(model) as counter:
        plan = partition_for_budget(model, batch, budget)
    assert counter.saved_bytes == plan.saved_bytes


@pytest.mark.inductor
def test_inductor_saves_the_same_bytes_as_its_recorded_partition():
    """Inductor compiles C++ here: about a minute on a busy 2-core machine."""
    model, batch = tiny_model_and_batch(layers=2, hidden_size=H, num_heads=2, seq_len=S, batch=B, dropout=0.0)
    plan = partition_for_budget(model, batch, 0.5, partitioner="inductor")
    torch._dynamo.reset()
    step = torch.compile(lambda inputs: hidden_state_loss(model, inputs), backend="inductor", fullgraph=True)
    with torch._functorch.config.patch(activation_memory_budget=0.5):
        with SavedTensorCounter(model) as counter:
            loss = step(batch)
        loss.backward()
    torch._dynamo.reset()
    assert counter.saved_bytes == plan.saved_bytes


def test_inductors_partition_fuses_the_written_out_attention_so_it_keeps_no_seq_len_squared_tensor():
    model, batch = tiny_model_and_batch(layers=2, hidden_size=H, num_heads=2, seq_len=S, batch=B, dropout=0.0)
    plan = partition_for_budget(model, batch, 0.0, partitioner="inductor")
    assert {"_scaled_dot_product_flash_attention_for_cpu_default"} <= set(plan.recomputed_products)
    assert plan.flops.forward == count_step_flops(model, batch, "off").forward  # the fused kernel counted as two products
    probabilities = (B, 2, S, S)  # (batch, heads, seq_len, seq_len)
    written_out = partition_for_budget(model, batch, 1.0)
    fused = partition_for_budget(model, batch, 1.0, partitioner="inductor")
    assert any(value.shape == probabilities for value in written_out.saved)
    assert not any(value.shape == probabilities for value in fused.saved)
    with pytest.raises(ValueError, match="partitioner must be one of"):
        partition_for_budget(model, batch, 1.0, partitioner="eager")


def test_the_partitioner_redraws_dropout_below_budget_one_which_is_why_dropout_is_refused():
    """pytorch/pytorch#190758. When this fails, torch has fixed it: drop check_no_dropout's refusal."""
    model, batch = tiny_model_and_batch(layers=1, hidden_size=H, num_heads=2, seq_len=S, batch=B, dropout=0.1)

    def gradients(step_model, budget=1.0):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(3)
        with torch._functorch.config.patch(activation_memory_budget=budget):
            hidden_state_loss(step_model, batch).backward()
        return [p.grad.clone() for p in model.parameters()]

    eager = gradients(model)
    def run_as_traced(graph_module, example_inputs):
        return make_boxed_func(graph_module.forward)

    backend = aot_autograd(fw_compiler=run_as_traced, bw_compiler=run_as_traced,
                           partition_fn=min_cut_rematerialization_partition)
    for budget, same in ((1.0, True), (0.0, False)):
        torch._dynamo.reset()
        compiled = gradients(torch.compile(model, backend=backend), budget)
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(compiled, eager)) is same, budget
    torch._dynamo.reset()
    with pytest.raises(ValueError, match=r"dropout 0.1 in .*pytorch/pytorch#190758"):
        partition_for_budget(model, batch, 0.5)
    model.eval()
    check_no_dropout(model)  # no dropout in eval mode: nothing to refuse


@pytest.mark.parametrize("budget", [-0.1, 1.5, "half", True])
def test_a_budget_outside_zero_to_one_is_refused_before_compiling(budget):
    model, batch = tiny_model_and_batch(layers=1, hidden_size=H, num_heads=2, seq_len=S, batch=B, dropout=0.0)
    with pytest.raises(ValueError, match=r"budget must be a number in \[0, 1\]"):
        partition_for_budget(model, batch, budget)
