"""GPU check of the memory lab: does the allocator agree with the saved-tensor accounting?

    python benchmarks/gpu_memory_check.py                 # on a CUDA machine, about a minute
    python benchmarks/gpu_memory_check.py --snapshot mem.pickle   # also a memory timeline
    python benchmarks/gpu_memory_check.py --device cpu --tiny     # the same code path on CPU
    python benchmarks/gpu_memory_check.py --distributed           # per-rank memory: no sharding, DDP, FSDP2
    python benchmarks/gpu_memory_check.py --distributed --device cpu --tiny   # its code path on 2 CPU processes
    python benchmarks/gpu_memory_check.py --predictor             # the memory predictor against the GPU, bf16
    python benchmarks/gpu_memory_check.py --predictor --device cpu --tiny     # its code path on the CPU

For a bfloat16 TinyTransformer and a sweep of sequence lengths it measures, per
policy, the activations saved for backward (exact accounting) and the peak of
``torch.cuda.max_memory_allocated`` above the step's start, and checks that turning
every-layer checkpointing on lowers the peak by the bytes it stops saving, within 10%.
Prints a table; exits 1 when a check fails, 0 when all pass.

``--snapshot`` records the CUDA caching allocator's history for one checkpointed step
(``torch.cuda.memory._record_memory_history``); open the file at
https://pytorch.org/memory_viz to see each layer's recompute in the backward pass.
On CPU (``--device cpu``) the peak comes from the torch profiler instead, and the
CUDA-only parts (bfloat16 default, snapshot) are skipped.

``--distributed`` trains the tagging head on a TinyTransformer with no sharding (one
process), DDP and FSDP2 (torchrun, one process per GPU; 2 processes on CPU), each with
checkpointing off and every-layer, and prints every rank's parameters, gradients, Adam
state, saved activations and peak (``torch.cuda.max_memory_allocated`` on a GPU). It
checks each rank against the formula of ``modlayers.lessons.distributed.rank_memory`` (state
divided by the world size under FSDP2 only, within 1%; activations in proportion to the
rank's batch, within 5%) and exits 1 when a check fails.

``--predictor`` trains small configs (the kit's tiny transformer, a MiniLM-shaped one and, on a GPU, one of
hidden size 1024) one AdamW step under bfloat16 autocast, with checkpointing off and every layer, and prints
the measured state and saved activations next to ``modlayers.lessons.memory.predictor.predict_memory`` (``counted``
activations), and the measured peak next to the predicted total. It checks the state within 1% and the
activations within 5% and exits 1 when a check fails (the peak is shown, not checked).
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

from modlayers.lessons.memory.measure import MIB, measure_training_step, peak_drop_agreement, tiny_model_and_batch

POLICIES = ("off", "every-layer", "selective", "attention-core", "offload")
TOLERANCE = 0.10


def run(device: torch.device, dtype: torch.dtype, seq_lens, layers: int, hidden: int, heads: int, batch: int,
        repeats: int = 2) -> tuple[list[dict], bool]:
    """Measure every policy for every sequence length; return table rows and whether every check passed."""
    rows, ok = [], True
    for seq_len in seq_lens:
        model, inputs = tiny_model_and_batch(layers=layers, hidden_size=hidden, num_heads=heads, seq_len=seq_len,
                                             batch=batch, dropout=0.1, dtype=dtype, device=device)
        records = {p: measure_training_step(model, inputs, p, repeats=repeats) for p in POLICIES}
        check = peak_drop_agreement(records["off"], records["every-layer"])
        passed = check["relative_error"] <= TOLERANCE
        ok &= passed
        for name, record in records.items():
            rows.append({"seq_len": seq_len, **record.to_dict(),
                         "check": (f"{'PASS' if passed else 'FAIL'} peak drop {check['peak_drop'] / MIB:.1f} MiB vs "
                                   f"saved drop {check['saved_drop'] / MIB:.1f} MiB ({check['relative_error']:.1%})")
                         if name == "every-layer" else ""})
        del model, inputs
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows, ok


def snapshot(path: str, device: torch.device, dtype: torch.dtype, layers: int, hidden: int, heads: int, seq_len: int, batch: int) -> None:
    """Write the allocator history of one every-layer step to ``path`` (CUDA only)."""
    from modlayers.lessons.memory.measure import training_step
    from modlayers.lessons.memory.policies import get_policy

    model, inputs = tiny_model_and_batch(layers=layers, hidden_size=hidden, num_heads=heads, seq_len=seq_len,
                                         batch=batch, dtype=dtype, device=device)
    policy = get_policy("every-layer")
    policy.enable(model)
    training_step(model, inputs, policy)  # warm-up outside the record
    torch.cuda.memory._record_memory_history(max_entries=100_000)
    training_step(model, inputs, policy)
    torch.cuda.memory._dump_snapshot(path)
    torch.cuda.memory._record_memory_history(enabled=None)


STATE_TOLERANCE, ACTIVATION_TOLERANCE = 0.01, 0.05


def distributed(device: torch.device, tiny: bool) -> tuple[list[dict], bool]:
    """Per-rank memory under no sharding, DDP and FSDP2, checked against the formula; (rank rows, all passed)."""
    from modlayers.lessons.distributed import DistributedContext, launch, predict_rank_memory
    from modlayers.lessons.distributed.rank_memory import COLUMNS, activations_for_batch
    from modlayers.lessons.distributed.sweep import run_sweep

    world = torch.cuda.device_count() if device.type == "cuda" else 2
    layers, hidden, batch = (2, 64, 8) if tiny else (12, 512, 16 * world)
    # no sharding: one process, this one
    single = run_sweep(DistributedContext(device=device), [{"strategy": "none", "checkpointing": c} for c in ("off", "every-layer")],
                       task="tagging", global_batch_size=batch, steps=2, num_hidden_layers=layers, hidden_size=hidden,
                       hidden_dropout=0.0, attention_dropout=0.0)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "ranks.json"
        launch(["-m", "modlayers.lessons.distributed.sweep", "--runs", "ddp:off,ddp:every-layer,fsdp2:off,fsdp2:every-layer",
                "--task", "tagging", "--device", device.type, "--steps", "2", "--layers", str(layers),
                "--hidden-size", str(hidden), "--batch-size", str(batch), "--json", str(out)],
               nproc_per_node=world, timeout=600)
        results = single + json.loads(out.read_text())
    parameters = single[0]["memory"][0]["parameters"]
    whole_batch = {run["checkpointing"]: run["memory"][0]["activations"] for run in single}
    rows, ok = [], True
    for run in results:
        for record in run["memory"]:
            activations = activations_for_batch(whole_batch[run["checkpointing"]], batch, record["batch_per_rank"])
            predicted = predict_rank_memory(parameters, run["strategy"], record["world_size"], activations)
            errors = {c: abs(record[c] - predicted[c]) / predicted[c] for c in COLUMNS}
            passed = all(errors[c] <= (ACTIVATION_TOLERANCE if c == "activations" else STATE_TOLERANCE) for c in COLUMNS)
            ok &= passed
            rows.append({**record, "check": f"{'PASS' if passed else 'FAIL'} largest error {max(errors.values()):.2%}"})
    return rows, ok


def print_distributed(rows: list[dict]) -> None:
    print(f"{'strategy':>8} {'checkpointing':>13} {'rank':>4} {'batch':>5} {'params MiB':>10} {'grads MiB':>9} "
          f"{'Adam MiB':>8} {'activ. MiB':>10} {'peak MiB':>8}  check against the formula")
    for r in rows:
        print(f"{r['strategy']:>8} {r['checkpointing']:>13} {r['rank']:>4} {r['batch_per_rank']:>5} "
              f"{r['parameters'] / MIB:>10.2f} {r['gradients'] / MIB:>9.2f} {r['optimizer_state'] / MIB:>8.2f} "
              f"{r['activations'] / MIB:>10.2f} {r['peak'] / MIB:>8.1f}  {r['check']}")
    print(f"peak: {rows[0]['peak_source']}")


def predictor_check(device: torch.device, tiny: bool) -> tuple[list[dict], bool]:
    """The predictor against one process on ``device`` under bf16 autocast; (rows, all passed)."""
    from modlayers.lessons.distributed import DistributedContext
    from modlayers.lessons.distributed.predictor_check import agreement_rows, measure_run, small_configs
    from modlayers.lessons.memory.predictor import predict_memory
    from modlayers.lessons.tiny_transformer import TinyTransformerConfig

    runs = [(name, config, 4, 32) for name, config in small_configs().items()]
    if not tiny:
        wide = TinyTransformerConfig(vocab_size=32000, hidden_size=1024, num_hidden_layers=8, num_attention_heads=16,
                                     max_position_embeddings=1024, hidden_dropout=0.0, attention_dropout=0.0,
                                     is_causal=True)
        runs.append(("hidden-1024", wide, 8, 1024))
    rows, ok = [], True
    for name, config, batch, seq_len in runs:
        for policy in ("off", "every-layer"):
            [record] = measure_run(config, DistributedContext(device=device), precision="bf16-autocast",
                                   checkpointing=policy, global_batch=batch, seq_len=seq_len, measure_peak=True)
            checked = agreement_rows(name, config, [record], "bf16-autocast")
            ok &= all(row["within"] for row in checked)
            total = predict_memory(config, precision="bf16-autocast", batch=batch, seq_len=seq_len, checkpointing=policy,
                                   activation_formula="counted").total
            rows.append({"config": name, "checkpointing": policy, "batch": batch, "seq_len": seq_len,
                         "checked": checked, "peak": record.peak, "peak_source": record.peak_source,
                         "predicted_total": total})
    return rows, ok


def print_predictor(rows: list[dict]) -> None:
    print(f"{'config':>14} {'checkpointing':>13} {'batch x seq':>11} {'column':>16} {'measured MiB':>12} "
          f"{'predicted MiB':>13} {'error':>7}  check")
    for run in rows:
        for r in run["checked"]:
            print(f"{run['config']:>14} {run['checkpointing']:>13} {run['batch']:>4} x {run['seq_len']:<4} {r['column']:>16} "
                  f"{r['measured'] / MIB:>12.2f} {r['predicted'] / MIB:>13.2f} {r['relative_error']:>7.2%}  "
                  f"{'PASS' if r['within'] else 'FAIL'}")
        print(f"{run['config']:>14} {run['checkpointing']:>13} {run['batch']:>4} x {run['seq_len']:<4} {'peak':>16} "
              f"{run['peak'] / MIB:>12.2f} {run['predicted_total'] / MIB:>13.2f}  (shown, not checked: "
              "the predicted total counts every buffer at once)")
    print(f"peak: {rows[0]['peak_source']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu to try the code path")
    parser.add_argument("--tiny", action="store_true", help="a tiny float32 configuration (for CPU)")
    parser.add_argument("--snapshot", metavar="FILE.pickle", help="also record an allocator timeline (CUDA only)")
    parser.add_argument("--distributed", action="store_true",
                        help="per-rank memory under no sharding, DDP and FSDP2 (torchrun, one process per GPU)")
    parser.add_argument("--predictor", action="store_true",
                        help="the memory predictor against measured state and activations (bf16 autocast)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("No GPU visible to torch: run this on a CUDA machine, or try the code path with --device cpu --tiny.",
              file=sys.stderr)
        return 2
    if args.predictor:
        rows, ok = predictor_check(device, args.tiny)
        print(f"device: {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}; bfloat16 autocast")
        print_predictor(rows)
        print("all checks passed" if ok else "a check failed: the predictor and the measurement disagree")
        return 0 if ok else 1
    if args.distributed:
        rows, ok = distributed(device, args.tiny)
        print_distributed(rows)
        print("all checks passed" if ok else "a check failed: a rank holds more or less than the formula predicts")
        return 0 if ok else 1
    if args.tiny:
        size = dict(layers=2, hidden=16, heads=2, batch=1)
        seq_lens, dtype, repeats = (32,), torch.float32, 1
    else:
        size = dict(layers=24, hidden=256, heads=4, batch=4)
        seq_lens, dtype, repeats = (256, 512, 1024), torch.bfloat16 if device.type == "cuda" else torch.float32, 3

    rows, ok = run(device, dtype, seq_lens, repeats=repeats, **size)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (peak from the torch profiler)"
    print(f"device: {name}; dtype {str(dtype).removeprefix('torch.')}; " + ", ".join(f"{k}={v}" for k, v in size.items()))
    print(f"{'seq_len':>7} {'policy':>14} {'saved MiB':>10} {'offloaded MiB':>13} {'peak MiB':>9} {'step ms':>8}  check")
    for row in rows:
        print(f"{row['seq_len']:>7} {row['policy']:>14} {row['saved_bytes'] / MIB:>10.1f} {row['offloaded_bytes'] / MIB:>13.1f} "
              f"{row['peak_bytes'] / MIB:>9.1f} {row['step_seconds'] * 1000:>8.1f}  {row['check']}")
    if args.snapshot:
        if device.type == "cuda":
            snapshot(args.snapshot, device, dtype, seq_len=seq_lens[-1], **size)
            print(f"wrote {args.snapshot} (open it at https://pytorch.org/memory_viz)")
        else:
            print("--snapshot is CUDA only; skipped.")
    print("all checks passed" if ok else f"a check failed: peak drop and saved drop differ by more than {TOLERANCE:.0%}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
