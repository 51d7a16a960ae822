"""The losses against float64 references written out by hand."""

import math

import pytest
import torch

from modlayers.losses import (
    infer_problem_type,
    masked_cross_entropy,
    question_answering_loss,
    sequence_classification_loss,
    token_classification_loss,
)


def reference_cross_entropy(logits, targets, ignore):
    """-log softmax at the target, averaged over the kept rows, in float64."""
    terms = [
        -(row.double()[t] - torch.logsumexp(row.double(), dim=0))
        for row, t in zip(logits, targets.tolist())
        if t != ignore
    ]
    return torch.stack(terms).mean() if terms else torch.tensor(0.0, dtype=torch.float64)


def test_masked_cross_entropy_matches_the_formula_and_ignores_minus_100():
    logits = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    targets = torch.tensor([0, -100, 3, 2, -100, 1])
    torch.testing.assert_close(masked_cross_entropy(logits, targets).double(), reference_cross_entropy(logits, targets, -100))


def test_masked_cross_entropy_with_nothing_kept_is_zero():
    assert masked_cross_entropy(torch.randn(2, 3), torch.tensor([-100, -100])).item() == 0.0


@pytest.mark.parametrize(
    "num_labels, labels, expected",
    [
        (1, torch.tensor([0.3]), "regression"),
        (3, torch.tensor([1]), "single_label_classification"),
        (3, torch.tensor([1], dtype=torch.int8), "single_label_classification"),
        (3, torch.tensor([[1.0, 0.0, 1.0]]), "multi_label_classification"),
        (3, torch.tensor([[True, False, True]]), "multi_label_classification"),
    ],
)
def test_problem_type_inference(num_labels, labels, expected):
    assert infer_problem_type(num_labels, labels) == expected


def test_sequence_losses_match_their_formulas():
    logits = torch.tensor([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]])
    # single label
    labels = torch.tensor([2, 0])
    torch.testing.assert_close(sequence_classification_loss(logits, labels).double(), reference_cross_entropy(logits, labels, -100))
    # multi label: mean over all entries of -[y log s(x) + (1-y) log(1-s(x))]
    multi = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    s = torch.sigmoid(logits.double())
    expected = -(multi * s.log() + (1 - multi) * (1 - s).log()).mean()
    torch.testing.assert_close(sequence_classification_loss(logits, multi).double(), expected)
    # regression with one output
    one = torch.tensor([[0.5], [2.0]])
    torch.testing.assert_close(sequence_classification_loss(one, torch.tensor([1.5, 2.0])), torch.tensor(0.5))
    # integer labels for regression are numbers too
    torch.testing.assert_close(sequence_classification_loss(one, torch.tensor([1, 2]), "regression"), torch.tensor(0.125))


def test_question_answering_loss_hand_computed_with_an_out_of_window_end():
    start_logits = torch.log(torch.tensor([[0.1, 0.6, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]]))
    end_logits = start_logits.clone()
    starts, ends = torch.tensor([1, 0]), torch.tensor([2, 9])  # 9 is past seq_len=4: ignored
    start = -(math.log(0.6) + math.log(0.25)) / 2
    end = -math.log(0.2)  # only the first example counts
    assert question_answering_loss(start_logits, end_logits, starts, ends).item() == pytest.approx((start + end) / 2, rel=1e-6)


def test_question_answering_loss_never_nan():
    loss = question_answering_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor([3, 5]), torch.tensor([3, 7]))
    assert loss.item() == 0.0


def test_token_loss_is_computed_in_float32_even_for_half_logits():
    logits = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    labels = torch.tensor([[0, 1, -100, 2, 1], [-100, -100, 0, 0, 2]])
    loss = token_classification_loss(logits, labels)
    assert loss.dtype == torch.float32
    expected = reference_cross_entropy(logits.float().view(-1, 3), labels.view(-1), -100)
    torch.testing.assert_close(loss.double(), expected, atol=1e-6, rtol=0)
