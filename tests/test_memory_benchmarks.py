"""The benchmark scripts' code paths, on CPU and tiny: benchmarks/gpu_memory_check.py and memory_targets.py."""

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_memory_check_runs_its_cpu_path_and_prints_the_check(capsys):
    check = _load("gpu_memory_check")
    code = check.main(["--device", "cpu", "--tiny"])
    out = capsys.readouterr().out
    assert code in (0, 1)  # the 10% check is for the CUDA allocator; on CPU it is informative only
    assert "peak drop" in out and "saved drop" in out and "every-layer" in out and "offload" in out


def test_gpu_memory_check_without_a_gpu_says_how_to_run_it(capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _load("gpu_memory_check").main([]) == 2
    assert "--device cpu --tiny" in capsys.readouterr().err


def test_memory_targets_configuration_is_the_one_documented():
    targets = _load("memory_targets")
    assert targets.CONFIG["layers"] == 12 and targets.CONFIG["seq_len"] == 512
    assert targets.TARGETS == {"every-layer": (0.90, 1.5), "selective": (0.40, 1.25), "attention-core": (0.40, 1.25)}
    assert set(targets.SELECTIVE) <= set(targets.TARGETS)
    with pytest.raises(SystemExit):
        targets.main(["--rounds", "x"])


def test_memory_targets_keeps_freed_memory_unless_told_not_to(monkeypatch, capsys):
    targets = _load("memory_targets")
    asked = []
    monkeypatch.setattr(targets, "keep_freed_memory", lambda: asked.append(True) or True)
    monkeypatch.setattr(targets, "compare_policies", _stop)
    for argv, expected in (([], [True]), (["--os-allocator-defaults"], [])):
        asked.clear()
        with pytest.raises(_Stopped):
            targets.main(argv)
        assert asked == expected


class _Stopped(Exception):
    pass


def _stop(*args, **kwargs):
    raise _Stopped  # the measurement itself takes minutes; the switch is decided before it
