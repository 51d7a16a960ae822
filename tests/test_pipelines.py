"""Tests for modlayers/lessons/pipelines.py: a (tiny, untrained) head run end to end over windows and words."""

import pytest
import torch

from modlayers.lessons.pipelines import (
    answer_question,
    evaluate_qa,
    evaluate_tagging,
    model_inputs,
    qa_logits,
    split_words,
    tag_sentences,
)
from modlayers.spans import encode_qa_windows
from tiny_heads import TinyReader, TinyTagger, config
from wordpiece_fixture import make_tokenizer

NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
CONTEXT = "alice lives in london . bob lives in paris . the cat sat on the mat . the dog ran to the park ."


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


@pytest.fixture(scope="module")
def reader():
    torch.manual_seed(0)
    return TinyReader(config()).eval()


@pytest.fixture(scope="module")
def tagger():
    torch.manual_seed(0)
    return TinyTagger(config(num_labels=len(NAMES))).eval()


def test_model_inputs_drops_offsets_masks_and_token_type_ids():
    features = {"input_ids": 1, "attention_mask": 2, "token_type_ids": 3, "offset_mapping": 4, "start_positions": 5}
    assert sorted(model_inputs(features)) == ["attention_mask", "input_ids"]
    assert sorted(model_inputs(features, labels=["start_positions"])) == ["attention_mask", "input_ids", "start_positions"]


def test_model_inputs_keep_token_type_ids_for_a_model_that_reads_them():
    from modlayers.lessons.pretrained import load_pretrained

    bert_reader, _ = load_pretrained("qa")
    features = {"input_ids": 1, "attention_mask": 2, "token_type_ids": 3, "offset_mapping": 4}
    assert sorted(model_inputs(features, model=bert_reader)) == ["attention_mask", "input_ids", "token_type_ids"]
    assert sorted(model_inputs(features, model=TinyTagger(config(num_labels=3)))) == ["attention_mask", "input_ids"]


def test_qa_logits_equal_one_forward_pass_over_all_windows(tokenizer, reader):
    windows = encode_qa_windows(tokenizer, ["who ?"], [CONTEXT], max_length=16, stride=4)
    start, end = qa_logits(reader, windows, batch_size=2)  # several batches, concatenated in order
    with torch.no_grad():
        direct = reader(input_ids=windows["input_ids"], attention_mask=windows["attention_mask"])
    assert start.shape == windows["input_ids"].shape
    torch.testing.assert_close(start, direct.start_logits)
    torch.testing.assert_close(end, direct.end_logits)


def test_answer_question_returns_context_text_in_decreasing_score(tokenizer, reader):
    answers = answer_question(reader, tokenizer, "who ?", CONTEXT, max_length=16, stride=4, max_answer_length=3, n_best=4)
    assert 1 <= len(answers) <= 4
    assert [a.score for a in answers] == sorted((a.score for a in answers), reverse=True)
    for answer in answers:
        assert answer.text == CONTEXT[answer.char_start:answer.char_end] and answer.text
        assert answer.token_end - answer.token_start + 1 <= 3


def test_evaluate_qa_scores_its_own_predictions_perfectly(tokenizer, reader):
    records = [{"question": "who ?", "context": CONTEXT, "answer_text": "alice"},
               {"question": "where ?", "context": "bob lives in paris .", "answer_text": "paris"}]
    result = evaluate_qa(reader, tokenizer, records, max_length=16, stride=4, max_answer_length=3)
    assert len(result["predictions"]) == 2
    echoed = [dict(r, answer_text=p) for r, p in zip(records, result["predictions"])]
    assert evaluate_qa(reader, tokenizer, echoed, max_length=16, stride=4, max_answer_length=3)["exact_match"] == 1.0


def test_split_words_separates_punctuation_like_the_tagging_data():
    assert split_words("Ada moved to Osterby in 2019.") == ["Ada", "moved", "to", "Osterby", "in", "2019", "."]
    assert split_words("  ") == []
    with pytest.raises(TypeError, match="expects a string"):
        split_words(["Ada"])


