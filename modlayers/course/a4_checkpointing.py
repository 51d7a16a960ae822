"""Assignment 4, checkpointing: checks and hidden tests for ``MLPBlock``, ``block_saved_bytes``, ``measure_checkpointing``.

Graded parts (one nbgrader check cell each, 10 points in all):

===========================  ======  ======================================================
part                         points  behaviour
===========================  ======  ======================================================
``MLPBlock``                 3       a GradientCheckpointingLayer, x + fc2(gelu(fc1(norm(x)))), same
                                     output and gradients checkpointed (forward run twice)
``block_saved_bytes``
  ``"not checkpointed"``     2       the bytes one block keeps, tensor by tensor
  ``"checkpointed"``         1       the bytes a checkpointed block keeps: its input
``measure_checkpointing``
  ``"saved bytes"``          2       the counts off and on equal the kit's measurement
  ``"gradients"``            2       the gradient difference is measured: on a stack with a layer
                                     that is *not* safe to checkpoint it must report that layer's
                                     difference, so a hard-coded 0.0 fails
===========================  ======  ======================================================

The checks measure the kit's :class:`MLPBlock`, so that a question about memory does not depend on the
learner's own layer being right.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from modlayers.checkpointing import (
    GradientCheckpointingLayer,
    disable_gradient_checkpointing,
    enable_gradient_checkpointing,
)
from modlayers.course.checking import CheckFailed, call, describe_args, passed, require_tensor, short
from modlayers.course.hidden_seeds import hidden_seed
from modlayers.lessons.memory.saved_tensors import SavedTensorCounter, saved_tensor_table

__all__ = [
    "BLOCK_SAVED_BYTES_PARTS",
    "MEASURE_PARTS",
    "MLPBlock",
    "check_block_saved_bytes",
    "check_measure_checkpointing",
    "check_mlp_block",
    "hidden_test_block_saved_bytes",
    "hidden_test_measure_checkpointing",
    "hidden_test_mlp_block",
    "measured_block_saved_bytes",
    "mlp_block_saved_bytes",
]

BLOCK_SAVED_BYTES_PARTS = {"not checkpointed": "without checkpointing", "checkpointed": "checkpointed"}
MEASURE_PARTS = {"saved bytes": "saved bytes off and on", "gradients": "gradient difference measured"}


class MLPBlock(GradientCheckpointingLayer):
    """The reference layer of assignment 4: ``x + fc2(gelu(fc1(norm(x))))``, checkpointable.

    Example:
        >>> block = MLPBlock(hidden_size=16, intermediate_size=64)
        >>> block(torch.randn(2, 8, 16)).shape
        torch.Size([2, 8, 16])
    """

    def __init__(self, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size)
        self.fc1 = nn.Linear(hidden_size, intermediate_size)
        self.fc2 = nn.Linear(intermediate_size, hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states + self.fc2(F.gelu(self.fc1(self.norm(hidden_states))))  # (batch, seq, hidden)


class CheckpointUnsafeBlock(MLPBlock):
    """An :class:`MLPBlock` whose branch is scaled by 1.5 when checkpointing is on: a layer that is *not*
    safe to checkpoint (its forward depends on the switch), so its gradients change with checkpointing."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        scale = 1.5 if self.gradient_checkpointing else 1.0
        return hidden_states + scale * self.fc2(F.gelu(self.fc1(self.norm(hidden_states))))


def mlp_block_saved_bytes(batch: int, seq_len: int, hidden_size: int, intermediate_size: int, checkpointed: bool) -> int:
    """Predicted bytes one float32 :class:`MLPBlock` keeps for backward on CPU.

    With ``N = batch * seq_len`` positions: the LayerNorm keeps its input ``N*H`` and a mean and
    1/std per position ``2*N``; ``fc1`` keeps its input ``N*H``; the GELU its input ``N*I``; ``fc2`` its
    input ``N*I``; 4 bytes each. Checkpointed, the block keeps only its input, ``N*H``.

    Example:
        >>> mlp_block_saved_bytes(2, 8, 16, 64, checkpointed=False), mlp_block_saved_bytes(2, 8, 16, 64, checkpointed=True)
        (10368, 1024)
    """
    n = batch * seq_len
    if checkpointed:
        return 4 * n * hidden_size
    return 4 * n * (2 * hidden_size + 2 * intermediate_size + 2)


