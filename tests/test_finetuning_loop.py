"""Tests for modlayers/lessons/finetuning/loop.py: the one loop every fine-tune goes through."""

import pytest
import torch
from transformers.modeling_outputs import SequenceClassifierOutput

from modlayers.lessons.finetuning.loop import evaluation_steps, run_steps, set_attention_dropout
from modlayers.lessons.training import adamw


class Regressor(torch.nn.Module):
    """y = w.x: a model whose exact AdamW trajectory torch's own (unfused) AdamW can replay."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(3))

    def forward(self, x, attention_mask=None, labels=None):
        prediction = x @ self.weight  # (batch,)
        return SequenceClassifierOutput(loss=((prediction - labels) ** 2).mean(), logits=prediction)


def _features(n=12):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=generator)
    return {"x": x, "labels": x @ torch.tensor([1.0, -2.0, 0.5])}


def test_the_kit_builds_fused_adamw_and_its_steps_equal_torchs_plain_adamw():
    fused_model, plain_model = Regressor(), Regressor()
    fused = adamw(fused_model.parameters(), lr=0.1)
    plain = torch.optim.AdamW(plain_model.parameters(), lr=0.1, weight_decay=0.01, foreach=False)
    assert fused.defaults["fused"] is True and not plain.defaults["fused"]
    features = _features()
    for model, optimizer in ((fused_model, fused), (plain_model, plain)):
        for _ in range(5):
            optimizer.zero_grad()
            model(**features).loss.backward()
            optimizer.step()
    torch.testing.assert_close(fused_model.weight, plain_model.weight, rtol=1e-6, atol=1e-6)


def test_adamw_falls_back_to_the_unfused_update_where_torch_refuses_fused():
    complex_weight = torch.nn.Parameter(torch.tensor([1 + 1j, 2 - 1j]))  # torch refuses fused=True for complex
    refused = torch.optim.AdamW([torch.nn.Parameter(complex_weight.detach().clone())], fused=True)
    refused.param_groups[0]["params"][0].grad = torch.ones(2, dtype=torch.complex64)
    with pytest.raises(RuntimeError, match="fused"):
        refused.step()
    optimizer = adamw([complex_weight], lr=0.1)
    assert not optimizer.defaults["fused"]
    reference = torch.nn.Parameter(complex_weight.detach().clone())
    plain = torch.optim.AdamW([reference], lr=0.1, weight_decay=0.01)
    for weight, opt in ((complex_weight, optimizer), (reference, plain)):
        weight.grad = torch.tensor([0.5 - 1j, -1 + 0.25j])
        opt.step()
    torch.testing.assert_close(complex_weight, reference)
    assert not torch.equal(complex_weight.detach(), torch.tensor([1 + 1j, 2 - 1j]))


def test_the_number_of_evaluations_does_not_grow_with_the_steps():
    assert evaluation_steps(80) == [16, 32, 48, 64, 80]
    assert len(evaluation_steps(10_000)) == 5 and evaluation_steps(10_000)[-1] == 10_000
    assert evaluation_steps(3) == [1, 2, 3]
    assert evaluation_steps(20, eval_every=8) == [8, 16, 20]
    with pytest.raises(ValueError, match="evaluations must be an int >= 1, got 0"):
        evaluation_steps(10, evaluations=0)


def test_run_steps_evaluates_the_subset_on_the_curve_and_the_full_split_once_at_the_end():
    calls = []
    model = Regressor()
    run = run_steps(model, _features(), loss_of=lambda m, b: m(**b).loss,
                    evaluate=lambda final: calls.append(final) or {"score": float(final)},
                    optimizer=adamw(model.parameters(), lr=0.05), steps=10, batch_size=4, evaluations=2,
                    trim_padding=False, progress=False)
    assert calls == [False, True]
    assert [e["step"] for e in run.history] == [5, 10] and run.steps == 10 and run.note is None
    assert run.history[1]["loss"] < run.history[0]["loss"]  # the mean loss of steps 6-10 is below that of 1-5


def test_the_number_of_steps_alone_decides_the_result():
    results = []
    for _ in range(2):
        model = Regressor()
        run = run_steps(model, _features(), loss_of=lambda m, b: m(**b).loss, evaluate=lambda final: {},
                        optimizer=adamw(model.parameters(), lr=0.05), steps=7, batch_size=5, seed=3,
                        trim_padding=False, progress=False)
        results.append((model.weight.detach().clone(), [e["loss"] for e in run.history]))
    assert torch.equal(results[0][0], results[1][0]) and results[0][1] == results[1][1]


def test_max_seconds_stops_the_run_and_says_its_figures_are_not_the_full_runs():
    model = Regressor()
    run = run_steps(model, _features(), loss_of=lambda m, b: m(**b).loss, evaluate=lambda final: {"final": final},
                    optimizer=adamw(model.parameters(), lr=0.05), steps=1000, batch_size=4, max_seconds=1e-9,
                    trim_padding=False, progress=False)
    assert run.steps == 1 and run.stopped_early and run.history == [
        {"step": 1, "seconds": run.history[0]["seconds"], "loss": run.history[0]["loss"], "final": True}]
    assert run.note == ("max_seconds=1e-09 stopped training after 1 of 1000 steps: these figures are not those "
                        "of the full 1000-step run.")


def test_set_attention_dropout_reaches_every_attention_layer_of_minilm():
    from modlayers.lessons.pretrained import load_pretrained

    model, _ = load_pretrained("classification", num_labels=2)
    assert model.config.attention_probs_dropout_prob == 0.1
    assert set_attention_dropout(model, 0.0) == 6
    rates = [getattr(m, "dropout_prob", None) or m.dropout.p for n, m in model.named_modules() if n.endswith("attention.self")]
    assert rates == [0.0] * 6 and model.config.attention_probs_dropout_prob == 0.0
    for module in model.modules():  # hidden dropout off too: only then is a training-mode forward deterministic
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    model.train()
    inputs = {"input_ids": torch.tensor([[101, 2023, 2003, 102]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, model.eval()(**inputs).logits)
    with pytest.raises(ValueError, match=r"attention dropout must be a number in \[0, 1\), got 1.5"):
        set_attention_dropout(model, 1.5)
