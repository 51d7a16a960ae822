"""The commands of the README and of the site's pages (`docs/*.md`) run as written: every line of their ```bash
blocks, from the repository's folder, after the README's set-up (`make install`: the kit in `.venv`).

The cheap ones run exactly as written (the doctor, `--help`, `export`); the ones that train or measure
run with small sizes appended (argparse lets a later option override an earlier one); the expensive ones
are not run, each with the reason in :data:`NOT_RUN`, but their program must exist and their arguments
must pass the command's own parser (a `make` line: `make -n`). A README line in none of these lists
fails the test, so a new command cannot slip in untried. The complete Python examples (those starting with
`import`) run too.
"""

import itertools
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# The README and every page of the site written in Markdown: their commands move with their text.
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

# Run as written, with these options appended: the same command on small sizes, in seconds.
SMALL = {
    "-m modlayers memory --layers": ["--hidden", "32", "--heads", "2", "--seq-len", "16", "--repeats", "0", "--no-peak",
                                     "--no-progress"],
    "-m modlayers train --task tagging": ["--steps", "2", "--limit", "16", "--batch-size", "8", "--no-peak"],
}
# Not run, and why; their programs and arguments are still checked.
NOT_RUN = {
    "make lab": "installs the kit and serves JupyterLab until stopped (tests/test_make_lab.py starts it)",
    "make test": "installs everything and runs the whole suite",
    "make site": "builds the whole site (a minute; site-execute first runs the stale lessons): tests/test_site.py builds it",
    "make install": "creates .venv and installs from the network",
    "jupyter nbconvert": "executes a whole notebook; tests/test_notebooks.py executes every one",
    "-m pytest tests/test_notebooks.py": "executes a notebook; that file is part of the suite",
    "memory --preset targets": "12 layers, 4 policies, 5 timed repeats: minutes (benchmarks/README.md's figures)",
    "torchrun": "2 processes training a whole epoch; tests/test_distributed.py runs torchrun on tiny sizes",
    "finetune classification --model pretrained": "160 steps of MiniLM: minutes (tests/test_finetuning_*.py run a few)",
    "assignments generate": "rewrites notebooks/assignments/student with nbgrader (tests/test_assignments.py runs it)",
    "assignments grade": "needs a class's submissions (tests/test_assignments.py grades a generated class)",
    "topics-": "the offline example of docs/real_data.md: its commands share one folder, so "
               "tests/test_real_data_docs.py runs the block as pasted",
    "--device cuda": "needs hub access and a GPU (the published recipes; benchmarks/real_data.py runs them)",
    "benchmarks/real_data.py": "needs hub access, the data extra and a GPU; tests/test_benchmark_real_data.py runs its "
                               "three runs offline on the kit's data",
}
PROGRAMS_IN_THE_KITS_ENVIRONMENT = ("python", "pip", "torchrun", "jupyter", "pytest")


def readme_commands() -> list[str]:
    """Every command line of the ```bash blocks of the README and the site's pages, without its comment."""
    blocks = [block for page in PAGES for block in re.findall(r"```bash\n(.*?)```", page.read_text(encoding="utf-8"),
                                                               flags=re.S)]
    commands = []
    for block in blocks:
        lines = iter(block.replace("\\\n", " ").splitlines())  # a line ending in \ goes on in the next
        for line in lines:
            heredoc = re.search(r"<<'(\w+)'", line)
            if heredoc:  # the script fed to it is part of the command, up to its closing word
                body = list(itertools.takewhile(lambda rest, end=heredoc.group(1): rest != end, lines))
                commands.append("\n".join([line, *body, heredoc.group(1)]))
                continue
            words = shlex.split(line, comments=True)
            if words:
                commands.append(shlex.join(words))
    return commands


COMMANDS = readme_commands()


def kind(command: str) -> str:
    if any(key in command for key in NOT_RUN):
        return "not run"
    if any(key in command for key in SMALL):
        return "small"
    return "as written"


