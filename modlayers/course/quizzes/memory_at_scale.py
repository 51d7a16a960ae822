"""Quiz questions of notebook 06, memory at scale: ``{section: [questions]}``.

Ids are stable: assignment a5 grades them by id.
"""

from modlayers.course.quizzes import choice, number

SECTIONS = {
    1: [
        number(
            "memory_at_scale/bf16-mixed-bytes",
            "bf16 mixed precision with Adam, one device. How many bytes does a parameter cost (weights, gradients, "
            "optimizer state)?",
            16,
            "2 + 2 bytes of 16-bit weights and gradients, 12 bytes of float32 master weights and Adam moments: 16, "
            "as in fp32.",
            mistakes=[(8, "you halve fp32's 16 bytes; the master copy and Adam's moments stay float32."),
                      (4, "you count only the 16-bit weights and gradients."),
                      (12, "you count only the float32 master copy and Adam's moments.")],
            hint="Add the 16-bit weights and gradients, the float32 master copy and Adam's two float32 moments.",
        ),
        choice(
            "memory_at_scale/why-bf16-not-halve",
            "Why does bf16 mixed precision not halve the state?",
            ("The float32 master weights and Adam's two float32 moments stay: 12 of the 16 bytes", True,
             "Only the working weights and gradients (2 + 2 bytes) are 16-bit."),
            ("Adam keeps its moments in float64", False, "Adam's moments are float32, 4 bytes each."),
            ("The gradients are kept twice, in bf16 and in float32", False, "Each parameter has one 2-byte gradient "
             "in the table; what stays large is on the optimizer's side."),
        ),
        number(
            "memory_at_scale/zero1-64",
            "bf16 mixed precision with Adam, ZeRO-1 on 64 devices. Bytes per parameter on each device?",
            2 + 2 + 12 / 64,
            "ZeRO-1 divides only the 12 bytes of optimizer state: 2 + 2 + 12/64 = 4.1875.",
            tolerance=0.01,
            mistakes=[(16 / 64, "every byte is divided: that is ZeRO-3."),
                      (2 + 14 / 64, "the gradients are divided too: that is ZeRO-2."),
                      (16, "nothing is divided: that is DDP.")],
            hint="Divide by 64 only the optimizer state.",
        ),
    ],
    2: [
        choice(
            "memory_at_scale/seq-squared",
            "No checkpointing: the sequence doubles. Which part of what a layer keeps grows four times?",
            ("The attention scores, `5·a·s²·b`", True, "It holds one `s × s` matrix per head."),
            ("The `34·s·b·h` term", False, "It holds one slice per token: it doubles."),
            ("The layer's input", False, "`2·s·b·h` grows with `s`: it doubles."),
        ),
        choice(
            "memory_at_scale/flash-drops",
            "What does a fused attention kernel (FlashAttention) drop from what a layer keeps?",
            ("The `s × s` scores: the `5·a·s/h` term", True, "It recomputes them block by block in its backward."),
            ("The MLP's activations", False, "An attention kernel does not touch the MLP."),
            ("The layer's input", False, "Every policy keeps the input; backward starts from it."),
        ),
        number(
            "memory_at_scale/every-layer-keeps",
            "Every layer checkpointed, 16-bit activations, `s = 4096`, `b = 1`, `h = 4096`: how many MiB does each "
            "layer keep?",
            32,
            "Its input, `2·s·b·h` bytes = 2 × 4096 × 4096 = 32 MiB.",
            tolerance=0.01,
            mistakes=[(16, "you count elements, not bytes: a 16-bit activation takes 2."),
                      (544, "you count `34·s·b·h`: that is what `attention-core` keeps.")],
            hint="A checkpointed layer keeps only its input, `s·b·h` values of 2 bytes.",
        ),
    ],
    3: [
        choice(
            "memory_at_scale/ddp-more-gpus",
            "From 8 to 64 GPUs under DDP, the state each GPU holds…",
            ("stays the same: DDP keeps a full copy on every GPU", True, "More GPUs add throughput, not room."),
            ("falls by 8", False, "Only a sharding that divides everything (ZeRO-3, FSDP2) falls by 8."),
            ("falls by 8 in the optimizer state only", False, "That is ZeRO-1; DDP divides nothing."),
        ),
        choice(
            "memory_at_scale/buffers",
            "What are the widget's **buffers**?",
            ("What lives only for a moment and the formulas leave out: gathered layers, a checkpointed layer's "
             "recompute, autocast's 16-bit weight copies", True, "Small beside the state, but on the peak."),
            ("The optimizer's state", False, "The state has its own part of the bar."),
            ("Memory the driver reserves and never uses", False, "The predictor counts tensors, not the driver's "
             "reservations."),
        ),
    ],
    4: [
        choice(
            "memory_at_scale/autocast-keeps-more",
            "Here, without checkpointing, bf16 autocast keeps more than fp32. Why?",
            ("Each layer keeps autocast's 16-bit copy of its matmul weights for the backward pass", True,
             "6.75 MiB of copies: large beside the activations of a batch this small."),
            ("bf16 takes 4 bytes on a CPU", False, "bf16 takes 2 bytes everywhere."),
            ("The gradients are counted as activations", False, "The hooks count what autograd saves for backward; "
             "gradients are not saved tensors."),
        ),
        choice(
            "memory_at_scale/counted-formula",
            "Why does the predictor use the kit's tensor-by-tensor formula for these CPU runs, not Korthikanti's?",
            ("On the CPU autocast keeps LayerNorm, softmax and the residual stream in float32 and the matmul inputs "
             "in 16 bits: no single size per activation fits", True, "Korthikanti's formula assumes 16-bit "
             "activations throughout."),
            ("Korthikanti's formula holds only for batch 1", False, "Every term of it has the batch `b`."),
            ("The small models have no attention", False, "They are transformers: attention in every layer."),
        ),
    ],
    5: [
        choice(
            "memory_at_scale/fake-activations",
            "Why do the fake rank's activations not fall as the world size grows?",
            ("Each rank runs its own batch: sharding divides the state, not the activations", True,
             "Checkpointing, or a smaller batch per rank, divides those."),
            ("Fake tensors cannot be sharded", False, "The same fake rank's state falls as `1/W`."),
            ("FSDP2 gathers the activations like the parameters", False, "FSDP2 gathers parameters; activations "
             "never leave their rank."),
        ),
        number(
            "memory_at_scale/fake-state-ratio",
            "FSDP2: one rank's state at `W = 64` is what fraction of one rank's state at `W = 2`?",
            2 / 64,
            "The state is divided by `W`: (1/64) / (1/2) = 1/32.",
            tolerance=1e-3,
            mistakes=[(1 / 64, "you compare with one device, not with a rank of 2."),
                      (1, "you take the activations' behaviour: the state is sharded.")],
            hint="Each rank holds `1/W` of the state.",
        ),
        choice(
            "memory_at_scale/fake-world",
            "How can one process measure a rank of 64 without 64 processes?",
            ("`FakeTensorMode` gives tensors shapes and dtypes but no data, and a fake process group answers every "
             "collective", True, "Building, sharding and a step cost no memory, yet every tensor is counted."),
            ("It trains a model 64 times smaller", False, "The model is the same; the fake rank shards it by 64."),
            ("It runs 64 threads in one process", False, "One rank runs; the others are answered by the fake group."),
        ),
    ],
}
