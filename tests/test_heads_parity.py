"""The kit's heads give the same numbers as transformers' own, on the same weights.

For three decoder architectures (Llama, Qwen2, Mistral) and one encoder (BERT), the
state dict of transformers' ``<Arch>For<Task>`` is loaded into the kit's head mixed
into the same ``<Arch>PreTrainedModel``; logits and loss must agree to 1e-5 with no
padding, right padding and left padding, for every problem type. BERT's own task
classes use a pooler head, so for BERT "transformers' own head" is transformers'
generic mixin on ``BertPreTrainedModel`` (what ``modeling_layers.py`` offers any model).

These tests also run on the oldest supported transformers (``make test``).
"""

import copy

import pytest
import torch
import transformers
from transformers import (
    BertConfig,
    BertPreTrainedModel,
    LlamaConfig,
    LlamaForQuestionAnswering,
    LlamaForSequenceClassification,
    LlamaForTokenClassification,
    LlamaPreTrainedModel,
    MistralConfig,
    MistralForQuestionAnswering,
    MistralForSequenceClassification,
    MistralForTokenClassification,
    MistralPreTrainedModel,
    Qwen2Config,
    Qwen2ForQuestionAnswering,
    Qwen2ForSequenceClassification,
    Qwen2ForTokenClassification,
    Qwen2PreTrainedModel,
)
from transformers import modeling_layers as upstream

import modlayers

pytestmark = pytest.mark.parity

ATOL = 1e-5
PAD = 0
VOCAB = 97


# -- transformers' own generic heads on BERT (its named classes use a pooler head instead)
class UpstreamBertForSequenceClassification(upstream.GenericForSequenceClassification, BertPreTrainedModel):
    base_model_prefix = "bert"


class UpstreamBertForQuestionAnswering(upstream.GenericForQuestionAnswering, BertPreTrainedModel):
    base_model_prefix = "bert"


class UpstreamBertForTokenClassification(upstream.GenericForTokenClassification, BertPreTrainedModel):
    base_model_prefix = "bert"


def _kit_classes(pretrained_class, upstream_classes):
    """The kit's three heads on ``pretrained_class``, each with the ``base_model_prefix`` of
    transformers' class for that task (``LlamaForQuestionAnswering`` uses "transformer").
    The class names deliberately avoid upstream's naming."""
    kit = {
        "sequence": ("MySequenceClassifier", modlayers.GenericForSequenceClassification),
        "qa": ("MyReader", modlayers.GenericForQuestionAnswering),
        "token": ("MyTagger", modlayers.GenericForTokenClassification),
    }
    return {
        task: type(name, (mixin, pretrained_class), {"base_model_prefix": upstream_classes[task].base_model_prefix})
        for task, (name, mixin) in kit.items()
    }


def _architecture(make_config, upstream_classes, pretrained_class):
    return make_config, upstream_classes, _kit_classes(pretrained_class, upstream_classes)


def _small(config_class, **extra):
    common = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, pad_token_id=PAD)
    return lambda **kw: config_class(**{**common, **extra, **kw})


ARCHITECTURES = {
    "llama": _architecture(
        _small(LlamaConfig, num_key_value_heads=2),
        {"sequence": LlamaForSequenceClassification, "qa": LlamaForQuestionAnswering, "token": LlamaForTokenClassification},
        LlamaPreTrainedModel,
    ),
    "qwen2": _architecture(
        _small(Qwen2Config, num_key_value_heads=2),
        {"sequence": Qwen2ForSequenceClassification, "qa": Qwen2ForQuestionAnswering, "token": Qwen2ForTokenClassification},
        Qwen2PreTrainedModel,
    ),
    "mistral": _architecture(
        _small(MistralConfig, num_key_value_heads=2),
        {"sequence": MistralForSequenceClassification, "qa": MistralForQuestionAnswering, "token": MistralForTokenClassification},
        MistralPreTrainedModel,
    ),
    "bert": _architecture(
        _small(BertConfig),
        {
            "sequence": UpstreamBertForSequenceClassification,
            "qa": UpstreamBertForQuestionAnswering,
            "token": UpstreamBertForTokenClassification,
        },
        BertPreTrainedModel,
    ),
}