def _saved_bytes_of_step(model: nn.Module, hidden_states: torch.Tensor) -> tuple[int, list[dict], list[torch.Tensor]]:
    """One step of ``model(x).sum()``: (saved bytes, the saved tensors, the gradients of x and every parameter)."""
    model.train()
    model.zero_grad(set_to_none=True)
    x = hidden_states.detach().clone().requires_grad_(True)
    with SavedTensorCounter(model) as counter:
        loss = model(x).sum()
    loss.backward()
    gradients = [x.grad.clone()] + [p.grad.clone() for p in model.parameters()]
    return counter.saved_bytes, saved_tensor_table(counter), gradients


def _reference_measurement(model: nn.Module, hidden_states: torch.Tensor) -> dict:
    """The kit's answer to ``measure_checkpointing``, on a copy of ``model`` (the learner's is left alone)."""
    probe = type(model)(*[type(layer)(layer.fc1.in_features, layer.fc1.out_features) for layer in model])
    probe.load_state_dict(model.state_dict())
    disable_gradient_checkpointing(probe)
    off, _, grads_off = _saved_bytes_of_step(probe, hidden_states)
    enable_gradient_checkpointing(probe)
    on, _, grads_on = _saved_bytes_of_step(probe, hidden_states)
    differences = [float((a - b).abs().max()) for a, b in zip(grads_off, grads_on)]
    return {"off": off, "on": on, "all": max(differences), "parameters": max(differences[1:]), "input": differences[0]}


def measured_block_saved_bytes(batch: int, seq_len: int, hidden_size: int, intermediate_size: int, checkpointed: bool) -> int:
    """Bytes one float32 :class:`MLPBlock` keeps for backward, measured with the kit's counter.

    Example:
        >>> measured_block_saved_bytes(2, 8, 16, 64, checkpointed=False)
        10368
    """
    return _measure_block(batch, seq_len, hidden_size, intermediate_size, checkpointed)[:2][0]


def _measure_block(batch, seq_len, hidden_size, intermediate_size, checkpointed) -> tuple[int, list[dict]]:
    torch.manual_seed(0)
    block = MLPBlock(hidden_size, intermediate_size)
    if checkpointed:
        enable_gradient_checkpointing(block)
    saved, table, _ = _saved_bytes_of_step(block, torch.randn(batch, seq_len, hidden_size))
    return saved, table


