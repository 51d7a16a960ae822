"""From a trained head to answers and tags: the small pipelines the QA and tagging lessons use.

Like transformers' ``pipeline("question-answering")`` and ``pipeline("token-classification")``, but
each step is a function you have already met:

- question answering: :func:`modlayers.spans.encode_qa_windows` -> the head -> :func:`qa_logits`
  -> :func:`modlayers.spans.decode_windows`; :func:`answer_question` for one question,
  :func:`evaluate_qa` for a dataset (SQuAD exact match and F1);
- tagging: :func:`split_words` -> :func:`modlayers.label_alignment.tokenize_and_align_labels`-style
  encoding -> the head -> :func:`modlayers.label_alignment.word_predictions`; :func:`tag_sentences`
  for sentences, :func:`evaluate_tagging` for a dataset (entity-level F1).

The model runs in eval mode without gradients on whatever device it is on.
"""

from __future__ import annotations

import re
from typing import Sequence

import torch

from modlayers.label_alignment import NO_TOKEN_TAG, ids_to_tags, word_predictions
from modlayers.metrics import entity_scores, squad_scores
from modlayers.spans import Answer, decode_answers, decode_windows, encode_qa_windows
from modlayers.lessons.training import batches_from, predict

__all__ = [
    "MODEL_INPUTS",
    "model_inputs",
    "takes_token_type_ids",
    "qa_logits",
    "answer_question",
    "evaluate_qa",
    "split_words",
    "tag_sentences",
    "evaluate_tagging",
]

MODEL_INPUTS = ("input_ids", "attention_mask")
"""The tensors the kit's heads read from an encoding; offsets, masks and labels stay behind."""


def takes_token_type_ids(model) -> bool:
    """Whether ``model``'s base model (e.g. BERT) reads ``token_type_ids``, the segment (question 0, context 1) of each token.

    Example:
        >>> takes_token_type_ids(load_pretrained("qa")[0]), takes_token_type_ids(tiny_reader)  # doctest: +SKIP
        (True, False)
    """
    from modlayers.base_model import _forward_parameters

    base = getattr(model, getattr(model, "base_model_prefix", ""), None) if model is not None else None
    return base is not None and "token_type_ids" in _forward_parameters(type(base))


def model_inputs(features: dict, labels: Sequence[str] = (), *, model=None) -> dict[str, torch.Tensor]:
    """Keep only what the model's ``forward`` takes: ``input_ids``, ``attention_mask`` and ``labels``.

    With ``model`` given, ``token_type_ids`` is kept too when its base model reads them (BERT: without them
    it cannot tell the question from the context); the kit's tiny models have no segment embedding.

    Example:
        >>> sorted(model_inputs({"input_ids": 1, "offset_mapping": 2}, labels=["start_positions"]))
        ['input_ids']
    """
    keys = (*MODEL_INPUTS, "token_type_ids") if takes_token_type_ids(model) else MODEL_INPUTS
    return {key: features[key] for key in (*keys, *labels) if key in features}


