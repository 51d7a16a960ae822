"""Evaluation metrics for the three heads, as pure functions on plain Python values.

- :func:`accuracy` -- sequence classification (and per-token accuracy).
- :func:`exact_match`, :func:`token_f1`, :func:`squad_scores` -- extractive question answering, as
  in the official SQuAD v1.1 evaluation script (``evaluate-v1.1.py``): both texts are normalised (lower
  case, no punctuation, no articles ``a/an/the``, single spaces), then compared whole (exact match) or
  as bags of words (F1); against several reference answers the best score counts.
- :func:`bio_entities`, :func:`entity_scores` -- token classification at the level of *entities*,
  like seqeval: entities are read from BIO tags and a predicted entity counts only if its type and
  both boundaries match a true one.

Every score is a fraction in ``[0, 1]`` (SQuAD's script prints percentages; multiply by 100).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping
from typing import NamedTuple, Sequence

from modlayers.label_alignment import check_bio_tag

__all__ = [
    "Entity",
    "accuracy",
    "normalize_answer",
    "exact_match",
    "token_f1",
    "squad_scores",
    "bio_entities",
    "entity_scores",
]


def _as_list(name: str, values) -> list:
    if hasattr(values, "tolist"):
        values = values.tolist()
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of items, got a single {type(values).__name__}.")
    if isinstance(values, Mapping):  # list() would silently read its keys as the items
        raise TypeError(
            f"{name} must be a sequence with one item per example, got a mapping with keys {list(values)[:5]}; "
            f"pass a list (for a batched column of dicts, one dict per example)."
        )
    return list(values)


def accuracy(predictions: Sequence, references: Sequence) -> float:
    """Share of positions where the prediction equals the reference.

    Raises:
        ValueError: different lengths, or nothing to score.

    Example:
        >>> accuracy([1, 0, 2, 2], [1, 1, 2, 0])
        0.5
    """
    predictions, references = _as_list("predictions", predictions), _as_list("references", references)
    if len(predictions) != len(references):
        raise ValueError(
            f"got {len(predictions)} predictions but {len(references)} references; pass one prediction per reference."
        )
    if not references:
        raise ValueError("accuracy of nothing is undefined: predictions and references are empty.")
    return sum(p == r for p, r in zip(predictions, references)) / len(references)


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD answer normalisation: lower case, drop punctuation and articles, collapse whitespace.

    Example:
        >>> normalize_answer("  The Eiffel-Tower, in PARIS! ")
        'eiffeltower in paris'
    """
    if not isinstance(text, str):
        raise TypeError(f"an answer must be a string, got {type(text).__name__} ({text!r}).")
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _references(ground_truths, row: int | None = None) -> list[str]:
    """The reference texts of one example: a string, a list of strings, or SQuAD's ``answers`` dict."""
    where = "" if row is None else f"reference {row}: "
    if hasattr(ground_truths, "tolist"):  # a NumPy array of answer texts
        ground_truths = ground_truths.tolist()
    if isinstance(ground_truths, str):
        return [ground_truths]
    if isinstance(ground_truths, Mapping):
        # The `datasets` SQuAD format, {"text": [...], "answer_start": [...]}: score against its texts,
        # as the official script does with answers["text"]. list(dict) would read its keys instead.
        texts = ground_truths.get("text")
        if not isinstance(texts, (list, tuple)):
            raise TypeError(
                f"{where}got a mapping with keys {list(ground_truths)[:5]} and 'text' {texts!r}; the one mapping "
                f"accepted is SQuAD's answers format, {{'text': [answer texts], 'answer_start': [...]}}. "
                f"Pass its texts (or a list of strings) otherwise."
            )
        ground_truths = texts
    elif isinstance(ground_truths, bytes) or not isinstance(ground_truths, Sequence):
        raise TypeError(
            f"{where}got {type(ground_truths).__name__} ({ground_truths!r}); expected the answer text, a list of "
            f"acceptable answer texts, or SQuAD's answers dict {{'text': [...], 'answer_start': [...]}}."
        )
    refs = list(ground_truths)
    if not refs:
        raise ValueError(
            f"{where}no reference answer given; pass the answer text (or a list of acceptable answers). An "
            f"unanswerable SQuAD v2 question has none: these are SQuAD v1.1 scores, leave such questions out."
        )
    for ref in refs:
        if not isinstance(ref, str):
            raise TypeError(
                f"{where}every reference answer must be a string, got {type(ref).__name__} ({ref!r}) "
                f"among {refs!r}."
            )
    return refs


