"""Run by tests/test_distributed.py under ``torchrun --nproc_per_node=2`` (gloo, CPU).

    python -m torch.distributed.run --nproc_per_node=2 tests/distributed_worker.py loop OUT_DIR
    python -m torch.distributed.run --nproc_per_node=2 tests/distributed_worker.py trainer OUT_DIR

``loop``: the kit's loop (modlayers.lessons.distributed) for every strategy and checkpointing setting in ``LOOP_RUNS``;
``trainer``: transformers' Trainer for every checkpointing setting in ``CHECKPOINTING``. Each rank saves
``OUT_DIR/<mode>-rank<r>.pt``: run name -> {"losses", "parameters"} or {"error"}. One launch runs them all, so
the processes start (and import torch and transformers) once.
"""

import inspect
import sys
import warnings
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from modlayers import GradientCheckpointingLayer
from modlayers.lessons.distributed import build_task, full_parameters, init_distributed, shutdown, train_distributed
from modlayers.lessons.training import set_seed

TASK = "tagging"  # ranks hold different numbers of labelled tokens: the loss weighting is exercised
STEPS, GLOBAL_BATCH, LIMIT = 3, 8, 24
CHECKPOINTING = {"off": None, "reentrant": True, "non-reentrant": False}  # name -> use_reentrant
SETTINGS = {"ddp": ("ddp", {}), "ddp-static": ("ddp", {"static_graph": True}), "fsdp2": ("fsdp2", {})}
LOOP_RUNS = [(f"{setting}/{name}", strategy, options, name)
             for setting, (strategy, options) in SETTINGS.items() for name in CHECKPOINTING]
# the known failure, run last: DDP's graph traversal and the re-entrant recompute
FAILING_RUN = ("ddp-find-unused/reentrant", "ddp", {"find_unused_parameters": True}, "reentrant")


def tiny_task():
    return build_task(TASK, "tiny", limit=LIMIT, hidden_dropout=0.0, attention_dropout=0.0, classifier_dropout=0.0)


def loop_run(task, context, strategy="none", options=None, checkpointing="off"):
    """Train STEPS steps with the kit's loop; the single-process reference uses the same function."""
    set_seed(0)
    model = task.make_model()
    use_reentrant = CHECKPOINTING[checkpointing]
    run = train_distributed(model, task.features, context, task=TASK, strategy=strategy,
                            checkpointing="off" if use_reentrant is None else "every-layer",
                            use_reentrant=bool(use_reentrant), global_batch_size=GLOBAL_BATCH, steps=STEPS,
                            lr=3e-3, progress=False, measure_memory=True, measure_peak=False, **(options or {}))
    memory = [record.to_dict() for record in run.memory]
    return {"losses": run.losses, "parameters": full_parameters(run.model), "memory": memory}


class LossRecorder(TrainerCallback):
    """Keeps every training loss the Trainer logs."""

    def __init__(self):
        self.losses = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))


# transformers 5.x renamed TrainingArguments' switch (the old name warns that it goes in v6); 4.x has the old one
SWITCH = ("activation_checkpointing" if "activation_checkpointing" in inspect.signature(TrainingArguments).parameters
          else "gradient_checkpointing")


def trainer_run(task, output_dir, per_device_batch, checkpointing="off"):
    """Train STEPS steps with transformers' Trainer; returns the logged losses and the final parameters."""
    set_seed(0)
    model = task.make_model()
    use_reentrant = CHECKPOINTING[checkpointing]
    rows = [{k: v[i] for k, v in task.features.items()} for i in range(len(task.features["input_ids"]))]
    args = TrainingArguments(
        output_dir=str(output_dir), per_device_train_batch_size=per_device_batch, max_steps=STEPS, learning_rate=3e-3,
        weight_decay=0.01, max_grad_norm=1.0, lr_scheduler_type="constant", logging_steps=1, report_to=[],
        save_strategy="no", seed=0, data_seed=0, use_cpu=True, disable_tqdm=True, dataloader_num_workers=0,
        **{SWITCH: use_reentrant is not None,
           f"{SWITCH}_kwargs": None if use_reentrant is None else {"use_reentrant": use_reentrant}},
    )
    recorder = LossRecorder()
    trainer = Trainer(model=model, args=args, train_dataset=rows, callbacks=[recorder])
    trainer.train()
    # what the Trainer switched on in each layer: None (off), or the use_reentrant its checkpoint function got
    layers = [m for m in trainer.model.modules() if isinstance(m, GradientCheckpointingLayer)]
    applied = [getattr(getattr(m, "_gradient_checkpointing_func", None), "keywords", {}).get("use_reentrant")
               if m.gradient_checkpointing else None for m in layers]
    return {"losses": recorder.losses, "parameters": full_parameters(trainer.model), "use_reentrant_applied": applied}


def main(mode: str, out_dir: str) -> None:
    context = init_distributed("cpu")
    task = tiny_task()
    results = {}
    if mode == "loop":
        for name, strategy, options, checkpointing in [*LOOP_RUNS, FAILING_RUN]:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    results[name] = loop_run(task, context, strategy, options, checkpointing)
                except Exception as error:  # the test reads the message
                    results[name] = {"error": f"{type(error).__name__}: {error}"}
            results[name]["warnings"] = [str(w.message) for w in caught]
    else:
        for checkpointing in CHECKPOINTING:
            try:
                results[f"trainer/{checkpointing}"] = trainer_run(
                    task, Path(out_dir) / "trainer", GLOBAL_BATCH // context.world_size, checkpointing)
            except Exception as error:
                results[f"trainer/{checkpointing}"] = {"error": f"{type(error).__name__}: {error}"}
    torch.save(results, Path(out_dir) / f"{mode}-rank{context.rank}.pt")
    shutdown(exit_at_once=True)  # every result is written


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
