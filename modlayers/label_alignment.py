"""Word-level tags <-> sub-word token labels, for token classification.

Datasets tag *words* (``["Alice", "visited", "Bordeaux"]`` -> ``["B-PER", "O", "B-LOC"]``), but the
model sees *sub-word tokens* (``[CLS] alice visited bord ##eaux [SEP]``) and the token classification
head computes one loss term per token. A fast tokenizer's ``word_ids()`` says which word each token
came from (``None`` for special tokens), which is all it takes to move labels across:

- :func:`align_labels_to_tokens` -- the word's label on its *first* sub-word, ``-100`` on special
  tokens and on the other sub-words (the default; ``-100`` is the loss's ignore index), or, with
  ``label_all_subwords=True``, a label on every sub-word, ``B-X`` turned into ``I-X`` on
  continuation pieces so that one word never opens two entities;
- :func:`tokenize_and_align_labels` -- the same over a batch of sentences, ready for the head;
- :func:`word_predictions` -- the way back: one prediction per word, read off its first sub-word.

A word the tokenizer turns into no token at all (``""``, a space, a zero-width space ``"\\u200b"``)
has no label on any token and gets no prediction: ``None`` from :func:`word_predictions`, the tag
``NO_TOKEN_TAG = "O"`` from :func:`modlayers.lessons.pipelines.tag_sentences`.

Labels are integer ids into a list of BIO tag names (``label_names``), like ``config.id2label``.
"""

from __future__ import annotations

from typing import Sequence

import torch

from modlayers.losses import IGNORE_INDEX

NO_TOKEN_TAG = "O"
"""The tag given to a word with no token (dropped by the tokenizer or cut off): the model saw nothing to tag."""

__all__ = [
    "IGNORE_INDEX",
    "NO_TOKEN_TAG",
    "check_bio_tag",
    "continuation_labels",
    "align_labels_to_tokens",
    "tokenize_and_align_labels",
    "word_predictions",
    "tags_to_ids",
    "ids_to_tags",
]


def check_bio_tag(tag: str) -> None:
    """Raise ``ValueError`` unless ``tag`` is ``"O"``, ``"B-<type>"`` or ``"I-<type>"``.

    Example:
        >>> check_bio_tag("B-PER")
        >>> check_bio_tag("PER")
        Traceback (most recent call last):
        ValueError: unknown tag 'PER': BIO tags are 'O', 'B-<type>' or 'I-<type>' (e.g. 'B-PER').
    """
    if not isinstance(tag, str):
        raise TypeError(f"a BIO tag must be a string, got {type(tag).__name__} ({tag!r}).")
    if tag == "O" or (len(tag) > 2 and tag[:2] in ("B-", "I-")):
        return
    raise ValueError(f"unknown tag {tag!r}: BIO tags are 'O', 'B-<type>' or 'I-<type>' (e.g. 'B-PER').")


def continuation_labels(label_names: Sequence[str]) -> list[int]:
    """For each label id, the id to put on a word's continuation sub-words: ``B-X`` -> ``I-X``.

    Args:
        label_names: BIO tag names indexed by label id, e.g. ``["O", "B-PER", "I-PER"]``.

    Returns:
        ``list[int]`` of the same length: the id of ``I-X`` for ``B-X``, the id itself otherwise.

    Raises:
        ValueError: a name is not a BIO tag, or ``B-X`` has no ``I-X`` in the list.

    Example:
        >>> continuation_labels(["O", "B-PER", "I-PER"])
        [0, 2, 2]
    """
    names = list(label_names)
    for name in names:
        check_bio_tag(name)
    index = {name: i for i, name in enumerate(names)}
    result = []
    for i, name in enumerate(names):
        if name.startswith("B-"):
            inside = "I-" + name[2:]
            if inside not in index:
                raise ValueError(
                    f"label_names has {name!r} but no {inside!r}; continuation pieces of a {name} word need "
                    f"the matching I- tag. Add {inside!r} to the label list."
                )
            result.append(index[inside])
        else:
            result.append(i)
    return result


def _word_ids_list(word_ids) -> list[int | None]:
    if isinstance(word_ids, torch.Tensor):
        word_ids = word_ids.tolist()
    result = []
    for w in word_ids:
        if w is None or (isinstance(w, int) and not isinstance(w, bool) and w < 0):
            result.append(None)  # special token (None from the tokenizer, -1 once stored in a tensor)
        elif isinstance(w, int) and not isinstance(w, bool):
            result.append(w)
        else:
            raise TypeError(
                f"word_ids must hold word indices (int) or None for special tokens, got {w!r}; pass "
                f"encoding.word_ids(i) from a fast tokenizer."
            )
    return result


