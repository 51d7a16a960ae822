"""Tests for modlayers/__main__.py: the command dispatcher says what it knows and what it does not."""

from modlayers.__main__ import main


def test_help_goes_to_stdout_and_succeeds(capsys):
    assert main(["--help"]) == 0
    out, err = capsys.readouterr()
    assert "finetune" in out and "doctor" in out and err == ""


def test_no_command_prints_the_commands_and_fails(capsys):
    assert main([]) == 2
    assert "Commands:" in capsys.readouterr().err


def test_an_unknown_command_is_named(capsys):
    assert main(["nosuch"]) == 2
    assert "unknown command 'nosuch'" in capsys.readouterr().err


def test_bench_with_help_names_its_one_benchmark_and_bench_alone_fails(capsys):
    assert main(["bench", "--help"]) == 0
    assert "python -m modlayers bench heads" in capsys.readouterr().out
    assert main(["bench"]) == 2
    assert "bench heads --help" in capsys.readouterr().err


def test_bench_heads_runs_the_repositorys_benchmark_script(capsys):
    """`bench heads` runs benchmarks/heads.py: one tiny repeat of each head against transformers' own."""
    assert main(["bench", "heads", "--repeats", "1", "--batch", "1", "--seq-len", "8", "--hidden", "32",
                 "--heads", "2", "--layers", "1"]) == 0
    out = capsys.readouterr().out
    assert "worst median ratio" in out
    assert all(task in out for task in ("sequence", "question", "token")), out
