"""A small, deterministic training loop for the kit's notebooks.

Every head in the kit returns a ``ModelOutput`` whose ``.loss`` is set when labels are given, so one
loop trains them all: call ``model(**batch)``, back-propagate ``output.loss``, step AdamW. Nothing here
is specific to one task; the notebooks build the batches (dicts of tensors) and hand them over.

The pieces:

- :func:`pick_device` -- CUDA when it is there, else the CPU.
- :func:`set_seed` -- seed Python, NumPy and PyTorch so that two runs give the same numbers.
- :func:`batches_from` -- cut a dict of equally long tensors into (optionally shuffled) batches.
- :func:`adamw` -- AdamW, fused where torch allows it (one kernel for the whole update).
- :func:`train` -- the loop; returns the loss of every step, ready for a loss curve.
- :func:`predict` and :func:`evaluate_accuracy` -- run a model without gradients.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping

import numpy as np
import torch
from tqdm.auto import tqdm

Batch = Mapping[str, torch.Tensor]
Batches = Iterable[Batch] | Callable[[], Iterable[Batch]]


def pick_device() -> torch.device:
    """Return the device to train on: the first CUDA GPU when there is one, else the CPU.

    Example:
        >>> pick_device().type in {"cuda", "cpu"}
        True
    """
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every GPU) with ``seed``.

    Call it before building a model (its initial weights are random) and before training (dropout and
    shuffling are random). On the CPU two runs from the same seed then give identical losses; on a GPU
    some kernels are not bit-for-bit reproducible, so expect agreement to a few decimals only.

    Raises:
        TypeError: ``seed`` is not an ``int``.

    Example:
        >>> set_seed(0); a = torch.rand(2)
        >>> set_seed(0); b = torch.rand(2)
        >>> torch.equal(a, b)
        True
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"set_seed expects an int seed, got {type(seed).__name__} {seed!r}.")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def batches_from(
    tensors: Mapping[str, torch.Tensor],
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    trim_padding: bool = False,
) -> Callable[[], Iterator[dict[str, torch.Tensor]]]:
    """Cut equally long tensors into batches; return a callable that yields one epoch of them.

    Args:
        tensors: name -> tensor, all with the same first dimension ``n`` (e.g. the output of a
            tokenizer called with ``return_tensors="pt"`` plus a ``"labels"`` tensor).
        batch_size: examples per batch; the last batch of an epoch may be smaller.
        shuffle: draw a new order every epoch. The order comes from a generator seeded with ``seed``,
            so it does not depend on (or disturb) the global random state.
        seed: seed of the shuffling generator.
        trim_padding: cut each batch to its own longest row: drop the trailing positions where
            ``attention_mask`` is 0 in every row of the batch, from every tensor with that sequence
            dimension. Short batches then cost less. Leading columns that are padding in every row
            (left padding) go too, except in a batch with token positions (``start_positions``), which
            would then point elsewhere.

    Returns:
        A function of no arguments; each call yields the batches of one epoch, dicts with the same keys
        as ``tensors`` and values of shape ``(batch_size, ...)``. :func:`train` calls it once per epoch.

    Raises:
        ValueError: ``tensors`` is empty, the first dimensions differ, ``batch_size < 1``, or
            ``trim_padding`` without a 2-D ``attention_mask``.

    Example:
        >>> epoch = batches_from({"x": torch.arange(5), "labels": torch.zeros(5)}, batch_size=2)
        >>> [b["x"].tolist() for b in epoch()]
        [[0, 1], [2, 3], [4]]
    """
    if not tensors:
        raise ValueError("batches_from needs at least one tensor, got an empty mapping.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    lengths = {name: t.shape[0] for name, t in tensors.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(
            f"All tensors must have the same first dimension (one row per example), got {lengths}. "
            "Did you pad every field to the same number of examples?"
        )
    if trim_padding and ("attention_mask" not in tensors or tensors["attention_mask"].dim() != 2):
        raise ValueError("trim_padding=True needs an 'attention_mask' tensor of shape (n, seq_len) to find the padding.")
    n = next(iter(lengths.values()))
    generator = torch.Generator().manual_seed(seed)

    def one_epoch() -> Iterator[dict[str, torch.Tensor]]:
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)  # (n,)
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]  # (batch,)
            batch = {name: t[rows] for name, t in tensors.items()}
            if trim_padding:
                batch = _trim_trailing_padding(batch)
            yield batch

    one_epoch.batches_per_epoch = -(-n // batch_size)  # read by train() for its progress bar's total
    return one_epoch


def _trim_trailing_padding(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the positions that are padding in every row, at the end (right padding) and at the start (left
    padding), from all (batch, seq, ...) tensors."""
    mask = batch["attention_mask"]  # (batch, seq_len)
    seq_len = mask.shape[1]
    used = mask.any(dim=0).nonzero()  # positions some row attends to
    first, keep = (int(used.min()), int(used.max()) + 1) if len(used) else (0, seq_len)
    if "start_positions" in batch:
        first = 0  # QA labels are token positions: cutting columns in front would move them
    if first == 0 and keep == seq_len:
        return batch
    return {name: t[:, first:keep] if t.dim() >= 2 and t.shape[1] == seq_len else t for name, t in batch.items()}


