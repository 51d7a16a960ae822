"""The predictor against measurement (1 and 2 gloo processes, fp32 and bf16 autocast), and the fake-tensor world
of any size against the real 2-process runs: within 1% for the state and 5% for the activations."""

import doctest

import pytest
import torch

import modlayers.lessons.distributed.fake_world
from modlayers.lessons.distributed.fake_world import fake_process_group, fake_rank_memory, world_size_sweep
from modlayers.lessons.distributed.launching import DistributedContext
from modlayers.lessons.distributed.predictor_check import (
    ACTIVATION_TOLERANCE,
    DEFAULT_RUNS,
    STATE_TOLERANCE,
    check_runs,
    measure_in_processes,
    measure_run,
    small_configs,
)
from modlayers.lessons.memory.predictor import predict_memory
from modlayers.lessons.tiny_transformer import TinyTransformerModel

STATE = ("parameters", "gradients", "optimizer_state")


def failures(rows):
    return [f"{r['config']} {r['precision']} {r['strategy']} W={r['world_size']} {r['checkpointing']} rank {r['rank']} "
            f"{r['column']}: measured {r['measured']}, predicted {r['predicted']:.0f}" for r in rows if not r["within"]]


@pytest.fixture(scope="module")
def two_process_rows():
    return measure_in_processes(2)


def test_one_process_fp32_and_autocast_agree_with_the_predictor():
    runs = [(n, p, "none", c) for n in small_configs() for p in ("fp32", "bf16-autocast")
            for c in ("off", "every-layer", "every-2")]
    rows = check_runs(DistributedContext(), runs)
    assert len(rows) == 4 * len(runs) and not failures(rows), failures(rows)


def test_two_processes_ddp_and_fsdp2_agree_with_the_predictor_on_every_rank(two_process_rows):
    assert len(two_process_rows) == 2 * 4 * len(DEFAULT_RUNS)  # 2 ranks, 4 columns per run
    assert not failures(two_process_rows), failures(two_process_rows)
    fsdp2 = [r for r in two_process_rows if r["strategy"] == "fsdp2" and r["column"] == "parameters"]
    ddp = {(r["config"], r["rank"]): r["measured"] for r in two_process_rows
           if r["strategy"] == "ddp" and r["column"] == "parameters"}
    assert all(r["measured"] * 2 == pytest.approx(ddp[r["config"], r["rank"]], rel=STATE_TOLERANCE) for r in fsdp2)


def test_autocast_changes_what_is_saved_and_the_predictor_follows():
    """A predictor that ignored the precision would fail here: the two counts differ by 64% on MiniLM's shape."""
    config = small_configs()["minilm-shaped"]
    fp32, autocast = (measure_run(config, DistributedContext(), precision=p)[0] for p in ("fp32", "bf16-autocast"))
    assert autocast.activations > 1.5 * fp32.activations  # the 16-bit weight copies and probabilities
    assert fp32.parameters == autocast.parameters == 4 * sum(p.numel() for p in TinyTransformerModel(config).parameters())


def test_fake_world_of_two_matches_the_real_two_process_runs(two_process_rows):
    configs = small_configs()
    measured = {(r["config"], r["precision"], r["strategy"], r["checkpointing"], r["column"]): r["measured"]
                for r in two_process_rows if r["rank"] == 0}
    for name, precision, strategy, checkpointing in DEFAULT_RUNS:
        fake = fake_rank_memory(lambda: TinyTransformerModel(configs[name]), 2, strategy=strategy, batch_per_rank=2,
                                precision=precision, checkpointing=checkpointing)
        for column in (*STATE, "activations"):
            real = measured[name, precision, strategy, checkpointing, column]
            tolerance = ACTIVATION_TOLERANCE if column == "activations" else STATE_TOLERANCE
            assert getattr(fake, column) == pytest.approx(real, rel=tolerance), (name, precision, strategy, column)


def test_fake_world_sweep_divides_fsdp2_state_by_the_world_size_up_to_64():
    config = small_configs()["minilm-shaped"]
    records = world_size_sweep(lambda: TinyTransformerModel(config), (2, 8, 64), checkpointing="every-layer")
    for record in records:
        predicted = predict_memory(config, precision="fp32", sharding="fsdp2", world_size=record.world_size,
                                   batch=2, seq_len=32, checkpointing="every-layer", activation_formula="counted")
        assert record.parameters == pytest.approx(predicted.weights, rel=STATE_TOLERANCE)
        assert record.optimizer_state == pytest.approx(predicted.optimizer_state, rel=STATE_TOLERANCE)
        assert record.activations == pytest.approx(predicted.activations, rel=ACTIVATION_TOLERANCE)
    assert records[0].parameters > 30 * records[-1].parameters  # 1/2 against 1/64 of the model


def test_fake_world_refuses_to_replace_a_running_process_group_and_bad_settings():
    with fake_process_group(2):
        with pytest.raises(ValueError, match="already running"):
            fake_rank_memory(lambda: TinyTransformerModel(small_configs()["tiny"]), 4)
    with pytest.raises(ValueError, match="strategy must be one of"):
        fake_rank_memory(lambda: None, 2, strategy="zero3")


def test_measured_precisions_are_the_cpus_and_bf16_mixed_is_refused_with_why():
    with pytest.raises(ValueError, match="predicted, not measured"):
        measure_run(small_configs()["tiny"], DistributedContext(), precision="bf16-mixed")


def test_fake_world_docstring_example_runs_as_written():
    result = doctest.testmod(modlayers.lessons.distributed.fake_world, extraglobs={"torch": torch})
    assert result.attempted > 0 and result.failed == 0


def test_gpu_memory_check_predictor_runs_its_cpu_path_and_checks_state_and_activations(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_memory_check.py"
    spec = importlib.util.spec_from_file_location("gpu_memory_check", path)
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    assert check.main(["--predictor", "--device", "cpu", "--tiny"]) == 0
    out = capsys.readouterr().out
    assert "all checks passed" in out and out.count("PASS") == 16 and "FAIL" not in out  # 2 configs x 2 policies x 4
