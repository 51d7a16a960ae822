"""Two processes (torchrun, gloo on CPU) train the heads like one process on the same global batch.

transformers' Trainer multiplies the loss by the number of processes when the model takes loss
keywords (DistributedDataParallel then averages the gradients). A head that ignored
``num_items_in_batch`` logged and back-propagated twice the single-process loss; the kit's heads
divide by the global count, so the logged losses and the weights after 3 steps match.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).with_name("trainer_torchrun_script.py")


def _run(command: list[str], tmp_path: Path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("torchrun")
    single, double = tmp_path / "single", tmp_path / "double"
    _run([sys.executable, str(SCRIPT), "--per-device-batch", "8", "--out", str(single)], tmp_path)
    _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
          str(SCRIPT), "--per-device-batch", "4", "--out", str(double)], tmp_path)
    load = lambda path: (json.loads(path.with_suffix(".json").read_text()), torch.load(path.with_suffix(".pt")))
    return load(single), load(double)


@pytest.mark.parametrize("combination", ["tiny-token", "llama-sequence"])
def test_two_processes_log_the_single_process_loss_and_reach_the_same_weights(runs, combination):
    (single_log, single_params), (double_log, double_params) = runs
    single_losses, double_losses = single_log[combination]["losses"], double_log[combination]["losses"]
    assert len(single_losses) == len(double_losses) == 3
    assert double_losses == pytest.approx(single_losses, abs=1e-5), "not twice the loss: the count is global"
    for name, value in single_params[combination].items():
        torch.testing.assert_close(double_params[combination][name], value, atol=1e-5, rtol=0, msg=name)
