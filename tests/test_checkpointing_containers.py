"""use_reentrant=True and grad tensors inside a tuple, list or dict (unsloth-zoo PR #813).

torch's re-entrant checkpoint tracks only tensors passed positionally on their own; one inside a
container gets no proper gradient. The layer warns at the call, naming the element.
"""

import pytest
import torch
from torch import nn

from modlayers.checkpointing import GradientCheckpointingLayer, enable_gradient_checkpointing


class PairLayer(GradientCheckpointingLayer):
    """Takes a pair of tensors in one container, as unsloth-zoo's layers do with their rotary (cos, sin)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(3))

    def forward(self, hidden_states, pair=None, extras=None):
        out = hidden_states * self.weight
        if pair is not None:
            out = out + pair[0] * pair[1]
        if extras is not None:
            out = out + extras["scale"]
        return out


def test_reentrant_checkpointing_warns_about_a_grad_tensor_inside_a_tuple_passed_by_keyword():
    """unsloth-zoo PR #813: no warning, then 'Trying to backward through the graph a second time'."""
    layer = PairLayer().train()
    enable_gradient_checkpointing(layer, use_reentrant=True)
    weight = torch.full((3,), 3.0, requires_grad=True)
    hidden = torch.ones(3) * weight
    with pytest.warns(UserWarning, match=r"`pair\[0\]` requires grad but sits inside a tuple.*use_reentrant=False"):
        out = layer(hidden * 1.5, pair=(hidden, torch.ones(3)))
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        out.sum().backward()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda layer, x: layer(x * 2, extras={"scale": x}), r"`extras\['scale'\]` requires grad but sits inside a dict"),
        (lambda layer, x: layer(x * 2, pair=[torch.ones(3), x]), r"`pair\[1\]` requires grad but sits inside a list"),
        (lambda layer, x: layer(x * 2, (torch.ones(3), x)), r"positional argument 1\[1\] requires grad but sits inside a tuple"),
    ],
)
def test_reentrant_checkpointing_names_the_grad_tensor_inside_any_container(call, match):
    layer = PairLayer().train()
    enable_gradient_checkpointing(layer, use_reentrant=True)
    with pytest.warns(UserWarning, match=match):
        call(layer, torch.randn(3, requires_grad=True))


def test_non_reentrant_checkpointing_gives_a_tensor_inside_a_keyword_tuple_its_gradient(recwarn):
    layer = PairLayer().train()
    enable_gradient_checkpointing(layer, use_reentrant=False)
    x = torch.randn(3, requires_grad=True)
    layer(torch.ones(3), pair=(x, torch.full((3,), 2.0))).sum().backward()
    assert not [w for w in recwarn if "sits inside" in str(w.message)]
    torch.testing.assert_close(x.grad, torch.full((3,), 2.0))
