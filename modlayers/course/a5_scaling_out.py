"""Assignment 5, scaling out: checks and hidden tests for ``average_gradients`` and ``rank_state_bytes``.

Graded parts (one nbgrader check cell each, 10 points in all):

==============================  ======  ==================================================================
part                            points  behaviour
==============================  ======  ==================================================================
``average_gradients``
  ``"one process"``             3       on 2 gloo processes, each running half of the batch, every rank
                                        ends with the gradient one process computes on the whole batch
  ``"frozen parameters"``       1       a parameter with ``requires_grad=False`` (``p.grad is None``) is
                                        left alone, and the others are still averaged
``rank_state_bytes``
  ``"ddp"``                     2       every rank: the whole parameters, gradients, 2 Adam moments, in
                                        each parameter's own dtype
  ``"fsdp2"``                   2       every rank: ``1 / world_size`` of each (dims that divide evenly)
  ``"uneven shards"``           1       FSDP2 splits dim 0 as ``torch.chunk`` does: ranks hold different rows
  ``"frozen parameters"``       1       a frozen parameter is held but has no gradient and no Adam state
==============================  ======  ==================================================================

``average_gradients`` is tried where it matters: :func:`~modlayers.lessons.distributed.launching.launch` starts 2 gloo
processes running :mod:`modlayers.course.a5_ranks`, which runs the learner's function (shipped as its source
text) after each rank's backward pass; the gradients are compared, here, with one process's on the whole batch.
One launch serves every part of a check (visible or hidden), so a notebook starts the processes once per kind.
``rank_state_bytes`` is compared with the kit's own accounting,
:func:`~modlayers.lessons.distributed.rank_memory.state_bytes_per_rank`, which the test suite proves equal to what DDP and
FSDP2 really hold on 2 gloo processes (``measure_state_bytes``).
"""

from __future__ import annotations

import ast
import copy
import inspect
import json
import subprocess
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from modlayers.course import a5_ranks
from modlayers.course.checking import CheckFailed, NotWrittenYet, _is_copy_of, call, passed, short
from modlayers.course.hidden_seeds import hidden_seed
from modlayers.lessons.distributed.launching import launch
from modlayers.lessons.distributed.rank_memory import fsdp2_shard_rows, state_bytes_per_rank

__all__ = [
    "AVERAGE_GRADIENTS_PARTS",
    "RANK_STATE_BYTES_PARTS",
    "build_state_model",
    "check_average_gradients",
    "check_rank_state_bytes",
    "hidden_test_average_gradients",
    "hidden_test_rank_state_bytes",
    "random_averaging_cases",
    "random_state_cases",
]

WORLD_SIZE = 2
LAUNCH_TIMEOUT_SECONDS = 240
RANKS_FILE = str(Path(a5_ranks.__file__).resolve())
AVERAGE_GRADIENTS_PARTS = {
    "one process": "every rank ends with one process's gradient on the whole batch",
    "frozen parameters": "parameters without a gradient left alone, the others averaged",
}
RANK_STATE_BYTES_PARTS = {
    "ddp": "DDP: every rank holds the whole, in each parameter's dtype",
    "fsdp2": "FSDP2: 1 / world_size of each on every rank",
    "uneven shards": "FSDP2 with rows that do not split evenly",
    "frozen parameters": "frozen parameters: held, no gradient, no Adam state",
}
STATE_KEYS = ("parameters", "gradients", "optimizer_state")

AVERAGING_CASES = {
    "one process": [
        {"label": "2 layers (3 -> 4 -> 2), batch 4", "seed": 0, "sizes": [3, 4, 2], "batch": 4},
        {"label": "3 layers (5 -> 6 -> 6 -> 1), batch 8", "seed": 1, "sizes": [5, 6, 6, 1], "batch": 8},
    ],
    "frozen parameters": [
        {"label": "3 layers (3 -> 5 -> 4 -> 2), the first frozen (requires_grad=False), batch 4", "seed": 2,
         "sizes": [3, 5, 4, 2], "frozen": [0], "batch": 4},
    ],
}


