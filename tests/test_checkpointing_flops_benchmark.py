"""benchmarks/checkpointing_flops.py prints both tables and exits 0 when every count equals its prediction."""

import importlib.util
from pathlib import Path

from modlayers.lessons.memory.measure import tiny_model_and_batch

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "checkpointing_flops.py"


def _benchmark():
    spec = importlib.util.spec_from_file_location("checkpointing_flops", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_prints_every_policy_and_budget_and_exits_0_on_a_small_model(monkeypatch, capsys):
    benchmark = _benchmark()
    small = lambda: tiny_model_and_batch(layers=1, hidden_size=32, num_heads=2, seq_len=32, batch=1, dropout=0.0)  # noqa: E731
    monkeypatch.setattr(benchmark, "MODELS", {"tiny": ("small tiny", small)})
    monkeypatch.setattr(benchmark, "DEFAULT_BUDGETS", (1.0, 0.0))
    assert benchmark.main(["--model", "tiny"]) == 0
    out = capsys.readouterr().out
    for policy in ("off", "every-layer", "every-2", "selective", "attention-core", "offload"):
        assert f"| `{policy}` |" in out
    assert "| 1 | " in out and "| 0 | " in out and "| 33.3 |" in out  # budget 0: the whole forward again
