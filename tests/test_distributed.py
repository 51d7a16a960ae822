"""modlayers.lessons.distributed: the loop, DDP, FSDP2 and Trainer under torchrun (gloo, 2 CPU processes), per-rank memory.

The torchrun tests start two processes once per module (tests/distributed_worker.py runs every combination in one
launch) and compare with one process on the same global batch, computed here.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from modlayers.lessons.distributed import (
    DistributedContext,
    backend_for,
    build_task,
    enable_checkpointing,
    items_in_batch,
    predict_rank_memory,
    rank_share,
    torchrun_command,
    train_distributed,
)
from modlayers.lessons.distributed.rank_memory import measure_state_bytes

sys.path.insert(0, str(Path(__file__).parent))
import distributed_worker as worker  # noqa: E402

LOSS_TOLERANCE = 1e-5
# AdamW divides each gradient by its running size, so a weight whose gradient is near zero moves by about
# lr = 3e-3 in the direction of that gradient's sign, and the sign of a gradient of ~1e-9 depends on the
# order in which gloo adds the ranks' parts. Against one process the weights therefore differ by up to
# 1.2e-4 in the runs seen (never on the loss, which must agree within 1e-5). 1e-3 still catches a
# strategy that trains differently; the two ranks, which apply the same averaged gradient, agree exactly.
PARAMETER_TOLERANCE = 1e-3


def run_worker(mode: str, out_dir: Path) -> dict[int, dict]:
    """Launch tests/distributed_worker.py under torchrun (2 processes); return each rank's results."""
    command = torchrun_command([str(Path(__file__).parent / "distributed_worker.py"), mode, str(out_dir)], 2)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    return {rank: torch.load(out_dir / f"{mode}-rank{rank}.pt") for rank in (0, 1)}


@pytest.fixture(scope="module")
def one_process():
    """The kit's loop on one process, whole global batch: losses and parameters after the steps."""
    return worker.loop_run(worker.tiny_task(), DistributedContext())


@pytest.fixture(scope="module")
def loop_results(tmp_path_factory):
    return run_worker("loop", tmp_path_factory.mktemp("loop"))


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[name] - b[name]).abs().max().item() for name in a)


def test_ddp_static_graph_and_fsdp2_match_one_process_with_checkpointing_off_and_both_reentrant_settings(
        loop_results, one_process):
    for name, *_ in worker.LOOP_RUNS:
        rank0, rank1 = loop_results[0][name], loop_results[1][name]
        assert "error" not in rank0, (name, rank0.get("error"))
        # the loss of each step is that of the whole global batch, the same number on both ranks
        assert rank0["losses"] == rank1["losses"], name
        assert len(rank0["losses"]) == worker.STEPS
        assert rank0["losses"] == pytest.approx(one_process["losses"], abs=LOSS_TOLERANCE), name
        # the same parameters on both ranks (bit for bit), and those of one process
        assert max_difference(rank0["parameters"], rank1["parameters"]) == 0.0, name
        assert max_difference(rank0["parameters"], one_process["parameters"]) < PARAMETER_TOLERANCE, name


def test_each_rank_holds_what_the_formula_predicts(loop_results, one_process):
    """Parameters, gradients and Adam state divided by 2 under FSDP2 only; activations by the batch per rank."""
    [single] = one_process["memory"]
    parameter_bytes = single["parameters"]
    for name, strategy, _, checkpointing in worker.LOOP_RUNS:
        for rank in (0, 1):
            measured = loop_results[rank][name]["memory"][rank]
            assert measured["rank"] == rank and measured["batch_per_rank"] == worker.GLOBAL_BATCH // 2
            predicted = predict_rank_memory(parameter_bytes, strategy, 2, single["activations"] / 2)
            for column in ("parameters", "gradients", "optimizer_state"):
                assert measured[column] == pytest.approx(predicted[column], rel=0.01), (name, rank, column)
            if checkpointing == "off":  # the batch share of a padded batch: within 10 %
                assert measured["activations"] == pytest.approx(predicted["activations"], rel=0.10), (name, rank)


