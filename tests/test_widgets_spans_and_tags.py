"""Tests for the QA and tagging widgets of modlayers/lessons/widgets.py: driving them from code reruns them."""

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from modlayers.lessons.pipelines import answer_question, split_words, tag_sentences  # noqa: E402
from modlayers.lessons.widgets import qa_widget, tagging_widget  # noqa: E402
from tiny_heads import TinyReader, TinyTagger, config  # noqa: E402
from wordpiece_fixture import make_tokenizer  # noqa: E402

NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
CONTEXT = "alice lives in london . bob lives in paris . the cat sat on the mat . the dog ran to the park ."
RECORDS = [
    {"question": "where ?", "context": CONTEXT, "answer_text": "paris", "answer_start": CONTEXT.index("paris")},
    {"question": "who ?", "context": "bob lives in paris .", "answer_text": "bob", "answer_start": 0},
]
OPTIONS = {"max_length": 16, "stride": 4, "max_answer_length": 3}


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


def test_qa_widget_draws_on_creation_and_follows_the_slider(tokenizer):
    torch.manual_seed(0)
    model = TinyReader(config()).eval()
    widget = qa_widget(model, tokenizer, RECORDS, **OPTIONS)
    slider, output = widget.children
    assert isinstance(slider, widgets.IntSlider) and (slider.min, slider.max) == (0, 1)
    assert widget.result["expected"] == "paris" and widget.result["n_windows"] > 1
    slider.value = 1
    record = RECORDS[1]
    best = answer_question(model, tokenizer, record["question"], record["context"], **OPTIONS)[0]
    assert widget.result["expected"] == "bob" and widget.result["predicted"] == best.text


def test_qa_widget_needs_records(tokenizer):
    with pytest.raises(ValueError, match="at least one record"):
        qa_widget(None, tokenizer, [])


def test_tagging_widget_tags_the_typed_sentence(tokenizer):
    torch.manual_seed(0)
    model = TinyTagger(config(num_labels=len(NAMES))).eval()
    widget = tagging_widget(model, tokenizer, NAMES, value="alice lives in paris", max_length=12)
    box, output = widget.children
    assert isinstance(box, widgets.Text)
    assert [w for w, _ in widget.result] == ["alice", "lives", "in", "paris"]
    box.value = "bob played in london ."
    words = split_words(box.value)
    assert widget.result == list(zip(words, tag_sentences(model, tokenizer, [words], NAMES, max_length=12)[0]))
