"""Bad input to the heads: a clear error, raised before the base model runs.

Each case here is listed, with its message, in docs/differences.md ("Bad input").
Also the behaviours that replace upstream's silent wrong answers.
"""

import logging

import pytest
import torch

import modlayers
from modlayers import (
    GenericForQuestionAnswering,
    GenericForSequenceClassification,
    GenericForTokenClassification,
    TinyTransformerConfig,
    TinyTransformerPreTrainedModel,
)


class TinyClassifier(GenericForSequenceClassification, TinyTransformerPreTrainedModel):
    pass


class TinyReader(GenericForQuestionAnswering, TinyTransformerPreTrainedModel):
    pass


class TinyTagger(GenericForTokenClassification, TinyTransformerPreTrainedModel):
    pass


def build(head_class, **config_kwargs):
    torch.manual_seed(0)
    config = TinyTransformerConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, **config_kwargs)
    model = head_class(config).eval()
    base = model.model
    base.calls = 0
    original_forward = base.forward

    def counting_forward(*args, **kwargs):
        base.calls += 1
        return original_forward(*args, **kwargs)

    base.forward = counting_forward
    return model


IDS = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
MASK = (IDS != 0).long()


def raises_before_work(model, error, match, **inputs):
    with pytest.raises(error, match=match):
        model(**inputs)
    assert model.model.calls == 0, "the error must come before the base model runs"


# ---------------------------------------------------------------- inputs shared by all heads


@pytest.mark.parametrize("head_class", [TinyClassifier, TinyReader, TinyTagger])
def test_both_input_ids_and_inputs_embeds_is_rejected(head_class):
    model = build(head_class, num_labels=2)
    raises_before_work(model, ValueError, "exactly one of input_ids .* got both", input_ids=IDS, inputs_embeds=torch.zeros(2, 4, 16))


@pytest.mark.parametrize("head_class", [TinyClassifier, TinyReader, TinyTagger])
def test_neither_input_ids_nor_inputs_embeds_is_rejected(head_class):
    raises_before_work(build(head_class, num_labels=2), ValueError, "exactly one of input_ids .* got neither")


@pytest.mark.parametrize("head_class", [TinyClassifier, TinyReader, TinyTagger])
def test_attention_mask_of_the_wrong_shape_is_rejected(head_class):
    model = build(head_class, num_labels=2)
    raises_before_work(model, ValueError, r"attention_mask must have shape \(2, 4\).*got \(2, 3\)", input_ids=IDS, attention_mask=MASK[:, :3])


def test_float_input_ids_are_rejected():
    raises_before_work(build(TinyClassifier, num_labels=2), TypeError, "integer token ids, got dtype torch.float32", input_ids=IDS.float())


def test_one_dimensional_input_ids_are_rejected_with_the_fix():
    raises_before_work(build(TinyClassifier, num_labels=2), ValueError, r"unsqueeze\(0\)", input_ids=IDS[0])


def test_inputs_embeds_without_a_hidden_dimension_are_rejected():
    raises_before_work(build(TinyTagger, num_labels=2), ValueError, r"\(batch, seq_len, hidden\)", inputs_embeds=torch.zeros(2, 4))


def test_past_key_values_and_cache_together_are_rejected():
    model = build(TinyClassifier, num_labels=2)
    raises_before_work(model, ValueError, "either past_key_values or cache", input_ids=IDS, past_key_values=((1, 1),), cache=((1, 1),))


# ---------------------------------------------------------------- sequence classification


def test_no_pad_token_with_a_batch_larger_than_one_is_rejected():
    model = build(TinyClassifier, num_labels=2, pad_token_id=None)
    raises_before_work(model, ValueError, "config.pad_token_id is None", input_ids=IDS)


def test_no_pad_token_with_a_batch_of_one_pools_the_last_token():
    model = build(TinyClassifier, num_labels=2, pad_token_id=None)
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        pooled = model(input_ids=ids).logits
        every_token = model.score(model.model(ids).last_hidden_state)
    torch.testing.assert_close(pooled, every_token[:, -1])


def test_a_row_of_only_padding_is_rejected_naming_the_row():
    model = build(TinyClassifier, num_labels=2)
    ids = torch.tensor([[5, 6, 0], [0, 0, 0], [0, 0, 0]])
    raises_before_work(model, ValueError, r"row\(s\) \[1, 2\] .* only the pad token", input_ids=ids)