def test_ddp_find_unused_parameters_with_reentrant_checkpointing_raises_an_error_naming_both_fixes(loop_results):
    name = worker.FAILING_RUN[0]
    for rank in (0, 1):
        result = loop_results[rank][name]
        said = [result.get("error", ""), *result["warnings"]]  # an error, or a warning at the first step
        assert any("static_graph" in text and "use_reentrant=False" in text for text in said), said[0][:500]


def test_trainer_under_torchrun_matches_one_process_with_checkpointing_off_and_both_reentrant_settings(tmp_path):
    results = run_worker("trainer", tmp_path)
    single = worker.trainer_run(worker.tiny_task(), tmp_path / "single", worker.GLOBAL_BATCH)
    assert len(single["losses"]) == worker.STEPS
    for checkpointing in worker.CHECKPOINTING:
        rank0, rank1 = results[0][f"trainer/{checkpointing}"], results[1][f"trainer/{checkpointing}"]
        assert "error" not in rank0, rank0.get("error")
        # TrainingArguments' switch reached every layer, with the use_reentrant asked for
        applied = rank0["use_reentrant_applied"]
        assert applied and set(applied) == {worker.CHECKPOINTING[checkpointing]}, (checkpointing, applied)
        assert rank0["losses"] == pytest.approx(single["losses"], abs=LOSS_TOLERANCE), checkpointing
        assert max_difference(rank0["parameters"], rank1["parameters"]) == 0.0
        assert max_difference(rank0["parameters"], single["parameters"]) < PARAMETER_TOLERANCE


# --- the pieces, in one process ---


