"""Quiz questions of notebook 05, scaling out with DDP and FSDP2: ``{section: [questions]}``.

Ids are stable: assignment a5 grades them by id.
"""

from modlayers.course.quizzes import choice, number

SECTIONS = {
    1: [
        number(
            "scaling_out/state-one-process",
            "Parameters of `P` bytes, trained with Adam in one process. How many `P` does the state take "
            "(parameters, gradients, Adam)?",
            4,
            "P + P + 2 P = 4 P, whatever the batch.",
            mistakes=[(3, "you forget one of Adam's two moments."), (2, "you forget Adam's state.")],
        ),
        choice(
            "scaling_out/peak-not-sum",
            "Why is the peak less than parameters + gradients + Adam + all activations?",
            ("The backward pass frees each layer's activations as it produces that layer's gradients", True,
             "Gradients grow while activations shrink; they are never all alive at once."),
            ("Adam's state is created only at the end", False, "After the first step it is always there."),
            ("The activations are stored on disk", False, "Nothing goes to disk here."),
        ),
    ],
    2: [
        choice(
            "scaling_out/loss-weighting",
            "Two ranks hold different numbers of labelled tokens. What makes two processes train exactly like one?",
            ("Weighting each rank's loss by its share of the tokens before the gradients are averaged", True,
             "A plain average of two per-rank means weights a token of the smaller rank more."),
            ("Averaging the two ranks' losses", False, "Each rank's mean is over a different count."),
            ("Summing the gradients without averaging", False, "That doubles the step."),
        ),
        choice(
            "scaling_out/gloo",
            "Which backend connects the processes on CPUs?",
            ("gloo", True, "NCCL is for GPUs; gloo runs collectives on CPUs."),
            ("NCCL", False, "NCCL needs GPUs."),
            ("MPI, always", False, "MPI works only in a torch built with it, and is not what the kit picks."),
        ),
    ],
    3: [
        number(
            "scaling_out/fsdp-adam-per-rank",
            "FSDP2 over 4 ranks, parameters of `P` bytes. How many `P` of Adam state does each rank hold?",
            0.5,
            "2 P of Adam state, divided over 4 ranks: 0.5 P.",
            tolerance=1e-9,
            mistakes=[(2, "you forget FSDP2 shards the optimizer state."),
                      (0.25, "you count one moment; Adam keeps two.")],
            hint="Adam keeps 2 P in all; FSDP2 divides it by the world size.",
        ),
        choice(
            "scaling_out/ddp-activations",
            "DDP over 2 ranks, global batch `B`. Each rank's activations are…",
            ("`A(B / 2)`, half the one-process activations", True, "Each rank runs half the batch."),
            ("`A(B)`, as in one process", False, "DDP splits the batch."),
            ("zero: they are sharded", False, "FSDP shards the state, not the activations."),
        ),
    ],
    4: [
        choice(
            "scaling_out/find-unused-reentrant",
            "DDP with `find_unused_parameters=True` and a re-entrant checkpoint: what goes wrong?",
            ("The recompute marks parameters ready a second time, and DDP stops with an error", True,
             "The notebook's last run fails this way; the fixes are in its message."),
            ("The run is only slower", False, "It fails, it does not slow down."),
            ("The gradients are silently halved", False, "DDP detects the problem and raises."),
        ),
        choice(
            "scaling_out/what-does-not-fit",
            "On a 7-billion-parameter model in float32 with Adam, what does not fit on one GPU first?",
            ("The state: 16 bytes per parameter, 112 GB", True, "That is why FSDP shards it."),
            ("The activations of one example", False, "The state alone is 112 GB before a single activation."),
            ("The tokenizer", False, "A tokenizer is a few megabytes."),
        ),
    ],
    5: [
        choice(
            "scaling_out/nccl",
            "On GPUs, which backend does `backend_for('cuda')` choose?",
            ("NCCL", True, "Collectives run on the GPUs, over NVLink where there is one."),
            ("gloo", False, "gloo is the CPU backend."),
            ("None: one GPU needs no backend", False, "Several processes still need a process group."),
        ),
        choice(
            "scaling_out/gpu-peak",
            "Where does the peak come from on a GPU?",
            ("`torch.cuda.max_memory_allocated`", True, "Everything the process allocated on its GPU."),
            ("The profiler's CPU allocation events", False, "That is the CPU measurement."),
            ("The resident set size", False, "RSS is CPU memory."),
        ),
    ],
}
