"""Exercises of notebook 01 (sequence classification, pooling).

Example:
    >>> check_problem_type(None)
    … problem type of float labels: not answered yet: set it to one of 'regression', 'single_label_classification', 'multi_label_classification' and run this cell again.
    False
"""

from __future__ import annotations

import torch

from modlayers.course.answers import check_choice, check_function, check_prediction
from modlayers.pooling import last_non_pad_index, mean_pool

__all__ = ["check_first_token_prediction", "check_left_padding_prediction", "check_mean_pool", "check_problem_type"]


def check_left_padding_prediction(prediction, left_input_ids: torch.Tensor, pad_token_id: int) -> bool:
    """Compare the predicted pooled positions of a left-padded batch (one int per row) with the head's."""
    actual = last_non_pad_index(left_input_ids, pad_token_id).tolist()
    return check_prediction("pooled positions with left padding", prediction, actual,
                            why="with left padding every row's last real token sits in the last column, "
                                "however long the row is.")


def _cases():
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 5, 4, generator=generator)  # (batch, seq, hidden)
    right = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    left = right.flip(-1)
    return [("right padding, rows of 3, 5 and 1 real tokens", (hidden, right)),
            ("left padding, rows of 3, 5 and 1 real tokens", (hidden, left)),
            ("no padding", (hidden[:, :2], torch.ones(3, 2, dtype=torch.long)))]


MEAN_POOL_MISTAKES = [
    ("the padding is averaged in: mask the vectors and divide by the number of real tokens of each row",
     lambda h, m: h.mean(dim=1)),
    ("the pads are masked out of the sum, but the division is by the padded length, not by the real tokens",
     lambda h, m: (h * m[..., None]).sum(dim=1) / h.shape[1]),
    ("the masked vectors are summed but not divided: a mean divides by the count",
     lambda h, m: (h * m[..., None]).sum(dim=1)),
]


def check_mean_pool(fn) -> bool:
    """Check ``fn(hidden_states (batch, seq, hidden), attention_mask (batch, seq)) -> (batch, hidden)``.

    Right padding, left padding and no padding; a wrong result names the padding that broke it and the
    likely mistake (pads averaged in, divided by the padded length, not divided at all).
    """
    return check_function("my_mean_pool", fn, mean_pool, _cases(), mistakes=MEAN_POOL_MISTAKES,
                          references=[mean_pool])


PROBLEM_TYPES = {
    "regression": (False, "regression needs num_labels == 1 (one number per example); here there are 3 outputs."),
    "single_label_classification": (
        False, "single-label needs integer class labels (torch.long); these labels are floats, and the dtype "
               "decides, not whether the values look like whole numbers."),
    "multi_label_classification": (
        True, "float labels with several outputs read as multi-label rows, so the loss then asks for labels of "
              "shape (2, 3): a float vector of 2 is no class index."),
}


def check_problem_type(answer) -> bool:
    """The problem type ``infer_problem_type(3, torch.tensor([0.0, 2.0]))`` returns, and why."""
    return check_choice("problem type of float labels", answer, options=PROBLEM_TYPES)


def check_first_token_prediction(prediction, accuracy: float) -> bool:
    """Compare the predicted accuracy of a decoder trained on its first token (within 0.1) with the run."""
    return check_prediction("accuracy when the first token is pooled", prediction, round(accuracy, 3), tolerance=0.1,
                            why="in a decoder the first token ([CLS]) has seen only itself: every sentence gets the "
                                "same vector, so the model can only guess one topic of four.")
