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


def _all_ignored_cases():
    """(loss function, logits that need a gradient, other arguments): every target of the batch ignored."""
    generator = torch.Generator().manual_seed(0)
    sequence = torch.randn(3, 4, generator=generator, requires_grad=True)
    token = torch.randn(2, 3, 4, generator=generator, requires_grad=True)
    start, end = (torch.randn(2, 5, generator=generator, requires_grad=True) for _ in range(2))
    outside = torch.tensor([5, 9])  # both answers lie past the 5-token window
    return {
        "sequence": (lambda n: sequence_classification_loss(sequence, torch.full((3,), -100), num_items_in_batch=n),
                     [sequence]),
        "token": (lambda n: token_classification_loss(token, torch.full((2, 3), -100), num_items_in_batch=n), [token]),
        "qa": (lambda n: question_answering_loss(start, end, outside, outside, num_items_in_batch=n), [start, end]),
    }


@pytest.mark.parametrize("count", [0, torch.tensor(0), torch.tensor([0])], ids=["int", "0-d tensor", "1-element tensor"])
@pytest.mark.parametrize("task", ["sequence", "token", "qa"])
def test_num_items_in_batch_zero_with_every_target_ignored_gives_zero_loss_and_zero_gradients(task, count):
    """Trainer passes num_items_in_batch=0 for a step whose labels are all -100: 0 / 0 was NaN."""
    loss_fn, leaves = _all_ignored_cases()[task]
    loss = loss_fn(count)
    assert loss.item() == 0.0 and loss.requires_grad
    assert loss.item() == loss_fn(None).item()  # the same 0.0 as the mean over this batch
    loss.backward()
    for leaf in leaves:
        assert torch.equal(leaf.grad, torch.zeros_like(leaf))


def test_num_items_in_batch_zero_or_negative_with_targets_to_learn_from_is_an_error():
    logits, labels = torch.randn(3, 4), torch.tensor([1, -100, 2])
    with pytest.raises(ValueError, match=r"num_items_in_batch=0 but this batch holds 2 target\(s\)"):
        masked_cross_entropy(logits, labels, num_items_in_batch=torch.tensor(0))
    with pytest.raises(ValueError, match=r"num_items_in_batch=0 but this batch holds 6 target"):  # 2 x 3 values
        sequence_classification_loss(logits[:2, :3], torch.rand(2, 3), "regression", num_items_in_batch=0)
    with pytest.raises(ValueError, match=r"num_items_in_batch=-1"):
        token_classification_loss(logits[None], labels[None], num_items_in_batch=-1)


def test_token_loss_is_computed_in_float32_even_for_half_logits():
    logits = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    labels = torch.tensor([[0, 1, -100, 2, 1], [-100, -100, 0, 0, 2]])
    loss = token_classification_loss(logits, labels)
    assert loss.dtype == torch.float32
    expected = reference_cross_entropy(logits.float().view(-1, 3), labels.view(-1), -100)
    torch.testing.assert_close(loss.double(), expected, atol=1e-6, rtol=0)


# ---------------------------------------------------------------- float32 whatever the logits' dtype


def _reference_sequence_loss(logits, labels, problem_type):
    """The three sequence losses written out in float64."""
    logits = logits.double()
    if problem_type == "regression":
        return ((logits.reshape(labels.shape) - labels.double()) ** 2).mean()
    if problem_type == "multi_label_classification":
        y = labels.double()
        return -(y * torch.nn.functional.logsigmoid(logits) + (1 - y) * torch.nn.functional.logsigmoid(-logits)).mean()
    return reference_cross_entropy(logits, labels, -100)


SEQUENCE_CASES = {
    # problem_type: (logits shape, labels)
    "regression": ((4, 1), torch.tensor([70000.0, 123456.0, -0.25, 3.1])),  # above float16's 65504
    "single_label_classification": ((4, 3), torch.tensor([0, 2, -100, 1])),
    "multi_label_classification": ((4, 3), torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])),
}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("problem_type", list(SEQUENCE_CASES))
def test_sequence_losses_of_half_logits_are_the_float64_loss_in_float32(problem_type, dtype):
    shape, labels = SEQUENCE_CASES[problem_type]
    logits = (torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 3).to(dtype)
    loss = sequence_classification_loss(logits, labels, problem_type)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    expected = _reference_sequence_loss(logits, labels, problem_type)  # the same half logits, exactly, in float64
    torch.testing.assert_close(loss.double(), expected, rtol=1e-6, atol=1e-6)


def test_question_answering_loss_of_half_logits_is_computed_in_float32():
    generator = torch.Generator().manual_seed(0)
    start, end = (torch.randn(3, 6, generator=generator).to(torch.bfloat16) for _ in range(2))
    starts, ends = torch.tensor([0, 2, 9]), torch.tensor([1, 5, 9])  # the third answer is outside the window
    loss = question_answering_loss(start, end, starts, ends)
    assert loss.dtype == torch.float32
    inside = torch.tensor([0, 1])  # the reference keeps the answers inside the window
    expected = (reference_cross_entropy(start[inside], starts[inside], 6) + reference_cross_entropy(end[inside], ends[inside], 6)) / 2
    torch.testing.assert_close(loss.double(), expected, rtol=1e-6, atol=1e-6)


def test_a_regression_head_under_float16_autocast_gives_a_finite_loss_for_targets_above_65504():
    """sentence-transformers#3793: what Trainer(fp16=True) does, on the kit's tiny transformer."""
    from modlayers import GenericForSequenceClassification, TinyTransformerConfig, TinyTransformerPreTrainedModel

    class Scorer(GenericForSequenceClassification, TinyTransformerPreTrainedModel):
        pass

    torch.manual_seed(0)
    model = Scorer(TinyTransformerConfig(vocab_size=20, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                         num_labels=1)).eval()
    ids = torch.tensor([[3, 4, 5], [6, 7, 0]])
    labels = torch.tensor([70000.0, 80000.0])
    with torch.autocast("cpu", dtype=torch.float16):
        out = model(ids, attention_mask=(ids != 0).long(), labels=labels)
    assert out.logits.dtype == torch.float16
    assert torch.isfinite(out.loss) and out.loss.dtype == torch.float32
    torch.testing.assert_close(out.loss.double(), ((out.logits.double().reshape(-1) - labels.double()) ** 2).mean(),
                               rtol=1e-6, atol=0)
