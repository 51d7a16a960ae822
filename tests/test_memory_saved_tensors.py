"""Tests for modlayers/lessons/memory/saved_tensors.py: what the counter counts and what it leaves out."""

import pytest
import torch

from modlayers.lessons.memory.saved_tensors import SavedTensorCounter, hold_for_backward, saved_tensor_table


def test_counter_counts_saved_activations_and_leaves_out_parameters():
    layer = torch.nn.Linear(8, 8)
    x = torch.randn(4, 8, requires_grad=True)
    with SavedTensorCounter(exclude=layer) as counter:
        torch.relu(layer(x)).sum()
    # Linear keeps x (its weight is a parameter, not counted); relu keeps its output.
    assert counter.saved_bytes == 2 * 4 * 8 * 4
    assert [entry.shape for entry in counter.storages] == [(4, 8), (4, 8)]


def test_counter_counts_a_storage_once_however_many_views_are_saved():
    x = torch.randn(6, 6, requires_grad=True)
    with SavedTensorCounter() as counter:
        y = x * 2  # saves nothing (a constant factor)
        (y.t() @ y).sum()  # matmul keeps y.t() and y: two views, one storage
    assert counter.saved_bytes == 6 * 6 * 4
    assert len(counter.storages) == 1


def test_counter_only_counts_while_open():
    x = torch.randn(5, requires_grad=True)
    with SavedTensorCounter() as counter:
        pass
    torch.tanh(x).sum()
    assert counter.saved_bytes == 0


def test_counter_composes_with_save_on_cpu_and_gradients_are_unchanged():
    layer = torch.nn.Linear(8, 8)
    x = torch.randn(4, 8, requires_grad=True)
    torch.sigmoid(layer(x)).sum().backward()
    expected = x.grad.clone()
    x.grad = None
    with SavedTensorCounter(layer, inner=torch.autograd.graph.save_on_cpu()) as counter:
        loss = torch.sigmoid(layer(x)).sum()
    loss.backward()
    assert torch.equal(x.grad, expected)
    assert counter.bytes_by_device == {"cpu": counter.saved_bytes} and counter.saved_bytes > 0


def test_hold_for_backward_reports_to_open_counters_only():
    t = torch.ones(10)
    hold_for_backward(t)  # no counter open: nothing happens
    with SavedTensorCounter() as counter:
        hold_for_backward(t)
        hold_for_backward(t[2:])  # same storage
    assert counter.saved_bytes == 40


def test_counter_keeps_no_tensor_alive_after_closing():
    x = torch.randn(100, requires_grad=True)
    with SavedTensorCounter() as counter:
        torch.exp(x).sum()
    assert counter._held == {}


def test_inner_that_is_not_saved_tensors_hooks_is_a_type_error_naming_the_fix():
    with pytest.raises(TypeError, match="save_on_cpu"):
        SavedTensorCounter(inner=lambda t: t)


def test_saved_tensor_table_lists_shape_dtype_device_bytes():
    x = torch.randn(3, 4, requires_grad=True)
    with SavedTensorCounter() as counter:
        torch.exp(x).sum()
    assert saved_tensor_table(counter) == [{"shape": (3, 4), "dtype": "float32", "device": "cpu", "bytes": 48}]


def test_docstring_examples_run_as_written():
    import doctest

    import modlayers.lessons.memory.saved_tensors

    result = doctest.testmod(modlayers.lessons.memory.saved_tensors, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
