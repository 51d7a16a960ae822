"""Run by tests/test_rank_memory_shards.py on 2 gloo processes (``modlayers.lessons.distributed.launch``).

    python tests/rank_state_worker.py OUT_DIR

For every model of ``MODELS`` and strategy (``ddp``, ``fsdp2``), each rank wraps the model, takes one Adam step
and writes what :func:`~modlayers.lessons.distributed.rank_memory.measure_state_bytes` finds to
``OUT_DIR/rank<r>.json``: ``{"<model>/<strategy>": {"parameters", "gradients", "optimizer_state"}}``.
"""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn


class Stack(nn.Module):
    """Linear layers in turn, each input cast to the next layer's dtype."""

    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x.to(layer.weight.dtype)))
        return x


def mixed():
    """A float64 layer with 5 rows (3 + 2 over 2 ranks), a (1, 5) layer (all on rank 0), a frozen weight."""
    model = Stack([nn.Linear(3, 5).double(), nn.Linear(5, 1), nn.Linear(1, 3)])
    model.layers[2].weight.requires_grad_(False)
    return model


def even():
    return Stack([nn.Linear(4, 6), nn.Linear(6, 2)])


def frozen_layer():
    model = Stack([nn.Linear(4, 6), nn.Linear(6, 7), nn.Linear(7, 2)])
    model.layers[0].requires_grad_(False)
    return model


MODELS = {"mixed": mixed, "even": even, "frozen layer": frozen_layer}


def wrap(model, strategy, world_size):
    if strategy == "ddp":
        return nn.parallel.DistributedDataParallel(model, gradient_as_bucket_view=True, find_unused_parameters=False)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cpu", (world_size,))
    for layer in model.layers:  # one group per layer: each keeps its own dtype
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def main(out_dir: Path) -> None:
    from modlayers.lessons.distributed.rank_memory import measure_state_bytes

    dist.init_process_group("gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    found = {}
    for name, build in MODELS.items():
        for strategy in ("ddp", "fsdp2"):
            torch.manual_seed(0)
            model = build()
            wrapped = wrap(model, strategy, world_size)
            optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
            first = model.layers[0]
            wrapped(torch.randn(4, first.in_features, dtype=first.weight.dtype)).sum().backward()
            optimizer.step()
            found[f"{name}/{strategy}"] = measure_state_bytes(model, optimizer)
    (out_dir / f"rank{rank}.json").write_text(json.dumps(found))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
