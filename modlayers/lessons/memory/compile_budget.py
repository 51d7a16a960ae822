"""torch's compile-time checkpointing: ``activation_memory_budget``, read off the partitioner's graphs.

Under ``torch.compile`` nobody marks layers: AOTAutograd traces forward and backward into one joint
graph, and its min-cut partitioner (``min_cut_rematerialization_partition``, the one inductor uses)
decides which forward values the backward graph gets *saved* and which it *recomputes*.
``torch._functorch.config.activation_memory_budget`` in ``[0, 1]`` steers it: ``1.0`` is the
runtime-optimal plan, ``0.0`` saves only the graph's inputs and recomputes everything, and a value in
between asks for that fraction of the activation memory (between those two), with the least recompute
(a knapsack over the FLOPs ``FlopCounterMode`` gives each operation).

:func:`partition_for_budget` compiles one training step (model and loss, one graph) with
``aot_autograd(fw_compiler=..., bw_compiler=..., partition_fn=min_cut_rematerialization_partition)``
and compilers that keep the two graphs and run them as they are (no C++ to build, seconds on a CPU):

- **saved**: the backward graph's inputs that are not gradients coming in (``tangents_*``): what the
  forward hands over. Parameters among them are in memory anyway and are left out of ``saved_bytes``;
- **recompute**: the backward graph's operations that are also in the forward graph (FX keeps each
  joint-graph node's name in both), their FLOPs counted by ``FlopCounterMode`` as they run.

Inductor partitions with the same min-cut function, but first runs its own decompositions and
joint-graph passes, which among other things replace the written-out attention by CPU's fused
attention kernel. ``partitioner="inductor"`` records exactly those graphs (inductor's own
``partition_fn``, still without generating code): ``tests/test_memory_compile_budget.py`` checks their
saved bytes against an inductor-compiled step, counted by saved-tensor hooks at run time.

**Dropout is refused.** Below a budget of 1.0 the partitioner may recompute a random operation in the
backward graph, where it draws new numbers: the backward then uses a dropout mask the forward never
used, and the gradients are silently wrong (pytorch/pytorch#190758, #190717; reproduced here on CPU,
inductor included). Sweep a model with its dropout at 0.
"""

import dataclasses
from collections.abc import Iterable

import torch
import torch._dynamo
import torch.fx
from torch import nn
from torch._dynamo.backends.common import aot_autograd
from torch._functorch.partitioners import min_cut_rematerialization_partition
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from modlayers.lessons.memory.measure import hidden_state_loss
from modlayers.lessons.memory.recompute_flops import StepFlops

DEFAULT_BUDGETS = (1.0, 0.5, 0.2, 0.0)
PARTITIONERS = ("min-cut", "inductor")

# Inductor's joint-graph passes turn written-out attention into CPU's fused kernel, which FlopCounterMode's
# table lacks: count it with torch's own formulas for the fused kernels (forward: q @ k^T and probs @ v;
# backward: four products, the kernel's internal recompute of the scores not included).
def _fused_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _fused_attention_backward_flops(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None,
                                    **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


FUSED_CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _fused_attention_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _fused_attention_backward_flops,
}


def _flop_counter() -> FlopCounterMode:
    return FlopCounterMode(display=False, custom_mapping=FUSED_CPU_ATTENTION_FLOPS)


@dataclasses.dataclass(frozen=True)
class SavedValue:
    """One value the compiled forward hands to the compiled backward."""

    name: str
    shape: tuple[int, ...]
    dtype: torch.dtype
    nbytes: int
    is_parameter: bool


@dataclasses.dataclass(frozen=True)
class BudgetPlan:
    """What the partitioner chose for one ``activation_memory_budget``.

    Attributes:
        budget: the ``activation_memory_budget`` value.
        saved: every value the forward graph hands to the backward graph, parameters included.
        saved_bytes: bytes of the saved values that are not parameters (activations and the batch).
        flops: forward, backward and recompute FLOPs of the compiled step (``flops.saved_bytes`` is ``saved_bytes``).
        recomputed_products: names of the matrix products the backward graph runs again.
    """

    budget: float
    saved: tuple[SavedValue, ...]
    saved_bytes: int
    flops: StepFlops
    recomputed_products: tuple[str, ...]


