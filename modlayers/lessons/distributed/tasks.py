"""The three tasks of the kit, as a model to train and its training features.

Each task encodes the kit's data the way its notebook does (01: classification, 02: question answering with
windows, 03: tagging with labels aligned to sub-words) and puts the matching head on a base model:

- ``tiny``: the kit's :class:`~modlayers.lessons.tiny_transformer.TinyTransformerModel`, built fresh from the seed
  (a decoder for classification, an encoder for QA and tagging), with the kit's tokenizer;
- ``pretrained``: the pretrained BERT MiniLM encoder (:func:`modlayers.lessons.pretrained.load_pretrained`, 6 layers,
  hidden 384) with its own tokenizer; only the head starts fresh.

:func:`items_in_batch` counts what a task's loss averages over, so that a loss computed on a rank's share of the
batch can be weighted to give the loss of the whole batch (see :mod:`modlayers.lessons.distributed.training_run`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import nn

from modlayers.lessons.data import (
    CLASSIFICATION_LABELS,
    TAGGING_LABELS,
    load_classification,
    load_qa,
    load_tagging,
    load_tokenizer,
)
from modlayers.heads import GenericForQuestionAnswering, GenericForSequenceClassification, GenericForTokenClassification
from modlayers.lessons.tiny_transformer import TinyTransformerConfig, TinyTransformerPreTrainedModel

TASKS = ("classification", "qa", "tagging")
MODEL_KINDS = ("tiny", "pretrained")
QA_MAX_LENGTH, QA_STRIDE = 192, 64  # as notebook 02
TAGGING_MAX_LENGTH = 48  # as notebook 03: every sentence of the kit's tagging data fits
CLASSIFICATION_MAX_LENGTH = 64


class TinyClassifier(GenericForSequenceClassification, TinyTransformerPreTrainedModel):
    """The sequence classification head on the kit's tiny transformer (notebook 01)."""


class TinyReader(GenericForQuestionAnswering, TinyTransformerPreTrainedModel):
    """The question answering head on the kit's tiny transformer (notebook 02)."""


class TinyTagger(GenericForTokenClassification, TinyTransformerPreTrainedModel):
    """The token classification head on the kit's tiny transformer (notebook 03)."""


@dataclasses.dataclass
class Task:
    """A task ready to train.

    Attributes:
        name: ``"classification"``, ``"qa"`` or ``"tagging"``.
        make_model: builds a fresh model (call it after seeding: every rank must build the same weights).
        features: name -> tensor with one row per training example (``input_ids``, ``attention_mask`` and the
            labels the head's loss needs).
        lr: a learning rate that suits the model.
    """

    name: str
    make_model: Callable[[], nn.Module]
    features: dict[str, torch.Tensor]
    lr: float


TINY_ATTENTION_HEADS = 4  # the tiny model's heads: its hidden size must be a multiple


def _tiny_config(task: str, tokenizer, **overrides) -> TinyTransformerConfig:
    settings = dict(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=TINY_ATTENTION_HEADS,
                    pad_token_id=tokenizer.pad_token_id)
    if task == "classification":
        settings.update(max_position_embeddings=CLASSIFICATION_MAX_LENGTH, num_labels=len(CLASSIFICATION_LABELS))
    elif task == "qa":
        settings.update(max_position_embeddings=QA_MAX_LENGTH, is_causal=False, hidden_size=96)
    else:
        settings.update(max_position_embeddings=TAGGING_MAX_LENGTH, is_causal=False, num_labels=len(TAGGING_LABELS))
    return TinyTransformerConfig(**{**settings, **overrides})


