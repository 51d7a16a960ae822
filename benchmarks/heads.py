"""Benchmark: forward + backward of the kit's heads against transformers' own, same weights.

``python -m modlayers bench heads [--repeats N] [--batch B] [--seq-len T] ...`` (or ``python benchmarks/heads.py ...``)

For each task, transformers' ``LlamaFor<Task>`` and the kit's head on
``LlamaPreTrainedModel`` get identical weights and the same batch (right padding
and labels). Each repeat times one training step of each, in alternating order so
that drift on a noisy machine hits both alike, and the table reports the median
of the per-repeat ratios ``kit / transformers`` (target: at most 1.03).

``--batch 1 --seq-len 16`` measures the Python-overhead regime, where the kit's eager
input checks (label range, negative positions, rows of only padding: host reads of
tensor values) weigh the most; inside ``torch.compile`` they are skipped.
"""

import statistics
import sys
import time

import torch
from transformers import (
    LlamaConfig,
    LlamaForQuestionAnswering,
    LlamaForSequenceClassification,
    LlamaForTokenClassification,
    LlamaPreTrainedModel,
)

from modlayers.lessons.command_line import CommandParser, positive_int
from modlayers.heads import GenericForQuestionAnswering, GenericForSequenceClassification, GenericForTokenClassification


class KitLlamaForSequenceClassification(GenericForSequenceClassification, LlamaPreTrainedModel):
    pass


class KitLlamaForQuestionAnswering(GenericForQuestionAnswering, LlamaPreTrainedModel):
    pass  # base model under "model"; load_state_dict takes transformers' "transformer." keys too


class KitLlamaForTokenClassification(GenericForTokenClassification, LlamaPreTrainedModel):
    pass


TASKS = {
    "sequence classification": (LlamaForSequenceClassification, KitLlamaForSequenceClassification),
    "question answering": (LlamaForQuestionAnswering, KitLlamaForQuestionAnswering),
    "token classification": (LlamaForTokenClassification, KitLlamaForTokenClassification),
}


def make_batch(task: str, batch: int, seq_len: int, vocab: int, num_labels: int) -> dict:
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(1, vocab, (batch, seq_len), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    for row in range(1, batch, 2):  # every other row right-padded by a quarter
        input_ids[row, -seq_len // 4 :] = 0
        attention_mask[row, -seq_len // 4 :] = 0
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "use_cache": False}
    if task == "sequence classification":
        inputs["labels"] = torch.randint(0, num_labels, (batch,), generator=generator)
    elif task == "question answering":
        inputs.pop("use_cache")
        inputs["start_positions"] = torch.randint(0, seq_len // 2, (batch,), generator=generator)
        inputs["end_positions"] = inputs["start_positions"] + 3
    else:
        labels = torch.randint(0, num_labels, (batch, seq_len), generator=generator)
        inputs["labels"] = labels.masked_fill(attention_mask == 0, -100)
    return inputs


CLOCKS = {
    "wall": time.perf_counter,
    # CPU time of this process: on a machine shared with other jobs it counts only our own work
    # (use it with --threads 1, so that no thread spins waiting for another).
    "cpu": time.process_time,
}


def training_step_seconds(model, inputs, clock=time.perf_counter) -> float:
    model.zero_grad(set_to_none=True)
    start = clock()
    model(**inputs).loss.backward()
    return clock() - start


def benchmark(repeats=15, batch=8, seq_len=128, hidden=256, layers=2, heads=4, warmup=2, seed=0, clock="wall") -> list[dict]:
    """Time every task; return one row per task with medians and the median ratio.

    ``clock``: ``"wall"`` (``time.perf_counter``) or ``"cpu"`` (``time.process_time``, this process only).
    """
    timer = CLOCKS[clock]
    config = LlamaConfig(
        vocab_size=1000, hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, pad_token_id=0, num_labels=4,
    )
    rows = []
    for task, (theirs_class, ours_class) in TASKS.items():
        torch.manual_seed(seed)
        theirs = theirs_class(config).train()
        ours = ours_class(config).train()
        missing, unexpected = ours.load_state_dict(theirs.state_dict(), strict=False)
        if missing or unexpected:
            raise RuntimeError(f"{task}: weights did not match: missing {missing}, unexpected {unexpected}")
        for model in (theirs, ours):  # same dropout behaviour: none, for a fair timing
            model.eval()
        inputs = make_batch(task, batch, seq_len, config.vocab_size, config.num_labels)
        for _ in range(warmup):
            training_step_seconds(theirs, inputs, timer)
            training_step_seconds(ours, inputs, timer)
        theirs_times, ours_times, ratios = [], [], []
        for repeat in range(repeats):
            if repeat % 2 == 0:
                t, o = training_step_seconds(theirs, inputs, timer), training_step_seconds(ours, inputs, timer)
            else:
                o, t = training_step_seconds(ours, inputs, timer), training_step_seconds(theirs, inputs, timer)
            theirs_times.append(t)
            ours_times.append(o)
            ratios.append(o / t)
        rows.append(
            {
                "task": task,
                "transformers_ms": 1000 * statistics.median(theirs_times),
                "modlayers_ms": 1000 * statistics.median(ours_times),
                "median_ratio": statistics.median(ratios),
            }
        )
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [
        f"{'head':<26}{'transformers ms':>16}{'modlayers ms':>14}{'median ratio':>14}",
        "-" * 70,
    ]
    for row in rows:
        lines.append(
            f"{row['task']:<26}{row['transformers_ms']:>16.1f}{row['modlayers_ms']:>14.1f}{row['median_ratio']:>14.3f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m modlayers bench heads", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive_int, default=15, help="timed steps per model (default 15)")
    parser.add_argument("--batch", type=positive_int, default=8)
    parser.add_argument("--seq-len", type=positive_int, default=128)
    parser.add_argument("--hidden", type=positive_int, default=256)
    parser.add_argument("--layers", type=positive_int, default=2)
    parser.add_argument("--heads", type=positive_int, default=4)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall time (default), or this process's CPU time: steadier on a shared machine")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.hidden % args.heads:
        parser.error(f"argument --heads: must divide --hidden ({args.hidden}), got {args.heads}")
    import transformers

    if args.threads is not None:
        torch.set_num_threads(args.threads)

    print(
        f"forward+backward, Llama base (hidden {args.hidden}, {args.layers} layers), batch {args.batch}, "
        f"seq {args.seq_len}, {args.repeats} interleaved repeats; torch {torch.__version__}, "
        f"transformers {transformers.__version__}, {torch.get_num_threads()} threads, {args.clock} clock"
    )
    rows = benchmark(args.repeats, args.batch, args.seq_len, args.hidden, args.layers, args.heads, clock=args.clock)
    print(format_table(rows))
    worst = max(row["median_ratio"] for row in rows)
    print(f"worst median ratio {worst:.3f} (target <= 1.03)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
