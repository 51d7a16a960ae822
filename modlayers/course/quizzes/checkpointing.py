"""Quiz questions of notebook 04, gradient checkpointing and memory: ``{section: [questions]}``.

Ids are stable: assignment a4 grades them by id.
"""

from modlayers.course.quizzes import choice, number

SECTIONS = {
    1: [
        number(
            "checkpointing/adam-copies",
            "Weights, gradients and Adam's two moments: how many copies of the parameters does training with Adam keep?",
            4,
            "1 (weights) + 1 (gradients) + 2 (first and second moments) = 4.",
            mistakes=[(3, "you forget one of Adam's two moments."), (2, "you forget Adam's state.")],
        ),
        choice(
            "checkpointing/activations-grow",
            "Saved activations grow with…",
            ("batch × sequence length, and attention's with the square of the length", True,
             "Every token of every example keeps its layer inputs; scores are length × length."),
            ("the number of parameters only", False, "That is the weights and the optimizer state."),
            ("nothing: they are freed after the forward pass", False, "They are kept until backward uses them."),
        ),
    ],
    2: [
        choice(
            "checkpointing/keeps-inputs",
            "A checkpointed layer keeps what for the backward pass?",
            ("Only its inputs, keyword ones included", True,
             "It recomputes everything else; a tensor passed by keyword stays bound into the replayed call."),
            ("Everything, like without checkpointing", False, "Then it would save no memory."),
            ("Nothing: it recomputes from the loss", False, "It needs its inputs to run its forward again."),
        ),
        number(
            "checkpointing/forward-calls",
            "A model of 2 layers, every layer checkpointed. How many layer `forward` calls in one training step "
            "(forward and backward)?",
            4,
            "Each layer runs once in the forward pass and once more in the backward pass: 2 + 2.",
            mistakes=[(2, "you forget the recompute in the backward pass."),
                      (3, "you recompute only one layer; every checkpointed layer runs again.")],
        ),
    ],
    3: [
        choice(
            "checkpointing/flat-line",
            "With every layer checkpointed, saved activations against depth look like…",
            ("a much flatter line: one input per layer", True, "Only the layer inputs are left."),
            ("the same line as without checkpointing", False, "Checkpointing removes what the layers save inside."),
            ("a constant, whatever the depth", False, "Each layer still keeps its input."),
        ),
        choice(
            "checkpointing/bends-up",
            "Without checkpointing, why does memory against sequence length bend upwards?",
            ("Attention saves `seq_len²` tensors", True, "Scores, softmax output and dropped probabilities are length × length."),
            ("The embeddings grow with the square of the length", False, "Embeddings grow linearly with the tokens."),
            ("The optimizer state grows with the length", False, "The optimizer state depends on the parameters only."),
        ),
    ],
    4: [
        choice(
            "checkpointing/same-gradients",
            "With dropout on, do the gradients under checkpointing equal those without?",
            ("Yes: the checkpoint restores the random state, so the recompute draws the same masks", True,
             "`preserve_rng_state=True` is the default."),
            ("No: dropout draws new masks in the recompute", False, "Only with `preserve_rng_state=False`."),
            ("Only without dropout", False, "The random state is restored, dropout included."),
        ),
        choice(
            "checkpointing/selective",
            "Selective checkpointing keeps the outputs of the matrix multiplications. What does it recompute?",
            ("Only the cheap operations", True, "Matmuls are the costly part of the recompute; it keeps them."),
            ("The whole layer", False, "That is every-layer checkpointing."),
            ("Nothing", False, "It still drops and recomputes the cheap ones."),
        ),
    ],
    5: [
        number(
            "checkpointing/sqrt-n",
            "A stack of 64 equal layers cut into `s` segments. Which `s` holds the fewest layer outputs "
            "(about `s + n / s`)?",
            8,
            "s + 64 / s is smallest at s = √64 = 8.",
            mistakes=[(64, "you checkpoint every layer alone: 64 inputs kept."),
                      (1, "one segment recomputes all 64 layers at once.")],
            hint="Minimise s + n / s.",
        ),
        choice(
            "checkpointing/segment-peak",
            "In the backward pass, how many layers does one segment recompute at a time?",
            ("`n / s`", True, "One segment's layers, replayed from its kept input."),
            ("`n`", False, "Only one segment is replayed at a time."),
            ("1", False, "A segment is replayed as a unit."),
        ),
    ],
    6: [
        choice(
            "checkpointing/kv-cache",
            "Why does a checkpointed layer switch `use_cache` off?",
            ("The recompute would fill the cache a second time", True, "The forward runs twice per step."),
            ("The cache needs gradients", False, "The cache is for generation, not for gradients."),
            ("Caches are not allowed in training", False, "They are pointless in training, and wrong with recompute."),
        ),
        choice(
            "checkpointing/reentrant-frozen",
            "`use_reentrant=True`, frozen embeddings. What happens to the layers' weights?",
            ("They get no gradient; torch only warns", True,
             "Nothing entering the checkpoint requires grad, so its output does not either."),
            ("They train normally", False, "The re-entrant checkpoint cuts the graph here."),
            ("An error is raised", False, "Torch warns; the silent failure is the danger."),
        ),
    ],
    7: [
        choice(
            "checkpointing/seq-doubles-off",
            "Without checkpointing, the sequence length doubles. The attention part of the bar…",
            ("quadruples", True, "It grows with `seq_len²`."),
            ("doubles", False, "That is the part that grows linearly with the tokens."),
            ("stays the same", False, "Every attention score tensor is length × length."),
        ),
        choice(
            "checkpointing/bias-by-keyword",
            "With every layer checkpointed, which `seq_len²` cost remains?",
            ("The attention bias passed by keyword, kept once for all layers", True,
             "The checkpoint keeps the call it replays, keyword tensors included."),
            ("None at all", False, "The bias stays alive until the backward pass."),
            ("Every layer's attention scores", False, "Those are recomputed."),
        ),
    ],
}
