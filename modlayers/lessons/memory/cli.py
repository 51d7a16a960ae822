"""``python -m modlayers memory``: activation memory and step time of the kit's tiny transformer, per policy.

Example::

    python -m modlayers memory --layers 4 --seq-len 256 --policies off,every-layer,selective
    python -m modlayers memory --sweep seq-len=128,256,512 --policies off,every-layer --plot sweep.png
    python -m modlayers memory --preset targets   # the figures in benchmarks/README.md

Columns: saved MiB (activations held between forward and backward on the device,
exact), peak MiB (allocator peak above the step's start: CUDA's max_memory_allocated,
or the torch profiler's memory timeline on CPU), step time (median of --repeats
interleaved runs) and both as ratios to the first policy measured (``off`` when listed).
"""

import argparse
import json
import sys

import torch

from modlayers.lessons.command_line import CommandParser, non_negative_int, output_file, positive_int, probability
from modlayers.lessons.memory.measure import MIB, compare_policies, keep_freed_memory, ratios_to_baseline, tiny_model_and_batch
from modlayers.lessons.memory.policies import POLICY_NAMES, parse_policies

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
SWEEPABLE = {"layers": "layers", "seq-len": "seq_len", "batch": "batch"}
PRESETS = {
    # The targets of the memory lab on a laptop-class CPU (benchmarks/README.md).
    "targets": dict(layers=12, hidden=256, heads=4, seq_len=512, batch=4, dtype="float32", dropout=0.1,
                    policies="off,every-layer,selective,attention-core", repeats=5, keep_freed_memory=True),
    # Small enough for a test or a first look.
    "tiny": dict(layers=2, hidden=32, heads=2, seq_len=32, batch=2, dtype="float32", dropout=0.1,
                 policies="off,every-layer,every-2,selective,attention-core,offload", repeats=1),
}


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m modlayers memory",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"Policies: {', '.join(POLICY_NAMES)} (every-N with a number, e.g. every-2).",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), help="start from a named configuration; later options override it")
    parser.add_argument("--layers", type=positive_int, default=4, help="number of transformer layers (default 4)")
    parser.add_argument("--hidden", type=positive_int, default=128, help="hidden size (default 128)")
    parser.add_argument("--heads", type=positive_int, default=4, help="attention heads; must divide --hidden (default 4)")
    parser.add_argument("--seq-len", type=positive_int, default=128, help="sequence length (default 128)")
    parser.add_argument("--batch", type=positive_int, default=4, help="batch size (default 4)")
    parser.add_argument("--dropout", type=probability, default=0.1, help="hidden and attention dropout (default 0.1)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="parameter and activation dtype")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    parser.add_argument("--policies", default="off,every-layer,every-2,selective,attention-core,offload", help="comma-separated policies")
    parser.add_argument("--repeats", type=non_negative_int, default=3, help="timed steps per policy, interleaved (default 3; 0: no timing)")
    parser.add_argument("--no-peak", action="store_true", help="skip the peak measurement (the CPU profiler is slow)")
    parser.add_argument("--sweep", metavar="NAME=V1,V2,...", help="repeat for several values of layers, seq-len or batch")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights, batch and dropout")
    parser.add_argument("--json", type=output_file, metavar="FILE", help="write the rows and the configuration as JSON")
    parser.add_argument("--plot", type=output_file, metavar="FILE.png", help="write a figure (trade-off scatter, or the sweep)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="ask malloc to keep freed memory (steadier CPU times; what benchmarks/memory_targets.py does)")
    return parser


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error that says so."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"--device must be auto, cpu, cuda or cuda:N, got {name!r}.") from error
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu, cuda or cuda:N, got {name!r}.")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch sees no GPU here; use --device cpu (or auto).")
    return device


def parse_sweep(text: str) -> tuple[str, list[int]]:
    """``"seq-len=128,256"`` -> ``("seq_len", [128, 256])``."""
    name, _, values = text.partition("=")
    if name not in SWEEPABLE or not values:
        raise ValueError(f"--sweep must look like NAME=V1,V2 with NAME one of {', '.join(SWEEPABLE)}; got {text!r}.")
    try:
        numbers = [int(v) for v in values.split(",") if v.strip()]
    except ValueError as error:
        raise ValueError(f"--sweep values must be whole numbers, got {values!r}.") from error
    if not numbers or min(numbers) < 1:
        raise ValueError(f"--sweep values must be positive whole numbers, got {values!r}.")
    return SWEEPABLE[name], numbers


def check_options(args: argparse.Namespace) -> None:
    """Raise ValueError for options that argparse's types do not catch (before any work)."""
    for name in ("layers", "hidden", "heads", "seq_len", "batch"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}.")
    if args.hidden % args.heads:
        raise ValueError(f"--heads ({args.heads}) must divide --hidden ({args.hidden}); try --heads {_divisor(args.hidden, args.heads)}.")
    if not 0.0 <= args.dropout < 1.0:
        raise ValueError(f"--dropout must be in [0, 1), got {args.dropout}.")
    if args.repeats < 0:
        raise ValueError(f"--repeats must be 0 or more, got {args.repeats}.")
    if args.plot and args.plot.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ValueError(f"argument --plot: needs a .png, .svg or .pdf file name, got {str(args.plot)!r}.")


def _divisor(hidden: int, heads: int) -> int:
    return max(d for d in range(1, heads + 1) if hidden % d == 0)


def format_table(rows: list[dict], sweep_name: str | None = None) -> str:
    """The rows as a fixed-width text table (one line per policy, and per sweep value)."""
    header = ([sweep_name] if sweep_name else []) + ["policy", "saved MiB", "peak MiB", "step ms", "time x off", "memory x off"]
    lines = []
    for row in rows:

        def number(value, spec):
            return "-" if value is None or value != value else format(value, spec)

        cells = ([str(row["sweep_value"])] if sweep_name else []) + [
            row["policy"],
            number(row["saved_bytes"] / MIB, ".2f"),
            number(None if row["peak_bytes"] is None else row["peak_bytes"] / MIB, ".2f"),
            number(row["step_seconds"] * 1000, ".1f"),
            number(row["time_ratio"], ".2f"),
            number(row["memory_ratio"], ".3f"),
        ]
        lines.append(cells)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in lines]
    return "\n".join(out)


