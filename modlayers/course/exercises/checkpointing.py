"""Exercises of notebook 04 (gradient checkpointing, memory).

Example:
    >>> check_kept_bytes(1179648)
    ✓ bytes a checkpointed layer keeps: 1179648.
    True
"""

from __future__ import annotations

from modlayers.course.answers import check_number, check_prediction

__all__ = ["check_batch_growth_prediction", "check_best_segments", "check_kept_bytes", "check_state_bytes"]


def check_state_bytes(answer, parameter_bytes: int) -> bool:
    """Bytes of weights, gradients and Adam state for a model whose weights take ``parameter_bytes``."""
    return check_number(
        "weights + gradients + Adam state, bytes", answer, expected=4 * parameter_bytes, tolerance=0.5,
        mistakes=[(3 * parameter_bytes, "one of Adam's two moments (exp_avg, exp_avg_sq) is left out."),
                  (2 * parameter_bytes, "Adam's state is left out: it keeps two numbers per parameter."),
                  (parameter_bytes, "only the weights are counted.")],
        hint="Count the copies of the parameters: the weights, their gradients, and each of Adam's moments.")


def check_kept_bytes(answer) -> bool:
    """What a checkpointed layer keeps for ``x`` of shape (4, 256, 32) and a bias (4, 1, 256, 256) by keyword."""
    x_bytes, bias_bytes = 4 * 256 * 32 * 4, 4 * 1 * 256 * 256 * 4
    return check_number(
        "bytes a checkpointed layer keeps", answer, expected=x_bytes + bias_bytes, tolerance=0,
        mistakes=[(x_bytes, "the bias is left out: passed by keyword it stays bound into the call the checkpoint "
                            "replays, so it is kept too."),
                  (bias_bytes, "the layer's positional input is left out."),
                  ((x_bytes + bias_bytes) // 4, "elements are counted, not bytes: float32 takes 4 bytes each.")],
        hint="Multiply each shape out, then by the bytes of a float32.")


def check_best_segments(answer) -> bool:
    """The segment count ``s`` that holds the fewest layer outputs (``s + n / s``) for 36 layers."""
    return check_number(
        "segments for 36 layers", answer, expected=6, tolerance=0,
        mistakes=[(36, "every layer is its own segment: 36 inputs kept."),
                  (1, "one segment recomputes all 36 layers at once."),
                  (18, "s + 36 / s at 18 is 20; there is a smaller total.")],
        hint="Try a few values of s + 36 / s.")


def check_batch_growth_prediction(prediction, growth: float) -> bool:
    """Compare the predicted growth of the saved activations (no checkpointing) from batch 2 to 4 (within 0.2)."""
    return check_prediction("saved activations, batch 4 over batch 2", prediction, round(growth, 2), tolerance=0.2,
                            why="every saved tensor holds one slice per example, the attention scores too: the "
                                "activations grow in proportion to the batch.")