def _epoch_source(batches: Batches, epochs: int) -> Callable[[], Iterable[Batch]]:
    """Turn ``batches`` into a function that gives one epoch; refuse one-shot iterators for epochs > 1."""
    if callable(batches) and not hasattr(batches, "__iter__"):
        return batches
    if iter(batches) is batches and epochs > 1:  # a generator or iterator: empty after one pass
        raise ValueError(
            f"`batches` is a one-shot iterator ({type(batches).__name__}), but epochs={epochs}: it "
            "would be empty after the first epoch. Pass a list of batches, or a function that returns "
            "a fresh iterable each time it is called (for example modlayers.lessons.training.batches_from(...))."
        )
    return lambda: batches


def _to_device(batch: Batch, device: torch.device) -> dict[str, torch.Tensor]:
    return {name: value.to(device) if isinstance(value, torch.Tensor) else value for name, value in batch.items()}


def _count(batches: Iterable[Batch]) -> int | None:
    try:
        return len(batches)  # type: ignore[arg-type]
    except TypeError:
        return None


def adamw(params: Iterable, *, lr: float, weight_decay: float = 0.01) -> torch.optim.AdamW:
    """``torch.optim.AdamW`` with ``fused=True`` where torch allows it, else its default (``foreach``) form.

    Args:
        params: parameters, or parameter groups (dicts with ``"params"`` and their own ``"lr"``).
        lr, weight_decay: as ``torch.optim.AdamW``.

    torch's fused kernel refuses parameters that are not real floating point tensors (a complex parameter:
    ``RuntimeError`` at the first ``step()``); for those the same update runs unfused, with the same result.

    Example:
        >>> optimizer = adamw(torch.nn.Linear(2, 2).parameters(), lr=1e-3)
        >>> optimizer.defaults["fused"]
        True
    """
    params = list(params)
    tensors = [t for p in params for t in (p["params"] if isinstance(p, dict) else [p])]
    # torch's fused kernel takes real floating point tensors only; it refuses others at the first step()
    if all(torch.is_floating_point(t) for t in tensors):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def train(
    model: torch.nn.Module,
    batches: Batches,
    *,
    epochs: int = 1,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    max_grad_norm: float | None = 1.0,
    device: torch.device | str | None = None,
    progress: bool = True,
    description: str = "training",
) -> list[float]:
    """Train ``model`` with AdamW on ``batches``; return the loss of every optimisation step.

    Each step runs ``output = model(**batch)`` and back-propagates ``output.loss``, so every batch must
    carry the labels the model's loss needs (``labels``, or ``start_positions``/``end_positions`` for
    question answering). The model is left in training mode on ``device``.

    Args:
        model: a module whose output has a ``.loss`` attribute (any transformers-style head).
        batches: the batches of one epoch -- a list (reused every epoch) or a function returning a
            fresh iterable per epoch (e.g. :func:`batches_from` with ``shuffle=True``). Each batch is a
            dict of tensors; tensors are moved to ``device``.
        epochs: passes over ``batches``.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        max_grad_norm: clip the gradient norm to this before each step; ``None`` disables clipping.
        device: where to train; ``None`` picks one with :func:`pick_device`.
        progress: show a tqdm progress bar (a widget in Jupyter, text in a terminal).
        description: label of the progress bar.

    Returns:
        ``list[float]``, one loss per step, ``epochs * batches_per_epoch`` long.

    Raises:
        ValueError: ``epochs < 1``, a one-shot iterator for several epochs, an empty epoch, or a model
            output without a loss (labels missing from the batch).

    Example:
        >>> set_seed(0)
        >>> losses = train(model, batches_from(features, 32, shuffle=True), epochs=3, lr=3e-3)  # doctest: +SKIP
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    epoch_source = _epoch_source(batches, epochs)
    device = torch.device(device) if device is not None else pick_device()
    model.to(device)
    model.train()
    optimizer = adamw(model.parameters(), lr=lr, weight_decay=weight_decay)

    first_epoch = epoch_source()
    per_epoch = _count(first_epoch)
    if per_epoch is None:  # a generator: batches_from says how many batches an epoch has
        per_epoch = getattr(batches, "batches_per_epoch", None)
    total = per_epoch * epochs if per_epoch is not None else None
    bar = tqdm(total=total, desc=description, disable=not progress, leave=True)
    losses: list[float] = []
    for epoch in range(epochs):
        steps_this_epoch = 0
        for batch in first_epoch if epoch == 0 else epoch_source():
            output = model(**_to_device(batch, device))
            loss = output.loss if hasattr(output, "loss") else None
            if loss is None:
                bar.close()
                raise ValueError(
                    f"The model returned no loss for a batch with keys {sorted(batch)}. Heads compute a "
                    "loss only when labels are given: add 'labels' (or 'start_positions' and "
                    "'end_positions' for question answering) to every batch."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            losses.append(loss.item())
            steps_this_epoch += 1
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{losses[-1]:.3f}")
        if steps_this_epoch == 0:
            bar.close()
            raise ValueError(f"Epoch {epoch + 1} had no batches; `batches` must yield at least one dict.")
    bar.close()
    return losses


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    batches: Batches,
    *,
    device: torch.device | str | None = None,
) -> list[dict[str, torch.Tensor]]:
    """Run ``model`` over ``batches`` in eval mode without gradients; return each batch's outputs.

    Returns:
        One dict per batch holding every tensor of the model output (``logits``, ``start_logits``,
        ``loss`` when labels were given, ...) moved to the CPU. Batches may have different sequence
        lengths, so they are not concatenated. The model is put back into the mode it was in.

    Example:
        >>> outputs = predict(model, batches_from(features, 64))  # doctest: +SKIP
        >>> outputs[0]["logits"].shape  # (batch, num_labels)  # doctest: +SKIP
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.to(device)
    model.eval()
    results = []
    batch_source = batches() if callable(batches) and not hasattr(batches, "__iter__") else batches
    for batch in batch_source:
        output = model(**_to_device(batch, device))
        items = output.items() if hasattr(output, "items") else vars(output).items()
        results.append({k: v.detach().cpu() for k, v in items if isinstance(v, torch.Tensor)})
    model.train(was_training)
    return results


