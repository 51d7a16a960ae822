"""Tests for modlayers/lessons/baselines/tagging.py: each baseline tags as its rule says, scored by entity F1."""

import pytest

from modlayers.lessons.baselines.tagging import CapitalisationTagger, LookupTagger, all_outside, tagging_baselines
from modlayers.metrics import entity_scores

TRAIN = [
    {"words": ["Ada", "Lind", "visited", "Osby", "."], "tags": ["B-PER", "I-PER", "O", "B-LOC", "O"]},
    {"words": ["Ada", "met", "Bo", "."], "tags": ["B-PER", "O", "B-PER", "O"]},
    {"words": ["Osby", "Bank", "hired", "Ada", "."], "tags": ["B-ORG", "I-ORG", "O", "B-PER", "O"]},
    {"words": ["Then", "Osby", "slept", "."], "tags": ["O", "B-LOC", "O", "O"]},
]


def test_lookup_tagger_takes_each_words_most_frequent_tag_and_o_for_unseen_words():
    tagger = LookupTagger(TRAIN)
    assert tagger.table["Osby"] == "B-LOC"  # B-LOC twice, B-ORG once
    assert tagger.table["Ada"] == "B-PER"
    assert tagger.predict([["Ada", "visited", "Zelm", "Bank"]]) == [["B-PER", "O", "O", "I-ORG"]]


def test_lookup_tagger_breaks_ties_by_the_tag_seen_first():
    tagger = LookupTagger([{"words": ["May"], "tags": ["B-DATE"]}, {"words": ["May"], "tags": ["B-PER"]}])
    assert tagger.predict([["May"]]) == [["B-DATE"]]


def test_lookup_tagger_scores_one_for_the_training_sentences_it_remembers_and_zero_on_new_names():
    tagger = LookupTagger(TRAIN[:2])
    assert entity_scores([r["tags"] for r in TRAIN[:2]], tagger.predict([r["words"] for r in TRAIN[:2]]))["f1"] == 1.0
    new = [{"words": ["Kim", "visited", "Rova", "."], "tags": ["B-PER", "O", "B-LOC", "O"]}]
    assert entity_scores([new[0]["tags"]], tagger.predict([new[0]["words"]]))["f1"] == 0.0


def test_all_outside_finds_no_entity():
    assert all_outside([["Ada", "sang"], []]) == [["O", "O"], []]


def test_capitalisation_rule_tags_capitalised_runs_after_the_first_word_with_the_most_frequent_type():
    tagger = CapitalisationTagger(TRAIN)
    assert tagger.entity_type == "PER"  # 4 PER, 2 LOC, 1 ORG
    assert tagger.predict([["Then", "Ada", "Lind", "met", "Bo", "on", "3", "May", "."]]) == [
        ["O", "B-PER", "I-PER", "O", "B-PER", "O", "B-PER", "I-PER", "O"]
    ]


def test_tagging_baselines_score_hand_counted_f1_on_a_tiny_split():
    validation = [{"words": ["Then", "Ada", "met", "Kim", "in", "Osby", "."],
                   "tags": ["O", "B-PER", "O", "B-PER", "O", "B-LOC", "O"]}]
    scores = tagging_baselines(TRAIN, validation)
    assert scores["all O"] == 0.0
    # lookup: Ada (right), Osby (right), Kim unseen -> O: precision 2/2, recall 2/3
    assert scores["word lookup"] == pytest.approx(2 * 1 * (2 / 3) / (1 + 2 / 3))
    # capitalisation: Ada, Kim right as PER; Osby predicted PER (wrong): precision 2/3, recall 2/3
    assert scores["capitalisation rule"] == pytest.approx(2 / 3)


def test_baselines_refuse_a_sentence_given_as_a_string():
    with pytest.raises(TypeError, match="list of words"):
        LookupTagger(TRAIN).predict(["Ada met Bo"])
    with pytest.raises(TypeError, match="list of words"):
        all_outside("Ada met Bo")


def test_baselines_refuse_records_without_words_or_with_mismatched_tags():
    with pytest.raises(ValueError, match="must be a dict with 'words'"):
        LookupTagger([["Ada"]])
    with pytest.raises(ValueError, match="2 words but 1 tags"):
        LookupTagger([{"words": ["Ada", "sang"], "tags": ["B-PER"]}])
    with pytest.raises(TypeError, match="list of records"):
        tagging_baselines(TRAIN, "validation")
    with pytest.raises(ValueError, match="no entity"):
        CapitalisationTagger([{"words": ["hi"], "tags": ["O"]}])


def test_docstring_examples_run_as_written():
    import doctest

    import modlayers.lessons.baselines.tagging

    result = doctest.testmod(modlayers.lessons.baselines.tagging, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
