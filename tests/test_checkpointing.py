"""GradientCheckpointingLayer: same numbers, recomputed forward, cache switched off, sharp edges."""

import functools
import logging

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

import modlayers
from modlayers import (
    GenericForSequenceClassification,
    GradientCheckpointingLayer,
    TinyTransformerConfig,
    TinyTransformerPreTrainedModel,
    enable_gradient_checkpointing,
)
from modlayers.checkpointing import with_checkpointing
from modlayers.lessons.tiny_transformer import TinyTransformerAttentionCore, TinyTransformerLayer


class TinyClassifier(GenericForSequenceClassification, TinyTransformerPreTrainedModel):
    pass


def tiny_classifier(dropout=0.1):
    torch.manual_seed(0)
    config = TinyTransformerConfig(
        vocab_size=40, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
        hidden_dropout=dropout, attention_dropout=dropout, num_labels=3,
    )
    return TinyClassifier(config).train()


IDS = torch.tensor([[5, 6, 7, 8, 0], [9, 10, 11, 0, 0]])
LABELS = torch.tensor([0, 2])


def loss_and_grads(model, seed=123):
    model.zero_grad()
    torch.manual_seed(seed)
    loss = model(input_ids=IDS, attention_mask=(IDS != 0).long(), labels=LABELS).loss
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def assert_same_loss_and_gradients(got, expected):
    """``got`` and ``expected`` are ``loss_and_grads`` results: same loss, same parameters, same gradients."""
    (loss, grads), (reference_loss, reference_grads) = got, expected
    torch.testing.assert_close(loss, reference_loss, rtol=0, atol=1e-6)
    assert grads.keys() == reference_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], reference_grads[name], rtol=1e-5, atol=1e-7, msg=name)


def switch_on_with_transformers(model, use_reentrant):
    """transformers' own switch: ``activation_checkpointing_enable`` (newest) or ``gradient_checkpointing_enable``."""
    kwargs = {"use_reentrant": use_reentrant}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


@pytest.mark.parametrize("switch", ["transformers", "modlayers"])
@pytest.mark.parametrize("use_reentrant", [True, False])
def test_checkpointing_gives_the_same_loss_and_gradients_with_dropout_active(use_reentrant, switch):
    model = tiny_classifier(dropout=0.1)
    reference_loss, reference_grads = loss_and_grads(model)
    if switch == "transformers":
        switch_on_with_transformers(model, use_reentrant)
    else:
        enable_gradient_checkpointing(model, use_reentrant=use_reentrant)
    assert all(layer.gradient_checkpointing for layer in model.model.layers)
    loss, grads = loss_and_grads(model)
    assert_same_loss_and_gradients((loss, grads), (reference_loss, reference_grads))
    # and dropout really was active: another seed gives another loss
    assert loss_and_grads(model, seed=7)[0] != reference_loss


def count_forward_calls(monkeypatch, module_class=TinyTransformerLayer):
    """Count each run of ``module_class``'s own forward body (the recompute included)."""
    calls = []
    original = module_class.forward.__wrapped__  # the forward as written, inside the checkpointing wrapper

    def counting_forward(self, *args, **kwargs):
        calls.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(module_class, "forward", with_checkpointing(counting_forward))
    return calls


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_a_checkpointed_layer_runs_its_forward_twice(monkeypatch, use_reentrant):
    model = tiny_classifier()
    calls = count_forward_calls(monkeypatch)
    loss_and_grads(model)
    assert len(calls) == 3  # off: once per layer
    calls.clear()
    enable_gradient_checkpointing(model, use_reentrant=use_reentrant)
    loss_and_grads(model)
    assert len(calls) == 6  # on: forward, then the recompute in backward
    assert all(calls.count(layer) == 2 for layer in model.model.layers)


def test_every_n_layers_checkpoints_only_those_layers(monkeypatch):
    model = tiny_classifier()
    chosen = enable_gradient_checkpointing(model, every_n_layers=2)
    assert chosen == [model.model.layers[0], model.model.layers[2]]
    calls = count_forward_calls(monkeypatch)
    loss_and_grads(model)
    assert [calls.count(layer) for layer in model.model.layers] == [2, 1, 2]