def check_mlp_block(block_class: type, hidden_size: int = 16, intermediate_size: int = 48, seed: int = 0) -> None:
    """Check a learner's ``MLPBlock(hidden_size, intermediate_size)`` class.

    It must subclass :class:`~modlayers.checkpointing.GradientCheckpointingLayer` (and not the kit's
    :class:`MLPBlock`), hold ``norm``, ``fc1``, ``fc2`` of the right sizes, compute
    ``x + fc2(gelu(fc1(norm(x))))``, and give the same output and gradients in a stack of two with
    checkpointing on as off, the forward running twice per block when it is on.

    Raises:
        CheckFailed: the first requirement broken, named.
        NotWrittenYet: the class is still the stub.
    """
    name = "MLPBlock"
    if not isinstance(block_class, type):
        raise TypeError(f"pass the class itself, check_mlp_block(MLPBlock), got {type(block_class).__name__}.")
    if issubclass(block_class, MLPBlock):
        raise CheckFailed(
            "MLPBlock is (or subclasses) the kit's modlayers.course.a4_checkpointing.MLPBlock. Write it yourself on "
            "GradientCheckpointingLayer: the kit's class scores no points."
        )
    if not issubclass(block_class, GradientCheckpointingLayer):
        bases = ", ".join(base.__name__ for base in block_class.__bases__)
        raise CheckFailed(
            f"MLPBlock subclasses ({bases}); it must subclass GradientCheckpointingLayer "
            "(class MLPBlock(GradientCheckpointingLayer): ...) so that checkpointing can reach it."
        )
    allowed = ("checkpointing.py",)
    torch.manual_seed(seed)
    block = call(name, block_class, hidden_size, intermediate_size, allowed=allowed)
    for attribute, kind, shape in (
        ("norm", nn.LayerNorm, (hidden_size,)),
        ("fc1", nn.Linear, (intermediate_size, hidden_size)),
        ("fc2", nn.Linear, (hidden_size, intermediate_size)),
    ):
        module = getattr(block, attribute, None)
        if not isinstance(module, kind):
            raise CheckFailed(
                f"MLPBlock({hidden_size}, {intermediate_size}).{attribute} is {type(module).__name__}, expected "
                f"nn.{kind.__name__}. Create it in __init__ as self.{attribute} = nn.{kind.__name__}(...)."
            )
        if tuple(module.weight.shape) != shape:
            raise CheckFailed(
                f"MLPBlock({hidden_size}, {intermediate_size}).{attribute}.weight has shape {tuple(module.weight.shape)}, "
                f"expected {shape}."
            )
    block.train()
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 5, hidden_size, generator=generator)
    branch = F.linear(F.gelu(F.linear(F.layer_norm(x, (hidden_size,), block.norm.weight, block.norm.bias, block.norm.eps),
                                       block.fc1.weight, block.fc1.bias)), block.fc2.weight, block.fc2.bias).detach()
    out = require_tensor(name, call(name, block, x.clone(), allowed=allowed), (2, 5, hidden_size), f"input of shape {tuple(x.shape)}")
    if not torch.allclose(out, x + branch, atol=1e-5):
        hint = " Without the residual: return hidden_states + the MLP branch." if torch.allclose(out, branch, atol=1e-5) else ""
        raise CheckFailed(
            f"MLPBlock's output differs from x + fc2(gelu(fc1(norm(x)))) by up to "
            f"{float((out - x - branch).detach().abs().max()):.3g}.{hint}"
        )

    torch.manual_seed(seed)
    stack = nn.Sequential(block_class(hidden_size, intermediate_size), block_class(hidden_size, intermediate_size)).train()
    results = []
    for on in (False, True):
        (enable_gradient_checkpointing if on else disable_gradient_checkpointing)(stack)
        calls = []

        def count_call(*_):
            calls.append(1)

        # Count the runs of each block's body through its first sub-module: only forward is checkpointed, so
        # hooks on the block itself run once a step, while its sub-modules run again in the recompute.
        handles = [next(layer.children(), layer).register_forward_pre_hook(count_call) for layer in stack]
        stack.zero_grad(set_to_none=True)
        leaf = x.clone().requires_grad_(True)

        def step():
            output = stack(leaf)
            output.pow(2).mean().backward()
            return output

        output = call(name, step, allowed=(*allowed, step, count_call))
        for handle in handles:
            handle.remove()
        results.append((output.detach(), leaf.grad, [p.grad.clone() for p in stack.parameters()], len(calls)))
    disable_gradient_checkpointing(stack)
    (out_off, x_grad_off, grads_off, calls_off), (out_on, x_grad_on, grads_on, calls_on) = results
    if not torch.allclose(out_off, out_on, atol=1e-6):
        raise CheckFailed("two MLPBlocks give a different output with checkpointing on; the forward must not depend on it.")
    worst = max(float((a - b).abs().max()) for a, b in zip([x_grad_off, *grads_off], [x_grad_on, *grads_on]))
    if worst > 1e-5:
        raise CheckFailed(f"gradients differ by up to {worst:.3g} with checkpointing on; they must be the same.")
    if calls_on != 2 * calls_off:
        raise CheckFailed(
            f"with checkpointing on the blocks' forward ran {calls_on} times for {calls_off} without; a checkpointed "
            "layer runs its forward again in the backward pass. Define forward in MLPBlock's class body (the base class "
            "wraps it there), and do not replace it afterwards."
        )
    passed(name, "a GradientCheckpointingLayer, x + fc2(gelu(fc1(norm(x)))), same output and gradients checkpointed (forward run twice).")


_SHAPES = ((2, 8, 16, 64), (1, 5, 8, 24), (3, 4, 32, 32))