def test_inputs_embeds_pools_the_last_position_and_warns_once(caplog):
    model = build(TinyClassifier, num_labels=2)
    logging.Logger.warning_once.cache_clear()
    embeds = torch.randn(2, 4, 16)
    with caplog.at_level(logging.WARNING), torch.no_grad():
        pooled = model(inputs_embeds=embeds).logits
        model(inputs_embeds=embeds)
        every_token = model.score(model.model(inputs_embeds=embeds).last_hidden_state)
    torch.testing.assert_close(pooled, every_token[:, -1])
    messages = [r.getMessage() for r in caplog.records if "inputs_embeds" in r.getMessage()]
    assert len(messages) == 1 and "last position" in messages[0]


@pytest.mark.parametrize(
    "problem_type, labels, error, match",
    [
        (None, torch.tensor([[0, 1, 2], [1, 0, 2]]), ValueError, r"one class index per example: labels of shape \(2,\)"),
        ("single_label_classification", torch.tensor([0.0, 1.0]), TypeError, "integer class indices .* got dtype torch.float32"),
        (None, torch.tensor([0, 3]), ValueError, r"class indices \[3\] outside \[0, 3\)"),
        (None, torch.tensor([-1, 0]), ValueError, r"class indices \[-1\] outside"),
        (None, torch.tensor([0.0, 1.0]), ValueError, r"shape \(2, 3\), got \(2,\).*labels.long\(\)"),
        ("multi_label_classification", torch.tensor([[0.0, 2.0, 1.0], [0.0, 0.0, 1.0]]), ValueError, r"lie in \[0, 1\]"),
        ("multi_label_classification", torch.tensor([[0.0, float("nan"), 1.0], [0.0, 0.0, 1.0]]), ValueError,
         r"lie in \[0, 1\].*got nan"),
        ("regression", torch.tensor([1.0, 2.0]), ValueError, r"regression with num_labels=3 needs labels of shape \(2, 3\)"),
        ("not_a_problem", torch.tensor([0, 1]), ValueError, "problem_type must be one of"),
        (None, [0, 1], TypeError, "labels must be a torch.Tensor"),
    ],
    ids=["single-label-2d", "single-label-float", "index-too-large", "index-negative", "float-as-multilabel-shape", "multilabel-out-of-range", "multilabel-nan", "regression-shape", "unknown-problem-type", "list-labels"],
)
def test_sequence_labels_that_do_not_fit_the_problem_type_are_rejected(problem_type, labels, error, match):
    model = build(TinyClassifier, num_labels=3)
    model.config.problem_type = problem_type
    raises_before_work(model, error, match, input_ids=IDS, labels=labels)
    assert model.config.problem_type == problem_type


def test_regression_with_one_output_rejects_labels_of_the_wrong_length():
    raises_before_work(build(TinyClassifier, num_labels=1), ValueError, r"\(2,\) or \(2, 1\), got \(3,\)", input_ids=IDS, labels=torch.ones(3))


@pytest.mark.parametrize("dtype", [torch.int8, torch.int16, torch.int32, torch.uint8])
def test_class_labels_of_any_integer_dtype_give_the_int64_loss(dtype):
    model = build(TinyClassifier, num_labels=3)
    labels = torch.tensor([2, 1])
    with torch.no_grad():
        expected = model(input_ids=IDS, labels=labels).loss
        got = model(input_ids=IDS, labels=labels.to(dtype)).loss
    torch.testing.assert_close(got, expected)
    assert model.config.problem_type is None, "the inferred problem type must not be written into the config"


def test_a_failing_loss_leaves_the_config_as_it_was():
    model = build(TinyClassifier, num_labels=3)
    with pytest.raises(ValueError):
        model(input_ids=IDS, labels=torch.tensor([7, 0]))
    assert model.config.problem_type is None


def test_all_ignored_class_labels_give_a_zero_loss_not_nan():
    model = build(TinyClassifier, num_labels=3).train()
    loss = model(input_ids=IDS, labels=torch.tensor([-100, -100])).loss
    assert loss.item() == 0.0
    loss.backward()
    assert model.score.weight.grad.abs().sum() == 0


# ---------------------------------------------------------------- question answering


@pytest.mark.parametrize("given", ["start_positions", "end_positions"])
def test_only_one_of_start_and_end_positions_is_rejected(given):
    model = build(TinyReader)
    raises_before_work(model, ValueError, f"{given} was given without", input_ids=IDS, **{given: torch.tensor([1, 1])})


def test_negative_answer_positions_are_rejected_naming_the_example():
    model = build(TinyReader)
    raises_before_work(
        model, ValueError, r"start_positions are negative for example\(s\) \[1\]",
        input_ids=IDS, start_positions=torch.tensor([1, -1]), end_positions=torch.tensor([2, 2]),
    )