def align_labels_to_tokens(
    word_labels: Sequence[int],
    word_ids: Sequence[int | None],
    *,
    label_all_subwords: bool = False,
    label_names: Sequence[str] | None = None,
) -> list[int]:
    """Spread word labels over the tokens of one sentence.

    Args:
        word_labels: one label id per word of the sentence.
        word_ids: one entry per token, the index of the word the token belongs to, ``None`` for
            special tokens (``encoding.word_ids(i)``; ``-1`` is read as ``None`` too).
        label_all_subwords: ``False`` (default): only the first sub-word of a word carries its label,
            the others get ``-100``. ``True``: every sub-word carries a label; continuation pieces of a
            ``B-X`` word get ``I-X``.
        label_names: the BIO tag of each label id; required with ``label_all_subwords=True``,
            optional otherwise (then it also checks every label id is in range).

    Returns:
        ``list[int]``, one label per token: a label id, or ``-100`` (ignored by the loss) for special
        tokens and -- by default -- for non-first sub-words.

    Raises:
        ValueError: a token points at a word that ``word_labels`` does not have, a label id outside
            ``label_names``, ``label_all_subwords=True`` without ``label_names``.

    Example:
        >>> # [CLS] bord ##eaux is [SEP] ; words: Bordeaux=B-LOC(1), is=O(0)
        >>> align_labels_to_tokens([1, 0], [None, 0, 0, 1, None])
        [-100, 1, -100, 0, -100]
        >>> align_labels_to_tokens([1, 0], [None, 0, 0, 1, None], label_all_subwords=True,
        ...                        label_names=["O", "B-LOC", "I-LOC"])
        [-100, 1, 2, 0, -100]
    """
    labels = [int(label) for label in (word_labels.tolist() if isinstance(word_labels, torch.Tensor) else word_labels)]
    ids = _word_ids_list(word_ids)
    if label_all_subwords and label_names is None:
        raise ValueError(
            "label_all_subwords=True needs label_names, to turn B-X into I-X on continuation pieces; pass "
            "the tag names in label-id order (e.g. config.id2label values)."
        )
    if label_names is not None:
        bad = [label for label in labels if not 0 <= label < len(label_names)]
        if bad:
            raise ValueError(
                f"word label ids {sorted(set(bad))[:5]} are outside label_names (ids 0 to {len(label_names) - 1})."
            )
    too_far = [w for w in ids if w is not None and w >= len(labels)]
    if too_far:
        raise ValueError(
            f"the tokens come from word {max(too_far)} but only {len(labels)} word labels were given; "
            f"pass the labels of the same sentence that was tokenized (one label per word)."
        )
    continuation = continuation_labels(label_names) if label_all_subwords else None

    aligned = []
    previous = None
    for w in ids:
        if w is None:
            aligned.append(IGNORE_INDEX)
        elif w != previous:
            aligned.append(labels[w])  # first sub-word of the word
        elif label_all_subwords:
            aligned.append(continuation[labels[w]])
        else:
            aligned.append(IGNORE_INDEX)
        previous = w
    return aligned


