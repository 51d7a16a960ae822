"""Checkpoints load into and out of the kit's heads whatever prefix keeps the base model.

transformers' ``LlamaForQuestionAnswering`` and ``Qwen2ForQuestionAnswering`` keep the base
model under ``transformer``; a kit head keeps it under the architecture's prefix (``model``).
Both directions must load every base weight (same logits), a checkpoint under any known
prefix must load, and a checkpoint whose base weights cannot be found must raise.
"""

import copy

import pytest
import torch
from safetensors.torch import save_file
from transformers import (
    AutoModelForQuestionAnswering,
    BertConfig,
    BertForQuestionAnswering,
    BertForTokenClassification,
    BertModel,
    BertPreTrainedModel,
    LlamaConfig,
    LlamaForQuestionAnswering,
    LlamaForSequenceClassification,
    LlamaPreTrainedModel,
    Qwen2Config,
    Qwen2ForQuestionAnswering,
    Qwen2PreTrainedModel,
)

import modlayers

pytestmark = pytest.mark.parity  # loading differs most across releases: also run on the oldest

VOCAB = 61


class LlamaReader(modlayers.GenericForQuestionAnswering, LlamaPreTrainedModel):
    pass


class Qwen2Reader(modlayers.GenericForQuestionAnswering, Qwen2PreTrainedModel):
    pass


class LlamaClassifier(modlayers.GenericForSequenceClassification, LlamaPreTrainedModel):
    pass


class BertReader(modlayers.GenericForQuestionAnswering, BertPreTrainedModel):
    pass


class BertTagger(modlayers.GenericForTokenClassification, BertPreTrainedModel):
    pass


def _small(config_class, **extra):
    return config_class(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, pad_token_id=0, **extra)


DECODERS = {
    "llama": (lambda: _small(LlamaConfig, num_key_value_heads=2), LlamaForQuestionAnswering, LlamaReader),
    "qwen2": (lambda: _small(Qwen2Config, num_key_value_heads=2), Qwen2ForQuestionAnswering, Qwen2Reader),
}
IDS = torch.tensor([[5, 9, 13, 17, 21, 25], [7, 8, 9, 10, 0, 0]])
MASK = (IDS != 0).long()


def start_logits(model):
    with torch.no_grad():
        return model.eval()(input_ids=IDS, attention_mask=MASK).start_logits


def test_the_kit_keeps_the_architecture_prefix_while_transformers_qa_uses_transformer():
    assert LlamaForQuestionAnswering.base_model_prefix == "transformer"
    assert LlamaReader.base_model_prefix == "model" and BertReader.base_model_prefix == "bert"


@pytest.mark.parametrize("arch", list(DECODERS))
def test_transformers_qa_checkpoint_loads_into_the_kit_with_every_base_weight(arch, tmp_path):
    make_config, theirs_class, ours_class = DECODERS[arch]
    torch.manual_seed(0)
    theirs = theirs_class(make_config())
    theirs.save_pretrained(tmp_path)
    ours, info = ours_class.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"], info["missing_keys"]
    torch.testing.assert_close(start_logits(ours), start_logits(theirs), atol=1e-6, rtol=0)


@pytest.mark.parametrize("arch", list(DECODERS))
def test_a_kit_checkpoint_loads_into_transformers_auto_class_with_every_base_weight(arch, tmp_path):
    make_config, theirs_class, ours_class = DECODERS[arch]
    torch.manual_seed(0)
    ours = ours_class(make_config())
    ours.save_pretrained(tmp_path)
    theirs, info = AutoModelForQuestionAnswering.from_pretrained(tmp_path, output_loading_info=True)
    assert type(theirs) is theirs_class
    assert not info["missing_keys"] and not info["unexpected_keys"]
    torch.testing.assert_close(start_logits(theirs), start_logits(ours), atol=1e-6, rtol=0)
    # ... and back into the kit.
    again = ours_class.from_pretrained(tmp_path)
    torch.testing.assert_close(start_logits(again), start_logits(ours), atol=1e-6, rtol=0)


