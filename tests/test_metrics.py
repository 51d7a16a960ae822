"""Tests for modlayers/metrics.py: accuracy, SQuAD exact match / F1, entity-level BIO scores."""

import re
import string
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from modlayers.metrics import (
    Entity,
    accuracy,
    bio_entities,
    entity_scores,
    exact_match,
    normalize_answer,
    squad_scores,
    token_f1,
)

# ---------------------------------------------------------------- accuracy


def test_accuracy_by_hand_and_from_tensors():
    assert accuracy([1, 0, 2, 2], [1, 1, 2, 0]) == 0.5
    assert accuracy(torch.tensor([1, 1, 1]), torch.tensor([1, 1, 0])) == pytest.approx(2 / 3)


def test_accuracy_rejects_mismatched_or_empty_input():
    with pytest.raises(ValueError, match="3 predictions but 2 references"):
        accuracy([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="empty"):
        accuracy([], [])


# ---------------------------------------------------------------- SQuAD


@pytest.mark.parametrize(
    "text, normalised",
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("  a  cat,  an apple. ", "cat apple"),
        ("Theatre", "theatre"),  # an article only as a whole word
        ("U.S.A.", "usa"),
    ],
)
def test_normalize_answer_lowercases_strips_punctuation_articles_and_spaces(text, normalised):
    assert normalize_answer(text) == normalised


def test_exact_match_after_normalisation_and_against_several_references():
    assert exact_match("the Eiffel Tower.", "Eiffel Tower") == 1.0
    assert exact_match("Eiffel", "Eiffel Tower") == 0.0
    assert exact_match("tower", ["Eiffel Tower", "the tower"]) == 1.0


def test_token_f1_by_hand():
    # prediction words: eiffel tower in paris (4); reference: eiffel tower (2); common 2.
    # precision 2/4, recall 2/2, F1 = 2 * 0.5 * 1 / 1.5 = 2/3
    assert token_f1("Eiffel Tower in Paris", "the Eiffel Tower") == pytest.approx(2 / 3)
    # Counted with multiplicity: "paris paris" vs "paris": common 1, p=1/2, r=1 -> 2/3
    assert token_f1("paris paris", "paris") == pytest.approx(2 / 3)
    assert token_f1("London", "Paris") == 0.0
    assert token_f1("", "Paris") == 0.0
    assert token_f1("in Paris", ["London", "Paris"]) == pytest.approx(2 / 3)  # best reference


# The official SQuAD v1.1 evaluation script, evaluate-v1.1.py (https://rajpurkar.github.io/SQuAD-explorer/,
# "Evaluation Script v1.1"): its normalize_answer, f1_score, exact_match_score and
# metric_max_over_ground_truths, as published, are the reference the kit's metrics are checked against.
def official_normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def official_f1_score(prediction, ground_truth):
    prediction_tokens = official_normalize_answer(prediction).split()
    ground_truth_tokens = official_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def official_exact_match_score(prediction, ground_truth):
    return official_normalize_answer(prediction) == official_normalize_answer(ground_truth)


def official_metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


@pytest.mark.parametrize(
    "prediction, references, f1, em",
    [
        ("", [""], 0.0, 1.0),  # both normalise to nothing: v1.1 gives F1 0 (v2.0 would give 1)
        ("the", ["a"], 0.0, 1.0),
        ("An", ["the", "."], 0.0, 1.0),
        ("", ["Paris"], 0.0, 0.0),
        ("Paris", [""], 0.0, 0.0),
        ("the", ["the Paris"], 0.0, 0.0),
        ("Eiffel Tower in Paris", ["the Eiffel Tower"], 2 / 3, 0.0),
        ("in Paris", ["London", "Paris", ""], 2 / 3, 0.0),
    ],
)
def test_squad_scores_equal_the_official_v1_1_script_including_empty_answers(prediction, references, f1, em):
    assert token_f1(prediction, references) == pytest.approx(f1)
    assert exact_match(prediction, references) == em
    assert token_f1(prediction, references) == official_metric_max_over_ground_truths(official_f1_score, prediction, references)
    assert exact_match(prediction, references) == official_metric_max_over_ground_truths(
        official_exact_match_score, prediction, references
    )


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abct ,.AEH", max_size=14), st.lists(st.text(alphabet="abct ,.AEH", max_size=14), min_size=1, max_size=3))
def test_squad_metrics_equal_the_official_v1_1_script_on_any_text(prediction, references):
    # the alphabet spells the articles a, an, the (in either case) and punctuation, so empty normalisations are frequent
    assert normalize_answer(prediction) == official_normalize_answer(prediction)
    assert token_f1(prediction, references) == pytest.approx(
        official_metric_max_over_ground_truths(official_f1_score, prediction, references), abs=1e-12
    )
    assert exact_match(prediction, references) == official_metric_max_over_ground_truths(
        official_exact_match_score, prediction, references
    )


