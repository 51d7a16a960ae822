"""The kit's own architecture: causal or bidirectional attention, a working KV cache, Auto registration."""

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

import modlayers
from modlayers import TinyTransformerConfig, TinyTransformerModel
from modlayers.base_model import cache_of


def tiny(**kwargs):
    torch.manual_seed(0)
    config = TinyTransformerConfig(vocab_size=30, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, **kwargs)
    return TinyTransformerModel(config).eval()


IDS = torch.tensor([[3, 4, 5, 6, 7]])


def test_a_decoder_token_does_not_see_later_tokens():
    model = tiny(is_causal=True)
    changed = IDS.clone()
    changed[0, -1] = 9
    with torch.no_grad():
        a, b = model(IDS).last_hidden_state, model(changed).last_hidden_state
    torch.testing.assert_close(a[:, :-1], b[:, :-1])
    assert not torch.allclose(a[:, -1], b[:, -1])


def test_an_encoder_token_sees_later_tokens():
    model = tiny(is_causal=False)
    changed = IDS.clone()
    changed[0, -1] = 9
    with torch.no_grad():
        a, b = model(IDS).last_hidden_state, model(changed).last_hidden_state
    assert not torch.allclose(a[:, 0], b[:, 0])


def test_decoding_with_the_kv_cache_equals_running_the_whole_sequence():
    model = tiny()
    with torch.no_grad():
        full = model(IDS).last_hidden_state
        prefix = model(IDS[:, :3], use_cache=True)
        cache = cache_of(prefix)
        assert len(cache) == 2 and cache[0][0].shape == (1, 4, 3, 4)  # (B, heads, cached positions, head_dim)
        step = model(IDS[:, 3:], past_key_values=cache, use_cache=True).last_hidden_state
    torch.testing.assert_close(torch.cat([prefix.last_hidden_state, step], dim=1), full, atol=1e-5, rtol=0)


def test_padding_masked_out_does_not_change_the_real_tokens():
    model = tiny(is_causal=False)
    padded = torch.tensor([[3, 4, 5, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    with torch.no_grad():
        a = model(padded, attention_mask=mask).last_hidden_state[:, :3]
        b = model(IDS[:, :3]).last_hidden_state
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_hidden_states_are_returned_per_layer_when_asked():
    out = tiny()(IDS, output_hidden_states=True)
    assert len(out.hidden_states) == 3 and out.hidden_states[-1] is out.last_hidden_state


def test_the_config_asks_for_hidden_states_and_tuples_as_in_transformers():
    model = tiny(output_hidden_states=True)
    out = model(IDS)
    assert len(out.hidden_states) == 3 and out.hidden_states[-1] is out.last_hidden_state
    assert model(IDS, output_hidden_states=False).hidden_states is None
    head = AutoModelForSequenceClassification.from_config(model.config)
    assert len(head.eval()(IDS).hidden_states) == 3  # and through a head
    model.config.return_dict = False
    assert isinstance(model(IDS), tuple) and isinstance(model(IDS, return_dict=True), dict)


AUTO_HEADS = [
    (AutoModelForSequenceClassification, modlayers.GenericForSequenceClassification, "logits"),
    (AutoModelForQuestionAnswering, modlayers.GenericForQuestionAnswering, "start_logits"),
    (AutoModelForTokenClassification, modlayers.GenericForTokenClassification, "logits"),
]


@pytest.mark.parametrize("auto_class, head, field", AUTO_HEADS)
def test_the_task_auto_classes_build_the_kits_heads_and_round_trip(auto_class, head, field, tmp_path):
    config = TinyTransformerConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=4, num_labels=3)
    torch.manual_seed(0)
    model = auto_class.from_config(config).eval()
    assert isinstance(model, head) and isinstance(model.model, TinyTransformerModel)
    model.save_pretrained(tmp_path)
    reloaded = auto_class.from_pretrained(tmp_path).eval()
    assert type(reloaded) is type(model)
    with torch.no_grad():
        torch.testing.assert_close(getattr(reloaded(IDS), field), getattr(model(IDS), field), atol=0, rtol=0)


def test_it_is_registered_with_the_auto_classes_and_round_trips(tmp_path):
    model = tiny()
    model.save_pretrained(tmp_path)
    assert type(AutoConfig.from_pretrained(tmp_path)) is TinyTransformerConfig
    reloaded = AutoModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(IDS).last_hidden_state, model(IDS).last_hidden_state)


def test_heads_must_divide_the_hidden_size():
    with pytest.raises(ValueError, match="divisible by num_attention_heads"):
        TinyTransformerConfig(hidden_size=10, num_attention_heads=4)


# ---------------------------------------------------------------- attention dropout, drawn outside the core


def test_attention_dropout_mask_keeps_one_minus_p_and_is_absent_in_eval_or_at_p_zero():
    core = tiny(attention_dropout=0.3).layers[0].attention.core
    assert core.dropout_mask(2, 4, 8, 8, "cpu") is None  # eval
    core.train()
    torch.manual_seed(0)
    keep = core.dropout_mask(8, 4, 256, 256, "cpu")  # (B, nh, T, S)
    assert keep.dtype == torch.bool and keep.shape == (8, 4, 256, 256)
    assert abs(keep.float().mean().item() - 0.7) < 0.002  # 2M draws: the standard error is 0.0003
    assert tiny(attention_dropout=0.0).train().layers[0].attention.core.dropout_mask(2, 4, 8, 8, "cpu") is None


def test_attention_core_with_a_mask_equals_dropout_written_out_in_float64():
    core = tiny(attention_dropout=0.25).layers[0].attention.core.train()
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 4, 5, 4, dtype=torch.float64) for _ in range(3))
    bias = torch.zeros(2, 1, 5, 5, dtype=torch.float64).masked_fill(torch.rand(2, 1, 5, 5) < 0.2, -1e9)
    keep = core.dropout_mask(2, 4, 5, 5, "cpu")
    probs = torch.softmax(q @ k.transpose(-2, -1) / 2.0 + bias, dim=-1)  # head_dim 4: sqrt(d) = 2
    expected = torch.where(keep, probs / 0.75, 0.0) @ v
    torch.testing.assert_close(core(q, k, v, bias, keep), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(core(q, k, v, bias), probs @ v, rtol=1e-12, atol=1e-12)  # no mask: no dropout


def test_in_training_attention_dropout_is_active_and_the_same_seed_gives_the_same_output():
    model = tiny(attention_dropout=0.5, hidden_dropout=0.0).train()

    def run(seed):
        torch.manual_seed(seed)
        return model(input_ids=IDS).last_hidden_state

    assert torch.equal(run(0), run(0))
    assert not torch.allclose(run(0), run(1))
    model.eval()
    assert torch.equal(model(input_ids=IDS).last_hidden_state, model(input_ids=IDS).last_hidden_state)
