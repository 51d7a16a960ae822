"""Command line: ``python -m modlayers <command>``.

Commands:
    bench heads   time forward+backward of the kit's heads against transformers' own
    memory        measure activation memory with checkpointing policies (see --help)
    assignments   generate the student notebooks, grade submissions (nbgrader; see --help)
    train         train a head on one process or under torchrun: DDP, FSDP2, per-rank memory (see --help)
    finetune      fine-tune a head on the kit's data: finetune {classification,qa,tagging} (see --help)
    doctor        check what the kit needs against what is installed (--json for machines)
"""

import importlib.util
import sys
from pathlib import Path

# The benchmarks are scripts of the repository (benchmarks/), not modules of the package: `bench` runs them there.
BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_benchmark(name: str):
    """The repository's ``benchmarks/<name>.py`` as a module; FileNotFoundError where the kit has no repository."""
    path = BENCHMARKS / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"the benchmark {path} is not there: the benchmarks ship with the repository, not "
                                "with the installed package; clone the repository and run the command from it.")
    spec = importlib.util.spec_from_file_location(f"modlayers_benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # classes defined there (dataclasses, pickling) find their module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["bench", "heads"]:
        try:
            benchmark = load_benchmark("heads")
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return benchmark.main(argv[2:])
    if argv[:1] == ["bench"]:  # "bench" alone or with --help: the one benchmark it has
        asked = argv[1:2] in (["-h"], ["--help"])
        print("usage: python -m modlayers bench heads [options]; its options: python -m modlayers bench heads --help",
              file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    if argv[:1] == ["memory"]:
        from modlayers.lessons.memory.cli import main as memory

        return memory(argv[1:])
    if argv[:1] == ["assignments"]:
        from modlayers.course.grading import main as assignments

        return assignments(argv[1:], prog="python -m modlayers assignments")
    if argv[:1] == ["train"]:
        from modlayers.lessons.distributed.cli import main as train

        return train(argv[1:])
    if argv[:1] == ["finetune"]:
        from modlayers.lessons.finetuning.cli import main as finetune

        return finetune(argv[1:])
    if argv[:1] == ["doctor"]:
        from modlayers.lessons.doctor import main as doctor

        return doctor(argv[1:])
    if argv[:1] in ([], ["-h"], ["--help"]):
        print(__doc__.strip(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    print(f"python -m modlayers: unknown command {' '.join(argv[:2])!r}; the commands are:\n", file=sys.stderr)
    print(__doc__.strip(), file=sys.stderr)
    return 2


def main_without_core_packages(argv: list[str] | None = None) -> int:
    """``python -m modlayers`` in a Python that lacks torch, transformers, ...: the doctor runs, the rest say why not."""
    from modlayers.lessons.doctor import kits_environment, missing_core_packages, python_command
    from modlayers.lessons.doctor import main as doctor

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["doctor"]:
        return doctor(argv[1:])
    if argv[:1] in ([], ["-h"], ["--help"]):
        return main(argv)
    venv = kits_environment()
    where = (f"run it with the kit's environment: {venv.name}/bin/python -m modlayers {' '.join(argv)}"
             if venv else "set up the kit's environment first (make install), then run .venv/bin/python -m modlayers ...")
    print(f"error: python -m modlayers {argv[0]} needs {', '.join(missing_core_packages())}, which this Python "
          f"({python_command()}) does not have; {where} (python -m modlayers doctor lists what is missing).",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
