"""Tests for modlayers/lessons/memory/measure.py: records, peaks, interleaved timing, ratios."""

import math

import pytest
import torch

from modlayers.lessons.memory.analytic import tiny_transformer_saved_bytes
from modlayers.lessons.memory.measure import (
    MemoryRecord,
    compare_policies,
    measure_training_step,
    peak_drop_agreement,
    process_peak_bytes,
    profiler_peak_bytes,
    ratios_to_baseline,
    time_steps,
    tiny_model_and_batch,
)


@pytest.fixture(scope="module")
def model_and_batch():
    return tiny_model_and_batch(layers=2, hidden_size=32, num_heads=2, seq_len=64, batch=2, dropout=0.1)


def test_record_saved_bytes_match_the_analytic_model(model_and_batch):
    model, batch = model_and_batch
    for policy, checkpointed in (("off", 0), ("every-layer", 2), ("every-2", 1)):
        record = measure_training_step(model, batch, policy, repeats=0, peak=False)
        assert record.saved_bytes == tiny_transformer_saved_bytes(model.config, 2, 64, checkpointed_layers=checkpointed)
        assert record.device == "cpu" and record.policy == policy


def test_profiler_peak_is_lower_with_checkpointing_and_above_the_saved_bytes(model_and_batch):
    model, batch = model_and_batch
    off = measure_training_step(model, batch, "off", repeats=0)
    on = measure_training_step(model, batch, "every-layer", repeats=0)
    assert on.peak_bytes < off.peak_bytes
    assert off.peak_bytes >= off.saved_bytes  # the peak holds the saved activations and more
    assert "profiler" in off.peak_source


def test_profiler_peak_of_a_known_allocation():
    def step():
        a = torch.empty(1024, 256)  # 1 MiB, alive together with b
        b = torch.empty(1024, 256)
        del a, b

    assert profiler_peak_bytes(step) == 2 * 2**20


def test_timing_gives_repeats_positive_times_and_a_median(model_and_batch):
    model, batch = model_and_batch
    record = measure_training_step(model, batch, "every-layer", repeats=2, peak=False)
    assert len(record.step_seconds_all) == 2 and record.step_seconds > 0


def test_time_steps_interleaves_and_returns_rounds_per_policy(model_and_batch):
    model, batch = model_and_batch
    times = time_steps(model, batch, ["off", "every-layer"], rounds=2)
    assert {name: len(values) for name, values in times.items()} == {"off": 2, "every-layer": 2}
    with pytest.raises(ValueError, match="rounds"):
        time_steps(model, batch, ["off"], rounds=0)


def test_compare_policies_and_ratios_to_off(model_and_batch):
    model, batch = model_and_batch
    records = compare_policies(model, batch, ["off", "every-layer"], rounds=1, peak=False)
    rows = ratios_to_baseline(records)
    assert rows[0]["memory_ratio"] == 1.0 and rows[0]["time_ratio"] == 1.0
    assert 0 < rows[1]["memory_ratio"] < 0.5
    assert rows[1]["time_ratio"] > 0


def test_round_time_ratio_is_the_median_of_the_per_round_ratios():
    off = MemoryRecord("off", "cpu", 10, step_seconds=1.0, step_seconds_all=[1.0, 2.0, 1.0])
    checkpointed = MemoryRecord("every-layer", "cpu", 1, step_seconds=1.5, step_seconds_all=[1.5, 2.2, 1.4])
    rows = ratios_to_baseline([off, checkpointed])
    assert rows[1]["round_time_ratio"] == pytest.approx(1.4)  # median of 1.5, 1.1, 1.4; the medians' ratio is 1.5
    assert rows[1]["time_ratio"] == pytest.approx(1.5)
    assert ratios_to_baseline([off, MemoryRecord("selective", "cpu", 5, step_seconds=1.2)])[1]["round_time_ratio"] is None


def test_ratios_are_none_without_the_baseline():
    rows = ratios_to_baseline([MemoryRecord("every-layer", "cpu", 10, step_seconds=1.0)])
    assert rows[0]["memory_ratio"] is None and rows[0]["time_ratio"] is None
    assert rows[0]["round_time_ratio"] is None


def test_record_to_dict_is_json_ready():
    row = MemoryRecord("off", "cpu", 1).to_dict()
    assert row["policy"] == "off" and math.isnan(row["step_seconds"])


def test_process_view_returns_two_resident_set_sizes():
    before, peak = process_peak_bytes(lambda: torch.ones(256, 1024).sum())
    assert before > 0 and peak > 0


def test_bad_repeats_and_sizes_raise():
    model, batch = tiny_model_and_batch(layers=1, hidden_size=8, num_heads=2, seq_len=4, batch=1)
    with pytest.raises(ValueError, match="repeats"):
        measure_training_step(model, batch, "off", repeats=-1)
    with pytest.raises(ValueError, match="seq_len must be a positive integer"):
        tiny_model_and_batch(seq_len=0)


def test_compare_policies_min_statistic_picks_the_fastest_round(model_and_batch):
    model, batch = model_and_batch
    (record,) = compare_policies(model, batch, ["off"], rounds=2, peak=False, time_statistic="min")
    assert record.step_seconds == min(record.step_seconds_all)
    with pytest.raises(ValueError, match="'median' or 'min'"):
        compare_policies(model, batch, ["off"], time_statistic="mean")


def test_peak_drop_agreement_compares_allocator_and_accounting():
    off = MemoryRecord("off", "cuda", 100, peak_bytes=150)
    on = MemoryRecord("every-layer", "cuda", 10, peak_bytes=65)
    result = peak_drop_agreement(off, on)
    assert result == {"saved_drop": 90, "peak_drop": 85, "relative_error": pytest.approx(5 / 90)}
    with pytest.raises(ValueError, match="peak_bytes"):
        peak_drop_agreement(MemoryRecord("off", "cpu", 1), on)
    with pytest.raises(ValueError, match="saves no activations"):
        peak_drop_agreement(off, MemoryRecord("offload", "cuda", 100, peak_bytes=140))


def test_count_forward_calls_sees_the_recompute_and_restores_the_class():
    from modlayers.lessons.memory.measure import count_forward_calls
    from modlayers.lessons.memory.policies import get_policy
    from modlayers.lessons.tiny_transformer import TinyTransformerLayer

    model, batch = tiny_model_and_batch(layers=3, hidden_size=8, num_heads=2, seq_len=4, batch=1)
    original = TinyTransformerLayer.forward
    get_policy("every-2").enable(model)
    with count_forward_calls(TinyTransformerLayer) as counted:
        loss = model(**batch).last_hidden_state.pow(2).mean()
        assert counted["calls"] == 3
        loss.backward()
    assert counted["calls"] == 3 + 2  # layers 0 and 2 ran again
    assert TinyTransformerLayer.forward is original
    with pytest.raises(TypeError, match="nn.Module subclass"):
        with count_forward_calls(int):
            pass


def test_keep_freed_memory_applies_on_glibc_in_a_fresh_process():
    import platform
    import subprocess
    import sys

    code = "from modlayers.lessons.memory.measure import keep_freed_memory; print(keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    expected = "True" if platform.libc_ver()[0] == "glibc" else "False"
    assert out == expected
