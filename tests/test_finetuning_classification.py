"""Tests for modlayers/lessons/finetuning/classification.py, the `finetune` command and the report helpers."""

import pytest
import torch

from modlayers.__main__ import main
from modlayers.lessons.data import load_classification
from modlayers.lessons.finetuning import classification
from modlayers.lessons.finetuning.cli import format_report
from modlayers.lessons.finetuning.report import results_table
from modlayers.pooling import first_token_pool, last_non_pad_index, mean_pool, pool_at


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    classifier, tokenizer = classification.load_model("tiny")
    batch = classification.features(tokenizer, load_classification("validation")[:5])
    return classifier.eval(), tokenizer, batch


def test_each_pooling_reads_the_token_it_names(tiny):
    classifier, tokenizer, batch = tiny
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
    with torch.no_grad():
        token_logits = classifier.score(classifier.base_model(**inputs).last_hidden_state)  # (batch, seq, labels)
        last = pool_at(token_logits, last_non_pad_index(batch["input_ids"], tokenizer.pad_token_id))
        assert torch.allclose(classification.pooled_logits(classifier, batch, "last"), last, atol=1e-6)
        assert torch.equal(classification.pooled_logits(classifier, batch, "first"), first_token_pool(token_logits))
        assert torch.allclose(classification.pooled_logits(classifier, batch, "mean"), mean_pool(token_logits, batch["attention_mask"]))
        assert torch.equal(classification.pooled_logits(classifier, batch, "pad"), token_logits[:, -1])
    # with the BERT tokenizer the last non-pad token is [SEP]
    ends = batch["input_ids"].gather(1, last_non_pad_index(batch["input_ids"], tokenizer.pad_token_id)[:, None])
    assert (ends == tokenizer.sep_token_id).all()
    assert (batch["input_ids"][:, -1] == tokenizer.pad_token_id).sum() >= 3  # "pad" pools padding in most rows


def test_finetune_tiny_learns_and_reports_baselines():
    result = classification.finetune("tiny", steps=6, batch_size=8, progress=False, eval_every=3,
                                     baselines={"majority class": 0.25}, train_size=64)
    assert result["task"] == "classification" and result["metric_name"] == "accuracy" and result["steps"] == 6
    assert [h["step"] for h in result["history"]] == [3, 6]
    assert result["metric"] == result["history"][-1]["accuracy"]
    assert result["history"][-1]["loss"] < 1.6  # cross-entropy of 4 classes starts near log 4 = 1.39
    assert "| majority class (baseline) | 0.250 |" in results_table({"tiny": result})
    assert format_report(result).splitlines()[0] == "classification: validation accuracy"


def test_finetune_refuses_unknown_choices_before_loading_anything():
    with pytest.raises(ValueError, match="model must be one of"):
        classification.finetune("huge")
    with pytest.raises(ValueError, match="pooling must be one of"):
        classification.finetune("tiny", pooling="cls")
    with pytest.raises(ValueError, match="at least 1"):
        classification.finetune("tiny", steps=0)


def test_finetune_command_runs_a_few_steps_and_prints_the_metric_next_to_the_baselines(capsys):
    assert main(["finetune", "classification", "--model", "tiny", "--steps", "2", "--batch-size", "4", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("classification: validation accuracy")
    for name in ("tiny model, trained from scratch (2 steps)", "majority class", "naive Bayes (bag of words)", "logistic regression (bag of words)"):
        assert name in out


def test_finetune_command_says_when_max_seconds_cut_the_run_short(capsys):
    assert main(["finetune", "classification", "--model", "tiny", "--steps", "100000", "--batch-size", "4",
                 "--max-seconds", "0.001", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "tiny model, trained from scratch (1 steps)" in out
    assert ("NOT THE FULL RUN: max_seconds=0.001 stopped training after 1 of 100000 steps: these figures are not "
            "those of the full 100000-step run.") in out


def test_finetune_command_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        main(["finetune", "summarisation"])
    with pytest.raises(SystemExit):
        main(["finetune", "classification", "--steps", "0"])
    assert "must be at least 1" in capsys.readouterr().err


def test_report_docstring_examples_run_as_written():
    import doctest

    import modlayers.lessons.finetuning.report as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 1 and result.failed == 0


def test_plot_validation_curves_draws_one_line_per_run_and_per_baseline():
    import matplotlib

    matplotlib.use("Agg")
    from modlayers.lessons.finetuning.report import plot_validation_curves

    run = {"task": "classification", "metric_name": "accuracy", "steps": 2, "metric": 0.5,
           "history": [{"step": 1, "accuracy": 0.3}, {"step": 2, "accuracy": 0.5}], "baselines": {"majority class": 0.25}}
    ax = plot_validation_curves({"a": run, "b": run})
    assert len(ax.lines) == 3 and list(ax.lines[0].get_ydata()) == [0.3, 0.5] and list(ax.lines[2].get_ydata()) == [0.25, 0.25]
    with pytest.raises(ValueError, match="at least one"):
        plot_validation_curves({})


def test_pooled_features_pick_cls_sep_and_the_mean(tiny):
    classifier, tokenizer, batch = tiny
    records = load_classification("validation")[:5]
    pooled = classification.pooled_features(classifier.base_model, tokenizer, records, batch_size=2)
    with torch.no_grad():
        hidden = classifier.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    last = pool_at(hidden, last_non_pad_index(batch["input_ids"], tokenizer.pad_token_id))
    assert torch.allclose(pooled["first"], hidden[:, 0], atol=1e-5)
    assert torch.allclose(pooled["last"], last, atol=1e-5)
    assert torch.allclose(pooled["mean"], mean_pool(hidden, batch["attention_mask"]), atol=1e-5)


def test_linear_probe_separates_separable_vectors_and_not_noise():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(200) % 4
    separable = torch.nn.functional.one_hot(labels, 8).float() + 0.1 * torch.randn(200, 8, generator=generator)
    noise = torch.randn(200, 8, generator=generator)
    assert classification.linear_probe_accuracy(separable[:100], labels[:100], separable[100:], labels[100:]) == 1.0
    assert classification.linear_probe_accuracy(noise[:100], labels[:100], noise[100:], labels[100:]) < 0.5
