"""The predictor's table for the named real models: one device's memory under each sharding, as Markdown.

``python -m modlayers.lessons.memory.scale_table`` prints it (the table of ``benchmarks/README.md``).
"""

from __future__ import annotations

import sys

from modlayers.lessons.memory.model_configs import MODEL_NAMES, parameter_counts
from modlayers.lessons.memory.predictor import SHARDINGS, predict_memory

GB = 1e9
# One setting per model, the way each is usually trained: decoders long, encoders short.
SETTINGS = {"llama-3-8b": dict(seq_len=8192), "llama-3-70b": dict(seq_len=8192), "qwen2-0.5b": dict(seq_len=4096),
            "bert-base": dict(seq_len=512, batch=32), "minilm": dict(seq_len=512, batch=32)}


def scale_rows(world_size: int = 8, precision: str = "bf16-mixed", checkpointing: str = "every-layer",
               flash_attention: bool = True) -> list[dict]:
    """One row per named model: its parameters, sequence and batch, and the per-device total (GB) per sharding.

    Example:
        >>> rows = scale_rows()
        >>> [round(r["ddp"]) for r in rows if r["model"] == "llama-3-8b"]  # 16 bytes a parameter, and then some
        [132]
    """
    rows = []
    for name in MODEL_NAMES:
        settings = {"batch": 1, **SETTINGS[name]}
        row = {"model": name, "parameters": parameter_counts(name).total, **settings}
        for sharding in SHARDINGS:
            breakdown = predict_memory(name, precision=precision, sharding=sharding,
                                       world_size=1 if sharding == "none" else world_size,
                                       checkpointing=checkpointing, flash_attention=flash_attention, **settings)
            row[sharding] = breakdown.total / GB
            row[f"{sharding} state"] = breakdown.state / GB
        rows.append(row)
    return rows


def scale_table(world_size: int = 8, **settings) -> str:
    """:func:`scale_rows` as a Markdown table: total per device in GB (state alone in brackets)."""
    shardings = [s for s in SHARDINGS if s != "none"]
    lines = ["| model | parameters | batch x seq_len | " + " | ".join(f"{s} (W={world_size})" for s in shardings) + " |",
             "| --- | ---: | ---: | " + " | ".join("---:" for _ in shardings) + " |"]
    for row in scale_rows(world_size, **settings):
        cells = [f"{row[s]:.1f} ({row[s + ' state']:.1f})" for s in shardings]
        lines.append(f"| {row['model']} | {row['parameters'] / 1e9:.3f} B | {row['batch']} x {row['seq_len']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m modlayers.lessons.memory.scale_table [WORLD_SIZE]``: print the table."""
    from modlayers.lessons.command_line import CommandParser, positive_int

    parser = CommandParser(prog="python -m modlayers.lessons.memory.scale_table", description=__doc__.splitlines()[0])
    parser.add_argument("world_size", nargs="?", type=positive_int, default=8,
                        help="devices the state and the batch are spread over (default 8)")
    print(scale_table(parser.parse_args(argv).world_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