def test_disable_switches_every_layer_off():
    model = tiny_classifier()
    enable_gradient_checkpointing(model)
    modlayers.disable_gradient_checkpointing(model)
    assert not any(layer.gradient_checkpointing for layer in model.model.layers)


def test_transformers_disable_switches_the_kit_layers_off():
    model = tiny_classifier()
    switch_on_with_transformers(model, use_reentrant=False)
    if hasattr(model, "activation_checkpointing_disable"):
        model.activation_checkpointing_disable()
    else:
        model.gradient_checkpointing_disable()
    assert not any(layer.gradient_checkpointing for layer in model.model.layers)


@pytest.mark.parametrize("every_n_layers", [0, -1, 1.5])
def test_every_n_layers_must_be_a_positive_integer(every_n_layers):
    with pytest.raises(ValueError, match="every_n_layers must be an integer >= 1"):
        enable_gradient_checkpointing(tiny_classifier(), every_n_layers=every_n_layers)


def test_enabling_on_a_stack_without_checkpointable_layers_says_how_to_fix_it():
    with pytest.raises(ValueError, match="subclass modlayers.GradientCheckpointingLayer"):
        enable_gradient_checkpointing(nn.Sequential(nn.Linear(2, 2)))


def test_the_kit_switch_also_reaches_transformers_own_layers():
    from transformers import LlamaConfig, LlamaModel

    model = LlamaModel(LlamaConfig(vocab_size=30, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2))
    assert len(enable_gradient_checkpointing(model)) == 2
    assert all(layer.gradient_checkpointing for layer in model.layers)


# ---------------------------------------------------------------- nested layers: the attention core


def test_checkpointable_layers_are_the_outermost_ones():
    model = tiny_classifier()
    assert modlayers.checkpointable_layers(model) == list(model.model.layers)
    core = model.model.layers[0].attention.core
    assert modlayers.checkpointable_layers(core) == [core]


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_checkpointing_only_the_attention_cores_recomputes_them_and_not_the_layers(monkeypatch, use_reentrant):
    model = tiny_classifier(dropout=0.1)
    reference_loss, reference_grads = loss_and_grads(model)
    chosen = enable_gradient_checkpointing(model, use_reentrant=use_reentrant, layer_type=TinyTransformerAttentionCore)
    assert chosen == [layer.attention.core for layer in model.model.layers]
    assert not any(layer.gradient_checkpointing for layer in model.model.layers)
    layer_calls = count_forward_calls(monkeypatch)
    core_calls = count_forward_calls(monkeypatch, TinyTransformerAttentionCore)
    loss, grads = loss_and_grads(model)
    assert len(layer_calls) == 3 and len(core_calls) == 6  # each core: forward, then its recompute
    assert_same_loss_and_gradients((loss, grads), (reference_loss, reference_grads))


@pytest.mark.parametrize("switch", ["transformers", "modlayers"])
def test_with_layers_and_cores_both_on_the_outer_layer_wins_and_each_core_runs_twice_not_three_times(monkeypatch, switch):
    model = tiny_classifier(dropout=0.1)
    reference_loss, reference_grads = loss_and_grads(model)
    if switch == "transformers":  # transformers switches on every module with a gradient_checkpointing flag
        switch_on_with_transformers(model, use_reentrant=False)
    else:
        enable_gradient_checkpointing(model, layer_type=TinyTransformerAttentionCore)
        enable_gradient_checkpointing(model)
    assert all(layer.gradient_checkpointing and layer.attention.core.gradient_checkpointing for layer in model.model.layers)
    layer_calls = count_forward_calls(monkeypatch)
    core_calls = count_forward_calls(monkeypatch, TinyTransformerAttentionCore)
    loss, grads = loss_and_grads(model)
    # nested checkpoints would recompute each core twice in the backward pass (3 calls per core)
    assert len(layer_calls) == 6 and len(core_calls) == 6
    assert_same_loss_and_gradients((loss, grads), (reference_loss, reference_grads))


