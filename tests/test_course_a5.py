"""Assignment 5 (modlayers/course/a5_scaling_out.py): a learner's gradient averaging runs on 2 gloo processes and is
compared with one process; byte counts are compared with the kit's accounting. Correct answers written in
different ways pass every part, visible and hidden; each plausible mistake loses exactly its parts, with a message
that names the case, the rank and the mistake, never the answer; a stub is found without starting processes."""

import importlib.util
import sys
import time
from pathlib import Path

import pytest
import torch

from modlayers.course import a5_scaling_out as a5
from modlayers.course.checking import CheckFailed, NotWrittenYet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import grade_class  # noqa: E402  (the class simulation's answers are the ones tried here)

NAME = "a5_scaling_out"
PART_IDS = {("average_gradients", "one process"): "check-average_gradients",
            ("average_gradients", "frozen parameters"): "check-average_gradients-frozen",
            ("rank_state_bytes", "ddp"): "check-rank_state_bytes-ddp",
            ("rank_state_bytes", "fsdp2"): "check-rank_state_bytes-fsdp2",
            ("rank_state_bytes", "uneven shards"): "check-rank_state_bytes-uneven",
            ("rank_state_bytes", "frozen parameters"): "check-rank_state_bytes-frozen"}


@pytest.fixture(autouse=True)
def instructor_secret(monkeypatch):
    monkeypatch.setenv("MODLAYERS_HIDDEN_SEED", "a test secret")


def answers_module(tmp_path, kind: str, name: str = "answers"):
    """The answers of ``kind`` (grade_class's, over the solutions) as an importable module: a file, so that
    inspect.getsource finds them as it does in a notebook cell."""
    sources = grade_class._solution_answers(NAME)
    sources.update(grade_class.ANSWERS.get(kind, {}).get(NAME, {}))
    path = tmp_path / f"{name}_{kind}.py"
    header = "import math\nimport torch\nimport torch.distributed as dist\nimport torch.nn.functional as F\nfrom torch import nn\n\n"
    path.write_text(header + "\n\n".join(sources[cell] for cell in ("average_gradients", "rank_state_bytes")) + "\n")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def outcome(module) -> dict[str, str]:
    """``{grade id: "" or the first line of the failure}`` for every part, visible check then hidden test."""
    results = {}
    for (fn, part), grade_id in PART_IDS.items():
        check, hidden = getattr(a5, f"check_{fn}"), getattr(a5, f"hidden_test_{fn}")
        try:
            check(getattr(module, fn), part)
            hidden(getattr(module, fn), part)
            results[grade_id] = ""
        except (CheckFailed, NotWrittenYet) as error:
            results[grade_id] = str(error).splitlines()[0]
    return results


@pytest.mark.parametrize("kind", ["solutions", "different", "wrong", "misled"])
def test_each_answer_loses_exactly_the_parts_the_class_simulation_expects(tmp_path, kind):
    results = outcome(answers_module(tmp_path, kind))
    loses = {"wrong": grade_class.WRONG_LOSES, "misled": grade_class.MISLED_LOSES}.get(kind, {}).get(NAME, set())
    assert {grade_id for grade_id, failure in results.items() if failure} == loses, results


def test_failures_name_the_case_the_rank_and_the_mistake_never_the_answer(tmp_path):
    wrong, misled = outcome(answers_module(tmp_path, "wrong")), outcome(answers_module(tmp_path, "misled"))
    frozen = wrong["check-average_gradients-frozen"]
    assert frozen.startswith("3 layers (3 -> 5 -> 4 -> 2), the first frozen (requires_grad=False), batch 4, rank 0:")
    assert "raised an error" in frozen
    assert "split every parameter in equal parts" in wrong["check-rank_state_bytes-uneven"]
    assert "rank 0" in wrong["check-rank_state_bytes-uneven"] and "(5, 3)" in wrong["check-rank_state_bytes-uneven"]
    summed = misled["check-average_gradients"]
    assert "rank 0 (rows 0-1 of the batch), parameter 0.weight (4, 3): it is 2 times the one-process gradient" in summed
    for message in (frozen, summed, wrong["check-rank_state_bytes-uneven"]):
        assert "/=" not in message and "get_world_size()" not in message and "ceil" not in message


def test_a_stub_is_not_written_yet_without_starting_any_process(monkeypatch):
    def stub(model):
        """Average the gradients."""
        # YOUR CODE HERE
        raise NotImplementedError()

    monkeypatch.setattr(a5, "launch", lambda *args, **kwargs: pytest.fail("a stub started processes"))
    with pytest.raises(NotWrittenYet, match="average_gradients is not written yet"):
        a5.check_average_gradients(stub, "one process")


def test_the_kits_own_averaging_is_refused_before_any_process_starts(monkeypatch):
    from modlayers.course.a5_ranks import average_gradients_reference

    monkeypatch.setattr(a5, "launch", lambda *args, **kwargs: pytest.fail("the kit's function started processes"))
    with pytest.raises(CheckFailed, match="is the kit's modlayers.course.a5_ranks.average_gradients_reference"):
        a5.check_average_gradients(average_gradients_reference, "one process")


