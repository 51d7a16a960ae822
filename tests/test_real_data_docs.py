"""docs/real_data.md as a reader uses it: every `finetune` command on the page parses (no misspelt flag), and
the offline example runs as pasted."""

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from modlayers.lessons.finetuning.cli import build_parser, check_options

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "real_data.md").read_text()
BASH = re.findall(r"```bash\n(.*?)```", PAGE, flags=re.S)


def commands() -> list[list[str]]:
    found = []
    for block in BASH:
        for command in block.replace("\\\n", " ").splitlines():
            if command.startswith(".venv/bin/python -m modlayers finetune ") and "{" not in command:
                found.append(shlex.split(command)[4:])
    return found


def test_the_page_starts_with_its_title():
    assert PAGE.startswith("# The lessons on real data\n")


@pytest.mark.parametrize("argv", commands(), ids=lambda argv: " ".join(argv[:3]))
def test_each_finetune_command_on_the_page_parses(argv):
    parser = build_parser()
    check_options(parser, parser.parse_args(argv))


def test_the_offline_example_runs_as_pasted(tmp_path):
    block = next(b for b in BASH if "topics-train.csv" in b)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")  # the page's commands call the kit's environment by its path
    result = subprocess.run(["bash", "-e", "-c", block.replace("--steps 40", "--steps 4 --no-progress")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "classification: validation accuracy on topics-validation.csv" in result.stdout
    assert "tiny model, trained from scratch (4 steps)" in result.stdout
