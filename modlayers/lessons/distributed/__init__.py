"""Training on several processes: DDP, FSDP2 and what each rank holds in memory.

- :mod:`~modlayers.lessons.distributed.launching`: torchrun, the process group, gloo on CPUs and NCCL on GPUs.
- :mod:`~modlayers.lessons.distributed.strategies`: ``none``, ``ddp`` (DistributedDataParallel), ``fsdp2`` (``fully_shard``).
- :mod:`~modlayers.lessons.distributed.tasks`: the kit's three tasks as a model and its training features.
- :mod:`~modlayers.lessons.distributed.training_run`: the loop; each rank trains on its share of every global batch.
- :mod:`~modlayers.lessons.distributed.rank_memory`: parameters, gradients, optimizer state, activations and peak, per
  rank, measured and predicted.
- :mod:`~modlayers.lessons.distributed.comm_bytes`: the bytes each rank hands its collectives in a step, counted and
  predicted, and what it sends on a ring.
- :mod:`~modlayers.lessons.distributed.ddp_buckets`: what DDP keeps in its buckets, with and without
  ``gradient_as_bucket_view``.
- :mod:`~modlayers.lessons.distributed.step_timeline`: one rank's memory over a step, and its peak item by item.
- :mod:`~modlayers.lessons.distributed.predictor_check`: the memory predictor against 1 and 2 measured processes.
- :mod:`~modlayers.lessons.distributed.fake_world`: one rank of any world size, on fake tensors and a fake process group.

The command line is ``python -m modlayers train --help`` (under ``torchrun --nproc_per_node=N`` for several
processes).
"""

from modlayers.lessons.distributed.launching import (
    DistributedContext,
    backend_for,
    init_distributed,
    launch,
    launched_by_torchrun,
    rank_environments,
    shutdown,
    torchrun_command,
)
from modlayers.lessons.distributed.rank_memory import (
    RankMemory,
    activations_for_batch,
    fsdp2_shard_rows,
    measure_state_bytes,
    memory_json,
    memory_table,
    predict_rank_memory,
    state_bytes_per_rank,
)
from modlayers.lessons.distributed.strategies import STRATEGIES, full_parameters, unwrap, wrap_model
from modlayers.lessons.distributed.tasks import MODEL_KINDS, TASKS, Task, build_task, items_in_batch, task_features
from modlayers.lessons.distributed.training_run import CHECKPOINTING, TrainingRun, enable_checkpointing, rank_share, train_distributed

__all__ = [
    "CHECKPOINTING",
    "MODEL_KINDS",
    "STRATEGIES",
    "TASKS",
    "DistributedContext",
    "RankMemory",
    "Task",
    "TrainingRun",
    "activations_for_batch",
    "backend_for",
    "build_task",
    "enable_checkpointing",
    "fsdp2_shard_rows",
    "full_parameters",
    "init_distributed",
    "items_in_batch",
    "launch",
    "launched_by_torchrun",
    "rank_environments",
    "measure_state_bytes",
    "memory_json",
    "memory_table",
    "predict_rank_memory",
    "rank_share",
    "shutdown",
    "state_bytes_per_rank",
    "task_features",
    "torchrun_command",
    "train_distributed",
    "unwrap",
    "wrap_model",
]