def qa_logits(model, windows: dict, *, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a QA head over every window; return ``(start_logits, end_logits)``, each ``(windows, seq)`` on the CPU.

    Example:
        >>> start_logits, end_logits = qa_logits(model, windows)  # doctest: +SKIP
    """
    outputs = predict(model, batches_from(model_inputs(windows, model=model), batch_size))
    start = torch.cat([o["start_logits"] for o in outputs])  # (windows, seq)
    end = torch.cat([o["end_logits"] for o in outputs])  # (windows, seq)
    return start, end


def answer_question(
    model,
    tokenizer,
    question: str,
    context: str,
    *,
    max_length: int = 192,
    stride: int = 64,
    max_answer_length: int = 10,
    n_best: int = 5,
) -> list[Answer]:
    """The ``n_best`` answers to one question, best first, decoded across the context's windows.

    Example:
        >>> answer_question(model, tokenizer, "Where was Ada born?", context)[0].text  # doctest: +SKIP
        'Osterby'
    """
    windows = encode_qa_windows(tokenizer, [question], [context], max_length=max_length, stride=stride)
    start, end = qa_logits(model, windows)
    return decode_windows(
        start, end, windows["offset_mapping"], windows["context_mask"], context,
        max_answer_length=max_answer_length, n_best=n_best,
    )


def evaluate_qa(
    model,
    tokenizer,
    records: Sequence[dict],
    *,
    max_length: int = 192,
    stride: int = 64,
    max_answer_length: int = 10,
) -> dict:
    """SQuAD exact match and F1 of a QA head on records with ``question``, ``context``, ``answer_text``.

    Returns:
        ``{"exact_match": float, "f1": float, "predictions": list[str]}``, scores in ``[0, 1]``.

    Example:
        >>> evaluate_qa(model, tokenizer, load_qa("validation"))["f1"]  # doctest: +SKIP
    """
    contexts = [r["context"] for r in records]
    windows = encode_qa_windows(
        tokenizer, [r["question"] for r in records], contexts, max_length=max_length, stride=stride
    )
    start, end = qa_logits(model, windows)
    predictions = decode_answers(windows, start, end, contexts, max_answer_length=max_answer_length)
    scores = squad_scores(predictions, [r["answer_text"] for r in records])
    return {**scores, "predictions": predictions}


_WORD = re.compile(r"\w+|[^\w\s]")


def split_words(text: str) -> list[str]:
    """Split typed text into words the way the tagging data is split: words and punctuation apart.

    Example:
        >>> split_words("Ada moved to Osterby in 2019.")
        ['Ada', 'moved', 'to', 'Osterby', 'in', '2019', '.']
    """
    if not isinstance(text, str):
        raise TypeError(f"split_words expects a string, got {type(text).__name__}.")
    return _WORD.findall(text)


def tag_sentences(
    model,
    tokenizer,
    sentences: Sequence[Sequence[str]],
    label_names: Sequence[str],
    *,
    max_length: int = 64,
    batch_size: int = 64,
) -> list[list[str]]:
    """Predict one BIO tag per word for each sentence (given as a list of words).

    Each word is tagged with the prediction on its first sub-word (:func:`word_predictions`). A word
    with no token gets no prediction and is tagged ``NO_TOKEN_TAG`` (``"O"``): a word the tokenizer
    drops (``""``, ``" "``, ``"\\u200b"``) or one cut off by ``max_length``. So the result always
    has one tag per word, as :func:`modlayers.metrics.entity_scores` needs.

    Example:
        >>> tag_sentences(model, tokenizer, [["Ada", "lives", "in", "Osterby"]], TAGGING_LABELS)  # doctest: +SKIP
        [['B-PER', 'O', 'O', 'B-LOC']]
    """
    if isinstance(sentences, str) or any(isinstance(words, str) for words in sentences):
        raise TypeError("pass each sentence as a list of words (see split_words), not as a string.")
    sentences = [list(words) for words in sentences]
    if not sentences:
        return []
    nonempty = [words if words else ["."] for words in sentences]  # an empty sentence still gets a row
    encoded = tokenizer(nonempty, is_split_into_words=True, truncation=True, max_length=max_length,
                        padding="max_length", return_tensors="pt")
    outputs = predict(model, batches_from(model_inputs(encoded), batch_size))
    predicted = torch.cat([o["logits"] for o in outputs]).argmax(dim=-1)  # (sentences, seq)
    tags = []
    for i, words in enumerate(sentences):
        ids = word_predictions(predicted[i], encoded.word_ids(i), num_words=len(nonempty[i]))[: len(words)]
        tags.append([NO_TOKEN_TAG if label is None else ids_to_tags([label], label_names)[0] for label in ids])
    return tags


def evaluate_tagging(
    model,
    tokenizer,
    records: Sequence[dict],
    label_names: Sequence[str],
    *,
    max_length: int = 64,
) -> dict:
    """Entity-level precision, recall and F1 of a tagger on records with ``words`` and ``tags``.

    Returns:
        :func:`modlayers.metrics.entity_scores` plus ``"predictions"`` (the predicted tags).

    Example:
        >>> evaluate_tagging(model, tokenizer, load_tagging("validation"), TAGGING_LABELS)["f1"]  # doctest: +SKIP
    """
    predictions = tag_sentences(model, tokenizer, [r["words"] for r in records], label_names, max_length=max_length)
    return {**entity_scores([r["tags"] for r in records], predictions), "predictions": predictions}
