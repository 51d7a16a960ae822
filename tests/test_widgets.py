"""Tests for modlayers/lessons/widgets.py: the widget builds, and driving its controls from code runs the
callback with the right batch and pooled positions."""

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from modlayers.lessons.data import load_tokenizer  # noqa: E402
from modlayers.lessons.widgets import pad_sequences, pooling_batch, pooling_widget  # noqa: E402

TEXTS = ["Rain in Osterby.", "Who won the cycling final on Monday?"]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture
def widget(tokenizer):
    return pooling_widget(tokenizer, TEXTS, max_tokens=10)


def test_pad_sequences_pads_right_and_left_with_matching_masks():
    ids, mask = pad_sequences([[5, 6, 7], [5]], pad_token_id=0)
    assert ids.tolist() == [[5, 6, 7], [5, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    ids, mask = pad_sequences([[5, 6, 7], [5]], pad_token_id=9, padding_side="left")
    assert ids.tolist() == [[5, 6, 7], [9, 9, 5]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    with pytest.raises(ValueError, match="padding_side"):
        pad_sequences([[1]], 0, padding_side="up")


def test_widget_has_the_documented_controls_and_draws_on_creation(widget):
    side, pad, *sliders, output = widget.children
    assert isinstance(side, widgets.ToggleButtons) and side.options == ("right", "left")
    assert isinstance(pad, widgets.ToggleButtons) and pad.options == ("[PAD]", "[SEP]")
    assert len(sliders) == len(TEXTS) and all(isinstance(s, widgets.IntSlider) for s in sliders)
    assert isinstance(output, widgets.Output)
    assert widget.result is not None  # the callback ran once on construction


def test_widget_pools_the_last_real_token_for_right_padding(widget, tokenizer):
    lengths = [s.value for s in widget.children[2:-1]]
    result = widget.result
    assert result["pooled_index"].tolist() == [n - 1 for n in lengths]
    assert result["input_ids"][0, result["pooled_index"][0]].item() == tokenizer.sep_token_id


def test_changing_controls_from_code_reruns_the_callback(widget, tokenizer):
    widget.children[2].value = 3  # row 0: [CLS] one-piece [SEP]
    row = widget.result["input_ids"][0].tolist()
    assert row[0] == tokenizer.cls_token_id and row[2] == tokenizer.sep_token_id
    assert widget.result["attention_mask"][0].sum().item() == 3
    assert widget.result["pooled_index"][0].item() == 2
    widget.children[0].value = "left"
    seq_len = widget.result["input_ids"].shape[1]
    assert widget.result["pooled_index"].tolist() == [seq_len - 1] * len(TEXTS)
    assert widget.result["attention_mask"][0].tolist()[: seq_len - 3] == [0] * (seq_len - 3)


def test_sep_as_pad_token_makes_pad_id_pooling_miss_and_the_mask_rule_recover(widget):
    widget.children[1].value = "[SEP]"
    result = widget.result
    assert torch.equal(result["last_real_index"], result["attention_mask"].sum(dim=1) - 1)
    assert torch.equal(result["pooled_index"], result["last_real_index"] - 1)  # skips the real [SEP]


def test_widget_refuses_too_many_texts(tokenizer):
    with pytest.raises(ValueError, match="one to four"):
        pooling_widget(tokenizer, ["a"] * 5)


def test_pooling_batch_truncates_rows_to_the_asked_lengths(tokenizer):
    batch = pooling_batch(tokenizer, TEXTS, lengths=[2, 4], padding_side="left", pad_token="[SEP]")
    sep, cls = tokenizer.sep_token_id, tokenizer.cls_token_id
    assert batch["input_ids"][0].tolist() == [sep, sep, cls, sep]
    assert batch["input_ids"][1, 0].item() == cls and batch["input_ids"][1, -1].item() == sep
    assert batch["tokens"][0] == ["[SEP]", "[SEP]", "[CLS]", "[SEP]"]
    assert batch["last_real_index"].tolist() == [3, 3]
    assert batch["pooled_index"].tolist() == [2, 2]  # the real [SEP] looks like padding
    with pytest.raises(ValueError, match="pad_token"):
        pooling_batch(tokenizer, TEXTS, pad_token="[MASK]")
    with pytest.raises(ValueError, match="one length"):
        pooling_batch(tokenizer, TEXTS, lengths=[3])


def test_pad_sequences_docstring_example_runs_as_written():
    import doctest

    import modlayers.lessons.widgets

    finder = doctest.DocTestFinder()
    (test,) = [t for t in finder.find(modlayers.lessons.widgets) if t.name.endswith(".pad_sequences")]
    result = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE).run(test)
    assert result.attempted >= 1 and result.failed == 0


def test_values_restored_puts_every_control_and_the_output_back(tokenizer):
    from modlayers.lessons.widgets import values_restored

    w = pooling_widget(tokenizer, ["Rain in Osterby.", "Who won the final on Monday?"])
    side, pad_choice, *sliders, _ = w.children
    before = ([c.value for c in (side, pad_choice, *sliders)], w.result["pooled_index"].clone())
    with values_restored(w):
        side.value, pad_choice.value, sliders[0].value = "left", "[SEP]", 2
        assert not torch.equal(w.result["pooled_index"], before[1])
    assert [c.value for c in (side, pad_choice, *sliders)] == before[0]
    assert torch.equal(w.result["pooled_index"], before[1])


def test_values_restored_restores_even_when_a_check_fails(tokenizer):
    from modlayers.lessons.widgets import values_restored

    w = pooling_widget(tokenizer, ["Rain in Osterby."])
    side = w.children[0]
    with pytest.raises(AssertionError):
        with values_restored(w):
            side.value = "left"
            raise AssertionError("a failed check")
    assert side.value == "right"
