"""The losses of the three task heads, as plain functions.

Each ``check_*`` function validates labels before any work is done (the heads call
them before the base model runs); each ``*_loss`` function checks again and
computes the loss. The loss is chosen from ``problem_type`` and the labels, never
from a class name.

A batch in which every target is ignored (all ``-100``, or every answer outside the
window) has nothing to learn from: its loss is ``0.0``, still connected to the
graph so ``backward()`` works and gives zero gradients. Upstream returns NaN there.
That holds with ``num_items_in_batch=0`` too, what ``Trainer`` passes for such a step.

Gradient accumulation: every ``*_loss`` function takes ``num_items_in_batch``, the
number of targets in the *whole* batch that one optimizer step sees (all accumulated
micro-batches, all processes), as transformers' ``Trainer`` passes it. Given, the loss
is ``sum / num_items_in_batch`` instead of a mean over this micro-batch, so the
micro-batches' losses add up to the full batch's mean whatever their sizes.

Precision: every loss is computed in float32 whatever the logits' dtype (float64 stays float64), with
the labels in float32 too. Under float16 autocast (``Trainer(fp16=True)``) a regression target above
65504 is not ``inf``, and under bfloat16 the loss is the float32 one. transformers upcasts only its
causal-LM loss; on a GPU, autocast runs its sequence losses in float32 but with the labels as given.

Value checks (labels in range, positions not negative) read tensors on the host. Inside
``torch.compile`` (``torch.compiler.is_compiling()``) they are skipped, so the compiled
graph has no data-dependent host read and no device synchronisation; shapes and dtypes
are still checked. Run the model eagerly once to get the clear errors.
"""

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")


def _is_integer(tensor: torch.Tensor) -> bool:
    return not (tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool)


def _require_tensor(name: str, value) -> None:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}.")


def _checks_values() -> bool:
    """False inside torch.compile: value checks would read tensors on the host."""
    return not torch.compiler.is_compiling()


def _upcast(logits: torch.Tensor) -> torch.Tensor:
    """Logits in float32 (float64 stays float64): every loss is computed at least in float32.

    In float16 a regression target above 65504 is ``inf``; in bfloat16 (8 bits of mantissa) the targets
    and the reduction over a batch lose about three significant digits. autocast's float32 list does
    not help a loss whose labels were already cast to the logits' dtype.
    """
    return logits.double() if logits.dtype == torch.float64 else logits.float()


def _divide(summed: torch.Tensor, count, n_targets) -> torch.Tensor:
    """``summed / count``; ``count`` is a number or a (0-d or 1-element) tensor, e.g. Trainer's ``num_items_in_batch``.

    A count of 0 is what ``Trainer`` passes for a step whose labels are all -100. Then there is no target
    here either, ``summed`` is 0, and dividing by 1 instead gives a loss of 0.0 with zero gradients, not
    0 / 0 = NaN. ``n_targets`` (this micro-batch's targets) is checked against it first: a count of 0
    with targets here, or a negative count, is a ValueError.
    """
    if isinstance(count, torch.Tensor):
        count = count.to(summed.device).reshape(())
    if _checks_values():
        items, here = float(count), int(n_targets)
        if items < 0 or (items == 0 and here > 0):
            raise ValueError(
                f"num_items_in_batch={items:g} but this batch holds {here} target(s) that are not ignored. It counts "
                f"the targets of the whole batch (every accumulated micro-batch, every process): at least these "
                f"{here}. Pass that count, or None for a mean over this batch."
            )
    if isinstance(count, torch.Tensor):
        return summed / count.clamp(min=1)
    return summed / max(count, 1)


def masked_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = IGNORE_INDEX, num_items_in_batch=None
) -> torch.Tensor:
    """Mean cross-entropy over the targets that are not ``ignore_index``; ``0.0`` if there are none.

    Computed in float32 whatever the logits' dtype (float64 stays float64).

    Args:
        logits: ``(n, num_classes)``.
        targets: ``(n,)`` int64 class indices or ``ignore_index``.
        num_items_in_batch: if given, divide the summed loss by it instead of by the number of
            kept targets here (gradient accumulation: the count over the whole batch). ``0`` (a step
            whose targets are all ignored) gives ``0.0`` with zero gradients, not NaN.

    Raises:
        ValueError: ``num_items_in_batch`` negative, or 0 while some target here is kept.

    Example:
        >>> masked_cross_entropy(torch.zeros(2, 4), torch.tensor([1, -100]))  # log(4)
        tensor(1.3863)
    """
    summed = F.cross_entropy(_upcast(logits), targets, ignore_index=ignore_index, reduction="sum")
    kept = (targets != ignore_index).sum()
    if num_items_in_batch is not None:
        return _divide(summed, num_items_in_batch, kept)
    return summed / kept.clamp(min=1)