def _parts(part: str | None, parts: dict) -> list[str]:
    if part is None:
        return list(parts)
    if part not in parts:
        raise ValueError(f"part must be one of {list(parts)} or None (every part), got {part!r}.")
    return [part]


# ---------------------------------------------------------------- average_gradients, on 2 processes


def _is_stub(tree: ast.Module, name: str) -> bool:
    """Whether ``name``'s body is only a docstring, comments and ``raise NotImplementedError...``."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
            return (len(body) == 1 and isinstance(body[0], ast.Raise) and body[0].exc is not None
                    and "NotImplementedError" in ast.unparse(body[0].exc))
    return False


def _source_of(name: str, fn: Callable) -> tuple[str, str]:
    """The source text of the learner's function and its name there, to run on the ranks; refuse a stub, a copy,
    the kit."""
    if not callable(fn):
        raise TypeError(f"expected the function {name}, got {type(fn).__name__} ({fn!r}). Run the cell that defines "
                        f"{name} and pass the function itself, e.g. check_{name}({name}).")
    module = getattr(inspect.unwrap(fn), "__module__", None) or ""
    if module.split(".")[0] == "modlayers" or getattr(fn, "__code__", None) is a5_ranks.average_gradients_reference.__code__:
        raise CheckFailed(f"{name} is the kit's {module}.{getattr(fn, '__qualname__', fn)}. The assignment is to write it "
                          "yourself: an answer that is, wraps or imports the kit's implementation scores no points.")
    copied = _is_copy_of(fn, [a5_ranks.average_gradients_reference])
    if copied:
        raise CheckFailed(f"{name} is a copy of the kit's {copied}. Write it yourself: copied code scores no points.")
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError) as error:
        raise CheckFailed(f"the source of {name} cannot be read ({error}): define it with `def {name}(model):` in a "
                          "notebook cell and run that cell, so that its code can be sent to the two processes.") from None
    defined = getattr(fn, "__name__", name)
    if _is_stub(tree, defined):
        raise NotWrittenYet(f"{name} is not written yet: replace `raise NotImplementedError()` in its cell with your "
                            "code, run that cell, then run this check again.")
    if not any(isinstance(node, ast.FunctionDef) and node.name == defined for node in tree.body):
        raise CheckFailed(f"{name} is not a function defined with `def {name}(model):` (got {short(fn)}); the two "
                          "processes need its own code.")
    if "modlayers" in source or "a5_ranks" in source:
        raise CheckFailed(f"{name} uses the kit (`modlayers`). The assignment is to write it yourself with "
                          "torch.distributed: an answer that is, wraps or imports the kit's implementation scores no points.")
    return source, defined


_LAUNCHES: dict[tuple[str, str], dict[str, list[dict]]] = {}  # (source, cases) -> {label: [record per rank]}


def _run_on_ranks(name: str, source: str, defined: str, cases: list[dict]) -> dict[str, list[dict]]:
    """Run ``source``'s function ``defined`` (the learner's ``name``) on :data:`WORLD_SIZE` gloo processes for every case (once per source and cases)."""
    key = (source + "\n#" + defined, json.dumps(cases, sort_keys=True))
    if key in _LAUNCHES:
        return _LAUNCHES[key]
    with tempfile.TemporaryDirectory(prefix="modlayers-a5-") as tmp:
        spec = Path(tmp) / "spec.json"
        spec.write_text(json.dumps({"name": defined, "source": source, "cases": cases}))
        try:
            result = launch([RANKS_FILE, str(spec), tmp], nproc_per_node=WORLD_SIZE, timeout=LAUNCH_TIMEOUT_SECONDS,
                            check=False)
        except subprocess.TimeoutExpired:
            raise CheckFailed(
                f"the {WORLD_SIZE} processes running {name} did not finish in {LAUNCH_TIMEOUT_SECONDS} s. A collective "
                "(all_reduce, barrier...) that only some ranks call waits forever for the others: every rank must "
                "make the same collective calls, in the same order."
            ) from None
        files = [Path(tmp) / f"rank{rank}.pt" for rank in range(WORLD_SIZE)]
        if result.returncode != 0 or not all(f.exists() for f in files):
            raise CheckFailed(f"the {WORLD_SIZE} processes running {name} stopped (status {result.returncode}) before "
                              f"they reported:\n{result.stderr.strip()[-1500:]}")
        records = [torch.load(f, weights_only=False) for f in files]
    by_label: dict[str, list[dict]] = {}
    for rank_records in records:
        for record in rank_records:
            by_label.setdefault(record["label"], []).append(record)
    _LAUNCHES[key] = by_label
    return by_label


def _why(mine: torch.Tensor, reference: torch.Tensor, local: torch.Tensor) -> str:
    """The likely mistake behind a gradient ``mine`` that is not the one-process ``reference``."""
    def close(a, b):
        return a.shape == b.shape and bool(torch.allclose(a, b, rtol=1e-6, atol=1e-9))

    if close(mine, WORLD_SIZE * reference):
        return (f"it is {WORLD_SIZE} times the one-process gradient: all_reduce with ReduceOp.SUM adds the ranks' "
                "gradients, and an average also divides by how many ranks there are")
    if close(mine, local):
        return ("it is still this rank's own gradient, of its half of the batch: the ranks never exchanged their "
                "gradients, or the exchanged result was not written back into p.grad")
    if close(mine, local / WORLD_SIZE):
        return "it is this rank's own gradient divided by the world size: nothing was added from the other rank"
    if close(mine, reference / WORLD_SIZE):
        return "it is the one-process gradient divided by the world size once too often"
    return f"it differs from the one-process gradient by up to {float((mine - reference).abs().max()):.3g}"


def _judge(name: str, case: dict, records: list[dict] | None) -> None:
    """Raise :class:`CheckFailed` unless every rank holds one process's gradients for ``case``."""
    label = case["label"]
    if records is None or len(records) < WORLD_SIZE:
        raise CheckFailed(f"{label}: not every rank reached this case; an earlier case stopped them.")
    failed = [(rank, r["error"]) for rank, r in enumerate(records) if "error" in r]
    if failed:
        rank, error = failed[0]
        hint = ""
        if "NoneType" in error:
            hint = ("\n  A parameter that does not train (requires_grad=False) has p.grad None after backward, on "
                    "every rank: there is nothing to average for it.")
        elif "Timed out" in error or "Connection closed" in error:
            hint = ("\n  The other rank did not make the same collective call: every rank must call all_reduce for "
                    "the same tensors, in the same order.")
        raise CheckFailed(f"{label}, rank {rank}: {name} raised an error:\n{textwrap.indent(error, '    ')}{hint}")
    reference_model = a5_ranks.build_model(case)
    a5_ranks.backward_on(reference_model, case, slice(None))
    reference = a5_ranks.gradients(reference_model)
    names = [n for n, _ in reference_model.named_parameters()]
    for rank, record in enumerate(records):
        local_model = a5_ranks.build_model(case)
        rows = a5_ranks.rank_share(case["batch"], WORLD_SIZE, rank)
        a5_ranks.backward_on(local_model, case, rows)
        local = a5_ranks.gradients(local_model)
        where = f"{label}, rank {rank} (rows {rows.start}-{rows.stop - 1} of the batch)"
        for pname, mine, want, own in zip(names, record["grads"], reference, local):
            if want is None and mine is not None:
                raise CheckFailed(f"{where}: parameter {pname} is frozen (requires_grad=False) and has no gradient in "
                                  f"one process, but has one after {name}. Leave p.grad None where it is None.")
            if want is not None and mine is None:
                raise CheckFailed(f"{where}: parameter {pname} has no gradient after {name}; the averaged gradient "
                                  "belongs in p.grad, where the optimizer reads it.")
            if want is not None and not torch.allclose(mine, want, rtol=1e-6, atol=1e-9):
                raise CheckFailed(f"{where}, parameter {pname} {tuple(want.shape)}: {_why(mine, want, own)}.")


