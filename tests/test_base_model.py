"""Calling the base model across transformers releases and architectures."""

import warnings

import pytest
import torch
from torch import nn
from transformers import AutoConfig, AutoModel, LlamaConfig, LlamaPreTrainedModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput

import modlayers

pytestmark = pytest.mark.parity  # keyword handling differs across releases: also run on the oldest
from modlayers.base_model import call_base_model, cache_of, output_cache_field


class MinimalConfig(PretrainedConfig):
    model_type = "minimal-encoder-for-tests"

    def __init__(self, vocab_size=20, hidden_size=8, **kwargs):
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        super().__init__(**kwargs)


class MinimalModel(PreTrainedModel):
    """A base model whose forward takes nothing but ids and a mask (no cache, no **kwargs)."""

    config_class = MinimalConfig
    base_model_prefix = "model"

    def __init__(self, config):
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.post_init()

    def forward(self, input_ids, attention_mask=None):
        return BaseModelOutput(last_hidden_state=self.embed(input_ids))


AutoConfig.register(MinimalConfig.model_type, MinimalConfig, exist_ok=True)
AutoModel.register(MinimalConfig, MinimalModel, exist_ok=True)


class MinimalPreTrained(PreTrainedModel):
    config_class = MinimalConfig


@pytest.mark.parametrize(
    "head", [modlayers.GenericForSequenceClassification, modlayers.GenericForQuestionAnswering, modlayers.GenericForTokenClassification]
)
def test_heads_pass_only_the_keywords_the_base_model_names(head):
    model = type("Head", (head, MinimalPreTrained), {})(MinimalConfig(num_labels=2, pad_token_id=0))
    out = model(input_ids=torch.tensor([[3, 4, 0]]), attention_mask=torch.tensor([[1, 1, 0]]))
    assert out is not None


def test_a_cache_for_a_base_model_without_one_is_a_clear_error():
    with pytest.raises(TypeError, match="takes no KV cache"):
        call_base_model(MinimalModel(MinimalConfig()), torch.tensor([[1]]), cache=object())


class LlamaClassifier(modlayers.GenericForSequenceClassification, LlamaPreTrainedModel):
    pass


def llama_classifier():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, pad_token_id=0, num_labels=2)
    return LlamaClassifier(config).eval()


@pytest.mark.parametrize("keyword", ["past_key_values", "cache"])
def test_the_cache_reaches_the_base_model_under_either_name_without_deprecation_warnings(keyword):
    model = llama_classifier()
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        warnings.simplefilter("error", FutureWarning)
        full = model(input_ids=ids).logits
        prefix = model(input_ids=ids[:, :3], use_cache=True)
        cache = cache_of(prefix)
        assert cache is not None and getattr(prefix, output_cache_field()) is cache
        step = model(input_ids=ids[:, 3:], use_cache=True, **{keyword: cache}).logits
    torch.testing.assert_close(step, full, atol=1e-5, rtol=0)


def test_the_output_carries_the_cache_in_the_field_the_installed_release_names():
    field = output_cache_field()
    import dataclasses

    from transformers.modeling_outputs import SequenceClassifierOutputWithPast

    assert field in {f.name for f in dataclasses.fields(SequenceClassifierOutputWithPast)}
