"""The lessons' three fine-tunes on the datasets the field reports on, next to the published figures.

Each run is ``modlayers.lessons.finetuning.<task>.finetune`` with ``data=`` a hub dataset and ``model_source=`` a hub
checkpoint, with the recipe of the published figure (epochs, batch size, learning rate, sequence length);
the table gives epochs, steps, wall time, the metric and the target (docs/real_data.md lists the sources):

    python benchmarks/real_data.py                 # all three runs (needs hub access and a GPU)
    python benchmarks/real_data.py sst2 --quick    # one run, 50 steps and 500 validation rows: a smoke test
    python benchmarks/real_data.py --plan          # the runs and their recipes, without running anything

It needs the network (the datasets and checkpoints come from the Hugging Face Hub: unset ``HF_HUB_OFFLINE``),
the ``datasets`` library (``pip install -e '.[data]'``) and a CUDA GPU (the full runs are about 22,000 steps of
BERT-base and MiniLM; ``--allow-cpu`` runs them on the CPU anyway, far slower). Without them it says which is
missing and exits 1.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import os
import sys
import time
from dataclasses import dataclass, field

CONLL_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


@dataclass
class Run:
    """One published figure and the recipe that reproduces it."""

    name: str
    task: str
    data: str
    model_source: str
    epochs: int
    batch_size: int
    target: dict[str, float]
    source: str
    options: dict = field(default_factory=dict)


RUNS = {
    "sst2": Run("SST-2 (dev)", "classification", "glue/sst2", "nreimers/MiniLM-L6-H384-uncased", epochs=3,
                batch_size=32, target={"accuracy": 0.915},
                source="microsoft/unilm, minilm/README.md: MiniLM-L6xH384, SST-2 dev 91.5",
                options={"lr": 5e-5, "max_length": 128}),
    "squad": Run("SQuAD v1.1 (dev)", "qa", "squad", "google-bert/bert-base-uncased", epochs=2, batch_size=12,
                 target={"exact_match": 0.812, "f1": 0.885},
                 source="transformers, examples/pytorch/question-answering/README.md: bert-base-uncased, "
                        "EM 81.22 / F1 88.52 (BERT paper, Table 2: 80.8 / 88.5)",
                 options={"lr": 3e-5, "head_lr": 3e-5, "max_length": 384, "stride": 128, "answerless_share": 1.0}),
    "conll2003": Run("CoNLL-2003 (test)", "tagging", "conll2003", "google-bert/bert-base-cased", epochs=3,
                     batch_size=32, target={"f1": 0.924},
                     source="Devlin et al. 2019 (BERT), Table 3: BERT-base, CoNLL-2003 test F1 92.4",
                     options={"lr": 5e-5, "max_length": 192, "validation_split": "test", "label_names": CONLL_TAGS}),
}


def missing_requirements(allow_cpu: bool = False) -> list[str]:
    """What this machine lacks for the runs, in words (empty: nothing)."""
    missing = []
    if importlib.util.find_spec("datasets") is None:
        missing.append("the `datasets` library (pip install -e '.[data]')")
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False") or \
            os.environ.get("TRANSFORMERS_OFFLINE", "0") not in ("0", "", "false", "False"):
        missing.append("hub access: HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE are set (unset them)")
    else:
        try:
            import urllib.request

            urllib.request.urlopen("https://huggingface.co/api/datasets/rajpurkar/squad", timeout=10).close()
        except Exception as error:  # no network, a proxy, DNS: say so
            missing.append(f"hub access: huggingface.co is not reachable ({type(error).__name__})")
    import torch

    if not torch.cuda.is_available() and not allow_cpu:
        missing.append("a CUDA GPU (or --allow-cpu, far slower)")
    return missing


def steps_for(run: Run, data, quick: bool) -> tuple[int, int]:
    """``(steps, rows)``: optimisation steps for ``run.epochs`` passes over the training rows (QA: windows)."""
    rows = len(data.train)
    if run.task == "qa":
        from modlayers.lessons.finetuning.qa import train_windows
        from modlayers.lessons.model_sources import load_task_model

        reader, tokenizer = load_task_model("qa", run.model_source)
        rows = len(train_windows(tokenizer, data.train, max_length=run.options["max_length"],
                                 stride=run.options["stride"], model=reader)["input_ids"])
    return (50 if quick else run.epochs * math.ceil(rows / run.batch_size)), rows


def execute(run: Run, quick: bool, device: str) -> dict:
    """Fine-tune one run; return its row of the table."""
    from modlayers.lessons.data_sources import load_task_data

    options = dict(run.options)
    data = load_task_data(run.task, run.data, label_names=options.pop("label_names", None),
                          validation_split=options.pop("validation_split", "validation"))
    if quick:
        data.validation = data.validation[:500]
        data.train = data.train[:5000]
    steps, rows = steps_for(run, data, quick)
    module = importlib.import_module(f"modlayers.lessons.finetuning.{run.task}")
    start = time.perf_counter()
    result = module.finetune("pretrained", steps=steps, batch_size=run.batch_size, data=data,
                             model_source=run.model_source, evaluations=3, eval_size=500, device=device,
                             baselines={}, **options)
    metrics = {"accuracy": result["metric"]} if run.task == "classification" else (
        {"exact_match": result["metric"], "f1": result["f1"]} if run.task == "qa" else {"f1": result["metric"]})
    return {"run": run, "steps": steps, "epochs": steps * run.batch_size / rows,
            "seconds": time.perf_counter() - start, "metrics": metrics,
            "stopped_early": result["stopped_early"]}


def table(rows: list[dict]) -> str:
    """A Markdown table: each run's metric against its published target."""
    lines = ["| run | model | epochs | steps | time | ours | published |", "| --- | --- | ---: | ---: | ---: | --- | --- |"]
    for row in rows:
        run = row["run"]
        ours = ", ".join(f"{k} {100 * v:.1f}" for k, v in row["metrics"].items())
        target = ", ".join(f"{k} {100 * v:.1f}" for k, v in run.target.items())
        lines.append(f"| {run.name} | {run.model_source} | {row['epochs']:.1f} | {row['steps']} | "
                     f"{row['seconds'] / 60:.0f} min | {ours} | {target} |")
    return "\n".join(lines)