def exact_match(prediction: str, ground_truths: str | Sequence[str]) -> float:
    """1.0 if the normalised prediction equals a normalised reference answer, else 0.0.

    ``ground_truths`` is the answer text, a list of acceptable texts, or SQuAD's ``answers`` dict
    (its ``"text"`` list is used); see :func:`squad_scores`.

    Example:
        >>> exact_match("the Eiffel Tower.", "Eiffel Tower")
        1.0
        >>> exact_match("Eiffel", ["Eiffel Tower", "the tower"])
        0.0
    """
    guess = normalize_answer(prediction)
    return float(any(guess == normalize_answer(ref) for ref in _references(ground_truths)))


def _f1_one(prediction: str, reference: str) -> float:
    predicted = normalize_answer(prediction).split()
    true = normalize_answer(reference).split()
    # As the v1.1 script: no common word, F1 0, even when both texts normalise to nothing ("" vs "", "the" vs
    # "a"), where exact match is 1. (The v2.0 script gives 1 there, for its unanswerable questions.)
    common = sum((Counter(predicted) & Counter(true)).values())
    if common == 0:
        return 0.0
    precision = common / len(predicted)
    recall = common / len(true)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, ground_truths: str | Sequence[str]) -> float:
    """Word-overlap F1 between the normalised prediction and the best-matching reference.

    ``ground_truths`` as in :func:`exact_match`.

    Precision is the share of predicted words found in the reference, recall the share of reference
    words found in the prediction (counted with multiplicity). As in the official SQuAD v1.1 script,
    texts with no word in common score 0, also when both normalise to nothing (``token_f1("", "")`` and
    ``token_f1("the", "a")`` are 0.0, though their exact match is 1.0); the v2.0 script, made for
    unanswerable questions, scores that case 1.

    Example:
        >>> token_f1("Eiffel Tower in Paris", "the Eiffel Tower")  # p = 2/4, r = 2/2
        0.6666666666666666
    """
    return max(_f1_one(prediction, ref) for ref in _references(ground_truths))


def squad_scores(
    predictions: Sequence[str], references: Sequence[str | Sequence[str] | Mapping[str, Sequence]]
) -> dict[str, float]:
    """Mean exact match and mean token F1 over a dataset.

    Args:
        predictions: one predicted answer text per example.
        references: per example, the answer text, a list of acceptable answer texts, or SQuAD's
            ``answers`` dict as ``datasets`` gives it (``dataset["answers"]``), ``{"text": [...],
            "answer_start": [...]}``, scored against its ``"text"`` list as the official script does.

    Returns:
        ``{"exact_match": ..., "f1": ...}``, fractions in ``[0, 1]``.

    Raises:
        ValueError: different lengths, no examples, or an example with no reference answer.
        TypeError: a reference (named by its row) that is another mapping, or holds a non-string
            answer; a prediction that is not a string.

    Example:
        >>> squad_scores(["Paris", "in 1889"], ["Paris", "1889"])
        {'exact_match': 0.5, 'f1': 0.8333333333333333}
        >>> squad_scores(["Paris"], [{"text": ["Paris", "in Paris"], "answer_start": [0, 10]}])
        {'exact_match': 1.0, 'f1': 1.0}
    """
    predictions, references = _as_list("predictions", predictions), _as_list("references", references)
    if len(predictions) != len(references):
        raise ValueError(
            f"got {len(predictions)} predictions but {len(references)} references; pass one prediction per example."
        )
    if not predictions:
        raise ValueError("no examples to score: predictions and references are empty.")
    references = [_references(r, row) for row, r in enumerate(references)]  # checked before any scoring
    n = len(predictions)
    return {
        "exact_match": sum(exact_match(p, r) for p, r in zip(predictions, references)) / n,
        "f1": sum(token_f1(p, r) for p, r in zip(predictions, references)) / n,
    }


class Entity(NamedTuple):
    """An entity read from BIO tags: its type and its word span, ``start`` and ``end`` inclusive."""

    type: str
    start: int
    end: int