def test_squad_scores_are_means_over_examples():
    assert squad_scores(["Paris", "in 1889"], ["Paris", "1889"]) == {
        "exact_match": 0.5,
        "f1": pytest.approx((1 + 2 / 3) / 2),
    }


def test_squad_scores_rejects_mismatched_lengths_and_non_strings():
    with pytest.raises(ValueError, match="one prediction per example"):
        squad_scores(["a"], ["a", "b"])
    with pytest.raises(TypeError, match="must be a string"):
        exact_match(3, "3")
    with pytest.raises(ValueError, match="no reference"):
        token_f1("a", [])


def test_squad_scores_read_the_datasets_answers_dict_by_its_text_list_like_the_official_script():
    # dataset["answers"] rows: {"text": [...], "answer_start": [...]}; the official script scores answers["text"]
    predictions = ["in Paris", "Paris"]
    references = [
        {"text": ["Paris", "the city of Paris"], "answer_start": [10, 0]},
        {"text": ["Paris"], "answer_start": [0]},
    ]
    # by hand: "in paris" vs "paris" p=1/2 r=1 -> 2/3; vs "city of paris" p=1/2 r=1/3 -> 2/5; best 2/3
    assert squad_scores(predictions, references) == {"exact_match": 0.5, "f1": pytest.approx((2 / 3 + 1) / 2)}
    pairs = list(zip(predictions, references))
    official_f1 = [official_metric_max_over_ground_truths(official_f1_score, p, r["text"]) for p, r in pairs]
    official_em = [official_metric_max_over_ground_truths(official_exact_match_score, p, r["text"]) for p, r in pairs]
    assert squad_scores(predictions, references)["f1"] == pytest.approx(sum(official_f1) / 2)
    assert squad_scores(predictions, references)["exact_match"] == sum(official_em) / 2
    assert squad_scores(predictions, references) == squad_scores(predictions, [r["text"] for r in references])
    assert exact_match("Paris", references[1]) == 1.0 and token_f1("in Paris", references[0]) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    "bad, error, message",
    [
        ({"answer": "Paris"}, TypeError, r"reference 1: got a mapping with keys \['answer'\]"),
        ({"text": "Paris", "answer_start": 0}, TypeError, r"reference 1: got a mapping"),
        (["Paris", 3], TypeError, r"reference 1: every reference answer must be a string, got int"),
        ({"text": ["Paris", None]}, TypeError, r"reference 1: every reference answer must be a string, got NoneType"),
        (5, TypeError, r"reference 1: got int"),
        ({"text": [], "answer_start": []}, ValueError, r"reference 1: no reference answer"),
    ],
)
def test_squad_scores_name_the_row_of_a_reference_they_cannot_read(bad, error, message):
    with pytest.raises(error, match=message):
        squad_scores(["a", "Paris"], ["a", bad])


def test_squad_scores_reject_a_column_passed_as_one_dict():
    # a batched column {"text": [[...], ...]} would otherwise be read as its keys
    with pytest.raises(TypeError, match="got a mapping with keys"):
        squad_scores(["a", "b"], {"text": [["a"], ["b"]], "answer_start": [[0], [0]]})


answers = st.text(alphabet="abc ,.", max_size=12)


