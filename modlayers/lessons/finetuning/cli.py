"""``python -m modlayers finetune {classification,qa,tagging}``: a longer fine-tuning run than a notebook's.

Thin: parse the arguments, call ``modlayers.lessons.finetuning.<task>.finetune`` (imported by name), print the
validation metric next to the task's baselines. The progress bar is the task's own (tqdm).

Your own data and model (``docs/real_data.md``): ``--data`` names a folder, a CSV/JSONL file, a dataset saved
with ``save_to_disk`` or a hub dataset id; ``--model-source`` a checkpoint folder or hub id. Both are read and
checked before anything trains: a bad row is one ``error:`` line naming it, exit status 2.

Example::

    python -m modlayers finetune classification --model pretrained --steps 160 --batch-size 16
    python -m modlayers finetune classification --data reviews.csv --validation-data dev.csv \
        --text-column review --label-column stars --model-source ./my-llama
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from modlayers.lessons.command_line import CommandParser, fail, positive_float, positive_int
from modlayers.lessons.data_tasks import TASK_COLUMNS

TASKS = ("classification", "qa", "tagging")


def build_parser(prog: str = "python -m modlayers finetune") -> argparse.ArgumentParser:
    parser = CommandParser(prog=prog, description="Fine-tune a head on the kit's data and print its validation metric next to the baselines.")
    parser.add_argument("task", choices=TASKS)
    parser.add_argument("--model", choices=("tiny", "pretrained"), default=None,
                        help="pretrained: the MiniLM encoder (default); tiny: the kit's small model from scratch")
    parser.add_argument("--steps", type=positive_int, default=200, help="optimisation steps (default: 200)")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="examples per step (default: 16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seconds", type=_positive_seconds, default=None, help="stop training after this many seconds (the report then says its figures are not the full run's)")
    parser.add_argument("--json", action="store_true", help="also print the result (without the model) as JSON")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--device", default=None, help="train on this device, e.g. cuda (default: the CPU)")
    parser.add_argument("--lr", type=positive_float, default=None, help="learning rate (default: the task's own for the model)")
    parser.add_argument("--max-length", type=positive_int, default=None,
                        help="tokens per sentence or QA window (default: the task's own: 128 for QA, 48 for tagging)")
    parser.add_argument("--stride", type=positive_int, default=None, help="qa: context tokens shared by neighbouring windows (default: 32)")
    mine = parser.add_argument_group("your own data and model (docs/real_data.md)")
    mine.add_argument("--data", metavar="SOURCE", help="a folder (train.jsonl and validation.jsonl, or a dataset saved with "
                      "save_to_disk), a .csv/.jsonl training file, or a hub dataset id (glue/sst2, conll2003, squad)")
    mine.add_argument("--validation-data", metavar="FILE", help="the validation file when --data is one file")
    mine.add_argument("--train-split", default="train", help="the training split's name (default: train)")
    mine.add_argument("--validation-split", default="validation", help="the validation split's name (default: validation)")
    mine.add_argument("--labels", type=_names, metavar="A,B,...", help="class names or BIO tags in label-id order "
                      "(default: the dataset's own, else those found in the training split, sorted)")
    for field, tasks in COLUMN_FLAGS.items():
        defaults = " or ".join(repr(c) for c in TASK_COLUMNS[tasks[0]][field])
        mine.add_argument(f"--{field.replace('_', '-')}-column", dest=f"{field}_column", metavar="NAME",
                          help=f"{'/'.join(tasks)}: the column holding the {field.replace('_', ' ')} (default: {defaults})")
    mine.add_argument("--train-size", type=positive_int, default=None, help="use only the first N training rows")
    mine.add_argument("--validation-size", type=positive_int, default=None, help="score only the first N validation rows")
    mine.add_argument("--model-source", metavar="SOURCE", help="a checkpoint folder (save_pretrained) or hub id, encoder or "
                      "decoder, instead of the packaged MiniLM (implies --model pretrained)")
    return parser


COLUMN_FLAGS = {
    "text": ("classification",), "label": ("classification",), "question": ("qa",), "context": ("qa",),
    "answers": ("qa",), "answer_text": ("qa",), "answer_start": ("qa",), "words": ("tagging",),
    "tags": ("tagging",), "id": ("classification", "qa", "tagging"),
}
"""Each ``--<field>-column`` flag and the tasks it applies to."""


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not all(names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"must be distinct names separated by commas, got {text!r}")
    return names


def check_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    """Refuse options that do not go together (one ``error:`` line, exit 2); return the ``columns`` mapping."""
    columns = {field: getattr(args, f"{field}_column") for field in COLUMN_FLAGS if getattr(args, f"{field}_column")}
    wrong = [field for field in columns if args.task not in COLUMN_FLAGS[field]]
    if wrong:
        flags = ", ".join(f"--{f.replace('_', '-')}-column" for f in wrong)
        parser.error(f"{flags} do(es) not apply to the {args.task} task")
    if args.data is None:
        given = [flag for flag, value in (("--validation-data", args.validation_data), ("--labels", args.labels),
                                          ("--train-split", args.train_split != "train"),
                                          ("--validation-split", args.validation_split != "validation"))
                 if value] + [f"--{f.replace('_', '-')}-column" for f in columns]
        if given:
            parser.error(f"{', '.join(given)} describe(s) your own data; name it with --data SOURCE")
    if args.stride is not None and args.task != "qa":
        parser.error(f"--stride applies to the qa task's windows, not to {args.task}")
    if args.labels and args.task == "qa":
        parser.error("--labels does not apply to the qa task (its answers are spans of the context)")
    if args.model_source is not None and args.model == "tiny":
        parser.error("--model-source loads a pretrained checkpoint; leave out --model tiny")
    return columns


def _positive_seconds(text: str) -> float:
    return positive_float(text)  # a number > 0; argparse names the option


DATA_LOADERS = {"classification": "load_classification", "qa": "load_qa", "tagging": "load_tagging"}


def check_inputs(task: str, model: str, model_source: str | None = None) -> None:
    """Read what the run will read, before it starts: the kit's data (both splits) and the packaged model's files.

    Your own data (``--data``) is read and checked by :func:`modlayers.lessons.data_sources.load_task_data` instead;
    a ``model_source`` is checked when it loads.

    Raises:
        modlayers.lessons.data.DataError: a data line the kit cannot use (file, line, record id) or an empty file.
        FileNotFoundError: a data file or a pretrained file is missing.
        ModuleNotFoundError: the pretrained model's wheel is not installed.
        modlayers.lessons.pretrained.PretrainedChecksumError: a pretrained file differs from the one the kit knows.
    """
    import modlayers.lessons.data

    load = getattr(modlayers.lessons.data, DATA_LOADERS[task])
    for split in ("train", "validation"):
        load(split)
    if model == "pretrained" and model_source is None:
        from modlayers.lessons.pretrained import verify_pretrained_files

        verify_pretrained_files()


def format_report(result: dict) -> str:
    """The metric and the baselines as a small aligned table, best first."""
    trained = "fine-tuned" if result["model"] == "pretrained" else "trained from scratch"
    model = result.get("model_source") or f"{result['model']} model"
    rows = [(f"{model}, {trained} ({result['steps']} steps)", result["metric"])]
    rows += list(result["baselines"].items())
    width = max(len(name) for name, _ in rows)
    on = f" on {result['data']}" if result.get("data") else ""
    lines = [f"{result['task']}: validation {result['metric_name']}{on}", ""]
    lines += [f"  {name:<{width}}  {value:.3f}" for name, value in sorted(rows, key=lambda r: -r[1])]
    lines += ["", f"  {result['seconds']:.0f} s in all"]
    if result.get("stopped_early"):
        lines += ["", f"  NOT THE FULL RUN: {result['stopped_early']}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str = "python -m modlayers finetune") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    columns = check_options(parser, args)
    try:
        module = importlib.import_module(f"modlayers.lessons.finetuning.{args.task}")
    except ModuleNotFoundError as error:
        if error.name != f"modlayers.lessons.finetuning.{args.task}":
            raise
        print(f"{prog} {args.task}: this version of the kit has no modlayers/lessons/finetuning/{args.task}.py yet.", file=sys.stderr)
        return 2
    from modlayers.lessons.pretrained import PretrainedChecksumError

    # Bad data, a missing or damaged pretrained model: one line each, before the run and during it
    # (OSError: transformers' word for a checkpoint it cannot find or download).
    expected = (ValueError, OSError, ModuleNotFoundError, PretrainedChecksumError)
    model = args.model or "pretrained"
    options = {"model_source": args.model_source, "device": args.device, "train_size": args.train_size,
               "validation_size": args.validation_size, "lr": args.lr, "max_length": args.max_length,
               "stride": args.stride}
    try:
        if args.data is None:
            check_inputs(args.task, model, args.model_source)
        else:
            from modlayers.lessons.data_sources import load_task_data

            options["data"] = load_task_data(
                args.task, args.data, columns=columns, label_names=args.labels, validation_data=args.validation_data,
                train_split=args.train_split, validation_split=args.validation_split)
            if model == "pretrained" and args.model_source is None:
                from modlayers.lessons.pretrained import verify_pretrained_files

                verify_pretrained_files()
        result = module.finetune(model=model, steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                                 max_seconds=args.max_seconds, progress=not args.no_progress,
                                 **{k: v for k, v in options.items() if v is not None})
    except expected as error:
        return fail(error)
    print(format_report(result))
    if args.json:
        plain = {k: v for k, v in result.items() if isinstance(v, (str, int, float, dict, list, type(None)))}
        print(json.dumps(plain))
    return 0
