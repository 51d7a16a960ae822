"""Command line: ``python -m modlayers <command>``.

Commands:
    bench heads   time forward+backward of the kit's heads against transformers' own
    memory        measure activation memory with checkpointing policies (see --help)
    assignments   generate the student notebooks, grade submissions (nbgrader; see --help)
    train         train a head on one process or under torchrun: DDP, FSDP2, per-rank memory (see --help)
    finetune      fine-tune a head on the kit's data: finetune {classification,qa,tagging} (see --help)
"""

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["bench", "heads"]:
        from modlayers.benchmark_heads import main as bench_heads

        return bench_heads(argv[2:])
    if argv[:1] == ["memory"]:
        from modlayers.memory_cli import main as memory

        return memory(argv[1:])
    if argv[:1] == ["assignments"]:
        from modlayers.course.grading import main as assignments

        return assignments(argv[1:], prog="python -m modlayers assignments")
    if argv[:1] == ["train"]:
        from modlayers.distributed.cli import main as train

        return train(argv[1:])
    if argv[:1] == ["finetune"]:
        from modlayers.finetuning.cli import main as finetune

        return finetune(argv[1:])
    print(__doc__.strip(), file=sys.stderr)
    return 0 if argv[:1] in (["-h"], ["--help"]) else 2


if __name__ == "__main__":
    sys.exit(main())
