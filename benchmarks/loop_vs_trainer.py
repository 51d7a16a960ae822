"""The kit's loop against transformers' ``Trainer``: samples per second and peak memory, same steps.

Both train the MiniLM sequence classifier on the same sentences, the same batches of 16 (each padded to
its own longest sentence), fused AdamW, the same warm-up, no evaluation and no saving. Each side runs in a
fresh process so that its peak resident memory (``ru_maxrss``) is its own; the samples per second are timed
after the first two steps (allocator warm-up), on the process's CPU clock (``time.process_time``) as well as
the wall clock. The two processes run at the same time, so they see the same load; on a shared machine the
CPU-clock figure is the one to compare:

    python benchmarks/loop_vs_trainer.py            # both sides at once, then the ratios
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

STEPS, BATCH, WARM = 12, 16, 2


def _setup():
    import torch

    from modlayers.lessons.data import load_classification
    from modlayers.lessons.finetuning.classification import features, load_model
    from modlayers.lessons.finetuning.loop import set_attention_dropout
    from modlayers.lessons.training import set_seed

    set_seed(0)
    classifier, tokenizer = load_model("pretrained")
    set_attention_dropout(classifier, 0.0)
    train = features(tokenizer, load_classification("train"))
    torch.set_num_threads(min(2, torch.get_num_threads()))
    return classifier, tokenizer, train


def _rates(times: list[tuple[float, float]]) -> dict:
    samples = (STEPS - WARM) * BATCH
    return {"samples_per_second": samples / (times[-1][0] - times[WARM][0]),
            "samples_per_cpu_second": samples / (times[-1][1] - times[WARM][1])}


def run_loop() -> dict:
    from modlayers.lessons.finetuning.loop import run_steps
    from modlayers.losses import sequence_classification_loss
    from modlayers.lessons.training import adamw

    classifier, _, train = _setup()
    times = []
    run_steps(classifier, train, loss_of=lambda m, b: (times.append((time.perf_counter(), time.process_time())),
                                                       sequence_classification_loss(m(**b).logits, b["labels"]))[1],
              evaluate=lambda final: {}, optimizer=adamw(classifier.parameters(), lr=1e-4), steps=STEPS,
              batch_size=BATCH, evaluations=1, progress=False)
    times.append((time.perf_counter(), time.process_time()))
    return _rates(times)


def run_trainer() -> dict:
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    classifier, tokenizer, train = _setup()
    rows = [{k: v[i] for k, v in train.items()} for i in range(len(train["labels"]))]

    def collate(batch):  # pad each batch to its own longest sentence, as the kit's loop does
        stacked = {k: torch.stack([row[k] for row in batch]) for k in batch[0]}
        keep = int(stacked["attention_mask"].sum(1).max())
        return {k: v[:, :keep] if v.dim() == 2 else v for k, v in stacked.items()}

    class Clock(TrainerCallback):
        def __init__(self):
            self.times = []

        def on_step_begin(self, *args, **kwargs):
            self.times.append((time.perf_counter(), time.process_time()))

        def on_train_end(self, *args, **kwargs):
            self.times.append((time.perf_counter(), time.process_time()))

    clock = Clock()
    arguments = TrainingArguments(
        output_dir="/tmp/loop_vs_trainer", max_steps=STEPS, per_device_train_batch_size=BATCH, learning_rate=1e-4,
        weight_decay=0.01, warmup_steps=max(1, STEPS // 10), lr_scheduler_type="constant_with_warmup",
        optim="adamw_torch_fused", max_grad_norm=1.0, logging_strategy="no", save_strategy="no", report_to=[],
        use_cpu=True, dataloader_num_workers=0, disable_tqdm=True, seed=0,
    )
    Trainer(model=classifier, args=arguments, train_dataset=rows, data_collator=collate, callbacks=[clock]).train()
    times = clock.times
    return _rates(times)


def main() -> None:
    if sys.argv[1:] in (["-h"], ["--help"]):
        print(__doc__.strip())
        return
    if sys.argv[1:] and sys.argv[1] not in ("loop", "trainer"):
        sys.exit(f"error: {sys.argv[1]!r} is no option; run it with no argument (both sides), or --help")
    if len(sys.argv) > 1:
        result = {"loop": run_loop, "trainer": run_trainer}[sys.argv[1]]()
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("RESULT", json.dumps(result))
        return
    load = open("/proc/loadavg").read().split()[0]
    processes = {side: subprocess.Popen([sys.executable, __file__, side], stdout=subprocess.PIPE, text=True, env=os.environ)
                 for side in ("loop", "trainer")}
    results = {side: json.loads(p.communicate()[0].split("RESULT", 1)[1]) for side, p in processes.items()}
    load_after = open("/proc/loadavg").read().split()[0]
    for side, r in results.items():
        print(f"{side:<8} {r['samples_per_second']:6.1f} samples/s (wall)  {r['samples_per_cpu_second']:6.1f} samples/CPU-s  "
              f"peak RSS {r['peak_rss_mib']:6.0f} MiB")
    loop, trainer = results["loop"], results["trainer"]
    print(f"loop / Trainer: {loop['samples_per_cpu_second'] / trainer['samples_per_cpu_second']:.2f}x the samples per "
          f"CPU second ({loop['samples_per_second'] / trainer['samples_per_second']:.2f}x per wall second), "
          f"{loop['peak_rss_mib'] / trainer['peak_rss_mib']:.2f}x the peak memory ({STEPS} steps of {BATCH}, run side "
          f"by side, load average {load} -> {load_after})")


if __name__ == "__main__":
    main()