def check_block_saved_bytes(fn: Callable, part: str | None = None, shapes=_SHAPES) -> None:
    """Check ``fn(batch, seq_len, hidden_size, intermediate_size, checkpointed) -> int`` against the counter.

    Args:
        part: ``"not checkpointed"``, ``"checkpointed"``, or None for both.
        shapes: ``(batch, seq_len, hidden_size, intermediate_size)`` tuples to try.

    Raises:
        CheckFailed: the first prediction that differs, with the list of tensors the block keeps.
        NotWrittenYet: ``fn`` is still the stub.
    """
    if part is not None and part not in BLOCK_SAVED_BYTES_PARTS:
        raise ValueError(f"part must be one of {list(BLOCK_SAVED_BYTES_PARTS)} or None, got {part!r}.")
    name = "block_saved_bytes"
    modes = [part == "checkpointed"] if part else [False, True]
    for shape in shapes:
        for checkpointed in modes:
            measured, table = _measure_block(*shape, checkpointed)
            arguments = dict(zip(("batch", "seq_len", "hidden_size", "intermediate_size"), shape), checkpointed=checkpointed)
            predicted = call(name, fn, *shape, checkpointed, references=[mlp_block_saved_bytes, measured_block_saved_bytes])
            if isinstance(predicted, torch.Tensor) and predicted.numel() == 1:
                predicted = predicted.item()
            if not isinstance(predicted, (int, float)) or isinstance(predicted, bool):
                raise CheckFailed(f"{name}({describe_args((), arguments)}) returned {short(predicted)}; return a number of bytes.")
            if predicted != measured:
                rows = "\n".join(f"    {tuple(r['shape'])} {r['dtype']}: {r['bytes']} bytes" for r in table)
                lesson = "A checkpointed layer keeps only its input." if checkpointed else "Float32 is 4 bytes per element."
                raise CheckFailed(
                    f"{name}({describe_args((), arguments)}) = {predicted}, but the kit measured {measured} bytes. "
                    f"{lesson} The block keeps:\n{rows}"
                )
    what = " and ".join("checkpointed" if m else "without checkpointing" for m in modes)
    passed(name + (f", {part}" if part else ""), f"matches the kit's measurement, {what}.")