SEQUENCE_PROBLEMS = {
    # name: (num_labels, problem_type in config, labels for a batch of 3)
    "regression": (1, None, torch.tensor([0.5, -1.0, 2.0])),
    "regression_multi_output": (2, "regression", torch.tensor([[0.5, 1.0], [-1.0, 0.0], [2.0, 0.3]])),
    "single_label": (3, None, torch.tensor([0, 2, 1])),
    "single_label_with_ignored": (3, "single_label_classification", torch.tensor([0, -100, 1])),
    "multi_label": (3, None, torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])),
}


def make_batch(padding: str, seq_len: int = 7, batch: int = 3):
    """input_ids and attention_mask with rows of length 7, 5 and 3, padded as asked."""
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(1, VOCAB, (batch, seq_len), generator=generator)
    mask = torch.ones(batch, seq_len, dtype=torch.long)
    if padding != "none":
        for row, length in enumerate([seq_len, seq_len - 2, seq_len - 4][:batch]):
            pad = slice(length, None) if padding == "right" else slice(0, seq_len - length)
            ids[row, pad] = PAD
            mask[row, pad] = 0
    return ids, mask


def twins(arch: str, task: str, **config_kwargs):
    """(theirs, ours) in eval mode with identical weights and independent config copies."""
    make_config, theirs_classes, ours_classes = ARCHITECTURES[arch]
    config = make_config(**config_kwargs)
    torch.manual_seed(0)
    theirs = theirs_classes[task](copy.deepcopy(config)).eval()
    ours = ours_classes[task](copy.deepcopy(config)).eval()
    missing, unexpected = ours.load_state_dict(theirs.state_dict(), strict=False)
    # The kit builds BERT without the pooler no head uses; transformers' generic mixin keeps it.
    assert not missing and set(unexpected) == set(pooler_keys(theirs))
    return theirs, ours


def pooler_keys(model) -> list[str]:
    return [key for key in model.state_dict() if ".pooler." in key]


def assert_close(a, b):
    torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


@pytest.mark.parametrize("padding", ["none", "right", "left"])
@pytest.mark.parametrize("problem", list(SEQUENCE_PROBLEMS))
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_sequence_classification_logits_and_loss_match_transformers(arch, problem, padding):
    num_labels, problem_type, labels = SEQUENCE_PROBLEMS[problem]
    theirs, ours = twins(arch, "sequence", num_labels=num_labels, problem_type=problem_type)
    ids, mask = make_batch(padding)
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask, labels=labels)
        got = ours(input_ids=ids, attention_mask=mask, labels=labels)
    assert got.logits.shape == (3, num_labels)
    assert_close(got.logits, expected.logits)
    assert_close(got.loss, expected.loss)
    assert ours.config.problem_type == problem_type, "the kit must not write the inferred problem type into the config"


@pytest.mark.parametrize("padding", ["none", "right", "left"])
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_question_answering_logits_and_loss_match_transformers(arch, padding):
    theirs, ours = twins(arch, "qa")
    ids, mask = make_batch(padding)
    starts, ends = torch.tensor([1, 2, 0]), torch.tensor([3, 20, 2])  # 20 lies past the window: ignored
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask, start_positions=starts, end_positions=ends)
        got = ours(input_ids=ids, attention_mask=mask, start_positions=starts, end_positions=ends)
    assert got.start_logits.shape == (3, 7) and got.start_logits.is_contiguous() and got.end_logits.is_contiguous()
    assert_close(got.start_logits, expected.start_logits)
    assert_close(got.end_logits, expected.end_logits)
    assert_close(got.loss, expected.loss)