def test_layer_type_must_be_a_checkpointable_layer_present_in_the_model():
    with pytest.raises(TypeError, match="GradientCheckpointingLayer subclass"):
        enable_gradient_checkpointing(tiny_classifier(), layer_type=nn.Linear)
    with pytest.raises(ValueError, match="contains no RecordingLayer"):
        enable_gradient_checkpointing(tiny_classifier(), layer_type=RecordingLayer)


def test_disable_also_switches_the_nested_cores_off():
    model = tiny_classifier()
    enable_gradient_checkpointing(model, layer_type=TinyTransformerAttentionCore)
    modlayers.disable_gradient_checkpointing(model)
    assert not any(layer.attention.core.gradient_checkpointing for layer in model.model.layers)


# ---------------------------------------------------------------- the cache under checkpointing


class RecordingLayer(GradientCheckpointingLayer):
    """Remembers the keyword arguments its forward received."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.seen = []

    def forward(self, hidden_states, use_cache=False, past_key_values=None, cache=None, layer_past=None):
        self.seen.append(dict(use_cache=use_cache, past_key_values=past_key_values, cache=cache, layer_past=layer_past))
        return self.linear(hidden_states)


CACHE_KWARGS = dict(use_cache=True, past_key_values="pkv", cache="cache", layer_past="past")


def recording_layer(use_reentrant=False):
    layer = RecordingLayer().train()
    enable_gradient_checkpointing(layer, use_reentrant=use_reentrant)
    return layer


def test_the_cache_is_switched_off_under_checkpointing_with_one_warning(caplog):
    logging.Logger.warning_once.cache_clear()
    layer = recording_layer()
    x = torch.randn(2, 4, requires_grad=True)
    with caplog.at_level(logging.WARNING):
        layer(x, **CACHE_KWARGS).sum().backward()
        layer(x, **CACHE_KWARGS).sum().backward()
    assert layer.seen[0] == dict(use_cache=False, past_key_values=None, cache=None, layer_past=None)
    warnings = [r.getMessage() for r in caplog.records if "Caching is incompatible" in r.getMessage()]
    assert warnings == [
        "Caching is incompatible with gradient checkpointing in RecordingLayer. Setting `use_cache=False`, "
        "`past_key_values=None`, `cache=None`, `layer_past=None`."
    ]


@pytest.mark.parametrize("mode", ["eval", "no_grad", "off"])
def test_the_call_is_untouched_in_eval_under_no_grad_or_when_off(mode, caplog):
    layer = recording_layer()
    calls = []
    layer._gradient_checkpointing_func = lambda *a, **k: calls.append(a)
    if mode == "eval":
        layer.eval()
    if mode == "off":
        layer.gradient_checkpointing = False
    x = torch.randn(2, 4, requires_grad=True)
    with torch.set_grad_enabled(mode != "no_grad"), caplog.at_level(logging.WARNING):
        out = layer(x, **CACHE_KWARGS)
    assert isinstance(out, torch.Tensor) and not calls
    assert layer.seen == [dict(use_cache=True, past_key_values="pkv", cache="cache", layer_past="past")]
    assert not any("Caching" in r.getMessage() for r in caplog.records)


def test_positional_arguments_become_checkpoint_inputs_and_keywords_are_bound():
    layer = RecordingLayer().train()
    received = []

    def spy(function, *args):
        received.append((function, args))
        return function(*args)

    layer.gradient_checkpointing, layer._gradient_checkpointing_func = True, spy
    x = torch.randn(2, 4)
    layer(x, layer_past=None, use_cache=False)
    function, args = received[0]
    assert args == (x,)
    assert isinstance(function, functools.partial) and function.keywords == {"layer_past": None, "use_cache": False}


# ---------------------------------------------------------------- use_reentrant=True and keyword tensors


class AddLayer(GradientCheckpointingLayer):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(3))

    def forward(self, hidden_states, residual=None):
        return hidden_states * self.weight + (0 if residual is None else residual * 2)


def test_reentrant_checkpointing_warns_about_a_grad_tensor_passed_by_keyword():
    layer = AddLayer().train()
    enable_gradient_checkpointing(layer, use_reentrant=True)
    x = torch.randn(3, requires_grad=True)
    with pytest.warns(UserWarning, match=r"`hidden_states` requires grad but was passed by keyword.*Pass it positionally"):
        out = layer(hidden_states=x)
    # what the warning is about: torch's re-entrant checkpoint only tracks positional inputs, so the
    # output is cut off from x (and from the layer's weight); backward() would fail much later
    assert not out.requires_grad
    with pytest.raises(RuntimeError):
        out.sum().backward()
    assert x.grad is None


def test_reentrant_checkpointing_fails_in_backward_when_a_keyword_tensor_shares_history():
    layer = AddLayer().train()
    enable_gradient_checkpointing(layer, use_reentrant=True)
    weight = torch.full((3,), 3.0, requires_grad=True)
    hidden = torch.ones(3) * weight  # one history, passed twice: positionally (scaled) and by keyword
    with pytest.warns(UserWarning, match="`residual` requires grad but was passed by keyword"):
        out = layer(hidden * 1.5, residual=hidden)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        out.sum().backward()


def test_non_reentrant_checkpointing_does_not_warn_and_gives_a_keyword_tensor_its_gradient(recwarn):
    layer = AddLayer().train()
    enable_gradient_checkpointing(layer, use_reentrant=False)
    x = torch.randn(3, requires_grad=True)
    layer(hidden_states=x).sum().backward()
    assert not [w for w in recwarn if "passed by keyword" in str(w.message)]
    torch.testing.assert_close(x.grad, layer.weight.detach())


def test_reentrant_detection_sees_through_nested_partials():
    from modlayers.checkpointing import _uses_reentrant

    assert _uses_reentrant(functools.partial(checkpoint, use_reentrant=True))
    assert not _uses_reentrant(functools.partial(checkpoint, use_reentrant=False))
    assert _uses_reentrant(functools.partial(functools.partial(checkpoint, use_reentrant=True), preserve_rng_state=True))
    assert not _uses_reentrant(checkpoint)


# ---------------------------------------------------------------- transformers' every_n_layers on the kit's layers


def tiny_model(num_hidden_layers=4):
    torch.manual_seed(0)
    config = TinyTransformerConfig(vocab_size=40, hidden_size=16, num_hidden_layers=num_hidden_layers, num_attention_heads=2)
    return modlayers.TinyTransformerModel(config).train()


def transformers_switch_with_every_n_layers(model, every_n_layers):
    """transformers' switch with ``every_n_layers``; skip on releases that do not have the argument (4.56)."""
    import inspect

    switch = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    if "every_n_layers" not in inspect.signature(switch).parameters:
        pytest.skip("this transformers release has no every_n_layers")
    switch(every_n_layers=every_n_layers)