def task_features(task: str, tokenizer, split: str = "train", limit: int | None = None) -> dict[str, torch.Tensor]:
    """Encode the kit's ``split`` of ``task`` with ``tokenizer``, as the task's notebook does.

    Args:
        task: ``"classification"``, ``"qa"`` or ``"tagging"``.
        tokenizer: a fast tokenizer (the kit's, or the pretrained model's).
        split: ``"train"`` or ``"validation"``.
        limit: keep only the first ``limit`` records (``None``: all).

    Returns:
        name -> tensor of shape ``(examples, seq_len)`` (``labels`` of a classification: ``(examples,)``;
        QA: one row per window, with ``start_positions`` / ``end_positions`` of shape ``(windows,)``).

    Raises:
        ValueError: an unknown task.

    Example:
        >>> features = task_features("classification", load_tokenizer(), limit=8)
        >>> features["input_ids"].shape[0], features["labels"].shape
        (8, torch.Size([8]))
    """
    check_task(task)
    if task == "classification":
        records = load_classification(split)[:limit]
        encoded = tokenizer([r["text"] for r in records], padding=True, truncation=True,
                            max_length=CLASSIFICATION_MAX_LENGTH, return_tensors="pt")
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"],
                "labels": torch.tensor([r["label"] for r in records])}
    if task == "qa":
        from modlayers.lessons.pipelines import model_inputs
        from modlayers.spans import encode_qa_windows

        records = load_qa(split)[:limit]
        windows = encode_qa_windows(tokenizer, [r["question"] for r in records], [r["context"] for r in records],
                                    answer_starts=[r["answer_start"] for r in records],
                                    answer_texts=[r["answer_text"] for r in records],
                                    max_length=QA_MAX_LENGTH, stride=QA_STRIDE)
        return model_inputs(windows, labels=["start_positions", "end_positions"])
    from modlayers.label_alignment import tags_to_ids, tokenize_and_align_labels

    records = load_tagging(split)[:limit]
    word_labels = [tags_to_ids(r["tags"], TAGGING_LABELS) for r in records]
    encoded, _ = tokenize_and_align_labels(tokenizer, [r["words"] for r in records], word_labels,
                                           max_length=TAGGING_MAX_LENGTH)
    return {name: encoded[name] for name in ("input_ids", "attention_mask", "labels")}


def check_task(task: str) -> None:
    """Raise ``ValueError`` for a task name the kit does not have."""
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; choose one of {', '.join(TASKS)}.")


def build_task(task: str, model: str = "tiny", *, limit: int | None = None, **tiny_overrides) -> Task:
    """The model maker and training features of ``task`` on a ``model`` of the given kind.

    Args:
        task: ``"classification"``, ``"qa"`` or ``"tagging"``.
        model: ``"tiny"`` (the kit's tiny transformer, built from scratch) or ``"pretrained"`` (BERT MiniLM).
        limit: train on the first ``limit`` records only.
        **tiny_overrides: ``TinyTransformerConfig`` fields for the tiny model (e.g. ``num_hidden_layers=4``,
            ``hidden_dropout=0.0``).

    Raises:
        ValueError: an unknown task or model kind, or ``tiny_overrides`` with ``model="pretrained"``.

    Example:
        >>> task = build_task("tagging", "tiny", limit=16, hidden_dropout=0.0)
        >>> type(task.make_model()).__name__
        'TinyTagger'
    """
    check_task(task)
    if model not in MODEL_KINDS:
        raise ValueError(f"Unknown model kind {model!r}; choose one of {', '.join(MODEL_KINDS)}.")
    if model == "pretrained":
        if tiny_overrides:
            raise ValueError(f"{sorted(tiny_overrides)} configure the tiny model only; the pretrained one is fixed.")
        return _pretrained_task(task, limit)
    tokenizer = load_tokenizer()
    config = _tiny_config(task, tokenizer, **tiny_overrides)
    head = {"classification": TinyClassifier, "qa": TinyReader, "tagging": TinyTagger}[task]
    lr = {"classification": 3e-3, "qa": 2e-3, "tagging": 3e-3}[task]
    return Task(task, lambda: head(config), task_features(task, tokenizer, limit=limit), lr)


def _pretrained_task(task: str, limit: int | None) -> Task:
    from modlayers.lessons.pretrained import load_pretrained, load_pretrained_tokenizer

    num_labels = {"classification": len(CLASSIFICATION_LABELS), "qa": None, "tagging": len(TAGGING_LABELS)}[task]
    tokenizer = load_pretrained_tokenizer()
    return Task(task, lambda: load_pretrained(task, num_labels)[0], task_features(task, tokenizer, limit=limit), 5e-5)


def items_in_batch(task: str, batch: dict[str, torch.Tensor]) -> int:
    """How many items the task's loss averages over in ``batch``.

    Classification: the labels that are not ``-100``; tagging: the tokens whose label is not ``-100``; QA: the
    windows whose answer start lies inside the window (a position ``>= seq_len`` is ignored by the loss).

    Example:
        >>> items_in_batch("tagging", {"labels": torch.tensor([[-100, 3, 0, -100]])})
        2
    """
    check_task(task)
    if task == "qa":
        return int((batch["start_positions"] < batch["input_ids"].shape[1]).sum())
    return int((batch["labels"] != -100).sum())