@pytest.mark.parametrize("padding", ["none", "right", "left"])
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_token_classification_logits_and_loss_match_transformers(arch, padding):
    theirs, ours = twins(arch, "token", num_labels=5)
    ids, mask = make_batch(padding)
    labels = torch.randint(0, 5, ids.shape, generator=torch.Generator().manual_seed(2))
    labels[mask == 0] = -100
    labels[:, 0] = -100
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask, labels=labels)
        got = ours(input_ids=ids, attention_mask=mask, labels=labels)
    assert got.logits.shape == (3, 7, 5)
    assert_close(got.logits, expected.logits)
    assert_close(got.loss, expected.loss)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_token_classification_dropout_follows_the_config_like_transformers(arch):
    for config_kwargs, expected_p in (({"classifier_dropout": 0.3}, 0.3), ({}, None)):
        theirs, ours = twins(arch, "token", num_labels=2, **config_kwargs)
        assert ours.dropout.p == theirs.dropout.p
        if expected_p is not None:
            assert ours.dropout.p == expected_p
    assert ours.score.bias is not None


@pytest.mark.parametrize("task", ["sequence", "qa", "token"])
@pytest.mark.parametrize("arch", ["llama", "bert"])
def test_return_dict_false_gives_the_same_tuple_as_transformers(arch, task):
    theirs, ours = twins(arch, task, num_labels=3)
    ids, mask = make_batch("right")
    labels = {
        "sequence": {"labels": torch.tensor([0, 1, 2])},
        "qa": {"start_positions": torch.tensor([1, 1, 1]), "end_positions": torch.tensor([2, 2, 2])},
        "token": {"labels": torch.zeros_like(ids)},
    }[task]
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask, return_dict=False, use_cache=False, **labels)
        got = ours(input_ids=ids, attention_mask=mask, return_dict=False, use_cache=False, **labels)
    assert isinstance(got, tuple) and len(got) == len(expected)
    for a, b in zip(got, expected):
        assert_close(a, b)


@pytest.mark.parametrize("task", ["sequence", "qa", "token"])
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_save_pretrained_round_trips_between_the_kit_and_transformers(arch, task, tmp_path):
    theirs, ours = twins(arch, task, num_labels=3)
    ids, mask = make_batch("left")
    _, theirs_classes, ours_classes = ARCHITECTURES[arch]

    ours.save_pretrained(tmp_path / "ours")
    reloaded_theirs, info = theirs_classes[task].from_pretrained(tmp_path / "ours", output_loading_info=True)
    assert set(info["missing_keys"]) == set(pooler_keys(theirs)) and not info["unexpected_keys"]

    theirs.save_pretrained(tmp_path / "theirs")
    reloaded_ours, info = ours_classes[task].from_pretrained(tmp_path / "theirs", output_loading_info=True)
    assert not info["missing_keys"] and set(info["unexpected_keys"]) == set(pooler_keys(theirs))

    with torch.no_grad():
        reference = theirs.eval()(input_ids=ids, attention_mask=mask)
        for model in (reloaded_theirs.eval(), reloaded_ours.eval()):
            out = model(input_ids=ids, attention_mask=mask)
            first = "start_logits" if task == "qa" else "logits"
            assert_close(out[first], reference[first])


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_a_class_not_named_for_its_task_still_gets_the_classification_loss(arch):
    """Upstream picks the loss from the class name; ``MySequenceClassifier`` would get a causal-LM loss."""
    theirs, ours = twins(arch, "sequence", num_labels=3)
    assert type(ours).__name__ == "MySequenceClassifier"
    ids, mask = make_batch("right")
    labels = torch.tensor([0, 2, 1])
    with torch.no_grad():
        got = ours(input_ids=ids, attention_mask=mask, labels=labels)
        expected = torch.nn.functional.cross_entropy(got.logits.double(), labels)
    assert_close(got.loss.double(), expected)


def test_runs_on_the_installed_transformers_release():
    """Printed by ``pytest -ra`` runs on both the newest and the oldest supported release."""
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    assert (major, minor) >= (4, 56)