def test_float_answer_positions_are_rejected():
    model = build(TinyReader)
    raises_before_work(
        model, TypeError, "end_positions must be integer token positions",
        input_ids=IDS, start_positions=torch.tensor([1, 1]), end_positions=torch.tensor([2.0, 2.0]),
    )


def test_answer_positions_of_the_wrong_shape_are_rejected():
    model = build(TinyReader)
    raises_before_work(
        model, ValueError, r"start_positions must have shape \(2,\)",
        input_ids=IDS, start_positions=torch.tensor([1, 1, 1]), end_positions=torch.tensor([2, 2, 2]),
    )


def test_answers_all_outside_the_window_give_a_zero_loss_not_nan():
    model = build(TinyReader).train()
    out = model(input_ids=IDS, start_positions=torch.tensor([4, 9]), end_positions=torch.tensor([5, 40]))
    assert out.loss.item() == 0.0
    out.loss.backward()
    assert model.qa_outputs.weight.grad.abs().sum() == 0


def test_qa_input_embeddings_are_the_base_models():
    model = build(TinyReader)
    assert model.get_input_embeddings() is model.model.embed_tokens
    new = torch.nn.Embedding(50, 16)
    model.set_input_embeddings(new)
    assert model.model.embed_tokens is new


# ---------------------------------------------------------------- token classification


@pytest.mark.parametrize(
    "labels, error, match",
    [
        (torch.zeros(2, 3, dtype=torch.long), ValueError, r"token labels must have shape \(2, 4\).*got \(2, 3\)"),
        (torch.zeros(2, 4), TypeError, "integer class indices"),
        (torch.full((2, 4), 5), ValueError, r"class indices \[5\] outside \[0, 3\)"),
    ],
    ids=["shape", "float", "out-of-range"],
)
def test_token_labels_that_do_not_fit_are_rejected(labels, error, match):
    raises_before_work(build(TinyTagger, num_labels=3), error, match, input_ids=IDS, labels=labels)


def test_token_labels_all_ignored_give_a_zero_loss_not_nan():
    model = build(TinyTagger, num_labels=3)
    assert model(input_ids=IDS, labels=torch.full((2, 4), -100)).loss.item() == 0.0


def test_heads_are_exported_at_the_top_level():
    assert modlayers.GenericForSequenceClassification is GenericForSequenceClassification


@pytest.mark.parametrize("head_class", [TinyClassifier, TinyReader, TinyTagger])
def test_a_keyword_the_base_model_does_not_take_is_named_before_it_runs(head_class):
    """Loss keywords (num_items_in_batch) go to the loss; any other unknown keyword is a clear error."""
    model = build(head_class, pad_token_id=0)
    raises_before_work(model, TypeError, r"takes no keyword argument\(s\) \['output_router_logits'\]",
                       input_ids=IDS, attention_mask=MASK, output_router_logits=True)


def test_a_mask_that_keeps_trailing_pads_pools_as_told_and_warns_once(caplog):
    """An all-ones mask over right-padded rows: the head trusts the mask (the pad = eos case needs that) and says so."""
    model = build(TinyClassifier, num_labels=2)
    logging.Logger.warning_once.cache_clear()
    ids = torch.tensor([[5, 6, 0, 0], [8, 9, 10, 11]])
    with caplog.at_level(logging.WARNING), torch.no_grad():
        pooled = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        model(input_ids=ids, attention_mask=torch.ones_like(ids))
        every_token = model.score(model.model(ids, attention_mask=torch.ones_like(ids)).last_hidden_state)
    torch.testing.assert_close(pooled, every_token[:, -1])  # position 3 in both rows: the mask keeps it
    warned = [r.getMessage() for r in caplog.records if "keeps two or more pad tokens" in r.getMessage()]
    assert len(warned) == 1 and "pass the tokenizer's attention_mask" in warned[0]


def test_one_kept_end_token_equal_to_the_pad_id_is_content_and_not_warned_about(caplog):
    model = build(TinyClassifier, num_labels=2)
    logging.Logger.warning_once.cache_clear()
    ids = torch.tensor([[5, 6, 0, 0], [8, 9, 10, 0]])  # pad = eos: each row's one end token is kept
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    with caplog.at_level(logging.WARNING), torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    assert not [r for r in caplog.records if "keeps two or more pad tokens" in r.getMessage()]
    assert modlayers.pooling.rows_ending_in_kept_pads(ids, torch.ones_like(ids), 0) == [0]
    assert modlayers.pooling.rows_ending_in_kept_pads(ids, mask, 0) == []
