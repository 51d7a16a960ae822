"""Tests for modlayers/pretrained.py: the head goes on any registered architecture and a saved
checkpoint loads into it with its base weights (offline: the checkpoint is written to a temporary folder)."""

import pytest
import torch
from transformers import (
    BertConfig,
    BertPreTrainedModel,
    LlamaConfig,
    LlamaForCausalLM,
    LlamaPreTrainedModel,
    PretrainedConfig,
)

from modlayers.data import data_dir
from modlayers.heads import GenericForSequenceClassification, GenericForTokenClassification
from modlayers.pretrained import head_class, load_pretrained_classifier, pretrained_base_class
from modlayers.tiny_transformer import TinyTransformerConfig, TinyTransformerPreTrainedModel


def tiny_llama(**overrides):
    settings = dict(vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                    num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0)
    return LlamaConfig(**{**settings, **overrides})


def test_base_class_is_the_architectures_pretrained_model_class():
    assert pretrained_base_class(tiny_llama()) is LlamaPreTrainedModel
    assert pretrained_base_class(BertConfig()) is BertPreTrainedModel
    assert pretrained_base_class(TinyTransformerConfig()) is TinyTransformerPreTrainedModel


def test_unregistered_config_is_refused_with_a_hint():
    class UnknownConfig(PretrainedConfig):
        model_type = "unknown-for-test"

    with pytest.raises(ValueError, match="AutoModel.register"):
        pretrained_base_class(UnknownConfig())


def test_head_class_puts_the_mixin_first_and_keeps_the_base_model_prefix():
    llama_classifier = head_class(tiny_llama(num_labels=3))
    assert llama_classifier.__mro__[1:3] == (GenericForSequenceClassification, LlamaPreTrainedModel)
    assert llama_classifier.base_model_prefix == "model"
    bert_tagger = head_class(BertConfig(), GenericForTokenClassification)
    assert bert_tagger.base_model_prefix == "bert"


def test_a_saved_checkpoint_loads_with_its_base_weights_and_a_patched_pad_token(tmp_path):
    from transformers import PreTrainedTokenizerFast

    # A decoder-style tokenizer: an end-of-sequence token but no pad token.
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(data_dir() / "tokenizer" / "tokenizer.json"), eos_token="[SEP]")
    tokenizer.save_pretrained(tmp_path)
    torch.manual_seed(0)
    original = LlamaForCausalLM(tiny_llama())  # a language model, as checkpoints on the hub are
    original.save_pretrained(tmp_path)

    loaded_tokenizer, loaded = load_pretrained_classifier(str(tmp_path), ["sports", "cooking", "weather"])
    assert loaded_tokenizer.pad_token == "[SEP]"
    assert loaded.config.pad_token_id == loaded_tokenizer.convert_tokens_to_ids("[SEP]")
    assert loaded.config.id2label == {0: "sports", 1: "cooking", 2: "weather"}
    assert torch.equal(loaded.model.embed_tokens.weight, original.model.embed_tokens.weight)
    assert loaded.score.weight.shape == (3, 32)  # a fresh score layer for three labels
    batch = loaded_tokenizer(["Rain in Osterby.", "Who won?"], padding=True, return_tensors="pt")
    assert loaded(**batch, labels=torch.tensor([2, 0])).logits.shape == (2, 3)