def _check_class_indices(name: str, labels: torch.Tensor, num_labels: int) -> None:
    """Integer dtype, each value in [0, num_labels) or IGNORE_INDEX."""
    if not _is_integer(labels):
        raise TypeError(
            f"{name} must be integer class indices for classification, got dtype {labels.dtype}. "
            "Convert with .long(); for multi-hot float targets use problem_type='multi_label_classification'."
        )
    if not _checks_values():
        return
    bad = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= num_labels))
    if bool(bad.any()):
        values = sorted(set(labels[bad].tolist()))[:5]
        raise ValueError(
            f"{name} hold class indices {values} outside [0, {num_labels}). Each label must be a class index "
            f"below num_labels={num_labels}, or {IGNORE_INDEX} to ignore that example."
        )


# ---------------------------------------------------------------- sequence classification


def infer_problem_type(num_labels: int, labels: torch.Tensor) -> str:
    """The problem type transformers infers when ``config.problem_type`` is unset.

    One output is regression; several outputs with integer labels (any integer dtype)
    are single-label classification; anything else is multi-label classification.

    Example:
        >>> infer_problem_type(3, torch.tensor([0, 2]))
        'single_label_classification'
    """
    _require_tensor("labels", labels)
    if num_labels == 1:
        return "regression"
    if _is_integer(labels):
        return "single_label_classification"
    return "multi_label_classification"


def _outside_unit_interval(labels: torch.Tensor) -> str:
    """The first few values of ``labels`` outside [0, 1] (NaN included), for an error message."""
    outside = labels[~((labels >= 0) & (labels <= 1))]
    return ", ".join(str(value) for value in outside.flatten()[:5].tolist())


def check_sequence_classification_labels(
    labels: torch.Tensor, problem_type: str, num_labels: int, batch_size: int
) -> None:
    """Raise a ValueError/TypeError if ``labels`` do not fit ``problem_type``.

    Expected labels:
        - ``regression``: real numbers, ``(batch,)`` or ``(batch, 1)`` with one label,
          ``(batch, num_labels)`` with several.
        - ``single_label_classification``: integers in ``[0, num_labels)`` or ``-100``,
          ``(batch,)`` or ``(batch, 1)``.
        - ``multi_label_classification``: multi-hot values in ``[0, 1]`` (float, int or bool),
          ``(batch, num_labels)``.
    """
    _require_tensor("labels", labels)
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(f"problem_type must be one of {PROBLEM_TYPES} or None, got {problem_type!r}.")
    shape = tuple(labels.shape)
    if labels.is_complex():
        raise TypeError(f"labels must be real numbers, got dtype {labels.dtype}.")

    if problem_type == "single_label_classification":
        if shape not in ((batch_size,), (batch_size, 1)):
            raise ValueError(
                f"single_label_classification needs one class index per example: labels of shape ({batch_size},), "
                f"got {shape}. For several labels per example use problem_type='multi_label_classification'."
            )
        _check_class_indices("labels", labels, num_labels)
    elif problem_type == "multi_label_classification":
        if shape != (batch_size, num_labels):
            hint = ""
            if labels.is_floating_point() and shape in ((batch_size,), (batch_size, 1)):
                hint = (
                    " Float labels with several outputs are read as multi-label targets; for class indices "
                    "pass an integer tensor (labels.long())."
                )
            raise ValueError(
                f"multi_label_classification needs a multi-hot row per example: labels of shape "
                f"({batch_size}, {num_labels}), got {shape}.{hint}"
            )
        # written as "not inside" so that a NaN (every comparison False) is caught too
        if _checks_values() and not bool(((labels >= 0) & (labels <= 1)).all()):
            raise ValueError("multi_label_classification labels must lie in [0, 1] (1 = the label applies); "
                             f"got {_outside_unit_interval(labels)}.")
    else:  # regression
        expected = ((batch_size,), (batch_size, 1)) if num_labels == 1 else ((batch_size, num_labels),)
        if shape not in expected:
            raise ValueError(
                f"regression with num_labels={num_labels} needs labels of shape "
                f"{' or '.join(str(e) for e in expected)}, got {shape}."
            )
        if labels.dtype == torch.bool:
            raise TypeError("regression labels must be numbers, got dtype torch.bool.")


