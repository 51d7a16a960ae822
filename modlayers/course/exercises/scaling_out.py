"""Exercises of notebook 05 (scaling out, DDP and FSDP2).

Example:
    >>> check_weighted_loss(1.75)
    ✓ loss of the whole batch from two ranks: 1.75.
    True
"""

from __future__ import annotations

from modlayers.course.answers import check_number, check_prediction

__all__ = ["check_fsdp2_state_prediction", "check_ranks_for_state", "check_weighted_loss"]


def check_weighted_loss(answer) -> bool:
    """Rank 0: 30 labelled tokens, mean loss 2.0; rank 1: 10 tokens, mean loss 1.0. The one-process loss?"""
    return check_number(
        "loss of the whole batch from two ranks", answer, expected=1.75, tolerance=1e-3,
        mistakes=[(1.5, "the two ranks' means are averaged; each mean is over a different number of tokens."),
                  (3.0, "the two means are summed.")],
        hint="The one-process loss is the mean over all 40 tokens: weight each rank by its tokens.")


def check_fsdp2_state_prediction(prediction, measured_mib: float) -> bool:
    """Compare the predicted state (parameters + gradients + Adam) of one FSDP2 rank, in MiB, with rank 0's."""
    return check_prediction("FSDP2 rank 0 state (MiB)", prediction, round(measured_mib, 3),
                            tolerance=max(0.02 * measured_mib, 0.01),
                            why="FSDP2 divides parameters, gradients and Adam's two moments by the world size: "
                                "4 P / W per rank.")


def check_ranks_for_state(answer) -> bool:
    """Fewest FSDP2 ranks so a 7-billion-parameter float32 model's Adam-trained state fits 40 GB per rank."""
    return check_number(
        "FSDP2 ranks for 112 GB of state, 40 GB each", answer, expected=3, tolerance=0,
        mistakes=[(2, "56 GB per rank is more than 40 GB."),
                  (4, "4 ranks fit, but fewer do too."),
                  (1, "112 GB do not fit on one 40 GB device.")],
        hint="Divide the state, 16 bytes per parameter, by the ranks; round up.")