def _checkpoint(tmp_path, config, state_dict):
    tmp_path.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(tmp_path)
    save_file({key: value.contiguous() for key, value in state_dict.items()}, str(tmp_path / "model.safetensors"),
              metadata={"format": "pt"})
    return tmp_path


def _under(prefix, base_state, head_state):
    start = f"{prefix}." if prefix else ""
    return {**{start + key: value for key, value in base_state.items()}, **head_state}


@pytest.mark.parametrize("prefix", ["model", "transformer", ""])
def test_a_llama_qa_checkpoint_loads_under_every_known_prefix(prefix, tmp_path):
    config = DECODERS["llama"][0]()
    torch.manual_seed(1)
    reference = LlamaReader(config)
    state = reference.state_dict()
    base = {key[len("model."):]: value for key, value in state.items() if key.startswith("model.")}
    head = {key: value for key, value in state.items() if not key.startswith("model.")}
    path = _checkpoint(tmp_path / (prefix or "bare"), config, _under(prefix, base, head))
    loaded = LlamaReader.from_pretrained(path)
    torch.testing.assert_close(start_logits(loaded), start_logits(reference), atol=1e-6, rtol=0)


@pytest.mark.parametrize("prefix", ["bert", "model", "transformer", ""])
def test_a_bert_checkpoint_loads_under_every_known_prefix(prefix, tmp_path):
    config = _small(BertConfig)
    torch.manual_seed(2)
    reference = BertReader(config)
    state = reference.state_dict()
    base = {key[len("bert."):]: value for key, value in state.items() if key.startswith("bert.")}
    head = {key: value for key, value in state.items() if not key.startswith("bert.")}
    path = _checkpoint(tmp_path / (prefix or "bare"), config, _under(prefix, base, head))
    loaded = BertReader.from_pretrained(path)
    torch.testing.assert_close(start_logits(loaded), start_logits(reference), atol=1e-6, rtol=0)


def test_a_checkpoint_whose_base_weights_cannot_be_found_raises(tmp_path):
    config = DECODERS["llama"][0]()
    state = LlamaReader(config).state_dict()
    renamed = {key.replace("model.", "backbone.", 1): value for key, value in state.items()}
    path = _checkpoint(tmp_path, config, renamed)
    with pytest.raises(ValueError, match=r"random base-model weights.*\['backbone'\]"):
        LlamaReader.from_pretrained(path)


def test_a_checkpoint_of_another_architecture_raises(tmp_path):
    """BERT weights under 'model.' into a Llama head: the prefix is known, no name matches."""
    bert_state = {f"model.{key}": value for key, value in BertModel(_small(BertConfig)).state_dict().items()}
    path = _checkpoint(tmp_path, DECODERS["llama"][0](), bert_state)
    with pytest.raises(ValueError, match="random base-model weights"):
        LlamaReader.from_pretrained(path)


def test_a_head_only_checkpoint_does_not_raise(tmp_path):
    """A checkpoint with no base-model weights at all has nothing that could have been lost."""
    config = DECODERS["llama"][0]()
    head = {key: value for key, value in LlamaReader(config).state_dict().items() if not key.startswith("model.")}
    _, info = LlamaReader.from_pretrained(_checkpoint(tmp_path, config, head), output_loading_info=True)
    assert any(key.startswith("model.") for key in info["missing_keys"])


@pytest.mark.parametrize("arch", list(DECODERS))
def test_load_state_dict_takes_transformers_qa_state_dict_as_trainer_resume_does(arch):
    make_config, theirs_class, ours_class = DECODERS[arch]
    torch.manual_seed(0)
    theirs = theirs_class(make_config())
    ours = ours_class(make_config())
    result = ours.load_state_dict(copy.deepcopy(theirs.state_dict()), strict=False)
    assert not result.missing_keys and not result.unexpected_keys
    torch.testing.assert_close(start_logits(ours), start_logits(theirs), atol=1e-6, rtol=0)