class _CountingInterpreter(torch.fx.Interpreter):
    """Runs a graph node by node under an open ``FlopCounterMode``; adds up the FLOPs of the named nodes apart."""

    def __init__(self, module, counter: FlopCounterMode, names: set[str]):
        super().__init__(module)
        self.counter, self.names, self.named_flops = counter, names, 0

    def run_node(self, node):
        before = self.counter.get_total_flops()
        result = super().run_node(node)
        if node.name in self.names:
            self.named_flops += self.counter.get_total_flops() - before
        return result


class _RecordingBackend:
    """A ``torch.compile`` backend: AOTAutograd with the min-cut partitioner; keeps the graphs, counts FLOPs."""

    def __init__(self, partitioner: str = "min-cut"):
        self.example_inputs = None
        self.forward_graph = self.backward_graph = None
        self.forward_flops = self.backward_flops = self.recompute_flops = None
        self.recomputed = set()
        if partitioner == "inductor":  # what inductor does before its code generation, nothing else
            from torch._inductor.compile_fx import partition_fn
            from torch._inductor.decomposition import select_decomp_table

            self._aot = aot_autograd(fw_compiler=self._forward, bw_compiler=self._backward, partition_fn=partition_fn,
                                     decompositions=select_decomp_table())
        else:
            self._aot = aot_autograd(fw_compiler=self._forward, bw_compiler=self._backward,
                                     partition_fn=min_cut_rematerialization_partition)

    def __call__(self, graph_module, example_inputs):
        if self.example_inputs is not None:
            raise ValueError(
                "The training step compiled into more than one graph (a graph break), so one partition does not "
                "describe it. Make the step traceable in one piece (TORCH_LOGS=graph_breaks shows where it breaks)."
            )
        self.example_inputs = list(example_inputs)
        return self._aot(graph_module, example_inputs)

    def _forward(self, graph_module, example_inputs):
        self.forward_graph = graph_module

        def run(args):
            with _flop_counter() as counter:
                result = torch.fx.Interpreter(graph_module).boxed_run(args)
            self.forward_flops = counter.get_total_flops()
            return result

        run._boxed_call = True
        return run

    def _backward(self, graph_module, example_inputs):
        self.backward_graph = graph_module
        forward_nodes = {node.name for node in self.forward_graph.graph.nodes if node.op == "call_function"}
        self.recomputed = {node.name for node in graph_module.graph.nodes
                           if node.op == "call_function" and node.name in forward_nodes}

        def run(args):
            with _flop_counter() as counter:
                interpreter = _CountingInterpreter(graph_module, counter, self.recomputed)
                result = interpreter.boxed_run(args)
            self.backward_flops = counter.get_total_flops() - interpreter.named_flops
            self.recompute_flops = interpreter.named_flops
            return result

        run._boxed_call = True
        return run


def check_no_dropout(model: nn.Module) -> None:
    """Raise ``ValueError`` when ``model`` would draw random numbers in a training step (dropout on, in train mode).

    See the module docstring: below a budget of 1.0 the partitioner may redraw them in the backward pass.
    """
    for name, module in model.named_modules():
        p = module.p if isinstance(module, nn.Dropout) else getattr(module, "dropout_p", 0.0)
        if module.training and p > 0:
            raise ValueError(
                f"{type(model).__name__} has dropout {p} in {name or 'the model'} ({type(module).__name__}). Under "
                "torch.compile with activation_memory_budget < 1 the partitioner may recompute a random operation in "
                "the backward pass with new random numbers, and the gradients come out silently wrong "
                "(pytorch/pytorch#190758). Build the model with its dropout at 0 for the sweep (e.g. "
                "tiny_model_and_batch(..., dropout=0.0)), or call model.eval() on the dropout modules."
            )


