"""Tests for modlayers/lessons/baselines/qa.py: each rule returns what it promises, on hand-written contexts."""

import random

import pytest

from modlayers.lessons.baselines.qa import (
    answer_kind,
    answer_lexicon,
    first_of_kind,
    first_sentence,
    kind_values,
    overlap_sentence,
    qa_baselines,
    random_span,
)

CONTEXT = (
    "Bo Lind moved to Duncliff in 1990. The brother of Ada Quist works at Kelmo Foods. "
    "Ada Quist was born in Osterby in 1970 and lived in Duncliff from 1985. Ada Quist works at Osterby Bank."
)
LEXICON = {"town": {"Osterby", "Duncliff"}, "organisation": {"Kelmo Foods", "Osterby Bank"}}


@pytest.mark.parametrize(
    "question, kind",
    [
        ("Where was Ada born?", "town"),
        ("What is the birthplace of Ada Quist?", "town"),
        ("Where does Ada work?", "organisation"),
        ("Which organisation employs Ada?", "organisation"),
        ("When did Ada move to Duncliff?", "year"),
        ("What does Ada do for a living?", "job"),
        ("What is the pet of Ada called?", "pet name"),
        ("What kind of animal does Ada keep?", "animal"),
        ("Which instrument does Ada play?", "instrument"),
        ("Which food does Ada like best?", "food"),
        ("Why?", None),
    ],
)
def test_answer_kind_reads_the_question_words(question, kind):
    assert answer_kind(question) == kind


def test_kind_values_finds_years_and_the_longest_lexicon_match_in_reading_order():
    assert [v for _, v in kind_values(CONTEXT, "year", {})] == ["1990", "1970", "1985"]
    # "Osterby Bank" is one organisation; its "Osterby" is not also counted as a town
    assert [v for _, v in kind_values(CONTEXT, "organisation", LEXICON)] == ["Kelmo Foods", "Osterby Bank"]
    towns = kind_values(CONTEXT, "town", {"town": {"Osterby"}, "organisation": set()})
    assert [CONTEXT[s : s + len(v)] for s, v in towns] == ["Osterby", "Osterby"]  # whole words only
    assert kind_values(CONTEXT, None, LEXICON) == []


def test_first_of_kind_answers_with_the_first_value_anywhere():
    assert first_of_kind("Where was Ada born?", CONTEXT, LEXICON) == "Duncliff"  # Bo's town: wrong, as intended
    assert first_of_kind("When was Ada born?", CONTEXT, LEXICON) == "1990"


def test_overlap_sentence_picks_the_sentence_sharing_most_question_words():
    # "ada", "quist", "born" -> the third sentence; its first town is the right one here
    assert overlap_sentence("Where was Ada Quist born?", CONTEXT, LEXICON) == "Osterby"
    # "ada", "quist", "work" -> ties between the brother's sentence and Ada's: the earlier one wins
    assert overlap_sentence("Where does Ada Quist work?", CONTEXT, LEXICON) == "Kelmo Foods"
    assert overlap_sentence("Why?", CONTEXT, LEXICON) == ""


def test_first_sentence_and_random_span_are_pieces_of_the_context():
    assert first_sentence("?", CONTEXT) == "Bo Lind moved to Duncliff in 1990."
    rng = random.Random(0)
    for _ in range(20):
        span = random_span("?", CONTEXT, rng)
        assert span and span in CONTEXT and 1 <= len(span.split()) <= 3  # a slice, punctuation kept


def test_answer_lexicon_groups_training_answers_by_kind():
    train = [
        {"question": "Where was Ada born?", "context": "", "answer_text": "Osterby"},
        {"question": "Where does Bo work?", "context": "", "answer_text": "Kelmo Foods"},
        {"question": "Why?", "context": "", "answer_text": "because"},
    ]
    assert answer_lexicon(train) == {"town": {"Osterby"}, "organisation": {"Kelmo Foods"}}


def test_qa_baselines_scores_each_rule_with_squad_metrics():
    validation = [
        {"question": "When was Ada Quist born?", "context": CONTEXT, "answer_text": "1970"},
        {"question": "Where was Ada born?", "context": CONTEXT, "answer_text": "Osterby"},
    ]
    train = [{"question": "Where was Ada born?", "context": "", "answer_text": "Osterby"},
             {"question": "Where did Bo move?", "context": "", "answer_text": "Duncliff"}]
    scores = qa_baselines(train, validation)
    assert scores["first of kind"] == {"exact_match": 0.0, "f1": 0.0}  # 1990 and Duncliff
    assert scores["overlap sentence"] == {"exact_match": 1.0, "f1": 1.0}  # 1970 and Osterby
    assert scores["first sentence"]["exact_match"] == 0.0


def test_bad_records_are_refused_with_what_to_pass():
    with pytest.raises(TypeError, match="list of QA records"):
        qa_baselines({"question": "?"}, [])
    with pytest.raises(ValueError, match=r"has no \['context'\]"):
        qa_baselines([], [{"question": "?", "answer_text": "x"}])
    with pytest.raises(ValueError, match="answer_text"):
        answer_lexicon([{"question": "Where?", "context": ""}])


def test_docstring_examples_run_as_written():
    import doctest

    import modlayers.lessons.baselines.qa

    result = doctest.testmod(modlayers.lessons.baselines.qa, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 8 and result.failed == 0