def check_measure_checkpointing(
    fn: Callable, part: str | None = None, layers: int = 3, batch: int = 2, seq_len: int = 8, hidden_size: int = 16,
    intermediate_size: int = 64, seed: int = 0,
) -> None:
    """Check ``fn(model, hidden_states) -> (saved_off, saved_on, max_grad_difference)``.

    ``"saved bytes"``: on a stack of ``layers`` kit :class:`MLPBlock` s the two counts must equal the
    kit's measurement and the gradient difference be ~0. ``"gradients"``: on a stack whose middle layer
    is not safe to checkpoint (:class:`CheckpointUnsafeBlock`) the difference must be the one the kit
    measures on a copy (over the parameters, with or without the input), so it must really be measured.

    Raises:
        CheckFailed: a number that differs from the kit's own measurement.
        NotWrittenYet: ``fn`` is still the stub.
    """
    if part is not None and part not in MEASURE_PARTS:
        raise ValueError(f"part must be one of {list(MEASURE_PARTS)} or None, got {part!r}.")
    name = "measure_checkpointing"
    setting = f"{layers} MLPBlocks({hidden_size}, {intermediate_size}) on hidden states {(batch, seq_len, hidden_size)}"
    for current in [part] if part else list(MEASURE_PARTS):
        torch.manual_seed(seed)
        kinds = [MLPBlock] * layers
        if current == "gradients":
            kinds[layers // 2] = CheckpointUnsafeBlock
        model = nn.Sequential(*[kind(hidden_size, intermediate_size) for kind in kinds]).train()
        hidden_states = torch.randn(batch, seq_len, hidden_size)
        expected = _reference_measurement(model, hidden_states)  # first, on a copy
        # the kit code it may call: the checkpointing switch, the counter and the model's own blocks
        allowed = ("checkpointing.py", "lessons/memory/", MLPBlock.forward, CheckpointUnsafeBlock.forward)
        result = call(name, fn, model, hidden_states.clone().requires_grad_(True), allowed=allowed)
        try:
            saved_off, saved_on, difference = (float(v) for v in result)
        except (TypeError, ValueError) as error:
            raise CheckFailed(
                f"{name} returned {short(result)}; return three numbers: (saved_off, saved_on, max_grad_difference)."
            ) from error
        if current == "saved bytes":
            if saved_off != expected["off"]:
                raise CheckFailed(
                    f"{setting}: saved_off = {saved_off:.0f} bytes, but the kit measured {expected['off']}. Count one step "
                    "without checkpointing: open SavedTensorCounter(model) around the forward and the loss, close it "
                    "before backward()."
                )
            if saved_on != expected["on"]:
                hint = " (that is the count without checkpointing: enable it first)" if saved_on == expected["off"] else ""
                raise CheckFailed(
                    f"{setting}: saved_on = {saved_on:.0f} bytes, but the kit measured {expected['on']} with every layer "
                    f"checkpointed{hint}. Use enable_gradient_checkpointing(model) before the second step."
                )
            if not 0.0 <= difference <= 1e-5 or math.isnan(difference):
                raise CheckFailed(
                    f"{setting}: max_grad_difference = {difference:.3g}; checkpointing must not change the gradients of "
                    "these blocks, so it should be ~0. Compare the gradients of the same parameters (and the input) "
                    "between the two steps, with model.zero_grad() before each."
                )
            per_off = mlp_block_saved_bytes(batch, seq_len, hidden_size, intermediate_size, checkpointed=False)
            per_on = mlp_block_saved_bytes(batch, seq_len, hidden_size, intermediate_size, checkpointed=True)
            passed(name + (f", {part}" if part else ""),
                   f"{layers} layers keep {saved_off:.0f} bytes (predicted {layers} x {per_off}) without checkpointing, "
                   f"{saved_on:.0f} (predicted {layers} x {per_on}) with it: {saved_off / saved_on:.1f}x less.")
        else:
            accepted = [expected["all"], expected["parameters"]]
            if not any(math.isclose(difference, want, rel_tol=1e-3, abs_tol=1e-6) for want in accepted):
                raise CheckFailed(
                    f"a stack whose layer {layers // 2} scales its branch by 1.5 when checkpointed (a layer that is NOT "
                    f"safe to checkpoint): max_grad_difference = {difference:.4g}, but the kit measured "
                    f"{expected['all']:.4g} (every parameter and the input). Measure it: keep the gradients of the first "
                    "step (clone them), run the second, and take the largest absolute difference."
                )
            passed(name + (f", {part}" if part else ""),
                   f"on a layer that is not safe to checkpoint you measured a gradient difference of {difference:.3g}.")


def hidden_test_mlp_block(block_class: type) -> None:
    """:func:`check_mlp_block` on sizes and a seed drawn from the instructor's secret."""
    generator = torch.Generator().manual_seed(hidden_seed("a4_checkpointing/mlp_block"))
    hidden, intermediate = (int(torch.randint(4, 33, (), generator=generator)) for _ in range(2))
    check_mlp_block(block_class, hidden_size=hidden, intermediate_size=intermediate, seed=int(torch.randint(0, 1000, (), generator=generator)))


def hidden_test_block_saved_bytes(fn: Callable, part: str) -> None:
    """:func:`check_block_saved_bytes` on four shapes drawn from the instructor's secret."""
    generator = torch.Generator().manual_seed(hidden_seed(f"a4_checkpointing/block_saved_bytes/{part}"))
    shapes = [tuple(int(torch.randint(1, high, (), generator=generator)) for high in (5, 9, 33, 65)) for _ in range(4)]
    check_block_saved_bytes(fn, part, shapes=shapes)


def hidden_test_measure_checkpointing(fn: Callable, part: str) -> None:
    """:func:`check_measure_checkpointing` on sizes and a seed drawn from the instructor's secret."""
    generator = torch.Generator().manual_seed(hidden_seed(f"a4_checkpointing/measure_checkpointing/{part}"))
    layers, batch, seq_len, hidden, intermediate = (int(torch.randint(low, high, (), generator=generator))
                                                     for low, high in ((2, 5), (1, 4), (2, 9), (4, 25), (4, 41)))
    check_measure_checkpointing(fn, part, layers=layers, batch=batch, seq_len=seq_len, hidden_size=hidden,
                                intermediate_size=intermediate, seed=int(torch.randint(0, 1000, (), generator=generator)))
