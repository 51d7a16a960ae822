"""modlayers.lessons.distributed.launch starts the ranks itself with torchrun's variables (no torchrun process in
between), and a sweep hands each run's freed memory back: what lets notebook 05 fit 1.5 GB with its ranks."""

import json
import os
import re
import subprocess
import sys

import psutil
import pytest

from modlayers.lessons.distributed import launch, rank_environments, torchrun_command
from modlayers.lessons.distributed.sweep import release_freed_heap

VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "OMP_NUM_THREADS")
# Each rank joins the gloo group, checks everybody is there with an all-reduce, and prints its variables.
RANK_SCRIPT = """
import json, os, torch, torch.distributed as dist
dist.init_process_group("gloo")
total = torch.ones(1)
dist.all_reduce(total)
print(json.dumps({**{k: os.environ.get(k) for k in %r}, "sum": total.item(), "parent": os.getppid()}))
dist.destroy_process_group()
""" % (VARIABLES,)


def ranks_seen(stdout: str) -> list[dict]:
    # Ranks that share one stdout (torchrun's) can write their lines into each other: read every {...} object.
    return sorted((json.loads(found) for found in re.findall(r"\{[^{}]*\}", stdout)), key=lambda r: r["RANK"])


def test_launch_gives_each_rank_what_torchrun_gives_it_and_starts_no_process_in_between(tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    reference = subprocess.run(torchrun_command([str(script)], 2), capture_output=True, text=True, timeout=300,
                               env={**env, "OMP_NUM_THREADS": "1"}, check=True)
    ours = launch([str(script)], 2, timeout=300)
    expected, seen = ranks_seen(reference.stdout), ranks_seen(ours.stdout)
    assert len(seen) == 2 and all(rank["sum"] == 2.0 for rank in seen)
    for mine, theirs in zip(seen, expected):
        assert {k: mine[k] for k in VARIABLES if k != "MASTER_PORT"} == {k: theirs[k] for k in VARIABLES if k != "MASTER_PORT"}
    assert {rank["parent"] for rank in seen} == {os.getpid()}, "the ranks are this process's children"
    assert {rank["parent"] for rank in expected} != {os.getpid()}, "under torchrun an agent process sits between"


def test_a_failing_rank_fails_the_launch_and_stops_the_other(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text("import os, sys, time\nif os.environ['RANK'] == '1':\n    sys.exit(3)\ntime.sleep(120)\n")
    with pytest.raises(RuntimeError, match=r"status 3 \(statuses by rank: \[-15, 3\]\)"):
        launch([str(script)], 2, timeout=60)
    assert not launch([str(script)], 2, timeout=60, check=False).returncode == 0


def test_launch_refuses_a_bad_process_count_before_starting_anything():
    with pytest.raises(ValueError, match="nproc_per_node must be a positive integer, got 0"):
        launch(["x.py"], 0)
    with pytest.raises(ValueError, match="program is empty"):
        launch([], 2)
    assert [e["RANK"] for e in rank_environments(3, port=1, base={"RANK": "7"})] == ["0", "1", "2"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_release_freed_heap_gives_freed_memory_back_to_the_system():
    me = psutil.Process()
    blocks = [bytearray(64 * 1024) for _ in range(4000)]  # 250 MiB in heap-sized pieces (below mmap's threshold)
    del blocks[: len(blocks) - 1]  # free all but the last, which pins the top of the heap
    held = me.memory_info().rss
    assert release_freed_heap()
    assert me.memory_info().rss < held - 150 * 2**20, "malloc_trim returned less than 150 of the 250 MiB freed"
