"""Exercises of notebook 06 (memory at scale: the predictor for real models).

Example:
    >>> check_zero2_bytes_per_parameter(3.75)
    ✓ bytes per parameter per device, bf16 mixed precision, Adam, ZeRO-2 on 8 devices: 3.75.
    True
"""

from __future__ import annotations

from modlayers.course.answers import check_function, check_number, check_prediction
from modlayers.lessons.memory.predictor import korthikanti_layer_bytes, state_bytes

__all__ = ["check_fake_activations_prediction", "check_layer_activation_bytes", "check_zero2_bytes_per_parameter",
           "check_zero2_state_bytes"]


def check_zero2_bytes_per_parameter(answer) -> bool:
    """Bytes a parameter costs on each of 8 devices: bf16 mixed precision, Adam, ZeRO-2."""
    return check_number(
        "bytes per parameter per device, bf16 mixed precision, Adam, ZeRO-2 on 8 devices", answer,
        expected=2 + 14 / 8, tolerance=1e-3,
        mistakes=[(16, "nothing is divided: that is DDP, every device keeps all 16 bytes."),
                  (2 + 2 + 12 / 8, "only the optimizer state is divided (that is ZeRO-1); ZeRO-2 also shards the "
                                   "gradients."),
                  (16 / 8, "the 16-bit weights are divided too (that is ZeRO-3); ZeRO-2 keeps every weight on every "
                           "device."),
                  (2 + 10 / 8, "the float32 master copy of the weights is left out: Adam in bf16 mixed precision "
                               "keeps it beside its two float32 moments."),
                  (14 / 8, "the 16-bit weights are left out: every device still holds all of them.")],
        hint="Split the 16 bytes into weights, gradients and optimizer state; divide by 8 only what ZeRO-2 shards.")


def _zero2_reference(parameters, world_size) -> float:
    return float(sum(state_bytes(parameters, "bf16-mixed", "adamw", "zero2", world_size=world_size).values()))


ZERO2_CASES = [
    ("one device (W = 1), 1,000 parameters", (1000, 1)),
    ("8 devices, 7.5 billion parameters", (7_500_000_000, 8)),
    ("uneven: 10 parameters on 9 devices", (10, 9)),
    ("the ZeRO paper's 64 devices, 7.5 billion parameters", (7_500_000_000, 64)),
]


def check_zero2_state_bytes(fn) -> bool:
    """Check ``fn(parameters, world_size) -> bytes``: one device's state under ZeRO-2, bf16 mixed precision, Adam.

    Compared with the kit's ``modlayers.lessons.memory.predictor.state_bytes`` on :data:`ZERO2_CASES` (``W = 1`` and
    an uneven share included); calling that function is refused.
    """
    mistakes = [
        ("only the optimizer state is divided (that is ZeRO-1); ZeRO-2 also shards the gradients",
         lambda p, w: 4 * p + 12 * p / w),
        ("the 16-bit weights are divided too (that is ZeRO-3); ZeRO-2 keeps every weight on every device",
         lambda p, w: 16 * p / w),
        ("nothing is divided by the world size (that is DDP)", lambda p, w: 16 * p),
        ("the float32 master copy is left out: Adam in bf16 mixed precision keeps 4 + 8 bytes a parameter",
         lambda p, w: 2 * p + 10 * p / w),
        ("integer division (//) drops each device's share of the remainder; a share need not be whole bytes",
         lambda p, w: 2 * p + 14 * p // w),
    ]
    return check_function("zero2_state_bytes", fn, _zero2_reference, ZERO2_CASES, mistakes=mistakes,
                          references=[state_bytes])


# Korthikanti et al.'s eq. 1 for a GPT-2-medium-sized layer: s = 1024 tokens, b = 2, h = 1024, a = 16 heads
LAYER = {"seq_len": 1024, "batch": 2, "hidden_size": 1024, "num_heads": 16}


def check_layer_activation_bytes(answer) -> bool:
    """Bytes one layer keeps for backward without checkpointing, 16-bit activations (:data:`LAYER`'s shape)."""
    s, b, h, a = LAYER["seq_len"], LAYER["batch"], LAYER["hidden_size"], LAYER["num_heads"]
    return check_number(
        "bytes one layer keeps (s = 1024, b = 2, h = 1024, a = 16)", answer,
        expected=korthikanti_layer_bytes(**LAYER), tolerance=0.5,
        mistakes=[(34 * s * b * h, "the attention scores are left out: 5·a·s²·b bytes grow with the square of "
                                   "the sequence."),
                  (5 * a * s * s * b, "only the attention scores are counted; the 34·s·b·h term is left out."),
                  (s * h * (34 + 5 * a * s / h), "the batch is left out: every term holds one slice per sequence."),
                  (2 * s * b * h, "only the layer's input is counted: that is what every-layer checkpointing "
                                  "keeps."),
                  (s * b * h * 34 + 5 * a * s * b, "s² is taken as s in the attention term: the scores are s × s "
                                                   "per head.")],
        hint="Multiply s·b·h by (34 + 5·a·s/h).")


def check_fake_activations_prediction(prediction, ratio: float) -> bool:
    """Compare the predicted activations of one FSDP2 rank of 64 over one rank of 2 (within 0.05) with the run's."""
    return check_prediction("activations of a rank of 64 / a rank of 2", prediction, round(ratio, 3),
                            tolerance=0.05,
                            why="each rank runs its own batch of 2 sequences whatever the world size: FSDP2 shards "
                                "the state, not the activations.")