def test_the_kit_sequence_classifier_saves_under_model_as_transformers_does(tmp_path):
    torch.manual_seed(0)
    ours = LlamaClassifier(_small(LlamaConfig, num_key_value_heads=2, num_labels=3))
    ours.save_pretrained(tmp_path)
    theirs, info = LlamaForSequenceClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]


def test_bert_qa_head_is_interchangeable_with_bert_for_question_answering(tmp_path):
    """BertForQuestionAnswering builds BERT without a pooler and a qa_outputs layer: the same state dict."""
    torch.manual_seed(0)
    theirs = BertForQuestionAnswering(_small(BertConfig))
    theirs.save_pretrained(tmp_path / "theirs")
    ours, info = BertReader.from_pretrained(tmp_path / "theirs", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    torch.testing.assert_close(start_logits(ours), start_logits(theirs), atol=1e-6, rtol=0)
    ours.save_pretrained(tmp_path / "ours")
    back, info = BertForQuestionAnswering.from_pretrained(tmp_path / "ours", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]


def test_bert_token_head_shares_only_the_base_with_bert_for_token_classification(tmp_path):
    """BertForTokenClassification names its layer 'classifier', the generic head 'score'."""
    torch.manual_seed(0)
    theirs = BertForTokenClassification(_small(BertConfig, num_labels=3))
    theirs.save_pretrained(tmp_path)
    ours, info = BertTagger.from_pretrained(tmp_path, output_loading_info=True)
    assert set(info["missing_keys"]) == {"score.weight", "score.bias"}
    assert set(info["unexpected_keys"]) == {"classifier.weight", "classifier.bias"}
    for name, value in theirs.bert.state_dict().items():
        torch.testing.assert_close(ours.bert.state_dict()[name], value)


@pytest.mark.parametrize("arch", list(DECODERS))
def test_output_loading_info_has_the_containers_and_keys_transformers_gives(arch, tmp_path):
    """transformers' common tests compare ``set``s (5.x gives sets, 4.56 lists): the kit gives what it gives."""
    make_config, theirs_class, ours_class = DECODERS[arch]
    torch.manual_seed(0)
    state = theirs_class(make_config()).state_dict()
    state.pop("qa_outputs.bias")  # one weight missing from the checkpoint
    _checkpoint(tmp_path, make_config(), {**state, "extra.weight": torch.zeros(2)})
    _, theirs = theirs_class.from_pretrained(tmp_path, output_loading_info=True)
    _, ours = ours_class.from_pretrained(tmp_path, output_loading_info=True)
    for key in ("missing_keys", "unexpected_keys"):
        assert type(ours[key]) is type(theirs[key]), key
    assert set(ours["missing_keys"]) == set(theirs["missing_keys"]) == {"qa_outputs.bias"}
    assert set(ours["unexpected_keys"]) == set(theirs["unexpected_keys"]) == {"extra.weight"}


@pytest.mark.parametrize("arch", list(DECODERS))
def test_loading_a_qa_checkpoint_saved_under_transformer_logs_no_missing_or_unexpected_weight(arch, tmp_path):
    """transformers' load report must not call the base weights "MISSING ... newly initialized" when they load."""
    import logging

    make_config, _, ours_class = DECODERS[arch]
    torch.manual_seed(0)
    saved = ours_class(make_config())
    saved.save_pretrained(tmp_path)  # base weights under "transformer.", as transformers' own class keeps them
    records = []
    handler = logging.Handler(level=logging.WARNING)
    handler.emit = records.append
    library_logger = logging.getLogger("transformers")  # transformers' loggers do not propagate to the root
    library_logger.addHandler(handler)
    try:
        loaded, info = ours_class.from_pretrained(tmp_path, output_loading_info=True)
    finally:
        library_logger.removeHandler(handler)
    logged = "\n".join(record.getMessage() for record in records)
    assert "MISSING" not in logged and "UNEXPECTED" not in logged and "newly initialized" not in logged, logged
    assert not info["missing_keys"] and not info["unexpected_keys"]
    torch.testing.assert_close(start_logits(loaded), start_logits(saved), atol=1e-6, rtol=0)
