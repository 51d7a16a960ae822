"""The KV cache under checkpointing, side by side with transformers 5.25's GradientCheckpointingLayer.

A layer that only reads its cache sets ``_can_checkpoint_with_cache = True`` and keeps it; every other
layer has ``cache``/``layer_past`` set to ``None``. ``use_cache`` is switched off either way. The kit's
layer and transformers' layer get the same inputs; the same keyword arguments must reach ``forward``,
the same warnings must be logged and the outputs and gradients must be the same.
"""

import logging

import pytest
import torch
import transformers.modeling_layers
from torch import nn
from transformers import DynamicCache

from modlayers.checkpointing import GradientCheckpointingLayer, enable_gradient_checkpointing

if not hasattr(transformers.modeling_layers.GradientCheckpointingLayer, "_can_checkpoint_with_cache"):
    pytest.skip("transformers before 5.25 has no _can_checkpoint_with_cache to compare with", allow_module_level=True)

HIDDEN = 8


def cache_reading_layer_class(base: type, reads_only: bool) -> type:
    """A layer (same name, same code) on ``base``: it attends over the key/value states in its cache when given one."""

    class CacheReadingLayer(base):
        _can_checkpoint_with_cache = reads_only

        def __init__(self):
            super().__init__()
            self.query = nn.Linear(HIDDEN, HIDDEN)
            self.seen = []

        def forward(self, hidden_states, use_cache=False, cache=None, layer_past=None):
            self.seen.append(dict(use_cache=use_cache, cache=cache, layer_past=layer_past))
            query = self.query(hidden_states)  # (batch, seq, hidden)
            if cache is None:
                return query
            keys, values = cache.layers[0].keys[:, 0], cache.layers[0].values[:, 0]  # (batch, cached, hidden): read only
            return query + torch.softmax(query @ keys.transpose(1, 2), dim=-1) @ values  # (batch, seq, hidden)

    return CacheReadingLayer


def encoder_cache() -> DynamicCache:
    cache = DynamicCache()
    cache.update(torch.randn(2, 1, 5, HIDDEN), torch.randn(2, 1, 5, HIDDEN), 0)  # (batch, heads, cached, hidden)
    return cache


class CapturedWarnings(logging.Handler):
    """Collects the messages of the kit's and transformers' checkpointing loggers (transformers' do not propagate)."""

    LOGGERS = ("modlayers.checkpointing", "transformers.modeling_layers")

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append((record.name, record.getMessage()))

    def __enter__(self):
        logging.Logger.warning_once.cache_clear()
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc):
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)

    def of(self, logger_name):
        return [message for name, message in self.messages if name == logger_name]


def run_side_by_side(reads_only: bool, use_reentrant: bool, checkpointing: bool = True):
    """The kit's and transformers' layer, same weights, same inputs: (kit, upstream) each as (layer, output, grads)."""
    torch.manual_seed(0)
    layers = [cache_reading_layer_class(base, reads_only)().train() for base in
              (GradientCheckpointingLayer, transformers.modeling_layers.GradientCheckpointingLayer)]
    layers[1].load_state_dict(layers[0].state_dict())
    x, cache, past = torch.randn(2, 3, HIDDEN, requires_grad=True), encoder_cache(), "past states"
    results = []
    for layer in layers:
        if checkpointing:
            enable_gradient_checkpointing(layer, use_reentrant=use_reentrant)
        out = layer(x, use_cache=True, cache=cache, layer_past=past)
        out.pow(2).sum().backward()  # under checkpointing the recompute runs here and reads the cache again
        results.append((layer, out.detach(), [p.grad.clone() for p in layer.parameters()]))
    return results, cache, past


@pytest.mark.parametrize("use_reentrant", [False, True])
@pytest.mark.parametrize("reads_only", [True, False])
def test_the_same_keyword_arguments_reach_the_kits_layer_and_transformers_layer(reads_only, use_reentrant):
    with CapturedWarnings():
        ((kit, _, _), (upstream, _, _)), cache, past = run_side_by_side(reads_only, use_reentrant)
    expected = dict(use_cache=False, cache=cache, layer_past=past) if reads_only else dict(
        use_cache=False, cache=None, layer_past=None)
    assert kit.seen[0] == upstream.seen[0] == expected
    assert kit.seen == upstream.seen  # the recompute (in backward) gets the same arguments too
    assert len(kit.seen) == 2  # forward, then the recompute


@pytest.mark.parametrize("reads_only", [True, False])
def test_the_same_warning_is_logged_once_by_both(reads_only):
    with CapturedWarnings() as captured:
        run_side_by_side(reads_only, use_reentrant=False)
        run_side_by_side(reads_only, use_reentrant=False)  # warning_once: not again
    changed = "`use_cache=False`" if reads_only else "`use_cache=False`, `cache=None`, `layer_past=None`"
    expected = [f"Caching is incompatible with gradient checkpointing in CacheReadingLayer. Setting {changed}."]
    assert captured.of("modlayers.checkpointing") == captured.of("transformers.modeling_layers") == expected


@pytest.mark.parametrize("use_reentrant", [False, True])
@pytest.mark.parametrize("reads_only", [True, False])
def test_outputs_and_gradients_are_the_same_as_transformers(reads_only, use_reentrant):
    with CapturedWarnings():
        ((_, kit_out, kit_grads), (_, upstream_out, upstream_grads)), _, _ = run_side_by_side(reads_only, use_reentrant)
    torch.testing.assert_close(kit_out, upstream_out, rtol=0, atol=0)
    for kit_grad, upstream_grad in zip(kit_grads, upstream_grads, strict=True):
        torch.testing.assert_close(kit_grad, upstream_grad, rtol=0, atol=0)


def test_a_read_only_cache_layer_checkpointed_matches_the_same_layer_without_checkpointing():
    with CapturedWarnings():
        ((_, out, grads), _), _, _ = run_side_by_side(reads_only=True, use_reentrant=False)
        ((_, plain_out, plain_grads), _), _, _ = run_side_by_side(reads_only=True, use_reentrant=False, checkpointing=False)
    torch.testing.assert_close(out, plain_out, rtol=0, atol=0)  # the cache was read, as without checkpointing
    for grad, plain_grad in zip(grads, plain_grads, strict=True):
        torch.testing.assert_close(grad, plain_grad)


def test_the_read_only_cache_is_not_written_by_the_recompute():
    with CapturedWarnings():
        _, cache, _ = run_side_by_side(reads_only=True, use_reentrant=False)
    assert cache.layers[0].keys.shape == (2, 1, 5, HIDDEN)  # still the 5 cached positions it started with


def test_a_cache_writing_layer_keeps_the_class_default_false():
    assert GradientCheckpointingLayer._can_checkpoint_with_cache is False
    assert transformers.modeling_layers.GradientCheckpointingLayer._can_checkpoint_with_cache is False
