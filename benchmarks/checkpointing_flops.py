"""What checkpointing costs in FLOPs: every registered policy and torch's compile budgets, counted and predicted.

    python benchmarks/checkpointing_flops.py                 # both models, about a minute on a 2-core CPU
    python benchmarks/checkpointing_flops.py --model minilm  # only the MiniLM-shaped BERT
    python benchmarks/checkpointing_flops.py --no-compile    # skip the activation_memory_budget sweep

Two models, dropout 0 (torch's compile budget below 1 redraws random numbers, pytorch/pytorch#190758):

- ``tiny``: the kit's TinyTransformer, 6 layers, hidden 256, 4 heads, sequence 256, batch 2;
- ``minilm``: a randomly initialised BertModel of MiniLM-L6's shape (6 layers, hidden 384, 12 heads, MLP 1536),
  eager attention, sequence 128, batch 4.

For each policy the kit registers: saved bytes (saved-tensor hooks), forward, backward and recompute FLOPs
counted by ``FlopCounterMode`` and predicted by ``modlayers.lessons.memory.recompute_flops``, and the recompute as a
share of a step (forward + backward). Then, on the tiny model, torch's ``activation_memory_budget`` read off
the min-cut partitioner's graphs. Every figure is a count: the same on any machine. Exits 1 if a count
differs from its prediction. Results are recorded in benchmarks/README.md.
"""

import argparse
import sys

from modlayers.lessons.memory.compile_budget import DEFAULT_BUDGETS, budget_sweep
from modlayers.lessons.memory.measure import tiny_model_and_batch
from modlayers.lessons.memory.policies import get_policy
from modlayers.lessons.memory.recompute_flops import flop_table, minilm_shaped_model_and_batch

MIB = 2**20
GFLOP = 1e9
MODELS = {
    "tiny": ("TinyTransformer, 6 layers, hidden 256, seq 256, batch 2",
             lambda: tiny_model_and_batch(layers=6, hidden_size=256, num_heads=4, seq_len=256, batch=2, dropout=0.0)),
    "minilm": ("MiniLM-shaped BertModel (eager attention), 6 layers, hidden 384, seq 128, batch 4",
               lambda: minilm_shaped_model_and_batch(layers=6, seq_len=128, batch=4, dropout=0.0)),
}


def policy_table(rows: list[dict]) -> list[str]:
    lines = ["| policy | saved (MiB) | forward GFLOP counted / predicted | backward | recompute | recompute, % of a step |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        cells = [f"{row[k] / GFLOP:.3f} / {row['predicted_' + k] / GFLOP:.3f}" for k in ("forward", "backward", "recompute")]
        lines.append(f"| `{row['policy']}` | {row['saved_bytes'] / MIB:.2f} | {' | '.join(cells)} | {100 * row['overhead']:.1f} |")
    return lines


def budget_table(plans) -> list[str]:
    lines = ["| activation_memory_budget | saved (MiB) | forward GFLOP | backward | recompute | recompute, % of a step |",
             "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for plan in plans:
        flops = plan.flops
        lines.append(f"| {plan.budget:g} | {plan.saved_bytes / MIB:.2f} | {flops.forward / GFLOP:.3f} | "
                     f"{flops.backward / GFLOP:.3f} | {flops.recompute / GFLOP:.3f} | {100 * flops.overhead:.1f} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=[*MODELS, "both"], default="both")
    parser.add_argument("--no-compile", action="store_true", help="skip torch's activation_memory_budget sweep")
    args = parser.parse_args(argv)
    mismatches = 0
    for name in MODELS if args.model == "both" else [args.model]:
        title, build = MODELS[name]
        model, batch = build()
        rows = flop_table(model, batch)
        print(f"\n{title}\n")
        print("\n".join(policy_table(rows)))
        for row in rows:
            if any(row[k] != row["predicted_" + k] for k in ("forward", "backward", "recompute")):
                print(f"MISMATCH: {row['policy']} counted differs from predicted", file=sys.stderr)
                mismatches += 1
        if name == "tiny" and not args.no_compile:
            get_policy("off").enable(model)
            print(f"\n{title}, torch.compile's min-cut partitioner\n")
            print("\n".join(budget_table(budget_sweep(model, batch, DEFAULT_BUDGETS))))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
