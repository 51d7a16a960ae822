"""Baselines for sentence classification: what a model gets without reading the sentence in order.

- :func:`majority_class` -- always answer the most frequent training label (chance on balanced data);
- :class:`NaiveBayes` -- multinomial naive Bayes on word counts, add-one smoothing;
- :class:`BagOfWordsLogisticRegression` -- a linear layer on word counts, trained to convergence.

Both bag-of-words models see *which* words a sentence uses and nothing of their order, so
"not about the forecast; it is about the new phone" and "not about the new phone; it is about the
forecast" look the same to them. :func:`classification_baselines` runs all three on two splits.

Example:
    >>> train = [{"text": "rain again", "label": 0}, {"text": "new phone", "label": 1}, {"text": "rain", "label": 0}]
    >>> NaiveBayes().fit([r["text"] for r in train], [r["label"] for r in train]).predict(["more rain"])
    [0]
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import torch

WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    """Lower-cased words of ``text`` (letters, digits, apostrophes); punctuation is dropped.

    Example:
        >>> words("Rain in Osterby, not snow!")
        ['rain', 'in', 'osterby', 'not', 'snow']
    """
    if not isinstance(text, str):
        raise TypeError(f"words() takes a str, got {type(text).__name__}; pass one sentence at a time.")
    return WORD.findall(text.lower())


def _check(texts: Sequence[str], labels: Sequence[int] | None = None) -> None:
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a list of str (one sentence each); wrap a single sentence as [text].")
    if labels is not None:
        if len(labels) != len(texts) or not texts:
            raise ValueError(f"got {len(texts)} texts and {len(labels)} labels; pass one integer label per text (at least one).")
        if not all(isinstance(y, int) and not isinstance(y, bool) and y >= 0 for y in labels):
            raise TypeError("labels must be non-negative ints (class indices, e.g. from load_classification).")


def majority_class(labels: Sequence[int]) -> int:
    """The most frequent label (the smallest one on a tie).

    Example:
        >>> majority_class([2, 1, 2, 1])
        1
    """
    if not labels:
        raise ValueError("majority_class needs at least one label, got an empty list.")
    counts = Counter(labels)
    return min(counts, key=lambda y: (-counts[y], y))


class NaiveBayes:
    """Multinomial naive Bayes on word counts with add-one (Laplace) smoothing.

    ``score(class | text) = log P(class) + sum over words w of count(w) * log P(w | class)``, where
    ``P(w | class) = (count of w in the class's texts + 1) / (words in the class + vocabulary size)``.
    Words never seen in training are skipped.
    """

    def fit(self, texts: Sequence[str], labels: Sequence[int]) -> NaiveBayes:
        _check(texts, labels)
        self.classes = sorted(set(labels))
        counts = {c: Counter() for c in self.classes}
        for text, label in zip(texts, labels):
            counts[label].update(words(text))
        self.vocabulary = set().union(*counts.values())
        self.log_prior = {c: math.log(labels.count(c) / len(labels)) for c in self.classes}
        self.log_likelihood = {}
        for c in self.classes:
            total = sum(counts[c].values()) + len(self.vocabulary)
            self.log_likelihood[c] = {w: math.log((counts[c][w] + 1) / total) for w in self.vocabulary}
        return self

    def predict(self, texts: Sequence[str]) -> list[int]:
        _check(texts)
        if not hasattr(self, "classes"):
            raise ValueError("This NaiveBayes is not fitted yet; call .fit(texts, labels) first.")
        predictions = []
        for text in texts:
            known = sorted(w for w in words(text) if w in self.vocabulary)  # sorted: the sum ignores word order exactly
            scores = {c: self.log_prior[c] + sum(self.log_likelihood[c][w] for w in known) for c in self.classes}
            predictions.append(max(self.classes, key=lambda c: (scores[c], -c)))
        return predictions


class BagOfWordsLogisticRegression:
    """Softmax regression on word counts: ``logits = counts @ W + b``, trained full-batch with L-BFGS.

    Args:
        l2: weight of the L2 penalty on ``W`` (keeps the fit from memorising rare words).
        steps: L-BFGS iterations.
    """

    def __init__(self, l2: float = 1e-3, steps: int = 200):
        self.l2, self.steps = l2, steps

    def _counts(self, texts: Sequence[str]) -> torch.Tensor:
        x = torch.zeros(len(texts), len(self.index), dtype=torch.float64)  # (n_texts, vocabulary)
        for row, text in enumerate(texts):
            for w in words(text):
                if w in self.index:
                    x[row, self.index[w]] += 1
        return x

    def fit(self, texts: Sequence[str], labels: Sequence[int]) -> BagOfWordsLogisticRegression:
        _check(texts, labels)
        self.index = {w: i for i, w in enumerate(sorted({w for t in texts for w in words(t)}))}
        x, y = self._counts(texts), torch.tensor(labels)
        generator = torch.Generator().manual_seed(0)
        self.weight = (0.01 * torch.randn(x.shape[1], max(labels) + 1, generator=generator, dtype=torch.float64)).requires_grad_()
        self.bias = torch.zeros(max(labels) + 1, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([self.weight, self.bias], max_iter=self.steps, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(x @ self.weight + self.bias, y) + self.l2 * self.weight.pow(2).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        return self

    def predict(self, texts: Sequence[str]) -> list[int]:
        _check(texts)
        if not hasattr(self, "index"):
            raise ValueError("This model is not fitted yet; call .fit(texts, labels) first.")
        with torch.no_grad():
            return (self._counts(texts) @ self.weight + self.bias).argmax(-1).tolist()


def classification_baselines(train_records: Sequence[dict], validation_records: Sequence[dict]) -> dict[str, float]:
    """Validation accuracy of the three baselines, trained on ``train_records``.

    Args:
        train_records, validation_records: dicts with ``"text"`` (str) and ``"label"`` (int), as
            returned by :func:`modlayers.lessons.data.load_classification`.

    Returns:
        ``{"majority class": acc, "naive Bayes (bag of words)": acc, "logistic regression (bag of words)": acc}``.

    Example:
        >>> from modlayers.lessons.data import load_classification
        >>> scores = classification_baselines(load_classification("train"), load_classification("validation"))
        >>> scores["majority class"]
        0.25
    """
    texts, labels = [r["text"] for r in train_records], [r["label"] for r in train_records]
    validation_texts, truth = [r["text"] for r in validation_records], [r["label"] for r in validation_records]

    def accuracy(predicted):
        return sum(p == t for p, t in zip(predicted, truth)) / len(truth)

    return {
        "majority class": accuracy([majority_class(labels)] * len(truth)),
        "naive Bayes (bag of words)": accuracy(NaiveBayes().fit(texts, labels).predict(validation_texts)),
        "logistic regression (bag of words)": accuracy(BagOfWordsLogisticRegression().fit(texts, labels).predict(validation_texts)),
    }
