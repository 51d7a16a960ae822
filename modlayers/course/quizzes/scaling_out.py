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
    6: [
        number(
            "scaling_out/ring-all-reduce-sent",
            "DDP on a ring of 4 ranks all-reduces gradients of `P` bytes. How many `P` does each rank send?",
            1.5,
            "An all-reduce is a reduce-scatter then an all-gather, each sending (W - 1) / W: 2 x 3/4 = 1.5 P.",
            tolerance=1e-9,
            mistakes=[(0.75, "you count one half of the all-reduce; it is a reduce-scatter followed by an all-gather."),
                      (1, "you count the bytes handed to the collective, not what crosses the ring."),
                      (2, "you count each half as a whole P; each rank sends (W - 1) / W of it.")],
            hint="Split the all-reduce into its two halves and count what one rank sends in each on a ring of W.",
        ),
        choice(
            "scaling_out/fsdp2-traffic",
            "Why does FSDP2 hand its collectives more bytes per step than DDP?",
            ("It all-gathers each layer's parameters twice, before its forward and before its backward, and "
             "reduce-scatters every gradient once", True,
             "Two gathers of the layers and one reduce-scatter: about 1.4 times DDP's bytes here, 1.5 for a "
             "model made only of layers."),
            ("It all-reduces the gradients twice", False, "FSDP2 runs no all-reduce: each rank keeps only its shard "
             "of the averaged gradient."),
            ("Checkpointing makes it gather each layer again for the recompute", False,
             "The notebook counts no extra byte with checkpointing: the recompute runs while the layer is still "
             "gathered for its backward."),
        ),
    ],
    7: [
        number(
            "scaling_out/plain-buckets-gradients",
            "DDP built with torch's default `gradient_as_bucket_view=False`, parameters of `P` bytes. How many `P` "
            "do the gradients and DDP's buckets take together on each rank?",
            2,
            "Each `.grad` is its own tensor and DDP copies it into its bucket: P + P.",
            tolerance=1e-9,
            mistakes=[(1, "the gradients live inside the buckets, which only the kit's setting "
                          "(`gradient_as_bucket_view=True`) does."),
                      (0.5, "you divide by the ranks; DDP shards nothing.")],
            hint="Count the `.grad` tensors and the buckets as separate copies unless the gradients are views.",
        ),
        choice(
            "scaling_out/bucket-lifetime",
            "When does DDP free its gradient buckets?",
            ("When the DDP wrapper itself is freed: they are built with it and reused every step", True,
             "That is why they are a lasting parameter-sized copy, not a moment's buffer."),
            ("Right after each bucket's all-reduce", False, "The all-reduce averages in place; the bucket is "
             "needed again next step."),
            ("At the end of each backward pass", False, "The buckets are allocated once, when DDP is built, not "
             "every step."),
        ),
    ],
    8: [
        choice(
            "scaling_out/peak-extra",
            "FSDP2, every layer checkpointed: what makes the measured peak higher than the predicted total?",
            ("Whole gathered layers, gradients waiting for their reduce-scatter and the backward pass's own "
             "tensors", True, "Each lives only for a moment, so the per-rank formula leaves it out."),
            ("A second copy of Adam's moments", False, "The check finds the state at the peak equal to the "
             "prediction."),
            ("Every rank's activations of the whole global batch", False, "Each rank runs only its share of the "
             "batch, and the checkpointed layers' activations are mostly freed by the peak."),
        ),
        choice(
            "scaling_out/wrap-each-layer",
            "Why does FSDP2 wrap each layer on its own rather than the model as one unit?",
            ("So that only one or two layers (and the root) are gathered whole at a time", True,
             "One unit would gather every parameter at once, and the peak would carry the whole model."),
            ("So that it sends fewer bytes", False, "Every parameter is gathered and reduce-scattered either way; "
             "wrapping decides how much is whole at once."),
            ("Because Adam's moments can only be sharded layer by layer", False, "Adam's moments follow the "
             "parameter shards, whatever the wrapping."),
        ),
    ],
}