def sequence_classification_loss(
    pooled_logits: torch.Tensor,
    labels: torch.Tensor,
    problem_type: str | None = None,
    num_labels: int | None = None,
    num_items_in_batch=None,
) -> torch.Tensor:
    """Loss of a sequence classifier from its pooled logits, computed in float32 whatever their dtype.

    Labels are cast to float32 too (not to the logits' dtype): under float16 autocast, what
    ``Trainer(fp16=True)`` uses, a regression target above 65504 would be ``inf``.

    Args:
        pooled_logits: ``(batch, num_labels)``, one row per sequence.
        labels: see :func:`check_sequence_classification_labels`.
        problem_type: ``"regression"`` (MSE), ``"single_label_classification"`` (cross-entropy,
            ignoring -100) or ``"multi_label_classification"`` (BCE with logits); ``None``
            infers it with :func:`infer_problem_type`.
        num_labels: defaults to ``pooled_logits.shape[-1]``.
        num_items_in_batch: the number of label values in the whole batch (Trainer counts the
            labels that are not -100). Given, the loss is the *summed* loss divided by it: for
            every problem type the loss is a mean over label values (examples for single label and
            one-output regression; examples x outputs for multi-output regression and multi label),
            so this gives the full-batch mean when micro-batches are accumulated. ``0`` (all labels
            -100) gives ``0.0`` with zero gradients, not NaN; 0 with labels to learn from raises.

    Returns:
        A scalar tensor.

    Example:
        >>> sequence_classification_loss(torch.zeros(2, 3), torch.tensor([0, 2]))  # log(3)
        tensor(1.0986)
    """
    _require_tensor("pooled_logits", pooled_logits)
    if pooled_logits.dim() != 2:
        raise ValueError(f"pooled_logits must be (batch, num_labels), got shape {tuple(pooled_logits.shape)}.")
    batch_size = pooled_logits.shape[0]
    num_labels = pooled_logits.shape[-1] if num_labels is None else num_labels
    problem_type = problem_type or infer_problem_type(num_labels, labels)
    check_sequence_classification_labels(labels, problem_type, num_labels, batch_size)
    labels = labels.to(pooled_logits.device)

    reduction = "mean" if num_items_in_batch is None else "sum"
    logits = _upcast(pooled_logits)  # (batch, num_labels), float32 at least
    if problem_type == "regression":
        if num_labels == 1:
            loss = F.mse_loss(logits.reshape(-1), labels.reshape(-1).to(logits.dtype), reduction=reduction)
        else:
            loss = F.mse_loss(logits, labels.to(logits.dtype), reduction=reduction)
    elif problem_type == "single_label_classification":
        return masked_cross_entropy(logits.view(-1, num_labels), labels.reshape(-1).long(), num_items_in_batch=num_items_in_batch)
    else:
        loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), reduction=reduction)
    return loss if num_items_in_batch is None else _divide(loss, num_items_in_batch, labels.numel())


# ---------------------------------------------------------------- question answering


def check_span_positions(start_positions, end_positions, batch_size: int) -> None:
    """Raise if answer positions are missing, mis-shaped, non-integer or negative.

    Positions at or past the sequence length are allowed: they mean "the answer is not
    in this window" and are ignored by the loss.
    """
    if (start_positions is None) != (end_positions is None):
        given, missing = ("start_positions", "end_positions") if end_positions is None else ("end_positions", "start_positions")
        raise ValueError(
            f"{given} was given without {missing}. Pass both to compute the span loss, or neither for logits only."
        )
    if start_positions is None:
        return
    for name, positions in (("start_positions", start_positions), ("end_positions", end_positions)):
        _require_tensor(name, positions)
        if tuple(positions.shape) not in ((batch_size,), (batch_size, 1)):
            raise ValueError(f"{name} must have shape ({batch_size},), one position per example, got {tuple(positions.shape)}.")
        if not _is_integer(positions):
            raise TypeError(f"{name} must be integer token positions, got dtype {positions.dtype}. Convert with .long().")
        if not _checks_values():
            continue
        is_negative = positions.reshape(-1) < 0  # (batch,)
        if bool(is_negative.any()):
            negative = is_negative.nonzero().flatten().tolist()
            raise ValueError(
                f"{name} are negative for example(s) {negative}. Positions are token indices >= 0; "
                "to mark an answer that is not in the window use a position >= seq_len (it is ignored)."
            )


