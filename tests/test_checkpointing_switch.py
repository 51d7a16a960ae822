"""``enable_gradient_checkpointing`` against transformers' own switch, on the same weights.

The kit's switch must leave a model as transformers' ``activation_checkpointing_enable`` (or, before 5.25,
``gradient_checkpointing_enable``) does: the base model's flag on, so ``use_cache=True`` in training gives
no cache and transformers' warning; the input embeddings hooked, so a re-entrant checkpoint with frozen
embeddings (LoRA) still gives every layer its gradient; and every flag set anew at each call.
"""

import copy
import logging
import pickle
import warnings

import pytest
import torch
from transformers import LlamaConfig, LlamaPreTrainedModel

from modlayers import (
    GenericForSequenceClassification,
    TinyTransformerConfig,
    TinyTransformerForSequenceClassification,
    disable_gradient_checkpointing,
    enable_gradient_checkpointing,
)
from modlayers.lessons.tiny_transformer import TinyTransformerAttentionCore, TinyTransformerLayer

IDS = torch.tensor([[5, 6, 7, 0], [8, 9, 10, 11]])
MASK = (IDS != 0).long()
LABELS = torch.tensor([2, 0])
NEWEST = hasattr(LlamaPreTrainedModel, "activation_checkpointing_enable")


class LlamaClassifier(GenericForSequenceClassification, LlamaPreTrainedModel):
    pass


def llama_classifier():
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, pad_token_id=0, num_labels=3,
    )
    return LlamaClassifier(config).train()


def switch_on_with_transformers(model, use_reentrant=False, every_n_layers=1):
    """transformers' switch; before 5.25 it has no ``every_n_layers`` and checkpoints every layer."""
    kwargs = {"use_reentrant": use_reentrant}
    if NEWEST:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs, every_n_layers=every_n_layers)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


