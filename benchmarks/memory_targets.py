"""The memory lab's targets, measured on this machine's CPU.

    python benchmarks/memory_targets.py            # ~ a few minutes on a 2-core CPU
    python benchmarks/memory_targets.py --peak     # adds the profiler's peak (slower)

A 12-layer TinyTransformer (hidden 256, 4 heads, sequence 512, batch 4, float32,
dropout 0.1). Saved activations are counted exactly; step times are taken in
--rounds interleaved rounds (off, every-layer, selective, attention-core, off, ...),
and each policy's time ratio is the median over the rounds of its step time divided
by the same round's "off" step (so a slow patch of the machine hits both). Targets:

- every-layer saves >= 90% of the saved activations of "off", at <= 1.5x the step time;
- one selective policy saves >= 40% at <= 1.25x. Two are measured: "selective"
  (torch's selective activation checkpointing, keep matmul outputs) and "attention-core"
  (recompute only each layer's attention core: Megatron-LM's selective activation recomputation).

Prints one table and a PASS/MISS line per target; exits 0 either way (a benchmark,
not a test). Results are recorded in benchmarks/README.md.
"""

import argparse
import os
import platform
import sys

import torch

from modlayers.lessons.memory.measure import compare_policies, keep_freed_memory, ratios_to_baseline, tiny_model_and_batch

CONFIG = dict(layers=12, hidden_size=256, num_heads=4, seq_len=512, batch=4, dropout=0.1, dtype=torch.float32)
TARGETS = {  # policy: (least saving, most time ratio)
    "every-layer": (0.90, 1.5),
    "selective": (0.40, 1.25),
    "attention-core": (0.40, 1.25),
}
SELECTIVE = ("selective", "attention-core")  # the target asks for one of them to pass


def cpu_name() -> str:
    """The CPU's model name (Linux), else what platform reports."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timed rounds (default 5)")
    parser.add_argument("--peak", action="store_true", help="also measure the peak with the torch profiler")
    parser.add_argument("--dropout", type=float, default=CONFIG["dropout"],
                        help=f"dropout (default {CONFIG['dropout']}, the targets' setting; 0 shows the cost of redrawing masks)")
    parser.add_argument("--os-allocator-defaults", action="store_true",
                        help="leave malloc's defaults (freed memory may go back to the system; noisier 'off' times)")
    args = parser.parse_args(argv)
    kept = False if args.os_allocator_defaults else keep_freed_memory()

    config = CONFIG | {"dropout": args.dropout}
    model, batch = tiny_model_and_batch(**config)
    records = compare_policies(model, batch, ["off", *TARGETS], rounds=args.rounds, peak=args.peak)
    rows = ratios_to_baseline(records)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print("config: " + ", ".join(f"{k}={v}" for k, v in config.items()) + f", {args.rounds} interleaved rounds, "
          + ("malloc keeps freed memory" if kept else "malloc defaults"))
    print(f"{'policy':>14} {'saved MiB':>10} {'peak MiB':>9} {'saving':>7} {'step s':>7} {'time x':>7}  all step times (s)")
    for row in rows:
        peak = "-" if row["peak_bytes"] is None else f"{row['peak_bytes'] / 2**20:.1f}"
        times = " ".join(f"{t:.2f}" for t in row["step_seconds_all"])
        print(f"{row['policy']:>14} {row['saved_bytes'] / 2**20:>10.1f} {peak:>9} {1 - row['memory_ratio']:>7.1%} "
              f"{row['step_seconds']:>7.2f} {row['round_time_ratio']:>7.2f}  {times}")
    print("(step s: median step time; time x: median over the rounds of step / that round's off step)")
    passed = {}
    for row in rows[1:]:
        least_saving, most_time = TARGETS[row["policy"]]
        saving, time_ratio = 1 - row["memory_ratio"], row["round_time_ratio"]
        passed[row["policy"]] = saving >= least_saving and time_ratio <= most_time
        print(f"{'PASS' if passed[row['policy']] else 'MISS'} {row['policy']}: saves {saving:.1%} "
              f"(target >= {least_saving:.0%}) at {time_ratio:.2f}x (target <= {most_time}x)")
    winners = [name for name in SELECTIVE if passed.get(name)]
    print(f"{'PASS' if winners else 'MISS'} one selective policy meets its target: {', '.join(winners) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
