"""Tests for modlayers/lessons/memory/allocator.py: the lab's counts against glibc's malloc count of the same step.

The allocator sees every byte a step keeps alive, whoever keeps it; the count must account for all of
them but the autograd graph's own records (a few tens of KiB per layer, measured 30 to 41 KiB per layer
here). A tensor kept and not counted shows up as a gap the size of that tensor: the attention bias a
checkpointed layer keeps by keyword is 512 KiB in the model below.
"""

import pytest
import torch

from modlayers.checkpointing import GradientCheckpointingLayer, enable_gradient_checkpointing
from modlayers.lessons.memory.allocator import malloc_held_bytes, malloc_in_use_bytes
from modlayers.lessons.memory.analytic import attention_bias_bytes, tiny_transformer_saved_bytes
from modlayers.lessons.memory.measure import count_saved_bytes, tiny_model_and_batch
from modlayers.lessons.memory.saved_tensors import SavedTensorCounter

pytestmark = pytest.mark.skipif(malloc_in_use_bytes() is None, reason="needs glibc's mallinfo2 (glibc >= 2.33)")

KIB = 2**10
LAYERS, SEQ_LEN, BATCH = 2, 256, 2
GRAPH_BYTES_PER_LAYER = 64 * KIB  # the bound on what the allocator holds beyond the count: the graph's records


def _graph_bound(layers: int) -> int:
    return (layers + 1) * GRAPH_BYTES_PER_LAYER  # one layer's worth more for the embeddings, final norm and loss


@pytest.fixture(scope="module")
def model_and_batch():
    return tiny_model_and_batch(layers=LAYERS, hidden_size=32, num_heads=2, seq_len=SEQ_LEN, batch=BATCH, dropout=0.1)


def test_malloc_in_use_bytes_sees_a_new_tensor():
    before = malloc_in_use_bytes()
    x = torch.ones(2**20)  # 4 MiB
    assert 4 * 2**20 <= malloc_in_use_bytes() - before < 4 * 2**20 + 64 * KIB
    del x


@pytest.mark.parametrize("policy", ["off", "every-layer", "every-2", "selective", "attention-core"])
def test_counted_bytes_account_for_what_the_allocator_holds(model_and_batch, policy):
    model, batch = model_and_batch
    counted = count_saved_bytes(model, batch, policy)["cpu"]
    held = malloc_held_bytes(model, batch, policy)
    assert 0 <= held - counted <= _graph_bound(LAYERS), (
        f"{policy}: malloc holds {held} bytes between forward and backward, the count says {counted}"
    )


@pytest.mark.parametrize("policy,checkpointed", [("every-layer", LAYERS), ("every-2", 1)])
def test_checkpointed_layers_keep_the_attention_bias_they_get_by_keyword_and_the_formula_says_so(
    model_and_batch, policy, checkpointed
):
    model, batch = model_and_batch
    counted = count_saved_bytes(model, batch, policy)["cpu"]
    held = malloc_held_bytes(model, batch, policy)
    predicted = tiny_transformer_saved_bytes(model.config, BATCH, SEQ_LEN, checkpointed_layers=checkpointed)
    without_bias = predicted - attention_bias_bytes(BATCH, SEQ_LEN)
    assert counted == predicted
    assert held - without_bias > attention_bias_bytes(BATCH, SEQ_LEN)  # the bias is really held


def test_keyword_tensors_inside_containers_are_counted_with_use_reentrant_true_and_false():
    class Layer(GradientCheckpointingLayer):
        def forward(self, x, extras=None):
            return x * extras["scale"][0] + extras["scale"][1]  # (B, T, H)

    for use_reentrant in (False, True):
        layer = Layer().train()
        enable_gradient_checkpointing(layer, use_reentrant=use_reentrant)
        x = torch.randn(4, 8, 16, requires_grad=True)
        scale, shift = torch.randn(4, 8, 16), torch.randn(4, 8, 16)
        with SavedTensorCounter(layer) as counter:
            layer(x, extras={"scale": (scale, shift)})
        assert counter.saved_bytes == 3 * x.nelement() * x.element_size()


def test_a_transformers_layer_checkpointed_by_the_kit_has_its_keyword_tensors_counted():
    from transformers import LlamaConfig, LlamaModel

    config = LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=SEQ_LEN)
    model = LlamaModel(config).train()
    ids = torch.randint(0, 100, (BATCH, SEQ_LEN))
    mask = torch.ones(BATCH, SEQ_LEN, dtype=torch.long)
    mask[0, SEQ_LEN // 2:] = 0  # padding: the layers get a (B, 1, T, T) mask by keyword, 512 KiB
    enable_gradient_checkpointing(model)
    batch = {"input_ids": ids, "attention_mask": mask}
    loss = lambda model, batch: model(**batch).last_hidden_state.pow(2).mean()  # noqa: E731
    counted = count_saved_bytes(model, batch, "every-layer", loss)["cpu"]
    held = malloc_held_bytes(model, batch, "every-layer", loss)
    assert 0 <= held - counted <= _graph_bound(2)
