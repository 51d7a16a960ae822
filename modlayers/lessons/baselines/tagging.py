"""Baselines for the tagging data: what a tagger gets without reading any context.

- :class:`LookupTagger` remembers, for every training word, the tag it carried most often, and tags
  an unseen word ``"O"``. On data where validation names also appear in training, a lookup table like
  this one is hard to beat; on the kit's data most validation names are new, so it is not.
- :func:`all_outside` tags every word ``"O"``: no entity found, entity-level F1 0.
- :class:`CapitalisationTagger` tags each run of capitalised words (or numbers) as one entity of the
  type most frequent in training, skipping the sentence's first word. Capitals are a real clue (the
  pretrained tokenizer lower-cases them away), but the rule cannot tell a person from a town.

:func:`tagging_baselines` scores all three with :func:`modlayers.metrics.entity_scores`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from modlayers.label_alignment import check_bio_tag
from modlayers.metrics import bio_entities, entity_scores


def _check_records(records: Sequence[dict], name: str) -> None:
    if isinstance(records, (str, dict)) or not isinstance(records, Sequence):
        raise TypeError(f"{name} must be a list of records with 'words' and 'tags', got {type(records).__name__}.")
    for i, record in enumerate(records):
        if not isinstance(record, dict) or "words" not in record:
            raise ValueError(
                f"{name}[{i}] must be a dict with 'words' (and 'tags'), got {record!r:.80}; load records with "
                "modlayers.lessons.data.load_tagging."
            )


def _check_sentences(sentences: Sequence[Sequence[str]]) -> list[list[str]]:
    if isinstance(sentences, str) or any(isinstance(words, str) for words in sentences):
        raise TypeError("pass each sentence as a list of words (see pipelines.split_words), not as a string.")
    return [list(words) for words in sentences]


class LookupTagger:
    """Tag each word with the tag it carried most often in training; an unseen word gets ``"O"``.

    Ties go to the tag seen first, so the table is the same on every run.

    Args:
        records: training records with ``words`` and ``tags`` (:func:`modlayers.lessons.data.load_tagging`).

    Raises:
        TypeError, ValueError: records that are not a list of ``{"words", "tags"}`` dicts, a record whose
            two lists differ in length, or an invalid BIO tag.

    Example:
        >>> tagger = LookupTagger([{"words": ["Ada", "sang"], "tags": ["B-PER", "O"]}])
        >>> tagger.predict([["Ada", "and", "Bo", "sang"]])
        [['B-PER', 'O', 'O', 'O']]
    """

    def __init__(self, records: Sequence[dict]):
        _check_records(records, "records")
        counts: dict[str, Counter] = defaultdict(Counter)
        for i, record in enumerate(records):
            if len(record["words"]) != len(record["tags"]):
                raise ValueError(
                    f"record {i} has {len(record['words'])} words but {len(record['tags'])} tags; "
                    "each word needs exactly one tag."
                )
            for word, tag in zip(record["words"], record["tags"]):
                check_bio_tag(tag)
                counts[word][tag] += 1
        self.table: dict[str, str] = {word: tags.most_common(1)[0][0] for word, tags in counts.items()}

    def predict(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """One tag per word of each sentence (a list of words)."""
        return [[self.table.get(word, "O") for word in words] for words in _check_sentences(sentences)]


def all_outside(sentences: Sequence[Sequence[str]]) -> list[list[str]]:
    """Tag every word ``"O"``.

    Example:
        >>> all_outside([["Ada", "sang"]])
        [['O', 'O']]
    """
    return [["O"] * len(words) for words in _check_sentences(sentences)]


def _looks_like_a_name(word: str) -> bool:
    return word[:1].isupper() or word.isdigit()


class CapitalisationTagger:
    """Tag each run of capitalised words or numbers (not the sentence's first word) as one entity.

    Every entity gets the same type: the one most frequent in the training records.

    Args:
        records: training records with ``words`` and ``tags``, used only to pick the entity type.

    Example:
        >>> tagger = CapitalisationTagger([{"words": ["Ada", "sang"], "tags": ["B-PER", "O"]}])
        >>> tagger.predict([["Then", "Ada", "Lind", "sang"]])
        [['O', 'B-PER', 'I-PER', 'O']]
    """

    def __init__(self, records: Sequence[dict]):
        _check_records(records, "records")
        types = Counter(e.type for r in records for e in bio_entities(r["tags"]))
        if not types:
            raise ValueError("the training records hold no entity, so there is no entity type to predict.")
        self.entity_type = types.most_common(1)[0][0]

    def predict(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """One tag per word of each sentence (a list of words)."""
        tagged = []
        for words in _check_sentences(sentences):
            tags = []
            for i, word in enumerate(words):
                if i == 0 or not _looks_like_a_name(word):
                    tags.append("O")
                elif tags[-1] == "O":
                    tags.append(f"B-{self.entity_type}")
                else:
                    tags.append(f"I-{self.entity_type}")
            tagged.append(tags)
        return tagged


def tagging_baselines(train_records: Sequence[dict], validation_records: Sequence[dict]) -> dict[str, float]:
    """Entity-level F1 of each baseline on ``validation_records``, fitted on ``train_records``.

    Returns:
        ``{"all O": f1, "capitalisation rule": f1, "word lookup": f1}``.

    Example:
        >>> from modlayers.lessons.data import load_tagging
        >>> scores = tagging_baselines(load_tagging("train"), load_tagging("validation"))
        >>> scores["all O"], scores["word lookup"] <= 0.5
        (0.0, True)
    """
    _check_records(validation_records, "validation_records")
    sentences = [r["words"] for r in validation_records]
    truth = [r["tags"] for r in validation_records]
    predictions = {
        "all O": all_outside(sentences),
        "capitalisation rule": CapitalisationTagger(train_records).predict(sentences),
        "word lookup": LookupTagger(train_records).predict(sentences),
    }
    return {name: entity_scores(truth, predicted)["f1"] for name, predicted in predictions.items()}
