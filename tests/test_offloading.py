"""Checkpoint and offload (modlayers/offloading.py): what moves to host memory, counted and predicted.

Under checkpoint-and-offload each checkpointed layer's positional input (its hidden states) goes through
``save_on_cpu``'s pack hook: ``layers x batch x seq_len x hidden`` values. On a CPU that "host memory" is
the memory the tensor is already in, so nothing is copied and no memory is saved; on a GPU the device
keeps that much less. Gradients are those of no checkpointing.
"""

import pytest
import torch
import transformers.modeling_utils

from modlayers.checkpointing import enable_gradient_checkpointing
from modlayers.lessons.memory.analytic import checkpointed_layer_saved_bytes
from modlayers.lessons.memory.measure import count_saved_bytes, hidden_state_loss, measure_training_step, tiny_model_and_batch
from modlayers.lessons.memory.policies import get_policy
from modlayers.lessons.memory.saved_tensors import SavedTensorCounter
from modlayers.offloading import OFFLOAD_OBSERVERS, offloading_saved_tensors

SHAPE = dict(layers=3, hidden_size=32, num_heads=4, seq_len=16, batch=2)


def counted_step(model, batch, policy_name):
    get_policy(policy_name).enable(model)
    model.zero_grad(set_to_none=True)
    with SavedTensorCounter(model) as counter:
        loss = hidden_state_loss(model, batch)
    loss.backward()
    return counter


def test_the_bytes_handed_to_host_memory_are_the_checkpointed_layers_inputs():
    model, batch = tiny_model_and_batch(**SHAPE)
    counter = counted_step(model, batch, "checkpoint-and-offload")
    predicted = SHAPE["layers"] * checkpointed_layer_saved_bytes(SHAPE["batch"], SHAPE["seq_len"], SHAPE["hidden_size"])
    assert counter.offloaded_bytes == predicted == 3 * 2 * 16 * 32 * 4


def test_on_a_cpu_nothing_is_copied_and_no_memory_is_saved():
    model, batch = tiny_model_and_batch(**SHAPE)
    every_layer = counted_step(model, batch, "every-layer")
    offloaded = counted_step(model, batch, "checkpoint-and-offload")
    assert offloaded.copied_to_host_bytes == 0  # tensor.cpu() of a CPU tensor is that tensor
    assert offloaded.bytes_by_device == every_layer.bytes_by_device == {"cpu": every_layer.saved_bytes}
    record = measure_training_step(model, batch, "checkpoint-and-offload", repeats=0, peak=False)
    assert record.offloaded_bytes == 0 and record.saved_bytes == every_layer.saved_bytes


def test_without_an_accelerator_the_held_tensor_is_the_saved_tensor_itself():
    pairs = []
    OFFLOAD_OBSERVERS.append(lambda tensor, held: pairs.append((tensor, held)))
    try:
        x = torch.randn(4, 4, requires_grad=True)
        with offloading_saved_tensors(device_type="cpu"):
            loss = (x * x).sum()
        loss.backward()
    finally:
        OFFLOAD_OBSERVERS.pop()
    assert pairs and all(held.data_ptr() == tensor.data_ptr() for tensor, held in pairs)
    torch.testing.assert_close(x.grad, 2 * x.detach())


@pytest.mark.parametrize("use_reentrant", [False, True])
def test_gradients_with_checkpoint_and_offload_equal_no_checkpointing(use_reentrant):
    model, batch = tiny_model_and_batch(**SHAPE, dropout=0.2)
    grads = {}
    for name in ("off", "checkpoint-and-offload"):
        get_policy(name).enable(model)
        if name != "off":
            enable_gradient_checkpointing(model, offload=True, use_reentrant=use_reentrant)
        model.zero_grad(set_to_none=True)
        torch.manual_seed(0)  # the same dropout masks
        hidden_state_loss(model, batch).backward()
        grads[name] = [p.grad.clone() for p in model.parameters()]
    for reference, gradient in zip(grads["off"], grads["checkpoint-and-offload"], strict=True):
        torch.testing.assert_close(gradient, reference, rtol=1e-6, atol=1e-7)


@pytest.mark.skipif(not hasattr(transformers.modeling_utils, "save_on_cpu"), reason="transformers before offload=True")
def test_the_kit_offloads_the_same_tensors_as_transformers_offload_true(monkeypatch):
    """transformers 5.25's activation_checkpointing_enable(offload=True) against the kit's, on the same model.

    transformers 5.25 opens save_on_cpu(pin_memory=True), which fails where no pinned-memory allocator
    exists (this CPU); the test records what reaches its pack hook with pinning off.
    """
    upstream_packed, upstream_arguments = [], []

    def recording_save_on_cpu(pin_memory, device_type):
        upstream_arguments.append((pin_memory, device_type))
        hooks = torch.autograd.graph.save_on_cpu(pin_memory=pin_memory and torch.cuda.is_available(), device_type=device_type)
        pack = hooks.pack_hook
        hooks.pack_hook = lambda tensor: (upstream_packed.append((tuple(tensor.shape), tensor.dtype)), pack(tensor))[1]
        return hooks

    monkeypatch.setattr(transformers.modeling_utils, "save_on_cpu", recording_save_on_cpu)
    model, batch = tiny_model_and_batch(**SHAPE)
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False}, offload=True)
    hidden_state_loss(model, batch).backward()

    kit_packed = []
    OFFLOAD_OBSERVERS.append(lambda tensor, held: kit_packed.append((tuple(tensor.shape), tensor.dtype)))
    try:
        get_policy("checkpoint-and-offload").enable(model)
        hidden_state_loss(model, batch).backward()
    finally:
        OFFLOAD_OBSERVERS.pop()
    assert upstream_arguments[0][0] is True  # transformers pins
    assert kit_packed == upstream_packed == [((2, 16, 32), torch.float32)] * 3  # one hidden-state input per layer


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: on a CPU offloading moves nothing")
def test_on_a_gpu_device_bytes_fall_by_the_offloaded_inputs_and_they_are_copied():
    model, batch = tiny_model_and_batch(**SHAPE, device="cuda")
    every_layer = count_saved_bytes(model, batch, "every-layer")
    offloaded = count_saved_bytes(model, batch, "checkpoint-and-offload")
    moved = SHAPE["layers"] * checkpointed_layer_saved_bytes(SHAPE["batch"], SHAPE["seq_len"], SHAPE["hidden_size"])
    assert offloaded == {"cuda": every_layer["cuda"] - moved, "cpu": moved}
    counter = counted_step(model, batch, "checkpoint-and-offload")
    assert counter.copied_to_host_bytes == counter.offloaded_bytes == moved
