"""The re-entrant keyword warning's advice, followed to the letter, gives the right gradients."""

import re
import warnings

import pytest
import torch

from modlayers import GradientCheckpointingLayer, enable_gradient_checkpointing
from modlayers.checkpointing import positional_call

SUGGESTED_CALL = re.compile(r"in the order forward takes its arguments: (layer\([^)]*\))")


class Gate(GradientCheckpointingLayer):
    """The layer of the report: the tensor needing a gradient is the *second* argument."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))

    def forward(self, x, gate, scale=1.0):
        return x * torch.sigmoid(gate) * self.weight * scale


class Residual(GradientCheckpointingLayer):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(3))

    def forward(self, hidden_states, mask=None, residual=None):
        return hidden_states * self.weight + (0 if residual is None else residual * 2)


class KeywordOnly(GradientCheckpointingLayer):
    def forward(self, x, *, gate):
        return x * gate


def suggested_call(caught) -> str:
    messages = [str(w.message) for w in caught if "passed by keyword" in str(w.message)]
    assert messages, "no keyword warning"
    match = SUGGESTED_CALL.search(messages[0])
    assert match, messages[0]
    return match.group(1)


def reference_gradients(layer_class, inputs, **kwargs):
    """Gradients of every input and weight without checkpointing (float64)."""
    layer = layer_class().double().train()
    leaves = {n: t.detach().double().requires_grad_() for n, t in inputs.items()}
    layer(**leaves, **kwargs).sum().backward()
    return {n: t.grad for n, t in leaves.items()}, layer.weight.grad


def follow(layer_class, call: str, inputs, **kwargs):
    """Run the suggested call text with the caller's values under re-entrant checkpointing."""
    layer = layer_class().double().train()
    enable_gradient_checkpointing(layer, use_reentrant=True)
    leaves = {n: t.detach().double().requires_grad_() for n, t in inputs.items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = eval(call, {"layer": layer, **leaves, **kwargs})  # the warning's own text, run as written
    assert not [w for w in caught if "passed by keyword" in str(w.message)], "the fixed call still warns"
    out.sum().backward()
    return {n: t.grad for n, t in leaves.items()}, layer.weight.grad


def test_the_gate_warning_suggests_layer_x_gate_not_gate_gate():
    layer = Gate().train()
    enable_gradient_checkpointing(layer, use_reentrant=True)
    x, gate = torch.randn(3, requires_grad=True), torch.randn(3, requires_grad=True)
    with pytest.warns(UserWarning, match="passed by keyword") as caught:
        layer(x, gate=gate)
    assert suggested_call(caught) == "layer(x, gate)"
    assert "gate(gate" not in str(caught[0].message)


def test_following_the_gate_advice_gives_the_gradients_of_the_layer_without_checkpointing():
    torch.manual_seed(0)
    inputs = {"x": torch.randn(3), "gate": torch.randn(3)}
    layer = Gate().train()
    enable_gradient_checkpointing(layer, use_reentrant=True)
    with pytest.warns(UserWarning) as caught:
        layer(inputs["x"].requires_grad_(), gate=inputs["gate"].requires_grad_(), scale=2.0)
    call = suggested_call(caught)
    assert call == "layer(x, gate, scale=scale)"
    got, got_weight = follow(Gate, call, inputs, scale=2.0)
    want, want_weight = reference_gradients(Gate, inputs, scale=2.0)
    for name in inputs:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-12)
    torch.testing.assert_close(got_weight, want_weight, rtol=0, atol=1e-12)


def test_following_the_advice_when_a_keyword_shares_history_fixes_backward():
    # the case that fails in backward ("backward through the graph a second time") as called
    torch.manual_seed(0)
    hidden = torch.randn(3, requires_grad=True)
    layer = Residual().train()
    enable_gradient_checkpointing(layer, use_reentrant=True)
    with pytest.warns(UserWarning) as caught:
        layer(hidden, residual=hidden * 1.0)
    call = suggested_call(caught)
    assert call == "layer(hidden_states, None, residual)"  # the skipped `mask` keeps its default, in its place
    inputs = {"hidden_states": torch.randn(3), "residual": torch.randn(3)}
    got, got_weight = follow(Residual, call, inputs)
    want, want_weight = reference_gradients(Residual, inputs)
    for name in inputs:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-12)
    torch.testing.assert_close(got_weight, want_weight, rtol=0, atol=1e-12)


def test_a_keyword_only_argument_gets_only_the_use_reentrant_false_advice():
    layer = KeywordOnly().train()
    enable_gradient_checkpointing(layer, use_reentrant=True)
    x, gate = torch.randn(3, requires_grad=True), torch.randn(3, requires_grad=True)
    with pytest.warns(UserWarning, match="passed by keyword") as caught:
        layer(x, gate=gate)
    message = str(caught[0].message)
    assert "positionally" not in message
    assert message.endswith("Enable checkpointing with use_reentrant=False.")


def test_positional_call_keeps_every_argument_in_forward_order():
    def forward(self, a, b=None, c=None, *, d=None):
        pass

    assert positional_call(forward, 0, {"a": 1, "c": 2}, ["c"]) == "layer(a, None, c)"
    assert positional_call(forward, 2, {"c": 2, "d": 3}, ["c"]) == "layer(a, b, c, d=d)"
    assert positional_call(forward, 1, {"d": 3}, ["d"]) is None