def run(args: argparse.Namespace, progress_bar: bool = True) -> list[dict]:
    """Measure every policy (for every sweep value); return the table rows."""
    from tqdm.auto import tqdm

    policies = parse_policies(args.policies)
    device = resolve_device(args.device)
    sweep_name, sweep_values = parse_sweep(args.sweep) if args.sweep else (None, [None])
    baseline = "off" if any(p.name == "off" for p in policies) else policies[0].name
    settings = dict(layers=args.layers, hidden_size=args.hidden, num_heads=args.heads, seq_len=args.seq_len,
                    batch=args.batch, dropout=args.dropout, dtype=DTYPES[args.dtype], device=device, seed=args.seed)
    rows = []
    steps = len(sweep_values) * (len(policies) + (1 if args.repeats else 0))
    with tqdm(total=steps, desc="memory", disable=not progress_bar, file=sys.stderr) as bar:

        def progress(description):
            bar.set_description(description)
            bar.update(1)

        for value in sweep_values:
            if sweep_name:
                settings[sweep_name] = value
            model, batch = tiny_model_and_batch(**settings)
            records = compare_policies(model, batch, policies, rounds=args.repeats, peak=not args.no_peak,
                                       label=f"{sweep_name}={value}" if sweep_name else "", progress=progress)
            for row in ratios_to_baseline(records, baseline):
                row["sweep_value"] = value
                rows.append(row)
            del model, batch
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.preset:  # the preset fills in what the command line did not set
        defaults = parser.parse_args([])
        for key, value in PRESETS[args.preset].items():
            if getattr(args, key) == getattr(defaults, key):
                setattr(args, key, value)
    try:
        check_options(args)
        parse_policies(args.policies)
        resolve_device(args.device)
        if args.sweep:
            parse_sweep(args.sweep)
    except ValueError as error:
        parser.error(str(error))  # usage and the message on stderr, exit status 2

    if args.keep_freed_memory and not keep_freed_memory():
        print("--keep-freed-memory: not a glibc system; malloc's defaults stay.", file=sys.stderr)
    rows = run(args, progress_bar=not args.no_progress)
    sweep_name = SWEEPABLE.get(args.sweep.partition("=")[0]) if args.sweep else None
    device = rows[0]["device"] if rows else "?"
    print(f"device: {device}  layers={args.layers} hidden={args.hidden} heads={args.heads} seq_len={args.seq_len} "
          f"batch={args.batch} dtype={args.dtype} dropout={args.dropout}")
    print(format_table(rows, sweep_name))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"config": {k: v for k, v in vars(args).items() if k not in ("json", "plot")}, "rows": rows}, handle, indent=2)
        print(f"wrote {args.json}")
    if args.plot:
        write_plot(rows, args.plot, sweep_name, device)
        print(f"wrote {args.plot}")
    return 0


def write_plot(rows: list[dict], path: str, sweep_name: str | None, device: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from modlayers.lessons.plots import plot_memory_sweep, plot_policy_tradeoff

    what = "CUDA" if device == "cuda" else "CPU, saved-tensor accounting"
    if sweep_name:
        policies = list(dict.fromkeys(row["policy"] for row in rows))
        xs = list(dict.fromkeys(row["sweep_value"] for row in rows))
        measured = {p: [next(r["saved_bytes"] for r in rows if r["policy"] == p and r["sweep_value"] == x) for x in xs] for p in policies}
        ax = plot_memory_sweep(xs, measured, xlabel=sweep_name.replace("_", " "), title=f"Saved activations ({what})")
    else:
        ax = plot_policy_tradeoff(rows, title=f"Memory against time per policy ({what})")
    ax.figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(ax.figure)