def evaluate_accuracy(
    model: torch.nn.Module,
    batches: Batches,
    *,
    device: torch.device | str | None = None,
    ignore_index: int = -100,
) -> float:
    """Share of labels that ``argmax(logits, dim=-1)`` gets right, over all batches.

    Works for sequence classification (logits ``(batch, num_labels)``, labels ``(batch,)``) and token
    classification (logits ``(batch, seq, num_labels)``, labels ``(batch, seq)``); label positions equal
    to ``ignore_index`` (padding, special tokens, continuation sub-words) are not counted.

    Raises:
        ValueError: a batch has no ``labels``, or no label was counted at all.

    Example:
        >>> evaluate_accuracy(model, batches_from(validation_features, 64))  # doctest: +SKIP
        0.93
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.to(device)
    model.eval()
    correct = counted = 0
    batch_source = batches() if callable(batches) and not hasattr(batches, "__iter__") else batches
    with torch.no_grad():
        for batch in batch_source:
            if "labels" not in batch:
                raise ValueError(f"evaluate_accuracy needs 'labels' in every batch, got keys {sorted(batch)}.")
            batch = _to_device(batch, device)
            logits = model(**batch).logits  # (batch, num_labels) or (batch, seq, num_labels)
            predictions = logits.argmax(dim=-1)  # (batch,) or (batch, seq)
            labels = batch["labels"]
            keep = labels != ignore_index
            correct += (predictions[keep] == labels[keep]).sum().item()
            counted += keep.sum().item()
    model.train(was_training)
    if counted == 0:
        raise ValueError(f"No labels to score: every label equals ignore_index={ignore_index} (or no batches).")
    return correct / counted