def tokenize_and_align_labels(
    tokenizer,
    sentences: Sequence[Sequence[str]],
    word_labels: Sequence[Sequence[int]],
    *,
    max_length: int = 64,
    label_all_subwords: bool = False,
    label_names: Sequence[str] | None = None,
) -> tuple[dict[str, torch.Tensor], list[list[int | None]]]:
    """Tokenize pre-split sentences and align their word labels, ready for a token classifier.

    Args:
        tokenizer: a fast tokenizer (``word_ids()`` is needed).
        sentences: each sentence as a list of words.
        word_labels: one list of label ids per sentence, one id per word.
        max_length: tokens per row; longer sentences are truncated (their last words are lost),
            shorter ones padded.
        label_all_subwords, label_names: as in :func:`align_labels_to_tokens`.

    Returns:
        ``(features, word_ids)``: ``features`` holds ``input_ids``, ``attention_mask`` and ``labels``,
        each ``(sentences, max_length)`` long (padding labelled ``-100``), plus ``token_type_ids`` if
        the tokenizer makes them; ``word_ids`` is each row's ``word_ids()`` list, for
        :func:`word_predictions`.

    Raises:
        ValueError: different numbers of sentences and label lists, a sentence and its labels of
            different lengths, plus the errors of :func:`align_labels_to_tokens`.
        TypeError: a slow tokenizer, or a sentence given as one string.

    Example:
        >>> features, word_ids = tokenize_and_align_labels(tok, [["Alice", "sleeps"]], [[1, 0]])  # doctest: +SKIP
        >>> features["labels"][0, :4].tolist()  # doctest: +SKIP
        [-100, 1, 0, -100]
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(
            f"tokenize_and_align_labels needs a fast tokenizer (word_ids()), got {type(tokenizer).__name__}."
        )
    if len(sentences) != len(word_labels):
        raise ValueError(f"got {len(sentences)} sentences but {len(word_labels)} label lists; pass one per sentence.")
    for i, (words, labels) in enumerate(zip(sentences, word_labels)):
        if isinstance(words, str):
            raise TypeError(
                f"sentence {i} is a string; pass each sentence as a list of words, e.g. {words.split()[:3]!r}."
            )
        if len(words) != len(labels):
            raise ValueError(
                f"sentence {i} has {len(words)} words but {len(labels)} labels; each word needs exactly one label."
            )
    encoded = tokenizer(
        [list(words) for words in sentences],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        padding="max_length",
    )
    word_ids = [encoded.word_ids(i) for i in range(len(sentences))]
    labels = [
        align_labels_to_tokens(labels, ids, label_all_subwords=label_all_subwords, label_names=label_names)
        for labels, ids in zip(word_labels, word_ids)
    ]
    features = {
        key: torch.tensor(encoded[key], dtype=torch.long)
        for key in ("input_ids", "attention_mask", "token_type_ids")
        if key in encoded
    }
    features["labels"] = torch.tensor(labels, dtype=torch.long)  # (sentences, max_length)
    return features, word_ids


def word_predictions(token_predictions, word_ids: Sequence[int | None], *, num_words: int | None = None) -> list[int | None]:
    """One prediction per word: the prediction made on the word's first sub-word.

    This mirrors the default alignment, where only first sub-words are trained. A word with no token
    has no prediction and gets ``None``: a word the tokenizer drops entirely (``""``, ``" "``, a
    zero-width space ``"\\u200b"``, a soft hyphen) and, when ``num_words`` is given, a word cut off by
    truncation. Without ``num_words`` the result stops at the last word the tokens reach.

    Args:
        token_predictions: ``(seq,)`` predicted label ids of one sentence (``logits.argmax(-1)[i]``).
        word_ids: the sentence's ``word_ids()``, same length.
        num_words: the number of words in the sentence, to get exactly one entry per word.

    Returns:
        ``list[int | None]``, the label id of words ``0, 1, ...``; ``None`` for a word without a token.

    Raises:
        ValueError: the two sequences have different lengths, or the word ids reach a word
            ``>= num_words``.

    Example:
        >>> word_predictions([0, 1, 2, 0, 0], [None, 0, 0, 1, None])
        [1, 0]
        >>> word_predictions([0, 1, 3, 0], [None, 0, 2, None], num_words=4)  # word 1 has no token, word 3 cut off
        [1, None, 3, None]
    """
    predictions = token_predictions.tolist() if isinstance(token_predictions, torch.Tensor) else list(token_predictions)
    ids = _word_ids_list(word_ids)
    if len(predictions) != len(ids):
        raise ValueError(
            f"got {len(predictions)} token predictions but {len(ids)} word ids; both must describe the same "
            f"tokens (one row of the batch, padding included)."
        )
    first_token: dict[int, int] = {}
    for position, w in enumerate(ids):
        if w is not None and w not in first_token:
            first_token[w] = position
    reached = max(first_token) + 1 if first_token else 0
    if num_words is not None and reached > num_words:
        raise ValueError(
            f"the tokens come from word {reached - 1} but num_words={num_words}; pass the word count of the "
            f"sentence that was tokenized."
        )
    n = reached if num_words is None else num_words
    return [int(predictions[first_token[w]]) if w in first_token else None for w in range(n)]


def tags_to_ids(tags: Sequence[str], label_names: Sequence[str]) -> list[int]:
    """BIO tag names to label ids.

    Raises:
        ValueError: a tag is not in ``label_names``.

    Example:
        >>> tags_to_ids(["B-PER", "O"], ["O", "B-PER", "I-PER"])
        [1, 0]
    """
    index = {name: i for i, name in enumerate(label_names)}
    unknown = [tag for tag in tags if tag not in index]
    if unknown:
        raise ValueError(f"unknown tags {sorted(set(unknown))[:5]}; the known tags are {list(label_names)}.")
    return [index[tag] for tag in tags]


def ids_to_tags(ids: Sequence[int], label_names: Sequence[str]) -> list[str]:
    """Label ids to BIO tag names.

    Raises:
        ValueError: an id outside ``label_names`` (``-100`` included: drop ignored positions first).

    Example:
        >>> ids_to_tags([1, 0], ["O", "B-PER", "I-PER"])
        ['B-PER', 'O']
    """
    values = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
    if any(i is None for i in values):
        raise ValueError(
            f"label ids {values} hold None: a word without a token has no prediction. Give those words a tag "
            f"of your choice first (tag_sentences uses {NO_TOKEN_TAG!r})."
        )
    bad = [i for i in values if not 0 <= int(i) < len(label_names)]
    if bad:
        raise ValueError(
            f"label ids {sorted(set(bad))[:5]} are outside label_names (0 to {len(label_names) - 1}); "
            f"-100 marks ignored tokens, map predictions back to words with word_predictions first."
        )
    return [label_names[int(i)] for i in values]
