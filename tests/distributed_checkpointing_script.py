"""Run by tests/test_checkpointing_distributed.py under ``torchrun --nproc_per_node=2`` (gloo, CPU).

Each rank builds the same tiny classifier (dropout off), takes its half of one global batch and runs one
training step with checkpointing on, under FSDP2 (``fully_shard`` per layer and at the root) and under DDP
in three settings. Rank 0 writes, for each run, the largest difference between the gathered gradients and
those of a single process on the whole batch, or the error it raised, as JSON to the path in argv[1].
"""

import functools
import json
import sys
import traceback

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from modlayers import GenericForSequenceClassification, TinyTransformerConfig, TinyTransformerPreTrainedModel
from modlayers.checkpointing import enable_gradient_checkpointing

IDS = torch.tensor([[5, 6, 7, 8, 0], [9, 10, 11, 0, 0], [12, 13, 14, 15, 16], [17, 18, 0, 0, 0]])  # (4, 5)
LABELS = torch.tensor([0, 2, 1, 2])


class TinyClassifier(GenericForSequenceClassification, TinyTransformerPreTrainedModel):
    pass


def fresh_model():
    torch.manual_seed(0)
    config = TinyTransformerConfig(vocab_size=40, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                                   hidden_dropout=0.0, attention_dropout=0.0, num_labels=3)
    return TinyClassifier(config).train()


def step(model, rows):
    ids = IDS[rows]
    loss = model(input_ids=ids, attention_mask=(ids != 0).long(), labels=LABELS[rows]).loss  # mean over the rows
    loss.backward()


def full(grad):
    return grad.full_tensor() if hasattr(grad, "full_tensor") else grad  # FSDP2 keeps a shard (a DTensor)


def max_difference(model, reference):
    return max(
        float((full(p.grad) - reference[name.removeprefix("module.")]).abs().max())  # DDP adds "module."
        for name, p in model.named_parameters()
    )


def run(name, build, rank, reference, results):
    try:
        model = build()
        rows = slice(2 * rank, 2 * rank + 2)  # each rank: its half of the global batch
        step(model, rows)
        results[name] = {"max_grad_difference": max_difference(model, reference)}
    except Exception as error:  # the test reads the message
        results[name] = {"error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()[-2000:]}


def main(out_path):
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    reference_model = fresh_model()
    step(reference_model, slice(0, 4))  # one process, whole batch, no checkpointing
    reference = {name: p.grad.clone() for name, p in reference_model.named_parameters()}

    def fsdp2(use_reentrant):
        from torch.distributed.fsdp import fully_shard

        model = fresh_model()
        enable_gradient_checkpointing(model, use_reentrant=use_reentrant)
        for layer in model.model.layers:
            fully_shard(layer)
        fully_shard(model)
        return model

    def ddp(use_reentrant, **kwargs):
        model = fresh_model()
        enable_gradient_checkpointing(model, use_reentrant=use_reentrant)
        return DistributedDataParallel(model, **kwargs)

    results = {}
    for use_reentrant in (False, True):
        run(f"fsdp2 use_reentrant={use_reentrant}", functools.partial(fsdp2, use_reentrant), rank, reference, results)
    run("ddp find_unused use_reentrant=True", functools.partial(ddp, True, find_unused_parameters=True), rank, reference, results)
    run("ddp find_unused use_reentrant=False", functools.partial(ddp, False, find_unused_parameters=True), rank, reference, results)
    run("ddp static_graph use_reentrant=True", functools.partial(ddp, True, static_graph=True), rank, reference, results)
    run("ddp use_reentrant=True", functools.partial(ddp, True), rank, reference, results)
    if rank == 0:
        with open(out_path, "w") as f:
            json.dump(results, f, indent=1)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
