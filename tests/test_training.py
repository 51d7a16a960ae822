"""Tests for modlayers/lessons/training.py: the loop learns, is deterministic, and refuses misuse clearly."""

import pytest
import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput, TokenClassifierOutput

from modlayers.lessons.training import batches_from, evaluate_accuracy, pick_device, predict, set_seed, train


class TinyClassifier(nn.Module):
    """A linear classifier with a transformers-style output (loss only when labels are given)."""

    def __init__(self, features=2, num_labels=2, dropout=0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(features, num_labels)

    def forward(self, x, labels=None):
        logits = self.linear(self.dropout(x))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def separable_problem(n=64, seed=0):
    """Two clusters, label = 1 where x0 + x1 > 0, separated by a margin."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    labels = (x.sum(dim=1) > 0).long()
    x = x + 0.5 * (2 * labels - 1).unsqueeze(1)  # push the classes apart
    return {"x": x, "labels": labels}


def train_once(seed, dropout=0.0):
    set_seed(seed)
    model = TinyClassifier(dropout=dropout)
    return train(model, batches_from(separable_problem(), 16, shuffle=True, seed=seed), epochs=5, lr=0.05, progress=False, device="cpu"), model


def test_pick_device_returns_cpu_without_cuda():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected


def test_set_seed_makes_torch_random_numbers_repeat():
    set_seed(3)
    a = torch.rand(4)
    set_seed(3)
    assert torch.equal(a, torch.rand(4))


def test_set_seed_rejects_non_int():
    with pytest.raises(TypeError, match="int seed"):
        set_seed(1.5)


def test_batches_from_cuts_in_order_without_shuffle():
    epoch = batches_from({"x": torch.arange(5), "labels": torch.arange(5) * 10}, batch_size=2)
    batches = list(epoch())
    assert [b["x"].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    assert [b["labels"].tolist() for b in batches] == [[0, 10], [20, 30], [40]]


def test_batches_from_shuffles_differently_each_epoch_but_reproducibly():
    def orders(seed):
        epoch = batches_from({"x": torch.arange(20)}, batch_size=20, shuffle=True, seed=seed)
        return [next(iter(epoch()))["x"].tolist() for _ in range(2)]

    first, second = orders(7)
    assert sorted(first) == list(range(20))
    assert first != second  # a new order every epoch
    assert orders(7) == [first, second]  # the same orders again from the same seed


def test_batches_from_rejects_tensors_of_different_lengths():
    with pytest.raises(ValueError, match="same first dimension"):
        batches_from({"x": torch.zeros(3), "labels": torch.zeros(4)}, batch_size=2)


def test_train_returns_one_decreasing_loss_per_step_on_separable_data():
    losses, model = train_once(seed=0)
    assert len(losses) == 5 * 4  # 5 epochs of 64 examples in batches of 16
    assert sum(losses[-4:]) / 4 < 0.5 * sum(losses[:4]) / 4
    assert evaluate_accuracy(model, [separable_problem()]) > 0.95


def test_train_is_deterministic_for_a_fixed_seed_even_with_dropout():
    first, _ = train_once(seed=1, dropout=0.3)
    second, _ = train_once(seed=1, dropout=0.3)
    third, _ = train_once(seed=2, dropout=0.3)
    assert first == second
    assert first != third


def test_train_accepts_a_list_of_batches_for_several_epochs():
    set_seed(0)
    data = separable_problem()
    losses = train(TinyClassifier(), [data], epochs=3, lr=0.05, progress=False, device="cpu")
    assert len(losses) == 3


def test_train_refuses_a_generator_for_several_epochs():
    data = separable_problem()
    with pytest.raises(ValueError, match="one-shot iterator"):
        train(TinyClassifier(), (b for b in [data]), epochs=2, progress=False, device="cpu")


def test_train_explains_a_missing_loss():
    data = separable_problem()
    del data["labels"]
    with pytest.raises(ValueError, match="no loss"):
        train(TinyClassifier(), [data], progress=False, device="cpu")


def test_evaluate_accuracy_counts_hand_made_predictions_and_skips_ignored_labels():
    class FixedTagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = nn.Parameter(torch.zeros(1))

        def forward(self, logits, labels=None):
            return TokenClassifierOutput(logits=logits)

    logits = torch.tensor([[[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]]])  # predicts 0, 1, 0
    labels = torch.tensor([[0, 0, -100]])  # right, wrong, ignored
    assert evaluate_accuracy(FixedTagger(), [{"logits": logits, "labels": labels}]) == 0.5


def test_predict_returns_cpu_outputs_per_batch_and_restores_training_mode():
    model = TinyClassifier()
    model.train()
    outputs = predict(model, batches_from(separable_problem(10), 4))
    assert [o["logits"].shape for o in outputs] == [torch.Size([4, 2]), torch.Size([4, 2]), torch.Size([2, 2])]
    assert "loss" in outputs[0]
    assert model.training


def test_batches_from_trims_trailing_padding_per_batch_only():
    mask = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1]])
    ids = torch.arange(16).view(4, 4) * mask
    labels = torch.tensor([0, 1, 2, 3])
    epoch = batches_from({"input_ids": ids, "attention_mask": mask, "labels": labels}, 2, trim_padding=True)
    first, second = list(epoch())
    assert first["input_ids"].tolist() == [[0, 1], [4, 0]]  # cut to the longest row of this batch
    assert first["attention_mask"].shape == (2, 2) and first["labels"].tolist() == [0, 1]
    assert second["input_ids"].shape == (2, 4)  # left padding in the last row: nothing trailing to cut


def test_batches_from_trim_padding_needs_an_attention_mask():
    with pytest.raises(ValueError, match="attention_mask"):
        batches_from({"input_ids": torch.zeros(2, 3)}, 2, trim_padding=True)


def test_docstring_examples_run_as_written():
    import doctest

    import modlayers.lessons.training

    result = doctest.testmod(modlayers.lessons.training, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0


def test_batches_from_trims_left_padding_too_but_never_in_front_of_qa_positions():
    mask = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 1]])  # left padding: column 0 is padding in every row
    ids = (torch.arange(8).view(2, 4) + 1) * mask
    [batch] = list(batches_from({"input_ids": ids, "attention_mask": mask}, 2, trim_padding=True)())
    assert batch["input_ids"].tolist() == [[0, 3, 4], [6, 7, 8]] and batch["attention_mask"].shape == (2, 3)
    positions = {"input_ids": ids, "attention_mask": mask, "start_positions": torch.tensor([2, 1])}
    [batch] = list(batches_from(positions, 2, trim_padding=True)())
    assert batch["input_ids"].shape == (2, 4)  # cutting column 0 would move start_positions