def test_docstring_examples_of_the_distributed_modules_run_as_written():
    import doctest

    from modlayers.lessons.distributed import launching, rank_memory, sweep, tasks, training_run

    for module in (launching, rank_memory, sweep, tasks, training_run):
        result = doctest.testmod(module, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_sweep_runs_parse_strategy_checkpointing_and_flags():
    from modlayers.lessons.distributed.sweep import parse_run

    assert parse_run("ddp:every-2:reentrant:static") == {"strategy": "ddp", "checkpointing": "every-2",
                                                         "use_reentrant": True, "static_graph": True}
    with pytest.raises(ValueError, match="Unknown flag 'fast'"):
        parse_run("ddp:off:fast")
    with pytest.raises(ValueError, match="strategy:checkpointing"):
        parse_run("ddp")


def test_rank_share_cuts_contiguous_rows_and_refuses_an_uneven_split():
    batch = {"input_ids": torch.arange(12).view(6, 2), "labels": torch.arange(6)}
    shares = [rank_share(batch, rank, 3)["labels"].tolist() for rank in range(3)]
    assert shares == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(ValueError, match="does not split evenly over 4 ranks"):
        rank_share(batch, 0, 4)


def test_items_in_batch_counts_what_each_loss_averages_over():
    assert items_in_batch("tagging", {"labels": torch.tensor([[-100, 1, 2], [0, -100, -100]])}) == 3
    assert items_in_batch("classification", {"labels": torch.tensor([1, -100, 0])}) == 2
    qa = {"input_ids": torch.zeros(3, 8, dtype=torch.long), "start_positions": torch.tensor([0, 5, 8])}
    assert items_in_batch("qa", qa) == 2  # position 8 lies past the window: ignored by the loss


def test_prediction_divides_the_state_by_the_world_size_under_fsdp2_only():
    assert predict_rank_memory(1000, "ddp", 4, 10) == {"parameters": 1000, "gradients": 1000,
                                                       "optimizer_state": 2000, "activations": 10}
    assert predict_rank_memory(1000, "fsdp2", 4, 10)["optimizer_state"] == 500
    with pytest.raises(ValueError, match="Unknown strategy 'zero3'"):
        predict_rank_memory(1000, "zero3", 4, 10)


def test_measured_state_is_parameters_gradients_and_two_adam_moments():
    layer = torch.nn.Linear(8, 4)  # 36 float32 parameters: 144 bytes
    optimizer = torch.optim.AdamW(layer.parameters())
    layer(torch.randn(2, 8)).sum().backward()
    optimizer.step()
    assert measure_state_bytes(layer, optimizer) == {"parameters": 144, "gradients": 144, "optimizer_state": 288}


def test_backend_follows_the_device_and_torchrun_command_names_the_processes():
    assert backend_for("cpu") == "gloo" and backend_for("cuda:1") == "nccl"
    command = torchrun_command(["-m", "modlayers", "train"], 3, port=1234)
    assert "--nproc_per_node=3" in command and "--master_port=1234" in command and command[-3:] == ["-m", "modlayers", "train"]
    with pytest.raises(ValueError, match="nproc_per_node must be a positive integer"):
        torchrun_command(["x.py"], 0)


def test_bad_settings_are_refused_before_training():
    task = build_task("classification", "tiny", limit=8)
    with pytest.raises(ValueError, match="needs a process group"):
        train_distributed(task.make_model(), task.features, DistributedContext(), task="classification", strategy="ddp")
    with pytest.raises(ValueError, match="multiple of the world size 2"):
        train_distributed(task.make_model(), task.features, DistributedContext(world_size=2), task="classification",
                          global_batch_size=7)
    with pytest.raises(ValueError, match="at least one step: got epochs=1, steps=0"):
        train_distributed(task.make_model(), task.features, DistributedContext(), task="classification", steps=0)
    with pytest.raises(ValueError, match="one of 2 processes"):
        train_distributed(task.make_model(), task.features, DistributedContext(world_size=2, backend="gloo"),
                          task="classification", strategy="none")
    with pytest.raises(ValueError, match="every-N with a number"):
        enable_checkpointing(task.make_model(), "every-0")
    with pytest.raises(ValueError, match="Unknown task 'ner'"):
        build_task("ner")


def test_train_command_trains_qa_and_tagging_on_one_process_and_reports_memory(tmp_path, capsys):
    from modlayers.__main__ import main

    for task in ("qa", "tagging"):  # classification: under torchrun below
        out = tmp_path / f"{task}.json"
        assert main(["train", "--task", task, "--steps", "2", "--batch-size", "4", "--limit", "8", "--no-peak",
                     "--checkpointing", "every-layer", "--memory-json", str(out)]) == 0
        printed = capsys.readouterr().out
        assert f"{task} on tiny model, strategy none" in printed and "activations" in printed
        [record] = json.loads(out.read_text())
        assert record["strategy"] == "none" and record["checkpointing"] == "every-layer" and record["activations"] > 0


def test_train_command_runs_under_torchrun_with_fsdp2(tmp_path):
    out = tmp_path / "memory.json"
    program = ["-m", "modlayers", "train", "--strategy", "fsdp2", "--steps", "2", "--batch-size", "4", "--limit", "8",
               "--memory-json", str(out)]
    result = subprocess.run(torchrun_command(program, 2), capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "strategy fsdp2, 2 process(es) (gloo)" in result.stdout
    records = json.loads(out.read_text())
    assert [r["rank"] for r in records] == [0, 1] and all(r["peak"] >= r["parameters"] for r in records)


def test_gpu_memory_check_distributed_runs_its_cpu_path_and_checks_every_rank_against_the_formula(capsys):
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_memory_check.py"
    spec = importlib.util.spec_from_file_location("gpu_memory_check", path)
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    assert check.main(["--distributed", "--device", "cpu", "--tiny"]) == 0
    printed = capsys.readouterr().out
    rows = [line for line in printed.splitlines() if "PASS" in line]
    assert len(rows) == 2 + 2 * 4  # no sharding: one rank, twice; DDP and FSDP2: two ranks, twice each
    assert "all checks passed" in printed