def _averaging(fn: Callable, cases_by_part: dict[str, list[dict]], chosen: list[str]) -> None:
    name = "average_gradients"
    source, defined = _source_of(name, fn)
    every = [case for part in cases_by_part for case in cases_by_part[part]]
    records = _run_on_ranks(name, source, defined, every)
    for part in chosen:
        for case in cases_by_part[part]:
            _judge(name, case, records.get(case["label"]))


def check_average_gradients(fn: Callable, part: str | None = None) -> None:
    """Check ``fn(model) -> None`` on 2 gloo processes: after it, ``p.grad`` is one process's gradient on every rank.

    Args:
        fn: the learner's function, defined with ``def`` in a notebook cell (its source is sent to the processes,
            where only ``torch``, ``dist``, ``nn``, ``F`` and ``math`` are defined).
        part: one of :data:`AVERAGE_GRADIENTS_PARTS`, or None for all.

    Raises:
        CheckFailed: the first case, rank and parameter whose gradient is wrong, and the likely mistake.
        NotWrittenYet: ``fn`` is still the stub (found without starting any process).
    """
    chosen = _parts(part, AVERAGE_GRADIENTS_PARTS)
    _averaging(fn, AVERAGING_CASES, chosen)
    passed("average_gradients" + (f", {part}" if part else ""),
           "; ".join(AVERAGE_GRADIENTS_PARTS[p] for p in chosen) + f" ({WORLD_SIZE} gloo processes).")