def environment(tmp_path: Path) -> dict[str, str]:
    # The kit imported is this checkout's (what `make install`'s editable install gives a fresh clone).
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "MPLBACKEND": "Agg", "TMPDIR": str(tmp_path)}


def workdir(tmp_path: Path) -> Path:
    """A folder that looks like the repository's to the commands (its .venv) but takes what they write."""
    folder = tmp_path / "repository"
    folder.mkdir()
    (folder / ".venv").symlink_to(ROOT / ".venv")
    return folder


def test_the_readme_has_commands_and_each_is_classified():
    assert len(COMMANDS) >= 15, COMMANDS
    print("\n".join(f"{kind(c):>10}: {c}" for c in COMMANDS))  # the list, with -s


@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_needs_an_activated_environment(command):
    program = shlex.split(command)[0]
    assert program not in PROGRAMS_IN_THE_KITS_ENVIRONMENT, (
        f"{command!r} runs the system's {program}; write .venv/bin/{program} (or a make target)")
    if program.startswith(".venv/bin/"):
        assert os.access(ROOT / program, os.X_OK), f"{program} is not in the kit's environment"


@pytest.mark.parametrize("command", [c for c in COMMANDS if kind(c) != "not run"])
def test_a_cheap_readme_command_runs(command, tmp_path):
    extra = next((options for key, options in SMALL.items() if key in command), [])
    folder = workdir(tmp_path)
    result = subprocess.run(["bash", "-c", f"{command} {shlex.join(extra)}".strip()], cwd=folder,
                            env=environment(tmp_path), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    for output in re.findall(r"--(?:plot|json|memory-json) (\S+)", command):
        assert (folder / output).is_file(), f"{command!r} did not write {output}"


@pytest.mark.parametrize("command", [c for c in COMMANDS if kind(c) == "not run"])
def test_an_expensive_readme_command_is_well_formed(command):
    reason = next(reason for key, reason in NOT_RUN.items() if key in command)
    words = shlex.split(command)
    if words[0] == "make":
        if shutil.which("make") is None:
            pytest.skip("make is not installed")
        dry = subprocess.run(["make", "-n", "-o", "install", *words[1:]], cwd=ROOT, capture_output=True, text=True)
        assert dry.returncode == 0, dry.stderr
        return
    if "-m" in words and words[words.index("-m") + 1] == "modlayers":
        check_arguments(words[words.index("-m") + 2 :])
    for path in [w for w in words if re.match(r"(notebooks|tests)/", w)]:
        assert (ROOT / path).exists(), f"{command!r} names {path}, which does not exist"
    print(f"not run ({reason}): {command}")


def check_arguments(argv: list[str]) -> None:
    """Parse a `python -m modlayers ...` command's arguments with that command's own parser and checks."""
    command, rest = argv[0], argv[1:]
    if command == "memory":
        from modlayers.lessons.memory.cli import build_parser, check_options

        check_options(build_parser().parse_args(rest))
    elif command == "train":
        from modlayers.lessons.distributed.cli import check_arguments as check_train, parser

        p = parser()
        check_train(p.parse_args(rest), p)
    elif command == "finetune":
        from modlayers.lessons.finetuning.cli import build_parser

        build_parser().parse_args(rest)
    elif command == "assignments":
        from modlayers.course.grading import build_parser

        build_parser().parse_args(rest)
    else:
        raise AssertionError(f"no argument check for `python -m modlayers {command}`: add one")


def test_the_readmes_own_code_example_runs(tmp_path):
    examples = [b for page in PAGES for b in re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"),
                                                        flags=re.S)
                if b.startswith("import")]  # the complete ones (the others are fragments of a reference)
    assert examples
    for example in examples:
        result = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", example], cwd=workdir(tmp_path),
                                env=environment(tmp_path), capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        shutil.rmtree(tmp_path / "repository")