def question_answering_loss(
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    start_positions: torch.Tensor,
    end_positions: torch.Tensor,
    num_items_in_batch=None,
) -> torch.Tensor:
    """Mean of the start and end cross-entropies of an extractive QA head, in float32 whatever the logits' dtype.

    Positions at or past ``seq_len`` (the answer lies outside this window) are
    clamped to ``seq_len`` and ignored. If no start (or no end) position lies inside
    the window, that half of the loss is 0, so the result is never NaN.

    Args:
        start_logits, end_logits: ``(batch, seq_len)``.
        start_positions, end_positions: ``(batch,)`` integer token positions, ``>= 0``.
        num_items_in_batch: the number of examples in the whole batch. Given, each half is
            its summed cross-entropy divided by it (examples whose position lies outside the
            window add nothing). transformers' ``Trainer`` counts only a ``labels`` input, so
            for QA it passes no count and divides by the accumulation steps itself. ``0`` gives
            ``0.0`` with zero gradients when no position lies inside the window (else a ValueError).

    Example:
        >>> question_answering_loss(torch.zeros(1, 4), torch.zeros(1, 4), torch.tensor([1]), torch.tensor([2]))
        tensor(1.3863)
    """
    if start_logits.dim() != 2 or start_logits.shape != end_logits.shape:
        raise ValueError(
            f"start_logits and end_logits must both be (batch, seq_len), got {tuple(start_logits.shape)} "
            f"and {tuple(end_logits.shape)}."
        )
    batch_size, seq_len = start_logits.shape
    check_span_positions(start_positions, end_positions, batch_size)
    # Everything past the window becomes seq_len, a class the logits do not have, and is ignored.
    start_positions = start_positions.reshape(-1).to(start_logits.device).long().clamp(0, seq_len)  # (batch,)
    end_positions = end_positions.reshape(-1).to(end_logits.device).long().clamp(0, seq_len)  # (batch,)
    start_loss = masked_cross_entropy(start_logits, start_positions, seq_len, num_items_in_batch)
    end_loss = masked_cross_entropy(end_logits, end_positions, seq_len, num_items_in_batch)
    return (start_loss + end_loss) / 2


# ---------------------------------------------------------------- token classification


def check_token_labels(labels: torch.Tensor, num_labels: int, batch_size: int, seq_len: int) -> None:
    """Raise unless ``labels`` is ``(batch, seq_len)`` of class indices in ``[0, num_labels)`` or -100."""
    _require_tensor("labels", labels)
    if tuple(labels.shape) != (batch_size, seq_len):
        raise ValueError(
            f"token labels must have shape ({batch_size}, {seq_len}), one label per token (-100 for tokens "
            f"to ignore), got {tuple(labels.shape)}."
        )
    _check_class_indices("labels", labels, num_labels)


def token_classification_loss(
    logits: torch.Tensor, labels: torch.Tensor, num_labels: int | None = None, num_items_in_batch=None
) -> torch.Tensor:
    """Cross-entropy over every token whose label is not -100, computed in float32.

    The logits are upcast first: in float16/bfloat16 the log-sum-exp over many
    tokens loses precision, and the loss is a mean over all of them.

    Args:
        logits: ``(batch, seq_len, num_labels)``.
        labels: ``(batch, seq_len)`` class indices or -100.
        num_items_in_batch: the number of labelled tokens (not -100) in the whole batch, as
            ``Trainer`` counts them. Given, the loss is the summed loss divided by it; ``0`` (every
            label -100) gives ``0.0`` with zero gradients, not NaN.

    Example:
        >>> token_classification_loss(torch.zeros(1, 3, 2), torch.tensor([[0, -100, 1]]))  # log(2)
        tensor(0.6931)
    """
    if logits.dim() != 3:
        raise ValueError(f"logits must be (batch, seq_len, num_labels), got shape {tuple(logits.shape)}.")
    batch_size, seq_len, width = logits.shape
    num_labels = width if num_labels is None else num_labels
    check_token_labels(labels, num_labels, batch_size, seq_len)
    flat_logits = _upcast(logits.reshape(-1, num_labels))  # (batch * seq_len, num_labels)
    flat_labels = labels.reshape(-1).to(logits.device).long()  # (batch * seq_len,)
    return masked_cross_entropy(flat_logits, flat_labels, num_items_in_batch=num_items_in_batch)
