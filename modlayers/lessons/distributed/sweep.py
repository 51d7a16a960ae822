"""Several trainings in one launch: each (strategy, checkpointing) trained a few steps and its memory measured.

Starting processes and importing torch and transformers takes longer than a few steps of a tiny model, so a
comparison runs every setting inside one process group::

    torchrun --nproc_per_node=2 -m modlayers.lessons.distributed.sweep --runs ddp:off,ddp:every-layer,fsdp2:off --json out.json
    python -m modlayers.lessons.distributed.sweep --runs none:off,none:every-layer --json one.json   # one process

A run is ``strategy:checkpointing`` with optional ``:reentrant`` (torch's re-entrant checkpoint), ``:static``
(DDP's ``static_graph``), ``:find-unused`` (DDP's ``find_unused_parameters``) and ``:plain-buckets`` (DDP with
torch's default ``gradient_as_bucket_view=False``). A run that raises records its
error and the sweep goes on, so a known failure can be shown next to the runs that work.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import sys
from pathlib import Path

from modlayers.lessons.distributed.launching import DistributedContext, init_distributed, shutdown
from modlayers.lessons.distributed.tasks import TASKS, build_task
from modlayers.lessons.distributed.training_run import train_distributed
from modlayers.lessons.training import set_seed

FLAGS = {"reentrant": ("use_reentrant", True), "static": ("static_graph", True),
         "find-unused": ("find_unused_parameters", True), "plain-buckets": ("gradient_as_bucket_view", False)}


def parse_run(text: str) -> dict:
    """``"ddp:every-layer:reentrant"`` -> ``{"strategy": "ddp", "checkpointing": "every-layer", "use_reentrant": True}``.

    Raises:
        ValueError: fewer than two parts, or an unknown flag.

    Example:
        >>> parse_run("fsdp2:off")
        {'strategy': 'fsdp2', 'checkpointing': 'off'}
    """
    parts = text.strip().split(":")
    if len(parts) < 2:
        raise ValueError(f"A run is strategy:checkpointing[:flag...], e.g. ddp:every-layer:reentrant; got {text!r}.")
    run = {"strategy": parts[0], "checkpointing": parts[1]}
    for flag in parts[2:]:
        if flag not in FLAGS:
            raise ValueError(f"Unknown flag {flag!r} in run {text!r}; flags are {', '.join(FLAGS)}.")
        name, value = FLAGS[flag]
        run[name] = value
    return run


def release_freed_heap() -> bool:
    """Hand the C heap's free pages back to the operating system (glibc's ``malloc_trim``); return whether it could.

    glibc keeps the memory that a training run's tensors and the profiler's events freed, for reuse, so a
    process stays at its largest size. Between two runs of a sweep nothing reuses it; on a 2 GB machine
    (Binder) the processes that run next (notebook 05's ranks, beside the kernel) need it. Elsewhere than
    glibc (macOS, musl) this does nothing and returns ``False``.
    """
    gc.collect()
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library this process already runs on
    except (OSError, AttributeError):
        return False
    trim(0)
    return True


def run_sweep(context: DistributedContext, runs: list[dict], *, task: str = "tagging", global_batch_size: int = 16,
              steps: int = 2, seed: int = 0, measure_peak: bool = True, **tiny_overrides) -> list[dict]:
    """Train every run in ``runs`` from the same initial weights; return one result per run (the same on every rank).

    Returns:
        For each run: its settings, ``"losses"`` (one per step), ``"memory"`` (one dict per rank, see
        :class:`~modlayers.lessons.distributed.rank_memory.RankMemory`), ``"collectives"`` (one per rank, see
        :class:`~modlayers.lessons.distributed.comm_bytes.CollectiveCounter`) and ``"timeline"`` (one per rank, see
        :class:`~modlayers.lessons.distributed.step_timeline.StepTimeline`; ``None`` without the peak), or ``"error"``
        (``"TypeName: message"``).
    """
    set_seed(seed)
    built = build_task(task, "tiny", **tiny_overrides)
    results = []
    for run in runs:
        set_seed(seed)
        try:
            trained = train_distributed(built.make_model(), built.features, context, task=task,
                                        global_batch_size=global_batch_size, steps=steps, lr=built.lr, seed=seed,
                                        measure_memory=True, measure_peak=measure_peak, progress=False, **run)
            results.append({**run, "losses": trained.losses, "memory": [r.to_dict() for r in trained.memory],
                            "collectives": trained.collectives, "timeline": trained.timelines})
        except (RuntimeError, ValueError) as error:
            results.append({**run, "error": f"{type(error).__name__}: {error}"})
        release_freed_heap()  # each run's memory back to the system: a process holds one run's peak, not their sum
    return results


def run_ddp_buckets(context: DistributedContext, *, task: str = "tagging", global_batch_size: int = 16, seed: int = 0,
                    **tiny_overrides) -> dict[str, dict]:
    """What DDP keeps on each rank, with ``gradient_as_bucket_view`` on and off (see
    :mod:`~modlayers.lessons.distributed.ddp_buckets`); returns ``{"view" | "plain": {"parameters", "kept", "buckets",
    "gradients"}}`` for this rank.
    """
    from modlayers.lessons.distributed.ddp_buckets import measure_ddp_kept_bytes
    from modlayers.lessons.distributed.training_run import rank_share
    from modlayers.lessons.training import batches_from

    built = build_task(task, "tiny", **tiny_overrides)
    batch = rank_share(next(iter(batches_from(built.features, global_batch_size, shuffle=False)())), context.rank,
                       context.world_size)
    results = {}
    for name, as_view in (("view", True), ("plain", False)):
        set_seed(seed)
        model = built.make_model().to(context.device)
        parameters = sum(p.numel() * p.element_size() for p in model.parameters())
        kept = measure_ddp_kept_bytes(model, lambda ddp: ddp(**batch).loss, gradient_as_bucket_view=as_view)
        results[name] = {"parameters": parameters, **kept}
        del model
        release_freed_heap()
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m modlayers.lessons.distributed.sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", required=True, help="comma-separated strategy:checkpointing[:flag...]")
    p.add_argument("--task", choices=TASKS, default="tagging")
    p.add_argument("--batch-size", type=int, default=16, help="global batch")
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden-size", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.0, help="hidden and attention dropout (0: one process and "
                   "several give the same losses)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--json", type=Path, required=True, help="where rank 0 writes the results")
    p.add_argument("--ddp-buckets-json", type=Path, help="also measure what DDP keeps with gradient_as_bucket_view "
                   "on and off, and write every rank's result there (rank 0)")
    args = p.parse_args(argv)
    try:
        runs = [parse_run(text) for text in args.runs.split(",")]
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    context = init_distributed(None if args.device == "auto" else args.device)
    results = run_sweep(context, runs, task=args.task, global_batch_size=args.batch_size, steps=args.steps,
                        num_hidden_layers=args.layers, hidden_size=args.hidden_size,
                        hidden_dropout=args.dropout, attention_dropout=args.dropout)
    if context.is_main:
        args.json.write_text(json.dumps(results, indent=1))
    if args.ddp_buckets_json is not None and context.distributed:
        from modlayers.lessons.distributed.rank_memory import gather_objects

        buckets = gather_objects(run_ddp_buckets(context, task=args.task, global_batch_size=args.batch_size,
                                                 num_hidden_layers=args.layers, hidden_size=args.hidden_size,
                                                 hidden_dropout=args.dropout, attention_dropout=args.dropout))
        if context.is_main:
            args.ddp_buckets_json.write_text(json.dumps(buckets, indent=1))
    # Every result is written: leave at once rather than tear gloo down, which under a loaded machine can
    # abort a rank at exit ("terminate called without an active exception") and fail the launch.
    shutdown(exit_at_once=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