def test_every_part_of_a_check_shares_one_launch(tmp_path, monkeypatch):
    monkeypatch.setattr(a5, "_LAUNCHES", {})  # no result kept from another test
    launches = []
    real = a5.launch
    monkeypatch.setattr(a5, "launch", lambda *args, **kwargs: launches.append(args) or real(*args, **kwargs))
    module = answers_module(tmp_path, "different", name="once")
    for part in a5.AVERAGE_GRADIENTS_PARTS:
        a5.check_average_gradients(module.average_gradients, part)
    for part in a5.AVERAGE_GRADIENTS_PARTS:
        a5.hidden_test_average_gradients(module.average_gradients, part)
    assert len(launches) == 2  # the visible cases once, the hidden ones once


def test_a_rank_that_skips_the_collective_is_reported_not_left_waiting(tmp_path):
    path = tmp_path / "lopsided.py"
    path.write_text("import torch.distributed as dist\n\n\ndef average_gradients(model):\n"
                    "    if dist.get_rank() == 0:  # only rank 0 exchanges\n"
                    "        for p in model.parameters():\n"
                    "            dist.all_reduce(p.grad)\n            p.grad /= 2\n")
    spec = importlib.util.spec_from_file_location("lopsided", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    start = time.perf_counter()
    with pytest.raises(CheckFailed) as error:
        a5.check_average_gradients(module.average_gradients, "one process")
    assert time.perf_counter() - start < a5.LAUNCH_TIMEOUT_SECONDS
    assert "rank" in str(error.value)


def test_byte_count_mistakes_are_named():
    def ddp_divided(model, strategy, world_size, rank):
        whole = sum(p.numel() * p.element_size() for p in model.parameters())
        return {"parameters": whole // world_size, "gradients": whole // world_size, "optimizer_state": 2 * whole // world_size}

    def one_moment(model, strategy, world_size, rank):
        whole = sum(p.numel() * p.element_size() for p in model.parameters())
        return {"parameters": whole, "gradients": whole, "optimizer_state": whole}

    def four_bytes(model, strategy, world_size, rank):
        whole = 4 * sum(p.numel() for p in model.parameters())
        return {"parameters": whole, "gradients": whole, "optimizer_state": 2 * whole}

    def frozen_counted(model, strategy, world_size, rank):
        return a5_solution(model.requires_grad_(True), strategy, world_size, rank)

    with pytest.raises(CheckFailed, match="under DDP every rank holds a whole copy"):
        a5.check_rank_state_bytes(ddp_divided, "ddp")
    with pytest.raises(CheckFailed, match="Adam keeps two tensors per trained parameter"):
        a5.check_rank_state_bytes(one_moment, "ddp")
    with pytest.raises(CheckFailed, match=r"a float64 layer 3 -> 5.*use each one's element_size\(\)"):
        a5.check_rank_state_bytes(four_bytes, "ddp")
    with pytest.raises(CheckFailed, match="counted the frozen parameters too"):
        a5.check_rank_state_bytes(frozen_counted, "frozen parameters")
    with pytest.raises(CheckFailed, match="differs from the kit's accounting on an input you have not seen"):
        a5.hidden_test_rank_state_bytes(one_moment, "fsdp2")


def a5_solution(model, strategy, world_size, rank):
    """Written independently of the kit: each rank's rows from torch.chunk itself."""
    out = {"parameters": 0, "gradients": 0, "optimizer_state": 0}
    for p in model.parameters():
        chunks = torch.chunk(p.detach(), world_size) if strategy == "fsdp2" else [p.detach()]
        local = chunks[rank] if strategy == "fsdp2" and rank < len(chunks) else (chunks[0] if strategy == "ddp" else p[:0])
        size = local.numel() * local.element_size()
        out["parameters"] += size
        out["gradients"] += size * p.requires_grad
        out["optimizer_state"] += 2 * size * p.requires_grad
    return out


def test_random_cases_hold_their_parts_behaviour():
    for model, strategy, world_size, _ in a5.random_state_cases(0, "fsdp2"):
        assert strategy == "fsdp2" and all(p.shape[0] % world_size == 0 for p in model.parameters())
    for model, strategy, world_size, _ in a5.random_state_cases(0, "uneven shards"):
        assert strategy == "fsdp2" and any(p.shape[0] % world_size for p in model.parameters())
    for model, _, _, _ in a5.random_state_cases(0, "frozen parameters"):
        flags = {p.requires_grad for p in model.parameters()}
        assert flags == {True, False}
    for case in a5.random_averaging_cases(0, frozen=True):
        assert 0 < len(case["frozen"]) < len(case["sizes"]) - 1 and case["batch"] % 2 == 0


def test_docstring_examples_run_as_written():
    import doctest

    from modlayers.lessons.distributed import rank_memory

    assert doctest.testmod(a5, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0
    for fn in (rank_memory.fsdp2_shard_rows, rank_memory.state_bytes_per_rank):
        finder = doctest.DocTestFinder().find(fn, globs=vars(rank_memory))
        runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
        for test in finder:
            runner.run(test)
        assert runner.failures == 0 and runner.tries > 0, fn.__name__


def test_the_ranks_import_torch_and_nothing_of_the_kit():
    import subprocess

    code = ("import runpy, sys; sys.argv = ['a5_ranks']; runpy.run_path(%r, run_name='not_main'); "
            "print(sorted(m for m in sys.modules if m.startswith(('modlayers', 'transformers'))))") % a5.RANKS_FILE
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr
