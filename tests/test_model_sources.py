"""Tests for modlayers/lessons/model_sources.py: a tiny Llama decoder (random weights) and its tokenizer, built here and
saved to a temporary folder, fine-tuned through `finetune --model-source`: it gets a pad token and left padding,
and the head pools the last real token of every row."""

import pytest
import torch
from tiny_decoder import save_tiny_llama
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from modlayers.lessons import data
from modlayers.__main__ import main
from modlayers.lessons.finetuning import classification, tagging
from modlayers.lessons.model_sources import is_decoder, load_task_model
from modlayers.pooling import last_non_pad_index

@pytest.fixture(scope="module")
def llama_folder(tmp_path_factory):
    """The tiny Llama of tests/tiny_decoder.py, saved to a temporary folder."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    save_tiny_llama(folder)
    assert PreTrainedTokenizerFast.from_pretrained(folder).pad_token is None
    return folder


def test_a_decoder_gets_its_eos_as_pad_token_and_left_padding_for_classification(llama_folder):
    model, tokenizer = load_task_model("classification", llama_folder, label_names=["a", "b"])
    assert is_decoder(model.config) and tokenizer.padding_side == "left"
    assert tokenizer.pad_token == "</s>" and model.config.pad_token_id == tokenizer.eos_token_id
    _, tagging_tokenizer = load_task_model("tagging", llama_folder, label_names=["O", "B-X", "I-X"])
    assert tagging_tokenizer.padding_side == "right"  # per-token labels: no pooling to place


def test_the_decoder_classifier_pools_the_last_real_token_of_left_padded_rows(llama_folder):
    model, tokenizer = load_task_model("classification", llama_folder, label_names=["a", "b", "c"])
    model.eval()
    batch = tokenizer(["Rain in Osterby .", "The cup game in Quillon was moved to Thursday ."], padding=True,
                      return_tensors="pt")  # (2, seq), the short row padded on the left
    seq = batch["input_ids"].shape[1]
    assert batch["attention_mask"][0, 0] == 0 and batch["attention_mask"][:, -1].tolist() == [1, 1]
    pooled = last_non_pad_index(batch["input_ids"], tokenizer.pad_token_id)  # (2,)
    assert pooled.tolist() == [seq - 1, seq - 1]  # the last column holds every row's last real token
    with torch.no_grad():
        logits = model(**batch).logits  # (2, 3)
        hidden = model.model(**batch).last_hidden_state  # (2, seq, 32)
    torch.testing.assert_close(logits, model.score(hidden[torch.arange(2), pooled]))
    with torch.no_grad():  # the short sentence alone, unpadded: the same logits
        alone = model(**tokenizer(["Rain in Osterby ."], return_tensors="pt")).logits  # (1, 3)
    torch.testing.assert_close(logits[:1], alone, atol=1e-5, rtol=1e-4)


def test_a_tokenizer_with_neither_pad_nor_eos_gets_a_new_pad_token(llama_folder, tmp_path):
    tokenizer = PreTrainedTokenizerFast.from_pretrained(llama_folder)
    tokenizer.eos_token = None
    tokenizer.save_pretrained(tmp_path)
    LlamaForCausalLM.from_pretrained(llama_folder).save_pretrained(tmp_path)
    model, tokenizer = load_task_model("classification", tmp_path, label_names=["a", "b"])
    assert tokenizer.pad_token == "<pad>" and model.config.pad_token_id == len(tokenizer) - 1
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer)


def test_finetune_command_trains_the_decoder_from_its_folder_with_left_padding(llama_folder, capsys):
    status = main(["finetune", "classification", "--model-source", str(llama_folder), "--steps", "3",
                   "--batch-size", "8", "--validation-size", "16", "--no-progress", "--json"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert f"{llama_folder}, fine-tuned (3 steps)" in out


def test_finetune_api_on_the_decoder_keeps_left_padding_in_its_features(llama_folder, monkeypatch):
    seen = {}
    real_features = classification.features

    def features(tokenizer, records, max_length=None):
        out = real_features(tokenizer, records, max_length)
        seen.setdefault("mask", out["attention_mask"])
        return out

    monkeypatch.setattr(classification, "features", features)
    result = classification.finetune(steps=2, batch_size=4, progress=False, evaluations=1, train_size=16,
                                     validation_size=8, model_source=str(llama_folder))
    assert result["tokenizer"].padding_side == "left" and result["model_source"] == str(llama_folder)
    mask = seen["mask"]  # (16, seq): every row ends with a real token, padding is in front
    assert mask[:, -1].all() and not mask[:, 0].all()
    assert 0.0 <= result["metric"] <= 1.0


def test_the_decoder_tags_words_through_model_source(llama_folder):
    result = tagging.finetune(steps=2, batch_size=4, progress=False, evaluations=1, train_size=16,
                              validation_size=8, model_source=str(llama_folder))
    assert result["steps"] == 2 and result["label_names"] == data.TAGGING_LABELS


@pytest.mark.parametrize("source", ["someone/no-such-model", "EMPTY"])
def test_a_model_source_that_cannot_load_is_one_error_line_and_nothing_trains(source, tmp_path, monkeypatch, capsys):
    def work(*args, **kwargs):
        raise AssertionError("training started with a model that did not load")

    monkeypatch.setattr(classification, "run_steps", work)
    source = str(tmp_path) if source == "EMPTY" else source  # an empty folder: no config.json
    status = main(["finetune", "classification", "--model-source", source, "--steps", "2", "--no-progress"])
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and len(err.splitlines()) == 1 and err.startswith("error: ")
    assert source in err


def test_an_encoder_checkpoint_keeps_right_padding_and_its_own_pad_token():
    from modlayers.lessons.pretrained import pretrained_model_dir

    model, tokenizer = load_task_model("classification", pretrained_model_dir(), label_names=["a", "b"])
    assert not is_decoder(model.config) and tokenizer.padding_side == "right"
    assert tokenizer.pad_token == "[PAD]" and model.config.pad_token_id == tokenizer.pad_token_id == 0
