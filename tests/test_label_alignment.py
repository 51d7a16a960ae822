"""Tests for modlayers/label_alignment.py: word labels <-> sub-word token labels."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from modlayers.label_alignment import (
    IGNORE_INDEX,
    align_labels_to_tokens,
    check_bio_tag,
    continuation_labels,
    ids_to_tags,
    tags_to_ids,
    tokenize_and_align_labels,
    word_predictions,
)
from wordpiece_fixture import make_tokenizer

NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


def test_first_subword_gets_the_label_others_and_specials_get_minus_100():
    # [CLS] bob play ##ed paris [SEP]
    word_ids = [None, 0, 1, 1, 2, None]
    assert align_labels_to_tokens([1, 0, 3], word_ids) == [-100, 1, 0, -100, 3, -100]


def test_label_all_subwords_turns_b_into_i_on_continuation_pieces():
    # [CLS] london ##ville is [SEP]: "Londonville" is B-LOC, its second piece becomes I-LOC.
    word_ids = [None, 0, 0, 0, 1, None]
    assert align_labels_to_tokens([3, 0], word_ids, label_all_subwords=True, label_names=NAMES) == [
        -100, 3, 4, 4, 0, -100,
    ]
    # An I- word keeps I- on every piece; O stays O.
    assert align_labels_to_tokens([4, 0], [0, 0, 1, 1], label_all_subwords=True, label_names=NAMES) == [4, 4, 0, 0]


def test_minus_one_word_ids_from_a_tensor_count_as_special_tokens():
    assert align_labels_to_tokens([1], torch.tensor([-1, 0, -1])) == [-100, 1, -100]


def test_continuation_labels_maps_b_to_i_and_keeps_the_rest():
    assert continuation_labels(NAMES) == [0, 2, 2, 4, 4]


def test_continuation_labels_needs_the_matching_i_tag():
    with pytest.raises(ValueError, match="no 'I-LOC'"):
        continuation_labels(["O", "B-LOC"])


@pytest.mark.parametrize("tag", ["PER", "B-", "X-PER", "o", ""])
def test_check_bio_tag_rejects_unknown_tags(tag):
    with pytest.raises(ValueError, match="unknown tag"):
        check_bio_tag(tag)


def test_align_rejects_tokens_of_a_word_without_a_label():
    with pytest.raises(ValueError, match="only 1 word labels"):
        align_labels_to_tokens([1], [None, 0, 1, None])


def test_align_rejects_label_ids_outside_label_names():
    with pytest.raises(ValueError, match="outside label_names"):
        align_labels_to_tokens([7], [0], label_names=NAMES)


def test_label_all_subwords_without_label_names_explains_why_they_are_needed():
    with pytest.raises(ValueError, match="needs label_names"):
        align_labels_to_tokens([1], [0, 0], label_all_subwords=True)


def test_align_rejects_word_ids_that_are_not_ints():
    with pytest.raises(TypeError, match="word indices"):
        align_labels_to_tokens([1], ["a"])


word_pieces = st.lists(st.integers(1, 3), min_size=1, max_size=8)  # pieces per word


def _word_ids(pieces):
    return [None] + [w for w, n in enumerate(pieces) for _ in range(n)] + [None]


@settings(max_examples=60, deadline=None)
@given(word_pieces, st.data())
def test_default_alignment_labels_each_word_once_and_round_trips(pieces, data):
    labels = data.draw(st.lists(st.integers(0, len(NAMES) - 1), min_size=len(pieces), max_size=len(pieces)))
    ids = _word_ids(pieces)
    aligned = align_labels_to_tokens(labels, ids)
    assert len(aligned) == len(ids)
    assert [a for a in aligned if a != IGNORE_INDEX] == labels
    # Predicting exactly the aligned labels (anything on ignored tokens) gives back the word labels.
    predictions = [a if a != IGNORE_INDEX else 0 for a in aligned]
    assert word_predictions(predictions, ids) == labels


@settings(max_examples=60, deadline=None)
@given(word_pieces, st.data())
def test_all_subword_alignment_never_opens_an_entity_inside_a_word(pieces, data):
    labels = data.draw(st.lists(st.integers(0, len(NAMES) - 1), min_size=len(pieces), max_size=len(pieces)))
    ids = _word_ids(pieces)
    aligned = align_labels_to_tokens(labels, ids, label_all_subwords=True, label_names=NAMES)
    assert aligned[0] == aligned[-1] == IGNORE_INDEX
    for position in range(2, len(ids) - 1):
        if ids[position] == ids[position - 1]:  # a continuation piece
            assert not NAMES[aligned[position]].startswith("B-")
    assert word_predictions([0] + aligned[1:-1] + [0], ids) == labels  # first pieces keep the word label


def test_word_predictions_reads_the_first_subword_by_hand():
    # [CLS] bob play ##ed paris [SEP] [PAD]
    assert word_predictions([0, 1, 0, 3, 3, 0, 0], [None, 0, 1, 1, 2, None, None]) == [1, 0, 3]
    assert word_predictions(torch.tensor([2, 2]), [None, None]) == []


# ---------------------------------------------------------------- words that produce no token

NO_TOKEN_WORDS = ["\u200b", "", " ", "\u00ad"]  # zero-width space, empty, a space, soft hyphen


@pytest.mark.parametrize("word", NO_TOKEN_WORDS)
def test_a_word_without_a_token_gets_no_prediction_and_the_others_keep_theirs(tokenizer, word):
    encoded = tokenizer(["alice", word, "paris"], is_split_into_words=True)
    word_ids = encoded.word_ids()
    assert word_ids == [None, 0, 2, None]  # the tokenizer drops the word: word 1 has no token
    predictions = [0, 1, 3, 0]  # alice -> 1, paris -> 3
    assert word_predictions(predictions, word_ids) == [1, None, 3]
    assert word_predictions(predictions, word_ids, num_words=3) == [1, None, 3]


def test_word_predictions_with_num_words_pads_words_cut_off_and_rejects_a_wrong_count():
    assert word_predictions([0, 1, 2], [None, 0, None], num_words=3) == [1, None, None]  # words 1, 2 truncated
    assert word_predictions([0, 0], [None, None], num_words=2) == [None, None]
    assert word_predictions([0, 0], [None, None]) == []
    with pytest.raises(ValueError, match="tokens come from word 2 but num_words=2"):
        word_predictions([0, 1, 2], [0, 1, 2], num_words=2)


@pytest.mark.parametrize("word", NO_TOKEN_WORDS)
def test_aligning_labels_skips_a_word_without_a_token(tokenizer, word):
    sentences = [["alice", word, "paris"], [word]]
    features, word_ids = tokenize_and_align_labels(tokenizer, sentences, [[1, 0, 3], [2]], max_length=6)
    assert features["labels"].tolist() == [[-100, 1, 3, -100, -100, -100], [-100] * 6]  # word 1's label has no token
    every, _ = tokenize_and_align_labels(
        tokenizer, [["new", word, "york"]], [[3, 4, 4]], max_length=6, label_all_subwords=True, label_names=NAMES
    )
    assert every["labels"].tolist() == [[-100, 3, 4, -100, -100, -100]]
    assert word_predictions(features["labels"][0].clamp(min=0), word_ids[0], num_words=3) == [1, None, 3]


def test_ids_to_tags_says_what_to_do_with_a_word_without_a_prediction():
    with pytest.raises(ValueError, match="a word without a token has no prediction.*tag_sentences uses 'O'"):
        ids_to_tags([1, None], NAMES)


def test_word_predictions_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same"):
        word_predictions([0, 1, 2], [None, 0])


def test_tokenize_and_align_labels_with_a_real_tokenizer(tokenizer):
    sentences = [["Bob", "played", "Paris"], ["Alice", "playing"]]
    labels = [[1, 0, 3], [1, 0]]
    features, word_ids = tokenize_and_align_labels(tokenizer, sentences, labels, max_length=8)
    assert tokenizer.convert_ids_to_tokens(features["input_ids"][0][:6]) == [
        "[CLS]", "bob", "play", "##ed", "paris", "[SEP]",
    ]
    assert features["labels"].tolist() == [
        [-100, 1, 0, -100, 3, -100, -100, -100],
        [-100, 1, 0, -100, -100, -100, -100, -100],  # play ##ing
    ]
    assert features["attention_mask"][1].tolist() == [1, 1, 1, 1, 1, 0, 0, 0]
    assert word_ids[0][:6] == [None, 0, 1, 1, 2, None]

    every, _ = tokenize_and_align_labels(
        tokenizer, sentences, labels, max_length=8, label_all_subwords=True, label_names=NAMES
    )
    assert every["labels"][0].tolist() == [-100, 1, 0, 0, 3, -100, -100, -100]


@pytest.mark.parametrize(
    "sentences, labels, error, message",
    [
        ([["a", "b"]], [[0]], ValueError, "2 words but 1 labels"),
        ([["a"]], [[0], [0]], ValueError, "1 sentences but 2 label lists"),
        (["the cat"], [[0, 0]], TypeError, "list of words"),
    ],
)
def test_tokenize_and_align_labels_rejects_bad_input(tokenizer, sentences, labels, error, message):
    with pytest.raises(error, match=message):
        tokenize_and_align_labels(tokenizer, sentences, labels)


def test_tags_and_ids_convert_both_ways_and_reject_unknowns():
    assert tags_to_ids(["B-LOC", "O", "I-LOC"], NAMES) == [3, 0, 4]
    assert ids_to_tags([3, 0, 4], NAMES) == ["B-LOC", "O", "I-LOC"]
    with pytest.raises(ValueError, match="unknown tags"):
        tags_to_ids(["B-ORG"], NAMES)
    with pytest.raises(ValueError, match="-100 marks ignored"):
        ids_to_tags([-100], NAMES)


def test_docstring_examples_of_the_module_hold():
    import doctest

    import modlayers.label_alignment

    result = doctest.testmod(modlayers.label_alignment, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
