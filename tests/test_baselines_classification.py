"""Tests for modlayers/lessons/baselines/classification.py: each baseline against a hand-computed answer."""

import math

import pytest

from modlayers.lessons.baselines.classification import (
    BagOfWordsLogisticRegression,
    NaiveBayes,
    classification_baselines,
    majority_class,
    words,
)


def test_words_lowercases_and_drops_punctuation():
    assert words("It's NOT the Forecast; it's the phone!") == ["it's", "not", "the", "forecast", "it's", "the", "phone"]


def test_majority_class_breaks_ties_towards_the_smaller_label():
    assert majority_class([3, 1, 3, 1, 2]) == 1
    assert majority_class([0, 2, 2]) == 2
    with pytest.raises(ValueError, match="at least one"):
        majority_class([])


def test_naive_bayes_scores_match_the_formula_by_hand():
    texts, labels = ["rain rain wind", "phone app", "rain phone"], [0, 1, 1]
    model = NaiveBayes().fit(texts, labels)
    vocabulary = 4  # rain, wind, phone, app
    # class 0: 3 words (rain 2, wind 1); class 1: 4 words (phone 2, app 1, rain 1)
    assert math.isclose(model.log_likelihood[0]["rain"], math.log(3 / (3 + vocabulary)))
    assert math.isclose(model.log_likelihood[1]["rain"], math.log(2 / (4 + vocabulary)))
    assert math.isclose(model.log_prior[1], math.log(2 / 3))
    # "rain": class 0 scores log(1/3) + log(3/7) = -1.946; class 1 log(2/3) + log(2/8) = -1.792
    assert model.predict(["rain", "wind", "unseen words only"]) == [1, 0, 1]


def test_bag_of_words_models_cannot_see_word_order():
    texts = ["not the rain but the phone", "not the phone but the rain", "rain rain", "phone phone"]
    labels = [1, 0, 0, 1]
    for model in (NaiveBayes(), BagOfWordsLogisticRegression()):
        model.fit(texts, labels)
        first, swapped = model.predict(["not the rain but the phone", "not the phone but the rain"])
        assert first == swapped, type(model).__name__


def test_logistic_regression_fits_separable_word_counts():
    texts = ["goal match", "match referee", "oven dough", "dough butter"]
    model = BagOfWordsLogisticRegression().fit(texts, [0, 0, 1, 1])
    assert model.predict(texts + ["referee", "butter"]) == [0, 0, 1, 1, 0, 1]


def test_bad_input_is_refused_with_the_fix():
    with pytest.raises(TypeError, match=r"\[text\]"):
        NaiveBayes().fit("one sentence", [0])
    with pytest.raises(ValueError, match="2 texts and 1 labels"):
        NaiveBayes().fit(["a", "b"], [0])
    with pytest.raises(TypeError, match="non-negative ints"):
        BagOfWordsLogisticRegression().fit(["a"], [0.5])
    with pytest.raises(ValueError, match="not fitted"):
        NaiveBayes().predict(["a"])


def test_classification_baselines_on_a_tiny_split_by_hand():
    train = [{"text": "rain today", "label": 0}, {"text": "rain again", "label": 0}, {"text": "new phone", "label": 1}]
    validation = [{"text": "rain", "label": 0}, {"text": "phone", "label": 1}]
    scores = classification_baselines(train, validation)
    assert scores == {"majority class": 0.5, "naive Bayes (bag of words)": 1.0, "logistic regression (bag of words)": 1.0}


def test_docstring_examples_run_as_written():
    import doctest

    import modlayers.lessons.baselines.classification as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0