def partition_for_budget(model: nn.Module, batch: dict, budget: float, loss_fn=hidden_state_loss,
                         partitioner: str = "min-cut") -> BudgetPlan:
    """Compile one training step of ``model`` at ``activation_memory_budget=budget`` and read off the plan.

    Runs the step once (forward, loss and backward, compiled as one graph; the gradients land in
    ``model``'s parameters). Checkpointing layers the kit enabled are left as they are: switch them off
    first (``get_policy("off").enable(model)``) to see torch's plan alone.

    Args:
        model: a model without dropout, in train mode.
        batch: keyword arguments for ``model``.
        budget: in ``[0, 1]``.
        loss_fn: ``loss_fn(model, batch) -> scalar``, compiled with the model.
        partitioner: ``"min-cut"``: the min-cut partitioner on the step's own operations, the same
            products eager runs (FLOPs comparable one to one with the kit's policies); ``"inductor"``:
            inductor's partition function with its decompositions and joint-graph passes first, the
            graphs inductor would generate code for. Those passes rewrite the written-out attention into
            CPU's fused attention kernel, which keeps no attention probabilities.

    Returns:
        A :class:`BudgetPlan`.

    Raises:
        ValueError: a budget outside ``[0, 1]``, a model with dropout on (see :func:`check_no_dropout`),
            or a step that compiles into more than one graph.

    Example:
        >>> model, batch = tiny_model_and_batch(layers=2, hidden_size=64, seq_len=128, batch=2, dropout=0.0)
        >>> plan = partition_for_budget(model, batch, 0.0)
        >>> plan.flops.recompute == plan.flops.forward  # budget 0: the whole forward again
        True
    """
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0.0 <= budget <= 1.0:
        raise ValueError(f"budget must be a number in [0, 1] (activation_memory_budget), got {budget!r}.")
    if partitioner not in PARTITIONERS:
        raise ValueError(f"partitioner must be one of {PARTITIONERS}, got {partitioner!r}.")
    model.train()
    check_no_dropout(model)
    backend = _RecordingBackend(partitioner)
    torch._dynamo.reset()  # compile afresh: the budget is read when the graph is partitioned
    model.zero_grad(set_to_none=True)
    step = torch.compile(lambda inputs: loss_fn(model, inputs), backend=backend, fullgraph=True)
    with torch._functorch.config.patch(activation_memory_budget=float(budget)):
        step(batch).backward()
    torch._dynamo.reset()

    parameters = {id(p) for p in model.parameters()}
    inputs = {f"primals_{index + 1}": value for index, value in enumerate(backend.example_inputs)}
    saved = []
    for node in backend.backward_graph.graph.nodes:
        value = node.meta.get("val")
        if node.op != "placeholder" or node.name.startswith("tangents") or not isinstance(value, torch.Tensor):
            continue
        is_parameter = id(inputs.get(node.name)) in parameters
        saved.append(SavedValue(node.name, tuple(value.shape), value.dtype, value.numel() * value.element_size(),
                                is_parameter))
    saved_bytes = sum(value.nbytes for value in saved if not value.is_parameter)
    label = "compile" if partitioner == "min-cut" else "inductor"
    flops = StepFlops(f"{label} budget {budget:g}", backend.forward_flops, backend.backward_flops,
                      backend.recompute_flops, saved_bytes)
    products = tuple(sorted(name for name in backend.recomputed if name.startswith(("mm", "addmm", "bmm", "_scaled_dot"))))
    return BudgetPlan(float(budget), tuple(saved), saved_bytes, flops, products)


def budget_sweep(model: nn.Module, batch: dict, budgets: Iterable[float] = DEFAULT_BUDGETS,
                 loss_fn=hidden_state_loss, partitioner: str = "min-cut") -> list[BudgetPlan]:
    """:func:`partition_for_budget` for each budget, in order (a few seconds each on a CPU)."""
    return [partition_for_budget(model, batch, budget, loss_fn, partitioner) for budget in budgets]
