"""The kit's byte count per rank (``state_bytes_per_rank``) is what DDP and FSDP2 really hold: measured on 2 gloo
processes with ``measure_state_bytes`` after one Adam step, uneven shards, float64 and frozen parameters included."""

import json
from pathlib import Path

import pytest
import torch
from rank_state_worker import MODELS

from modlayers.lessons.distributed import fsdp2_shard_rows, launch, predict_rank_memory, state_bytes_per_rank

WORKER = str(Path(__file__).resolve().parent / "rank_state_worker.py")


def test_shard_rows_follow_torch_chunk():
    for rows in range(0, 12):
        for world_size in range(1, 6):
            chunks = [len(c) for c in torch.arange(rows).chunk(world_size)] if rows else []
            chunks += [0] * (world_size - len(chunks))
            assert [fsdp2_shard_rows(rows, world_size, r) for r in range(world_size)] == chunks, (rows, world_size)


def test_even_shards_agree_with_the_rule_of_thumb():
    model = MODELS["even"]()
    whole = sum(p.numel() * p.element_size() for p in model.parameters())
    for strategy in ("ddp", "fsdp2"):
        rule = predict_rank_memory(whole, strategy, 2, 0)
        for rank in range(2):
            counted = state_bytes_per_rank(model, strategy, 2, rank)
            assert {k: float(v) for k, v in counted.items()} == {k: rule[k] for k in counted}


def test_a_bad_strategy_or_rank_is_named():
    with pytest.raises(ValueError, match="Unknown strategy 'zero3'"):
        state_bytes_per_rank(torch.nn.Linear(2, 2), "zero3", 2, 0)
    with pytest.raises(ValueError, match="0 <= rank < world_size, got world_size=2, rank=2"):
        state_bytes_per_rank(torch.nn.Linear(2, 2), "fsdp2", 2, 2)


def test_the_count_is_what_each_rank_holds_under_ddp_and_fsdp2(tmp_path):
    launch([WORKER, str(tmp_path)], nproc_per_node=2, timeout=240)
    for rank in range(2):
        measured = json.loads((tmp_path / f"rank{rank}.json").read_text())
        for key, found in measured.items():
            name, strategy = key.split("/")
            torch.manual_seed(0)
            assert state_bytes_per_rank(MODELS[name](), strategy, 2, rank) == found, (key, rank)
    # the shards are uneven: rank 0 holds more of the mixed model than rank 1
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text())["mixed/fsdp2"]["parameters"] for r in range(2)]
    assert ranks[0] > ranks[1]