def test_tag_sentences_gives_one_known_tag_per_word(tokenizer, tagger):
    sentences = [["alice", "played", "in", "paris"], [], ["bob"]]
    tags = tag_sentences(tagger, tokenizer, sentences, NAMES, max_length=12)
    assert [len(t) for t in tags] == [4, 0, 1]
    assert all(tag in NAMES for sentence in tags for tag in sentence)


def test_tag_sentences_reads_the_first_subword_of_each_word(tokenizer, tagger):
    words = ["alice", "played", "paris"]  # [CLS] alice play ##ed paris [SEP]
    encoded = tokenizer(words, is_split_into_words=True, max_length=12, padding="max_length", return_tensors="pt")
    with torch.no_grad():
        token_ids = tagger(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]).logits.argmax(-1)[0]
    expected = [NAMES[int(token_ids[i])] for i in (1, 2, 4)]
    assert tag_sentences(tagger, tokenizer, [words], NAMES, max_length=12) == [expected]


@pytest.mark.parametrize("word", ["\u200b", "", " ", "\u00ad"])
def test_a_word_without_a_token_is_tagged_o_and_the_others_keep_their_tags(tokenizer, tagger, word):
    # the tokenizer drops the word: the model sees "alice paris" and predicts nothing for it
    tags = tag_sentences(tagger, tokenizer, [["alice", word, "paris"], [word], [word, "bob"]], NAMES, max_length=12)
    without = tag_sentences(tagger, tokenizer, [["alice", "paris"], ["bob"]], NAMES, max_length=12)
    assert tags == [[without[0][0], "O", without[0][1]], ["O"], ["O", without[1][0]]]


def test_words_cut_off_by_max_length_are_tagged_o(tokenizer, tagger):
    tags = tag_sentences(tagger, tokenizer, [["alice", "lives", "in", "paris"]], NAMES, max_length=4)  # [CLS] a b [SEP]
    assert tags[0][2:] == ["O", "O"] and len(tags[0]) == 4


def test_evaluate_tagging_scores_a_sentence_with_a_word_without_a_token(tokenizer, tagger):
    records = [{"words": ["alice", "\u200b", "paris"], "tags": ["B-PER", "O", "B-LOC"]}]
    result = evaluate_tagging(tagger, tokenizer, records, NAMES, max_length=12)
    assert len(result["predictions"][0]) == 3 and result["predictions"][0][1] == "O"


def test_qa_on_a_context_without_a_token_finds_no_answer(tokenizer, reader):
    for context in ["", "\u200b", " \u200b "]:
        assert answer_question(reader, tokenizer, "who ?", context, max_length=16, stride=4) == []
    records = [{"question": "who ?", "context": "\u200b", "answer_text": "alice"}]
    assert evaluate_qa(reader, tokenizer, records, max_length=16, stride=4)["predictions"] == [""]


def test_tag_sentences_rejects_a_sentence_given_as_a_string(tokenizer, tagger):
    with pytest.raises(TypeError, match="list of words"):
        tag_sentences(tagger, tokenizer, ["alice lives in paris"], NAMES)


def test_evaluate_tagging_scores_its_own_predictions_perfectly(tokenizer, tagger):
    records = [{"words": ["alice", "lives", "in", "paris"], "tags": ["B-PER", "O", "O", "B-LOC"]}]
    predicted = evaluate_tagging(tagger, tokenizer, records, NAMES, max_length=12)["predictions"]
    scores = evaluate_tagging(tagger, tokenizer, [{"words": records[0]["words"], "tags": predicted[0]}], NAMES, max_length=12)
    assert scores["f1"] == (1.0 if scores["n_true"] else 0.0)


def test_docstring_examples_of_the_module_hold():
    import doctest

    import modlayers.lessons.pipelines

    result = doctest.testmod(modlayers.lessons.pipelines, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
