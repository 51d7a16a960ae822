"""``python -m modlayers train``: train one of the kit's heads, on one process or under torchrun.

    python -m modlayers train --task tagging --steps 20
    torchrun --nproc_per_node=2 -m modlayers train --strategy fsdp2 --checkpointing every-layer
    python -m modlayers train --help

Prints the loss, then every rank's memory during the last step as a table (and as JSON with ``--memory-json``).
"""

from __future__ import annotations

import argparse
import json

from modlayers.lessons.command_line import (
    CommandParser,
    fail,
    output_file,
    positive_float,
    positive_int,
    probability,
)
from modlayers.lessons.distributed.launching import init_distributed, launched_by_torchrun, shutdown
from modlayers.lessons.distributed.rank_memory import memory_json, memory_table
from modlayers.lessons.distributed.strategies import STRATEGIES
from modlayers.lessons.distributed.tasks import MODEL_KINDS, TASKS, TINY_ATTENTION_HEADS, build_task
from modlayers.lessons.distributed.training_run import check_checkpointing, train_distributed
from modlayers.lessons.training import set_seed


def parser(prog: str = "python -m modlayers train") -> argparse.ArgumentParser:
    p = CommandParser(
        prog=prog,
        description="Train a head of the kit on its data, on one process or on several (torchrun --nproc_per_node=N). "
        "gloo on CPUs and NCCL on GPUs are chosen automatically.",
    )
    p.add_argument("--task", choices=TASKS, default="classification")
    p.add_argument("--model", choices=MODEL_KINDS, default="tiny",
                   help="tiny: the kit's tiny transformer from scratch; pretrained: BERT MiniLM")
    p.add_argument("--strategy", choices=STRATEGIES, default=None,
                   help="default: ddp under torchrun, none in a single process")
    p.add_argument("--checkpointing", type=_checkpointing, default="off", metavar="{off,every-layer,every-N,attention-core}",
                   help="gradient checkpointing policy; every-N with a number, e.g. every-2 (default: off)")
    p.add_argument("--use-reentrant", action=argparse.BooleanOptionalAction, default=False,
                   help="torch's re-entrant checkpoint (default: the non-re-entrant one)")
    p.add_argument("--static-graph", action="store_true", help="DDP: static_graph=True")
    p.add_argument("--find-unused-parameters", action="store_true", help="DDP: find_unused_parameters=True")
    p.add_argument("--batch-size", type=positive_int, default=32, help="global batch: all ranks together (default: 32)")
    p.add_argument("--epochs", type=positive_int, default=1)
    p.add_argument("--steps", type=positive_int, default=None, help="stop after this many steps")
    p.add_argument("--lr", type=positive_float, default=None, help="default: the task's own")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=positive_int, default=None, help="train on the first LIMIT records only")
    p.add_argument("--layers", type=positive_int, default=None, help="tiny model: number of layers")
    p.add_argument("--hidden-size", type=positive_int, default=None, help="tiny model: hidden size")
    p.add_argument("--dropout", type=probability, default=None, help="tiny model: hidden and attention dropout")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--no-peak", action="store_true", help="skip the peak memory measurement (slow on a CPU)")
    p.add_argument("--memory-json", type=output_file, default=None, help="write every rank's memory as JSON here")
    p.add_argument("--losses-json", type=output_file, default=None, help="write the loss of every step as JSON here")
    return p


def _checkpointing(text: str) -> str:
    try:
        check_checkpointing(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def check_arguments(args: argparse.Namespace, p: argparse.ArgumentParser) -> None:
    """What no single argument's type can check; exits with one ``error:`` line before any work."""
    tiny_only = [f"--{name.replace('_', '-')}" for name in ("layers", "hidden_size", "dropout") if getattr(args, name) is not None]
    if args.model == "pretrained" and tiny_only:
        p.error(f"{', '.join(tiny_only)} set(s) the tiny model's size; the pretrained model (--model pretrained) is "
                "fixed: leave them out, or use --model tiny")
    if args.hidden_size is not None and args.hidden_size % TINY_ATTENTION_HEADS:
        p.error(f"argument --hidden-size: must be a multiple of the tiny model's {TINY_ATTENTION_HEADS} attention "
                f"heads, got {args.hidden_size}")
    if args.checkpointing == "attention-core" and args.model == "pretrained":
        p.error("argument --checkpointing: attention-core recomputes the tiny model's attention cores and the "
                "pretrained model has none; use every-layer or every-N, got 'attention-core'")


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    check_arguments(args, p)
    overrides = {name: value for name, value in (("num_hidden_layers", args.layers), ("hidden_size", args.hidden_size),
                                                 ("hidden_dropout", args.dropout), ("attention_dropout", args.dropout))
                 if value is not None}
    strategy = args.strategy or ("ddp" if launched_by_torchrun() else "none")
    try:
        context = init_distributed(None if args.device == "auto" else args.device)
        set_seed(args.seed)
        task = build_task(args.task, args.model, limit=args.limit, **overrides)
        set_seed(args.seed)  # the same weights on every rank
        run = train_distributed(
            task.make_model(), task.features, context, task=args.task, strategy=strategy,
            checkpointing=args.checkpointing, use_reentrant=args.use_reentrant, static_graph=args.static_graph,
            find_unused_parameters=args.find_unused_parameters, global_batch_size=args.batch_size,
            epochs=args.epochs, steps=args.steps, lr=args.lr or task.lr, seed=args.seed, measure_memory=True,
            measure_peak=not args.no_peak,
        )
    except (ValueError, OSError, ImportError) as error:  # bad data, a damaged or missing pretrained model, ...
        shutdown()
        return fail(error)
    if context.is_main:
        backend = context.backend or "single process"
        print(f"{args.task} on {args.model} model, strategy {strategy}, {context.world_size} process(es) ({backend}), "
              f"{len(run.losses)} steps: loss {run.losses[0]:.4f} -> {run.losses[-1]:.4f}")
        print(memory_table(run.memory))
        if args.memory_json is not None:
            args.memory_json.write_text(memory_json(run.memory))
        if args.losses_json is not None:
            args.losses_json.write_text(json.dumps(run.losses))
    shutdown(exit_at_once=True)  # everything is printed and written
    return 0