def plan() -> str:
    lines = []
    for key, run in RUNS.items():
        recipe = ", ".join(f"{k}={v}" for k, v in run.options.items() if k != "label_names")
        lines.append(f"{key}: {run.task} on {run.data} with {run.model_source}, {run.epochs} epochs of batches of "
                     f"{run.batch_size} ({recipe}); published {run.target} ({run.source})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", default=[], metavar="RUN", help=f"which runs ({', '.join(RUNS)}; default: all)")
    parser.add_argument("--quick", action="store_true", help="50 steps and 500 validation rows per run")
    parser.add_argument("--plan", action="store_true", help="print the runs and their recipes; run nothing")
    parser.add_argument("--allow-cpu", action="store_true", help="run without a GPU (far slower)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.runs if name not in RUNS]
    if unknown:
        parser.error(f"unknown run(s) {unknown}; choose from {list(RUNS)}")
    if args.plan:
        print(plan())
        return 0
    missing = missing_requirements(args.allow_cpu)
    if missing:
        print("benchmarks/real_data.py needs " + "; ".join(missing) + ". Nothing was run. The published figures and "
              "the commands are in docs/real_data.md (--plan prints the runs).", file=sys.stderr)
        return 1
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = [execute(RUNS[key], args.quick, device) for key in (args.runs or RUNS)]
    print(f"device: {torch.cuda.get_device_name() if device == 'cuda' else 'CPU'}"
          + (" (--quick: 50 steps, not the published recipe)" if args.quick else ""))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
