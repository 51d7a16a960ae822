"""Assignment 5's ranks: the program each of the 2 gloo processes runs to try a learner's gradient averaging.

    python modlayers/course/a5_ranks.py SPEC.json OUT_DIR     # started twice by modlayers.lessons.distributed.launch

It imports torch and nothing of the kit (so a rank starts in a second or two, and a learner's code cannot reach
the kit's implementation). ``SPEC.json`` holds the learner's function as source text and the cases; for each case
every rank builds the same model (:func:`build_model`, same seed), runs the forward and backward pass of its own
share of the batch (:func:`rank_share`), calls the learner's function, and keeps the gradients it leaves in
``p.grad``. Rank ``r`` writes ``OUT_DIR/rank<r>.pt``: one record per case, ``{"label", "grads"}`` or
``{"label", "error"}``. The checks (``modlayers.course.a5_scaling_out``) compare them with one process.

The learner's function runs with only ``torch``, ``dist`` (``torch.distributed``), ``nn``, ``F`` and ``math`` in
its namespace, and every collective times out after :data:`COLLECTIVE_TIMEOUT_SECONDS` (a collective that only
one rank calls would otherwise wait forever).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import sys
import traceback
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

COLLECTIVE_TIMEOUT_SECONDS = 30
SOURCE_NAME = "<your code>"


def build_model(case: dict) -> nn.Sequential:
    """The case's float64 model: ``Linear`` layers of ``case["sizes"]`` with ``tanh`` between them, seeded by
    ``case["seed"]``; the layers in ``case["frozen"]`` have ``requires_grad=False`` (their gradients stay None)."""
    torch.manual_seed(case["seed"])
    sizes = case["sizes"]
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out, dtype=torch.float64))
        if index < len(sizes) - 2:
            layers.append(nn.Tanh())
    model = nn.Sequential(*layers)
    linears = [layer for layer in model if isinstance(layer, nn.Linear)]
    for index in case.get("frozen", []):
        linears[index].requires_grad_(False)
    return model


def case_batch(case: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The case's whole batch: inputs ``(batch, sizes[0])`` and targets ``(batch, sizes[-1])``, float64."""
    generator = torch.Generator().manual_seed(case["seed"] + 1)
    x = torch.randn(case["batch"], case["sizes"][0], generator=generator, dtype=torch.float64)
    y = torch.randn(case["batch"], case["sizes"][-1], generator=generator, dtype=torch.float64)
    return x, y


def rank_share(batch: int, world_size: int, rank: int) -> slice:
    """The rows of the whole batch that rank ``rank`` runs: ``batch / world_size`` consecutive rows."""
    if batch % world_size:
        raise ValueError(f"batch {batch} does not split evenly over {world_size} ranks; use a multiple of it.")
    share = batch // world_size
    return slice(rank * share, (rank + 1) * share)


def backward_on(model: nn.Module, case: dict, rows: slice) -> None:
    """Mean squared error of ``model`` on ``rows`` of the case's batch, and its backward pass."""
    x, y = case_batch(case)
    F.mse_loss(model(x[rows]), y[rows]).backward()


def gradients(model: nn.Module) -> list[torch.Tensor | None]:
    """A copy of every parameter's ``.grad`` (None stays None), in ``model.parameters()`` order."""
    return [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]


def average_gradients_reference(model: nn.Module) -> None:
    """The kit's gradient averaging: what DDP does after backward, one all-reduce per parameter."""
    world_size = dist.get_world_size()
    for parameter in model.parameters():
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
            parameter.grad /= world_size


def _your_frames(error: BaseException) -> str:
    """The traceback lines of the learner's own code, and the error."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == SOURCE_NAME]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(error), error)
    return "".join(lines).strip()


def run(spec: dict, out_dir: Path) -> None:
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=COLLECTIVE_TIMEOUT_SECONDS))
    rank, world_size = dist.get_rank(), dist.get_world_size()
    records = []
    namespace = {"torch": torch, "dist": dist, "nn": nn, "F": F, "math": math, "__name__": "__your_code__"}
    try:
        exec(compile(spec["source"], SOURCE_NAME, "exec"), namespace)
        fn = namespace[spec["name"]]
    except Exception as error:  # the learner's cell does not run on its own
        records.append({"label": "defining the function", "error": _your_frames(error)})
        fn = None
    for case in spec["cases"] if fn is not None else []:
        model = build_model(case)
        backward_on(model, case, rank_share(case["batch"], world_size, rank))
        try:
            fn(model)
        except Exception as error:
            records.append({"label": case["label"], "error": _your_frames(error)})
            if "Timed out" in str(error) or "Connection closed" in str(error):
                break  # the ranks are out of step: the next case would wait too
            continue
        records.append({"label": case["label"], "grads": gradients(model)})
    torch.save(records, out_dir / f"rank{rank}.pt")
    try:
        dist.barrier()  # leave together, so no rank's last collective loses its partner
    except Exception:  # the other rank is stuck in a collective of the learner's, or gone: its records say why
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # without gloo's teardown, which can abort a rank at exit on a loaded machine


if __name__ == "__main__":
    run(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
