"""Where a notebook's fine-tune spends its time: cProfile of one ``finetune`` call, top functions by share.

Runs the pretrained fine-tune of one task with the step counts its notebook uses and prints the wall
time, the load average, and the functions with the largest share of the time spent inside themselves
(cProfile's ``tottime``), plus the share of a few phases measured by their cumulative time.

    python benchmarks/profile_finetuning.py qa            # notebook 02's pretrained reader
    python benchmarks/profile_finetuning.py classification
    python benchmarks/profile_finetuning.py tagging
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

# the notebooks' pretrained runs (01 section 5, 02 cell "pretrained = finetune(...)", 03 section 5)
RUNS = {
    "classification": dict(model="pretrained", steps=32, batch_size=16, seed=0, eval_every=16),
    "qa": dict(model="pretrained", steps=80, batch_size=8, seed=0, freeze_layers=2, lr=3e-4, head_lr=3e-3,
               eval_every=20, eval_size=20, max_length=128, stride=32),
    "tagging": dict(model="pretrained", steps=80, batch_size=8, seed=0, eval_every=40, freeze_layers=4, lr=5e-4),
}
# phases: (file name ends with, function name contains); a phase's time is its outermost match's cumulative time
PHASES = {
    "backward": [("", "run_backward")],
    "optimizer step": [("adam.py", "step"), ("adamw.py", "step"), ("optimizer.py", "wrapper")],
    "evaluation": [("classification.py", "accuracy"), ("tagging.py", "validation_f1"), ("pipelines.py", "evaluate_qa"),
                   ("classification.py", "evaluate"), ("tagging.py", "evaluate"), ("qa.py", "evaluate")],
    "tokenization": [("tokenization_utils_base.py", "__call__"), ("spans/windows.py", "encode_qa_windows")],
}


def phase_seconds(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative seconds of the outermost function matching each phase (the largest cumulative time)."""
    found = {}
    for phase, patterns in PHASES.items():
        found[phase] = max([cumulative for (filename, _, function), (_, _, _, cumulative, _) in stats.stats.items()
                            if any(filename.endswith(f) and name in function for f, name in patterns)], default=0.0)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=sorted(RUNS))
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    import importlib

    module = importlib.import_module(f"modlayers.lessons.finetuning.{args.task}")
    load_before = open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    result = module.finetune(progress=False, baselines={}, **RUNS[args.task])
    profile.disable()
    seconds = time.perf_counter() - start
    load_after = open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"
    stats = pstats.Stats(profile)
    stats.dump_stats(f"/tmp/profile_finetuning_{args.task}.pstats")  # for a second look: python -m pstats
    total = sum(entry[2] for entry in stats.stats.values())  # tottime summed: the profiled time
    print(f"{args.task}: {result['steps']} steps, {result['metric_name']} {result['metric']:.3f}, "
          f"{seconds:.1f} s wall, load average {load_before} -> {load_after}")
    for phase, cumulative in phase_seconds(stats).items():
        print(f"  phase {phase:<15} {cumulative:7.1f} s  {cumulative / seconds:6.1%}")
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])[: args.top]
    for (filename, line, function), (_, calls, tottime, _, _) in rows:
        where = f"{os.path.basename(filename)}:{line}" if line else "built-in"
        print(f"  {tottime:7.1f} s  {tottime / total:6.1%}  {calls:>7}  {function} ({where})")


if __name__ == "__main__":
    main()
