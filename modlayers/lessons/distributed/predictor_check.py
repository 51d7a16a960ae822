"""The memory predictor against a measurement: small configs trained one step on this machine's CPUs.

Each run builds the kit's :class:`~modlayers.lessons.tiny_transformer.TinyTransformerModel` from a config (no dropout,
so what is saved does not depend on the random masks), wraps it as a strategy does (``none``, ``ddp``,
``fsdp2``: :func:`~modlayers.lessons.distributed.strategies.wrap_model`), and trains one AdamW step on random tokens
with the memory lab's stand-in loss ``last_hidden_state.float().pow(2).mean()``, in ``fp32`` or under
``torch.autocast("cpu", dtype=torch.bfloat16)``. What it measures, per rank:

- the state: the bytes of this rank's parameters, gradients and AdamW moments
  (:func:`~modlayers.lessons.distributed.rank_memory.measure_state_bytes`; a shard under FSDP2);
- the activations: the distinct storages autograd keeps from forward to backward, parameters (and FSDP2's
  gathered parameters) excluded, counted by the saved-tensor hooks
  (:class:`~modlayers.lessons.distributed.rank_memory.RankActivationCounter`). Under autocast this count includes the
  16-bit weight copies the matmuls keep, which the predictor shows as a buffer: :func:`predicted_for` adds
  them back so both sides count the same tensors.

Several processes are launched with the kit's launcher (gloo)::

    python -m modlayers.lessons.distributed.predictor_check --world-size 2 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import torch

from modlayers.lessons.distributed.launching import DistributedContext, init_distributed, launch, shutdown
from modlayers.lessons.distributed.rank_memory import (
    RankActivationCounter,
    RankMemory,
    gather_rank_memory,
    measure_state_bytes,
    step_peak_bytes,
)
from modlayers.lessons.distributed.strategies import unwrap, wrap_model
from modlayers.lessons.distributed.sweep import release_freed_heap
from modlayers.lessons.distributed.training_run import enable_checkpointing
from modlayers.lessons.memory.autocast_activations import saved_weight_copies_bytes
from modlayers.lessons.memory.predictor import checkpointed_layers, predict_memory
from modlayers.lessons.tiny_transformer import TinyTransformerConfig, TinyTransformerModel

STATE_TOLERANCE, ACTIVATION_TOLERANCE = 0.01, 0.05
MEASURED_PRECISIONS = ("fp32", "bf16-autocast")


def small_configs() -> dict[str, TinyTransformerConfig]:
    """The configs this machine trains: the kit's tiny transformer and one shaped like MiniLM (2 of its 6 layers).

    MiniLM's layer (all-MiniLM-L6-v2: hidden 384, 12 heads, MLP 1536) with a 1000-token vocabulary, so that a
    step fits a laptop; no dropout (see the module docstring).
    """
    common = dict(hidden_dropout=0.0, attention_dropout=0.0, is_causal=False, vocab_size=1000, max_position_embeddings=128)
    return {
        "tiny": TinyTransformerConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, **common),
        "minilm-shaped": TinyTransformerConfig(hidden_size=384, num_hidden_layers=2, num_attention_heads=12,
                                               intermediate_size=1536, **common),
    }


def measure_run(config: TinyTransformerConfig, context: DistributedContext, *, strategy: str = "none",
                precision: str = "fp32", checkpointing: str = "off", global_batch: int = 4, seq_len: int = 32,
                seed: int = 0, measure_peak: bool = False) -> list[RankMemory]:
    """Train ``config`` one step under ``strategy`` and measure every rank (a collective under a process group).

    On ``context.device`` (the CPU, or a GPU: then ``bf16-autocast`` is ``torch.autocast("cuda", torch.bfloat16)``).

    Returns:
        One :class:`~modlayers.lessons.distributed.rank_memory.RankMemory` per rank, in rank order; ``peak`` only with
        ``measure_peak`` (``torch.cuda.max_memory_allocated`` on a GPU, the profiler's allocations on the CPU).

    Raises:
        ValueError: a precision other than ``fp32`` / ``bf16-autocast``, a batch that does not split over the ranks.
    """
    if precision not in MEASURED_PRECISIONS:
        raise ValueError(f"precision must be one of {MEASURED_PRECISIONS} on the CPU, got {precision!r} (bf16-mixed's "
                         "fp32 master copy is an optimizer's, not torch's: it is predicted, not measured here).")
    if global_batch % context.world_size:
        raise ValueError(f"global_batch={global_batch} does not split over {context.world_size} ranks.")
    torch.manual_seed(seed)
    model = TinyTransformerModel(config).train()
    enable_checkpointing(model, checkpointing)
    model = wrap_model(model, strategy, context)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=False)  # one parameter at a time: no big temporaries
    batch = global_batch // context.world_size
    torch.manual_seed(seed + 1 + context.rank)  # each rank its own rows
    device = context.device
    input_ids = torch.randint(1, config.vocab_size, (batch, seq_len)).to(device)  # (b, s)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16-autocast"
                else contextlib.nullcontext())
    counter = RankActivationCounter(unwrap(model))
    measured = {}

    def step() -> None:
        with counter:
            with autocast:
                hidden = model(input_ids=input_ids).last_hidden_state  # (b, s, h)
            loss = hidden.float().pow(2).mean()
        loss.backward()
        measured["gradients"] = measure_state_bytes(model)["gradients"]
        optimizer.step()

    peak, source = None, ""
    if measure_peak:
        peak, source = step_peak_bytes(step, device, sum(measure_state_bytes(model).values()))
    else:
        step()
    state = measure_state_bytes(model, optimizer)
    record = RankMemory(context.rank, context.world_size, strategy, checkpointing, device.type, batch, seq_len,
                        state["parameters"], measured["gradients"], state["optimizer_state"], counter.saved_bytes,
                        peak, source)
    return gather_rank_memory(record)


def predicted_for(config: TinyTransformerConfig, record: RankMemory, precision: str) -> dict[str, float]:
    """What the predictor says for a measured record, in the record's columns.

    ``activations`` is the predictor's activations plus, under autocast, the weight copies the matmuls keep
    (:func:`~modlayers.lessons.memory.autocast_activations.saved_weight_copies_bytes`), which the saved-tensor count
    includes (the module docstring says why).
    """
    sharding = "none" if record.world_size == 1 else record.strategy
    predicted = predict_memory(config, precision=precision, optimizer="adamw", sharding=sharding,
                               world_size=record.world_size, batch=record.batch_per_rank, seq_len=record.seq_len,
                               checkpointing=record.checkpointing, activation_formula="counted")
    activations = predicted.activations
    if precision == "bf16-autocast":
        activations += saved_weight_copies_bytes(config, checkpointed_layers(record.checkpointing, config.num_hidden_layers))
    return {"parameters": predicted.weights, "gradients": predicted.gradients,
            "optimizer_state": predicted.optimizer_state, "activations": activations}


def agreement_rows(config_name: str, config: TinyTransformerConfig, records: list[RankMemory], precision: str) -> list[dict]:
    """One row per rank and column: measured, predicted, relative error, and whether it is within tolerance."""
    rows = []
    for record in records:
        predicted = predicted_for(config, record, precision)
        for column, value in predicted.items():
            measured = getattr(record, column)
            error = abs(measured - value) / value if value else float(measured != 0)
            tolerance = ACTIVATION_TOLERANCE if column == "activations" else STATE_TOLERANCE
            rows.append({"config": config_name, "precision": precision, "strategy": record.strategy,
                         "world_size": record.world_size, "checkpointing": record.checkpointing, "rank": record.rank,
                         "column": column, "measured": measured, "predicted": value, "relative_error": error,
                         "within": error <= tolerance})
    return rows


DEFAULT_RUNS = tuple((name, precision, strategy, checkpointing) for name in ("tiny", "minilm-shaped")
                     for precision in MEASURED_PRECISIONS for strategy in ("ddp", "fsdp2")
                     for checkpointing in ("off", "every-layer"))


def check_runs(context: DistributedContext, runs=DEFAULT_RUNS, *, global_batch: int = 4, seq_len: int = 32) -> list[dict]:
    """Measure every ``(config name, precision, strategy, checkpointing)`` run and compare it with the predictor."""
    configs = small_configs()
    rows = []
    for name, precision, strategy, checkpointing in runs:
        strategy = strategy if context.world_size > 1 else "none"
        records = measure_run(configs[name], context, strategy=strategy, precision=precision,
                              checkpointing=checkpointing, global_batch=global_batch, seq_len=seq_len)
        rows.extend(agreement_rows(name, configs[name], records, precision))
        release_freed_heap()  # the run's freed memory back to the system: a process holds one run's peak, not their sum
    return rows


def measure_in_processes(world_size: int = 2, *, global_batch: int = 4, seq_len: int = 32, timeout: float = 300) -> list[dict]:
    """Launch ``world_size`` gloo processes that run :func:`check_runs`; return its rows (every rank's).

    Example:
        >>> rows = measure_in_processes(2)  # doctest: +SKIP
        >>> all(row["within"] for row in rows)  # doctest: +SKIP
        True
    """
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "rows.json"
        launch(["-m", "modlayers.lessons.distributed.predictor_check", "--json", str(out), "--global-batch", str(global_batch),
                "--seq-len", str(seq_len)], world_size, timeout=timeout, env={"OMP_NUM_THREADS": "1"})
        return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m modlayers.lessons.distributed.predictor_check", description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, required=True, help="where rank 0 writes the rows")
    p.add_argument("--global-batch", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=32)
    args = p.parse_args(argv)
    context = init_distributed("cpu")
    rows = check_runs(context, global_batch=args.global_batch, seq_len=args.seq_len)
    if context.is_main:
        args.json.write_text(json.dumps(rows, indent=1))
    shutdown(exit_at_once=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