def test_transformers_every_n_layers_counts_the_kit_layers_like_llama_layers():
    from transformers import LlamaConfig, LlamaModel

    llama = LlamaModel(LlamaConfig(vocab_size=30, hidden_size=16, intermediate_size=32, num_hidden_layers=4, num_attention_heads=2))
    transformers_switch_with_every_n_layers(llama, 2)
    assert [layer.gradient_checkpointing for layer in llama.layers] == [True, False, True, False]
    model = tiny_model()
    transformers_switch_with_every_n_layers(model, 2)
    assert [layer.gradient_checkpointing for layer in model.layers] == [True, False, True, False]
    # a layer that is not chosen keeps all its activations: its attention core is off too
    assert [layer.attention.core.gradient_checkpointing for layer in model.layers] == [True, False, True, False]
    transformers_switch_with_every_n_layers(model, 3)
    assert [layer.gradient_checkpointing for layer in model.layers] == [True, False, False, True]


def test_transformers_every_n_layers_on_a_head_recomputes_only_the_chosen_layers(monkeypatch):
    model = tiny_classifier()  # the head's _set_gradient_checkpointing comes from TinyTransformerPreTrainedModel
    transformers_switch_with_every_n_layers(model, 2)
    calls = count_forward_calls(monkeypatch)
    loss_and_grads(model)
    assert [calls.count(layer) for layer in model.model.layers] == [2, 1, 2]