def random_averaging_cases(seed: int, count: int = 6, frozen: bool = False) -> list[dict]:
    """``count`` random cases for ``average_gradients``: 1-3 layers of 1-6 features, a batch of 2-8 rows; with
    ``frozen=True`` some layers (never all) have ``requires_grad=False``."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for index in range(count):
        layers = int(torch.randint(1 + frozen, 4, (), generator=generator))
        sizes = torch.randint(1, 7, (layers + 1,), generator=generator).tolist()
        batch = WORLD_SIZE * int(torch.randint(1, 5, (), generator=generator))
        case = {"label": f"a hidden case ({'frozen ' if frozen else ''}#{index}): sizes {sizes}, batch {batch}",
                "seed": int(torch.randint(0, 2**30, (), generator=generator)), "sizes": sizes, "batch": batch}
        if frozen:
            order = torch.randperm(layers, generator=generator).tolist()
            case["frozen"] = sorted(order[: int(torch.randint(1, layers, (), generator=generator))])
            case["label"] += f", layers {case['frozen']} frozen"
        cases.append(case)
    return cases


def hidden_test_average_gradients(fn: Callable, part: str) -> None:
    """Compare ``fn`` with one process on random models and batches of every part (one launch), judge ``part``."""
    chosen = _parts(part, AVERAGE_GRADIENTS_PARTS)
    cases = {p: random_averaging_cases(hidden_seed(f"a5_scaling_out/average_gradients/{p}"), frozen=p != "one process")
             for p in AVERAGE_GRADIENTS_PARTS}
    _averaging(fn, cases, chosen)


# ---------------------------------------------------------------- rank_state_bytes, against the kit's accounting


def build_state_model(sizes: list[int], dtype: torch.dtype = torch.float32, frozen: tuple[int, ...] = ()) -> nn.Sequential:
    """``Linear`` layers of ``sizes`` in ``dtype``, with ``requires_grad=False`` on the layers in ``frozen``.

    Example:
        >>> model = build_state_model([3, 5, 1], frozen=(1,))
        >>> [(tuple(p.shape), p.requires_grad) for p in model.parameters()]
        [((5, 3), True), ((5,), True), ((1, 5), False), ((1,), False)]
    """
    model = nn.Sequential(*[nn.Linear(a, b, dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:])])
    for index in frozen:
        model[index].requires_grad_(False)
    return model


# (label, sizes, dtype, frozen layers, strategy, world size, ranks)
STATE_CASES = {
    "ddp": [("float32 layers 4 -> 6 -> 2", [4, 6, 2], torch.float32, (), "ddp", 2, (0, 1)),
            ("a float64 layer 3 -> 5", [3, 5], torch.float64, (), "ddp", 4, (3,))],
    "fsdp2": [("float32 layers 4 -> 6 -> 2", [4, 6, 2], torch.float32, (), "fsdp2", 2, (0, 1)),
              ("a float64 layer 8 -> 4", [8, 4], torch.float64, (), "fsdp2", 4, (0, 3))],
    "uneven shards": [("float32 layers 3 -> 5 -> 1 (5 rows and 1 row)", [3, 5, 1], torch.float32, (), "fsdp2", 2, (0, 1)),
                      ("a float32 layer 2 -> 3 (3 rows over 4 ranks)", [2, 3], torch.float32, (), "fsdp2", 4, (0, 3))],
    "frozen parameters": [("layers 4 -> 6 -> 2, the first frozen", [4, 6, 2], torch.float32, (0,), "ddp", 2, (0,)),
                          ("layers 4 -> 6 -> 2 -> 2, the second frozen", [4, 6, 2, 2], torch.float32, (1,), "fsdp2", 2, (1,))],
}


def _state_mistake(model: nn.Module, strategy: str, world_size: int, rank: int, key: str, got) -> str:
    """The likely mistake behind a wrong ``key`` count."""
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return f"return each count as a number of bytes (an int), not {type(got).__name__}"
    whole = sum(p.numel() * p.element_size() for p in model.parameters())
    trained = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    numbers = sum(p.numel() for p in model.parameters())
    want = state_bytes_per_rank(model, strategy, world_size, rank)
    whole_of_key = {"parameters": whole, "gradients": trained, "optimizer_state": 2 * trained}[key]
    if key == "optimizer_state" and got == want["gradients"]:
        return "Adam keeps two tensors per trained parameter (exp_avg and exp_avg_sq), each of its size"
    if strategy == "ddp" and got == whole_of_key / world_size:
        return "divided by the world size, but under DDP every rank holds a whole copy"
    if any(p.dtype != torch.float32 for p in model.parameters()) and got in (4 * numbers, 8 * numbers, 4 * numbers / world_size):
        return "counted 4 bytes a number, but these parameters are not float32: use each one's element_size()"
    if key != "parameters" and trained != whole and got in (
            state_bytes_per_rank(copy.deepcopy(model).requires_grad_(True), strategy, world_size, rank)[key],):
        return "counted the frozen parameters too: a parameter with requires_grad=False gets no gradient, no Adam state"
    if key == "parameters" and trained != whole and got == want["gradients"]:
        return "left the frozen parameters out: every rank still holds them (or its shard of them)"
    if strategy == "fsdp2" and abs(got - whole_of_key / world_size) < 1:
        return ("split every parameter in equal parts, but FSDP2 splits each one along its first dimension, by rows, "
                "and rows do not always split evenly (see the table above the question)")
    return "see how the table above the question counts it"


def check_rank_state_bytes(fn: Callable, part: str | None = None) -> None:
    """Check ``fn(model, strategy, world_size, rank) -> {"parameters", "gradients", "optimizer_state"}`` (bytes).

    Raises:
        CheckFailed: the first wrong count, with the model, the strategy, the rank and the likely mistake.
        NotWrittenYet: ``fn`` is still the stub.
    """
    name = "rank_state_bytes"
    chosen = _parts(part, RANK_STATE_BYTES_PARTS)
    for label, sizes, dtype, frozen, strategy, world_size, ranks in [c for p in chosen for c in STATE_CASES[p]]:
        model = build_state_model(sizes, dtype, frozen)
        shapes = ", ".join(f"{tuple(p.shape)}{'' if p.requires_grad else ' frozen'}" for p in model.parameters())
        for rank in ranks:
            case = f"{label}, {strategy} over {world_size} ranks, rank {rank} (parameters {shapes}; {dtype})"
            want = state_bytes_per_rank(model, strategy, world_size, rank)
            got = call(name, fn, copy.deepcopy(model), strategy, world_size, rank, references=[state_bytes_per_rank])
            if not isinstance(got, dict) or set(got) != set(STATE_KEYS):
                raise CheckFailed(f"{case}: {name} returned {short(got)}; return a dict with the keys {list(STATE_KEYS)}.")
            for key in STATE_KEYS:
                value = got[key]
                if isinstance(value, torch.Tensor) and value.numel() == 1:
                    value = value.item()
                if not isinstance(value, (int, float)) or isinstance(value, bool) or value != want[key]:
                    why = _state_mistake(model, strategy, world_size, rank, key, value)
                    raise CheckFailed(f"{case}: {key} {short(value)} bytes, expected {want[key]}: {why}.")
    passed(name + (f", {part}" if part else ""), "; ".join(RANK_STATE_BYTES_PARTS[p] for p in chosen) + ".")


def random_state_cases(seed: int, part: str, count: int = 30) -> list[tuple[nn.Module, str, int, int]]:
    """``count`` random ``(model, strategy, world_size, rank)`` cases holding ``part``'s behaviour."""
    _parts(part, RANK_STATE_BYTES_PARTS)
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for _ in range(count):
        world_size = int(torch.randint(2, 9, (), generator=generator))
        layers = int(torch.randint(1 + (part == "frozen parameters"), 4, (), generator=generator))
        sizes = torch.randint(1, 13, (layers + 1,), generator=generator).tolist()
        if part in ("fsdp2", "frozen parameters"):  # every dim 0 divides evenly: only this part's behaviour shows
            sizes = [sizes[0]] + [world_size * max(1, s // world_size) for s in sizes[1:]]
        if part == "uneven shards":
            sizes = [sizes[0]] + [s if s % world_size else s + 1 for s in sizes[1:]]
        dtype = [torch.float32, torch.float64, torch.bfloat16][int(torch.randint(0, 3, (), generator=generator))]
        frozen = ()
        if part == "frozen parameters":
            frozen = tuple(sorted(torch.randperm(layers, generator=generator)[: int(torch.randint(1, layers, (), generator=generator))].tolist()))
        strategy = "ddp" if part == "ddp" else "fsdp2" if part != "frozen parameters" else ["ddp", "fsdp2"][
            int(torch.randint(0, 2, (), generator=generator))]
        rank = int(torch.randint(0, world_size, (), generator=generator))
        cases.append((build_state_model(sizes, dtype, frozen), strategy, world_size, rank))
    return cases


def hidden_test_rank_state_bytes(fn: Callable, part: str) -> None:
    """Compare ``fn`` with the kit's ``state_bytes_per_rank`` on 30 random models of ``part``, seeded by the instructor."""
    name = "rank_state_bytes"
    for model, strategy, world_size, rank in random_state_cases(hidden_seed(f"a5_scaling_out/{name}/{part}"), part):
        want = state_bytes_per_rank(model, strategy, world_size, rank)
        got = call(name, fn, copy.deepcopy(model), strategy, world_size, rank,
                   references=[state_bytes_per_rank, fsdp2_shard_rows])
        values = [got.get(key) for key in STATE_KEYS] if isinstance(got, dict) else got
        values = [v.item() if isinstance(v, torch.Tensor) and v.numel() == 1 else v for v in values] \
            if isinstance(values, list) else values
        if values != [want[key] for key in STATE_KEYS]:
            shapes = ", ".join(f"{tuple(p.shape)}{'' if p.requires_grad else ' frozen'}" for p in model.parameters())
            raise CheckFailed(
                f"{name} differs from the kit's accounting on an input you have not seen:\n"
                f"  input:    parameters {shapes} ({next(model.parameters()).dtype}), {strategy} over {world_size} "
                f"ranks, rank {rank}\n  yours:    {short(got)}\n  expected: {want}"
            )