@settings(max_examples=80, deadline=None)
@given(answers, answers)
def test_f1_is_symmetric_bounded_and_one_on_exact_match(a, b):
    f1 = token_f1(a, b)
    assert 0.0 <= f1 <= 1.0
    assert f1 == pytest.approx(token_f1(b, a))
    if exact_match(a, b) == 1.0 and normalize_answer(a):
        assert f1 == 1.0
    assert token_f1(a, a) == (1.0 if normalize_answer(a) else 0.0)  # v1.1: nothing in common scores 0


# ---------------------------------------------------------------- entities


def test_bio_entities_by_hand():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-ORG"]
    assert bio_entities(tags) == [
        Entity("PER", 0, 1),
        Entity("LOC", 3, 3),
        Entity("LOC", 4, 5),
        Entity("ORG", 7, 7),
    ]


def test_stray_i_tag_opens_an_entity_like_conlleval():
    assert bio_entities(["O", "I-LOC", "I-LOC"]) == [Entity("LOC", 1, 2)]
    # An I- of another type closes the open entity and opens a new one.
    assert bio_entities(["B-PER", "I-LOC"]) == [Entity("PER", 0, 0), Entity("LOC", 1, 1)]


def test_bio_entities_rejects_unknown_tags():
    with pytest.raises(ValueError, match="unknown tag 'PER'"):
        bio_entities(["O", "PER"])


def test_entity_scores_by_hand():
    true = [
        ["B-PER", "I-PER", "O", "B-LOC"],  # PER(0,1), LOC(3,3)
        ["B-ORG", "O", "B-MISC", "I-MISC"],  # ORG(0,0), MISC(2,3)
    ]
    predicted = [
        ["B-PER", "O", "O", "B-LOC"],  # PER(0,0) wrong boundary, LOC right
        ["B-ORG", "O", "B-LOC", "I-LOC"],  # ORG right, LOC(2,3) wrong type
    ]
    scores = entity_scores(true, predicted)
    # 4 true, 4 predicted, 2 correct -> P = R = F1 = 0.5
    assert (scores["n_true"], scores["n_predicted"], scores["n_correct"]) == (4, 4, 2)
    assert scores["precision"] == scores["recall"] == scores["f1"] == 0.5
    assert scores["per_type"]["PER"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["per_type"]["ORG"]["f1"] == 1.0
    # LOC: 2 predicted, 1 correct, 1 true -> P 0.5, R 1, F1 2/3
    assert scores["per_type"]["LOC"]["precision"] == 0.5
    assert scores["per_type"]["LOC"]["f1"] == pytest.approx(2 / 3)
    assert scores["per_type"]["MISC"]["support"] == 1


def test_entities_in_different_sentences_never_match_each_other():
    scores = entity_scores([["B-PER"], ["O"]], [["O"], ["B-PER"]])
    assert scores["n_correct"] == 0 and scores["f1"] == 0.0


def test_entity_scores_with_nothing_predicted_is_zero_not_an_error():
    scores = entity_scores([["B-PER", "O"]], [["O", "O"]])
    assert (scores["precision"], scores["recall"], scores["f1"]) == (0.0, 0.0, 0.0)


def test_entity_scores_rejects_sentences_of_different_lengths():
    with pytest.raises(ValueError, match="2 reference tags but 1 predicted"):
        entity_scores([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="2 reference sentences but 1 predicted"):
        entity_scores([["O"], ["O"]], [["O"]])


tag_lists = st.lists(st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]), max_size=10)


@settings(max_examples=80, deadline=None)
@given(st.lists(tag_lists, min_size=1, max_size=4))
def test_perfect_predictions_score_one_and_entities_are_disjoint_and_ordered(sentences):
    for tags in sentences:
        entities = bio_entities(tags)
        for left, right in zip(entities, entities[1:]):
            assert left.end < right.start
        for entity in entities:
            assert tags[entity.start] != "O" and all(t == "I-" + entity.type for t in tags[entity.start + 1 : entity.end + 1])
    scores = entity_scores(sentences, sentences)
    if scores["n_true"]:
        assert scores["f1"] == 1.0
    else:
        assert scores["f1"] == 0.0


def test_docstring_examples_of_the_module_hold():
    import doctest

    import modlayers.metrics

    result = doctest.testmod(modlayers.metrics, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