def bio_entities(tags: Sequence[str]) -> list[Entity]:
    """The entities in one sentence's BIO tags.

    ``B-X`` opens an entity of type ``X``; following ``I-X`` tags extend it; anything else closes it.
    An ``I-X`` that does not continue an ``X`` entity (after ``O``, or after another type) opens a new
    entity, as in the CoNLL evaluation script and seqeval's default mode.

    Raises:
        ValueError: a tag that is not ``O``, ``B-<type>`` or ``I-<type>``.

    Example:
        >>> bio_entities(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "B-LOC"])
        [Entity(type='PER', start=0, end=1), Entity(type='LOC', start=3, end=3),
         Entity(type='LOC', start=4, end=4), Entity(type='LOC', start=5, end=5)]
    """
    tags = _as_list("tags", tags)
    for tag in tags:
        check_bio_tag(tag)
    entities = []
    current: list | None = None  # [type, start, end]
    for i, tag in enumerate(tags):
        prefix, kind = (tag[:1], tag[2:]) if tag != "O" else ("O", None)
        continues = prefix == "I" and current is not None and current[0] == kind
        if continues:
            current[2] = i
            continue
        if current is not None:
            entities.append(Entity(*current))
            current = None
        if prefix in ("B", "I"):
            current = [kind, i, i]
    if current is not None:
        entities.append(Entity(*current))
    return entities


def entity_scores(true_tags: Sequence[Sequence[str]], predicted_tags: Sequence[Sequence[str]]) -> dict:
    """Entity-level precision, recall and F1 over a corpus of BIO-tagged sentences (micro average).

    A predicted entity is correct when a true entity of the same sentence has the same type, start
    and end. Precision = correct / predicted entities, recall = correct / true entities, F1 their
    harmonic mean; a ratio with a zero denominator is 0.

    Args:
        true_tags: per sentence, the reference BIO tags, one per word.
        predicted_tags: per sentence, the predicted BIO tags, same lengths.

    Returns:
        ``{"precision", "recall", "f1"}`` as floats, ``"per_type"``: ``{type: {"precision", "recall",
        "f1", "support"}}`` (support = number of true entities of that type), and the counts
        ``"n_true"``, ``"n_predicted"``, ``"n_correct"``.

    Raises:
        ValueError: different numbers of sentences, a sentence whose two tag lists differ in length,
            an unknown tag.

    Example:
        >>> scores = entity_scores([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "O", "O", "B-LOC"]])
        >>> scores["precision"], scores["recall"]  # LOC right; PER's boundary wrong
        (0.5, 0.5)
    """
    true_tags, predicted_tags = _as_list("true_tags", true_tags), _as_list("predicted_tags", predicted_tags)
    if len(true_tags) != len(predicted_tags):
        raise ValueError(
            f"got {len(true_tags)} reference sentences but {len(predicted_tags)} predicted; "
            f"pass one tag list per sentence."
        )
    true_set: set[tuple[int, Entity]] = set()
    predicted_set: set[tuple[int, Entity]] = set()
    for i, (true, predicted) in enumerate(zip(true_tags, predicted_tags)):
        if isinstance(true, str) or isinstance(predicted, str):
            raise TypeError(f"sentence {i}: pass a list of tags per sentence, not a string.")
        if len(true) != len(predicted):
            raise ValueError(
                f"sentence {i} has {len(true)} reference tags but {len(predicted)} predicted tags; predict one tag "
                f"per word (map token predictions back with label_alignment.word_predictions)."
            )
        true_set.update((i, e) for e in bio_entities(true))
        predicted_set.update((i, e) for e in bio_entities(predicted))
    correct = true_set & predicted_set

    def prf(n_correct: int, n_predicted: int, n_true: int) -> tuple[float, float, float]:
        precision = n_correct / n_predicted if n_predicted else 0.0
        recall = n_correct / n_true if n_true else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1

    per_type = {}
    for kind in sorted({e.type for _, e in true_set | predicted_set}):
        counts = [sum(e.type == kind for _, e in group) for group in (correct, predicted_set, true_set)]
        p, r, f = prf(*counts)
        per_type[kind] = {"precision": p, "recall": r, "f1": f, "support": counts[2]}
    precision, recall, f1 = prf(len(correct), len(predicted_set), len(true_set))
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "per_type": per_type,
        "n_true": len(true_set),
        "n_predicted": len(predicted_set),
        "n_correct": len(correct),
    }
