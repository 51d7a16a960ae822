"""modlayers.lessons.training.train's progress bar knows its total (no ``N/?``), also for batches_from's epochs."""

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

import modlayers.lessons.training as training
from modlayers.lessons.training import batches_from, train


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)

    def forward(self, x, labels=None):
        logits = self.linear(x)
        return SequenceClassifierOutput(loss=nn.functional.cross_entropy(logits, labels), logits=logits)


def totals_of_progress_bars(monkeypatch, batches, epochs):
    seen = []
    real_tqdm = training.tqdm

    def recording_tqdm(*args, **kwargs):
        seen.append(kwargs.get("total"))
        return real_tqdm(*args, **{**kwargs, "disable": True})

    monkeypatch.setattr(training, "tqdm", recording_tqdm)
    losses = train(Linear(), batches, epochs=epochs, lr=0.01, device="cpu")
    return seen, len(losses)


def test_progress_bar_total_counts_batches_from_epochs(monkeypatch):
    data = {"x": torch.randn(66, 2), "labels": torch.randint(0, 2, (66,))}
    seen, steps = totals_of_progress_bars(monkeypatch, batches_from(data, 16, shuffle=True), epochs=3)
    assert steps == 15  # 66 examples: 4 batches of 16 and one of 2, three times
    assert seen == [15]


def test_progress_bar_total_counts_a_list_of_batches(monkeypatch):
    batch = {"x": torch.randn(4, 2), "labels": torch.randint(0, 2, (4,))}
    seen, steps = totals_of_progress_bars(monkeypatch, [batch, batch], epochs=2)
    assert seen == [4] and steps == 4
