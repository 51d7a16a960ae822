"""``python -m modlayers finetune {classification,qa,tagging}``: a longer fine-tuning run than a notebook's.

Thin: parse the arguments, call ``modlayers.finetuning.<task>.finetune`` (imported by name), print the
validation metric next to the task's baselines. The progress bar is the task's own (tqdm).

Example::

    python -m modlayers finetune classification --model pretrained --steps 160 --batch-size 16
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from modlayers.command_line import CommandParser, fail, positive_float, positive_int

TASKS = ("classification", "qa", "tagging")


def build_parser(prog: str = "python -m modlayers finetune") -> argparse.ArgumentParser:
    parser = CommandParser(prog=prog, description="Fine-tune a head on the kit's data and print its validation metric next to the baselines.")
    parser.add_argument("task", choices=TASKS)
    parser.add_argument("--model", choices=("tiny", "pretrained"), default="pretrained",
                        help="pretrained: the MiniLM encoder (default); tiny: the kit's small model from scratch")
    parser.add_argument("--steps", type=positive_int, default=200, help="optimisation steps (default: 200)")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="examples per step (default: 16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seconds", type=_positive_seconds, default=None, help="stop training after this many seconds (the report then says its figures are not the full run's)")
    parser.add_argument("--json", action="store_true", help="also print the result (without the model) as JSON")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _positive_seconds(text: str) -> float:
    return positive_float(text)  # a number > 0; argparse names the option


DATA_LOADERS = {"classification": "load_classification", "qa": "load_qa", "tagging": "load_tagging"}


def check_inputs(task: str, model: str) -> None:
    """Read what the run will read, before it starts: the task's data (both splits) and the pretrained files.

    Raises:
        modlayers.data.DataError: a data line the kit cannot use (file, line, record id) or an empty file.
        FileNotFoundError: a data file or a pretrained file is missing.
        ModuleNotFoundError: the pretrained model's wheel is not installed.
        modlayers.pretrained.PretrainedChecksumError: a pretrained file differs from the one the kit knows.
    """
    import modlayers.data

    load = getattr(modlayers.data, DATA_LOADERS[task])
    for split in ("train", "validation"):
        load(split)
    if model == "pretrained":
        from modlayers.pretrained import verify_pretrained_files

        verify_pretrained_files()


def format_report(result: dict) -> str:
    """The metric and the baselines as a small aligned table, best first."""
    trained = "fine-tuned" if result["model"] == "pretrained" else "trained from scratch"
    rows = [(f"{result['model']} model, {trained} ({result['steps']} steps)", result["metric"])]
    rows += list(result["baselines"].items())
    width = max(len(name) for name, _ in rows)
    lines = [f"{result['task']}: validation {result['metric_name']}", ""]
    lines += [f"  {name:<{width}}  {value:.3f}" for name, value in sorted(rows, key=lambda r: -r[1])]
    lines += ["", f"  {result['seconds']:.0f} s in all"]
    if result.get("stopped_early"):
        lines += ["", f"  NOT THE FULL RUN: {result['stopped_early']}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str = "python -m modlayers finetune") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        module = importlib.import_module(f"modlayers.finetuning.{args.task}")
    except ModuleNotFoundError as error:
        if error.name != f"modlayers.finetuning.{args.task}":
            raise
        print(f"{prog} {args.task}: this version of the kit has no modlayers/finetuning/{args.task}.py yet.", file=sys.stderr)
        return 2
    from modlayers.pretrained import PretrainedChecksumError

    # Bad data, a missing or damaged pretrained model: one line each, before the run and during it.
    expected = (ValueError, FileNotFoundError, ModuleNotFoundError, PretrainedChecksumError)
    try:
        check_inputs(args.task, args.model)
        result = module.finetune(model=args.model, steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                                 max_seconds=args.max_seconds, progress=not args.no_progress)
    except expected as error:
        return fail(error)
    print(format_report(result))
    if args.json:
        plain = {k: v for k, v in result.items() if isinstance(v, (str, int, float, dict, list, type(None)))}
        print(json.dumps(plain))
    return 0
