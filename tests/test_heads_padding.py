"""Which token the sequence head pools when the inputs do not say it by their pad id.

Two situations users have been bitten by, each against transformers' own
``LlamaForSequenceClassification`` on the same weights:

- ``inputs_embeds`` with right padding (PEFT's prompt tuning passes only vectors; transformers#34218,
  peft#764): the head pools the last position the attention mask keeps, as the ``input_ids`` call does;
- ``config.pad_token_id`` contradicting the attention mask (the tokenizer pads with another id):
  a ``ValueError`` naming both ids and the fix, before the base model runs.
"""

import copy

import pytest
import torch
from transformers import LlamaConfig, LlamaForSequenceClassification, LlamaPreTrainedModel

from modlayers import GenericForSequenceClassification
from modlayers.pooling import last_attended_index, last_token_index

PAD, EOS = 0, 2


class MyClassifier(GenericForSequenceClassification, LlamaPreTrainedModel):
    pass


def twins(**config_kwargs):
    """(transformers' classifier, the kit's) in eval mode with the same weights."""
    config = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, num_labels=3, pad_token_id=PAD, **config_kwargs)
    torch.manual_seed(0)
    theirs = LlamaForSequenceClassification(copy.deepcopy(config)).eval()
    ours = MyClassifier(copy.deepcopy(config)).eval()
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


def right_padded(pad_id: int):
    """Rows of 5, 3 and 2 tokens padded on the right with ``pad_id``, and their attention mask."""
    ids = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 12, pad_id, pad_id], [13, 14, pad_id, pad_id, pad_id]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]])
    return ids, mask


def test_inputs_embeds_with_right_padding_and_a_mask_give_the_input_ids_logits_of_transformers():
    theirs, ours = twins()
    ids, mask = right_padded(PAD)
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask).logits  # (3, 3)
        embeds = ours.model.embed_tokens(ids)  # (3, 5, 32)
        got = ours(inputs_embeds=embeds, attention_mask=mask).logits
        last_column = ours.score(ours.model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state)[:, -1]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert (last_column[1:] - expected[1:]).abs().max() > 1e-2  # what pooling the last column gave: a pad


def test_a_mask_without_a_pad_token_pools_the_last_real_token_of_a_batch():
    theirs, _ = twins()
    _, ours = twins()
    ours.config.pad_token_id = None
    ids, mask = right_padded(PAD)
    with torch.no_grad():
        torch.testing.assert_close(ours(ids, attention_mask=mask).logits, theirs(ids, attention_mask=mask).logits,
                                   atol=1e-5, rtol=0)


def test_a_config_pad_id_that_contradicts_the_mask_is_refused_naming_both_ids_and_the_fix():
    _, ours = twins()
    ids, mask = right_padded(EOS)  # the tokenizer pads with 2, the config says 0
    calls = []
    ours.model.register_forward_pre_hook(lambda *args: calls.append(1))
    with pytest.raises(ValueError, match=r"padding positions holding token 2, but config.pad_token_id is 0.*"
                                         r"model.config.pad_token_id = tokenizer.pad_token_id \(here 2\)"):
        ours(ids, attention_mask=mask)
    assert not calls, "the error must come before the base model runs"


def test_once_the_config_is_fixed_the_head_gives_transformers_logits():
    theirs, ours = twins()
    theirs.config.pad_token_id = ours.config.pad_token_id = EOS
    ids, mask = right_padded(EOS)
    with torch.no_grad():
        torch.testing.assert_close(ours(ids, attention_mask=mask).logits, theirs(ids, attention_mask=mask).logits,
                                   atol=1e-5, rtol=0)


def test_pad_equal_to_eos_pools_the_real_end_token_the_mask_keeps():
    """pad_token = eos_token: the real end token is no padding; transformers pools the token before it."""
    theirs, ours = twins()
    theirs.config.pad_token_id = ours.config.pad_token_id = EOS
    ids = torch.tensor([[5, 6, 7, EOS, EOS], [8, 9, 10, 11, EOS]])  # each text ends with a real EOS
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    with torch.no_grad():
        every_token = ours.score(ours.model(ids, attention_mask=mask).last_hidden_state)  # (2, 5, 3)
        got = ours(ids, attention_mask=mask).logits
        upstream = theirs(ids, attention_mask=mask).logits
    torch.testing.assert_close(got, every_token[torch.arange(2), torch.tensor([3, 4])], atol=1e-6, rtol=0)
    torch.testing.assert_close(upstream, every_token[torch.arange(2), torch.tensor([2, 3])], atol=1e-5, rtol=0)


def test_the_pooling_rule_follows_the_mask_then_the_pad_id_then_the_last_position():
    ids = torch.tensor([[5, 6, 0, 0], [0, 7, 8, 9]])
    mask = (ids != 0).long()
    assert last_token_index(ids, mask, 0).tolist() == [1, 3]
    assert last_token_index(None, mask, None).tolist() == [1, 3]
    assert last_token_index(ids, None, 0).tolist() == [1, 3]
    assert last_token_index(None, None, 0) == -1
    cached = torch.cat([torch.ones(2, 3, dtype=torch.long), mask], dim=1)  # 3 cached positions before these 4
    assert last_token_index(None, cached, 0, seq_len=4).tolist() == [1, 3]
    assert torch.equal(last_token_index(ids, mask, 0), last_attended_index(mask))


def test_pooling_from_the_mask_compiles_with_fullgraph_and_gives_the_eager_logits():
    """The mask's value checks read the tensor on the host: skipped while compiling, as the other checks."""
    _, ours = twins()
    ids, mask = right_padded(PAD)
    embeds = ours.model.embed_tokens(ids).detach()  # (3, 5, 32)
    torch._dynamo.reset()
    with torch.no_grad():
        expected = ours(inputs_embeds=embeds, attention_mask=mask).logits
        got = torch.compile(ours, fullgraph=True, backend="eager")(inputs_embeds=embeds, attention_mask=mask).logits
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