class CheckpointingWarnings(logging.Handler):
    """The messages about checkpointing that transformers' and the kit's loggers log inside the block."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        if "checkpointing" in record.getMessage():
            self.messages.append(record.getMessage())

    def __enter__(self):
        logging.Logger.warning_once.cache_clear()
        for name in ("transformers", "modlayers"):  # transformers' loggers do not propagate to the root
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc):
        for name in ("transformers", "modlayers"):
            logging.getLogger(name).removeHandler(self)


def step(model, **kwargs):
    """One training step: the output and ``{name: grad}`` of the parameters that got a gradient."""
    model.zero_grad()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        output = model(IDS, attention_mask=MASK, labels=LABELS, **kwargs)
        output.loss.backward()
    assert not [str(w.message) for w in caught if "requires_grad" in str(w.message)]
    return output, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def assert_same_gradients(grads, reference):
    assert grads.keys() == reference.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], reference[name], rtol=1e-5, atol=1e-7, msg=name)


# ---------------------------------------------------------------- the cache in training


@pytest.mark.parametrize("every_n_layers", [1, 2])
def test_use_cache_in_training_gives_no_cache_and_the_warning_of_transformers_switch(every_n_layers):
    ours = llama_classifier()
    theirs = copy.deepcopy(ours)
    enable_gradient_checkpointing(ours, every_n_layers=every_n_layers)
    switch_on_with_transformers(theirs, every_n_layers=every_n_layers)
    assert ours.model.gradient_checkpointing and theirs.model.gradient_checkpointing
    with CheckpointingWarnings() as ours_logged:
        output, grads = step(ours, use_cache=True)
    with CheckpointingWarnings() as theirs_logged:
        reference, reference_grads = step(theirs, use_cache=True)
    assert reference.past_key_values is None  # transformers' result, which the kit must give
    assert output.past_key_values is None  # not a DynamicCache with lengths [0, 4, 0, 4]
    expected = "`use_cache=True` is incompatible with gradient checkpointing. Setting `use_cache=False`."
    assert theirs_logged.messages == ours_logged.messages == [expected]
    torch.testing.assert_close(output.logits, reference.logits, rtol=0, atol=0)
    assert_same_gradients(grads, reference_grads)


def test_disable_switches_the_base_model_flag_off_and_the_cache_comes_back():
    model = llama_classifier()
    enable_gradient_checkpointing(model)
    disable_gradient_checkpointing(model)
    assert not model.model.gradient_checkpointing
    assert not any(layer.gradient_checkpointing for layer in model.model.layers)
    cache = model(IDS, attention_mask=MASK, use_cache=True).past_key_values
    assert [cache.get_seq_length(index) for index in range(4)] == [4, 4, 4, 4]


# ---------------------------------------------------------------- frozen input embeddings (LoRA)


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_frozen_input_embeddings_still_give_every_layer_its_gradients(use_reentrant):
    model = llama_classifier()
    model.model.embed_tokens.weight.requires_grad_(False)
    _, reference_grads = step(copy.deepcopy(model))  # without checkpointing
    assert len(reference_grads) == sum(p.requires_grad for p in model.parameters()) == 38
    enable_gradient_checkpointing(model, use_reentrant=use_reentrant)
    _, grads = step(model)  # and no "None of the inputs have requires_grad=True"
    assert_same_gradients(grads, reference_grads)
    assert all(grad.abs().sum() > 0 for grad in grads.values())


@pytest.mark.skipif(not NEWEST, reason="transformers before 5.25 hooks the embeddings only under PEFT")
def test_frozen_input_embeddings_give_the_gradients_of_transformers_reentrant_switch():
    ours = llama_classifier()
    ours.model.embed_tokens.weight.requires_grad_(False)
    theirs = copy.deepcopy(ours)
    enable_gradient_checkpointing(ours, use_reentrant=True)
    switch_on_with_transformers(theirs, use_reentrant=True)
    _, grads = step(ours)
    _, reference_grads = step(theirs)
    assert len(reference_grads) == 38
    assert_same_gradients(grads, reference_grads)


def test_the_embedding_hook_is_added_once_removed_by_disable_and_the_model_still_pickles():
    model = llama_classifier()
    embeddings = model.model.embed_tokens
    embeddings.weight.requires_grad_(False)
    assert not embeddings(IDS).requires_grad
    enable_gradient_checkpointing(model, use_reentrant=True)
    enable_gradient_checkpointing(model, use_reentrant=True)
    assert len(embeddings._forward_hooks) == 1
    assert embeddings(IDS).requires_grad
    restored = pickle.loads(pickle.dumps(model))
    assert restored.model.embed_tokens(IDS).requires_grad
    disable_gradient_checkpointing(model)
    assert not embeddings._forward_hooks
    assert not embeddings(IDS).requires_grad


def test_a_plain_module_stack_gets_no_embedding_hook():
    model = llama_classifier()
    stack = torch.nn.Sequential(model.model.embed_tokens, *model.model.layers)  # not a PreTrainedModel
    enable_gradient_checkpointing(stack)
    assert not model.model.embed_tokens._forward_hooks


# ---------------------------------------------------------------- a second call


def tiny_classifier():
    torch.manual_seed(0)
    config = TinyTransformerConfig(
        vocab_size=40, hidden_size=16, num_hidden_layers=3, num_attention_heads=2, num_labels=3,
    )
    return TinyTransformerForSequenceClassification(config).train()


def flags(model):
    """``(layers, cores)``: each layer's and each attention core's ``gradient_checkpointing``."""
    layers = [m.gradient_checkpointing for m in model.modules() if isinstance(m, TinyTransformerLayer)]
    cores = [m.gradient_checkpointing for m in model.modules() if isinstance(m, TinyTransformerAttentionCore)]
    return layers, cores


CALLS = {
    "every layer": {},
    "every 2nd layer": {"every_n_layers": 2},
    "attention cores": {"layer_type": TinyTransformerAttentionCore},
}


@pytest.mark.parametrize("first", list(CALLS))
@pytest.mark.parametrize("second", list(CALLS))
def test_a_second_call_leaves_the_state_a_first_call_would(first, second):
    fresh = tiny_classifier()
    expected = enable_gradient_checkpointing(fresh, **CALLS[second])
    model = tiny_classifier()
    enable_gradient_checkpointing(model, **CALLS[first])
    chosen = enable_gradient_checkpointing(model, **CALLS[second])
    assert flags(model) == flags(fresh)
    assert [type(layer) for layer in chosen] == [type(layer) for layer in expected]


def test_a_second_call_switches_off_what_the_first_switched_on():
    model = tiny_classifier()
    enable_gradient_checkpointing(model)
    enable_gradient_checkpointing(model, layer_type=TinyTransformerAttentionCore)
    assert flags(model) == ([False, False, False], [True, True, True])  # the layers are no longer recomputed
    enable_gradient_checkpointing(model, every_n_layers=2)
    assert flags(model) == ([True, False, True], [True, False, True])  # layer 1 keeps all its activations


@pytest.mark.skipif(not NEWEST, reason="transformers before 5.25 has no every_n_layers")
@pytest.mark.parametrize("every_n_layers", [1, 2])
def test_the_kit_switch_sets_the_flags_of_transformers_switch(every_n_layers):
    ours, theirs = tiny_classifier(), tiny_classifier()
    enable_gradient_checkpointing(ours, layer_type=TinyTransformerAttentionCore)
    theirs.activation_checkpointing_enable(every_n_layers=every_n_layers)
    enable_gradient_checkpointing(ours, every_n_layers=every_n_layers)
    assert flags(ours) == flags(theirs)
