"""Tests for benchmarks/real_data.py: offline it runs nothing and names what it needs; its runs, pointed at the
kit's data and the tiny decoder of tests/tiny_decoder.py, go through every task's fine-tune and fill the table."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_decoder import save_tiny_llama

from modlayers.lessons.data import data_dir

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "real_data.py"
spec = importlib.util.spec_from_file_location("real_data_benchmark", SCRIPT)
real_data = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = real_data  # dataclasses look their module up by name
spec.loader.exec_module(real_data)


def test_offline_it_runs_nothing_and_says_it_needs_hub_access_and_a_gpu():
    result = subprocess.run([sys.executable, str(SCRIPT), "sst2"], capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
                                 "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 1 and result.stdout == ""
    assert "needs hub access" in result.stderr and "Nothing was run" in result.stderr
    assert "a CUDA GPU" in result.stderr


def test_the_plan_names_each_published_figure_and_its_source():
    printed = real_data.plan()
    for run in real_data.RUNS.values():
        assert run.data in printed and run.model_source in printed and run.source in printed


def test_the_docs_page_states_the_benchmarks_targets():
    page = (ROOT / "docs" / "real_data.md").read_text()
    for run in real_data.RUNS.values():
        for value in run.target.values():
            assert f"{100 * value:.1f}" in page, (run.name, value)


@pytest.fixture(scope="module")
def llama_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-llama")
    save_tiny_llama(folder)
    return str(folder)


@pytest.mark.parametrize("key, options", [
    ("sst2", {"lr": 1e-3, "max_length": 64, "label_names": ["sports", "cooking", "weather", "technology"]}),
    ("squad", {"lr": 1e-3, "head_lr": 1e-3, "max_length": 128, "stride": 32, "answerless_share": 1.0}),
    ("conll2003", {"lr": 1e-3, "max_length": 48}),
])
def test_each_run_fine_tunes_its_task_and_fills_the_table(key, options, llama_folder):
    published = real_data.RUNS[key]
    task = published.task
    run = real_data.Run(published.name, task, str(data_dir() / task), llama_folder, epochs=1, batch_size=8,
                        target=published.target, source=published.source, options=options)
    row = real_data.execute(run, quick=True, device="cpu")
    assert row["steps"] == 50 and set(row["metrics"]) == set(published.target)
    line = real_data.table([row]).splitlines()[-1]
    assert line.startswith(f"| {published.name} | {llama_folder} |") and "| 50 |" in line
