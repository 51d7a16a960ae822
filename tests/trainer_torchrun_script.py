"""Train a few tiny heads with transformers' Trainer for 3 steps and save what rank 0 saw.

Run by ``tests/test_heads_torchrun.py``, once as one process and once under
``python -m torch.distributed.run --nproc_per_node=2`` (gloo on CPU), with the same global
batch of 8: ``--per-device-batch 8`` or ``4``. Writes ``{"<arch>-<task>": {"losses": [...]}}``
to ``<out>.json`` and the parameters after training to ``<out>.pt``.
"""

import argparse
import json
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from heads_training_setup import make_examples, make_head, trainer_step_update  # noqa: E402

COMBINATIONS = [("tiny", "token"), ("llama", "sequence")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-device-batch", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rank = int(os.environ.get("RANK", "0"))
    results, parameters = {}, {}
    for arch, task in COMBINATIONS:
        model = make_head(arch, task)
        with tempfile.TemporaryDirectory() as output_dir:
            _, losses = trainer_step_update(model, make_examples(task), output_dir, args.per_device_batch, 1, steps=3)
        results[f"{arch}-{task}"] = {"losses": losses}
        parameters[f"{arch}-{task}"] = {name: p.detach().clone() for name, p in model.named_parameters()}
    if rank == 0:
        with open(args.out + ".json", "w") as handle:
            json.dump(results, handle)
        torch.save(parameters, args.out + ".pt")
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