def test_the_kit_set_gradient_checkpointing_switches_on_and_off_like_transformers():
    model = tiny_model(3)
    func = functools.partial(checkpoint, use_reentrant=False)
    modlayers.checkpointing.set_gradient_checkpointing(model, True, func, every_n_layers=2)
    assert [layer.gradient_checkpointing for layer in model.layers] == [True, False, True]
    assert all(layer._gradient_checkpointing_func is func for layer in model.layers)
    modlayers.checkpointing.set_gradient_checkpointing(model, enable=False)
    assert not any(m.gradient_checkpointing for m in modlayers.checkpointing._all_checkpointable(model))
    with pytest.raises(ValueError, match="every_n_layers must be an integer >= 1"):
        modlayers.checkpointing.set_gradient_checkpointing(model, True, func, every_n_layers=0)
    with pytest.raises(ValueError, match="contains no GradientCheckpointingLayer"):
        modlayers.checkpointing.set_gradient_checkpointing(nn.Linear(2, 2))


# ---------------------------------------------------------------- module hooks run once per step


@pytest.mark.parametrize("use_reentrant", [True, False])
@pytest.mark.parametrize("switch", ["transformers", "modlayers"])
def test_forward_pre_hooks_forward_hooks_and_backward_hooks_run_once_per_step(use_reentrant, switch):
    """Only ``forward`` is checkpointed, so the module's hooks (FSDP2's among them) stay out of the recompute."""
    model = tiny_classifier()
    if switch == "transformers":
        switch_on_with_transformers(model, use_reentrant)
    else:
        enable_gradient_checkpointing(model, use_reentrant=use_reentrant)
    counts = {"pre": 0, "pre_kwargs": 0, "post": 0, "backward": 0}

    def count(kind):
        def hook(*_):
            counts[kind] += 1

        return hook

    layer = model.model.layers[1]
    layer.register_forward_pre_hook(count("pre"))
    layer.register_forward_pre_hook(count("pre_kwargs"), with_kwargs=True)
    layer.register_forward_hook(count("post"))
    layer.register_full_backward_hook(count("backward"))
    calls = []
    layer.attention_norm.register_forward_pre_hook(lambda *_: calls.append(1))  # inside: runs in the recompute
    reference = loss_and_grads(tiny_classifier())
    assert_same_loss_and_gradients(loss_and_grads(model), reference)
    assert counts == {"pre": 1, "pre_kwargs": 1, "post": 1, "backward": 1}
    assert len(calls) == 2  # the layer really was recomputed


# ---------------------------------------------------------------- DDP with find_unused_parameters (see also test_checkpointing_distributed.py)


class FakeDDP:
    def __init__(self, find_unused_parameters, static_graph):
        self.find_unused_parameters, self.static_graph = find_unused_parameters, static_graph


@pytest.mark.parametrize("find_unused_parameters, static_graph, use_reentrant, raises", [
    (True, False, True, True),
    (True, True, True, False),
    (False, False, True, False),
    (True, False, False, False),
])
def test_a_reentrant_checkpoint_inside_ddp_finding_unused_parameters_raises_before_the_step(
    monkeypatch, find_unused_parameters, static_graph, use_reentrant, raises
):
    from torch.nn.parallel import DistributedDataParallel

    model = tiny_classifier()
    enable_gradient_checkpointing(model, use_reentrant=use_reentrant)
    # DDP's forward sets this class attribute while it runs the wrapped module
    monkeypatch.setattr(DistributedDataParallel, "_active_ddp_module", FakeDDP(find_unused_parameters, static_graph), raising=False)
    if raises:
        with pytest.raises(ValueError, match=r"use_reentrant=True inside DistributedDataParallel\(find_unused_parameters=True\).*use_reentrant=False.*static_graph=True"):
            loss_and_grads(model)
    else:
        loss_and_grads(model)
