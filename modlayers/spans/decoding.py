"""Decoding: from start/end logits to the best token spans (``start <= end``, a maximum length, inside the context)."""

from __future__ import annotations

from typing import NamedTuple

import torch


class Span(NamedTuple):
    """A token span, ``start`` and ``end`` inclusive, with its score ``start_logit + end_logit``."""

    start: int
    end: int
    score: float


class Answer(NamedTuple):
    """A decoded answer: its text, where it lies in the context and where it came from."""

    text: str
    char_start: int  # context[char_start:char_end] == text
    char_end: int
    score: float  # start_logit + end_logit of the chosen tokens
    window: int  # index of the window (row of the logits) the span was read from
    token_start: int  # inclusive token span inside that window
    token_end: int


def _as_logits(name: str, values) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        tensor = values.detach()
    else:
        try:
            tensor = torch.as_tensor(values)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"{name} must be a tensor or a sequence of numbers, got {type(values).__name__}; "
                f"pass e.g. outputs.{name}[0] for the first example of a batch."
            ) from error
    if not (tensor.is_floating_point() or tensor.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"{name} must hold numbers, got dtype {tensor.dtype}.")
    return tensor.float().cpu()


def _check_no_nan_or_plus_inf(name: str, tensor: torch.Tensor) -> None:
    """Raise a ValueError naming the positions of NaN or +inf logits (-inf is allowed: a position never chosen).

    A NaN would rank anywhere (``torch.sort`` puts it first) and ``+inf + -inf`` is NaN: both come from a bug
    upstream (an overflow in float16, a division by zero), and no span read from them means anything.
    """
    bad = torch.isnan(tensor) | torch.isposinf(tensor)
    if bool(bad.any()):
        where = [tuple(p) if len(p) > 1 else p[0] for p in bad.nonzero().tolist()]
        kind = "(window, token) positions" if tensor.ndim > 1 else "token positions"
        raise ValueError(
            f"{name} holds NaN or +inf at {kind} {where[:10]}{' ...' if len(where) > 10 else ''}; "
            f"logits must be finite numbers, or -inf for a position that can never be chosen. Look for an "
            f"overflow (float16) or a division by zero in the model that produced them."
        )


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r}).")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}; a span always holds at least one token.")


def best_spans(
    start_logits,
    end_logits,
    *,
    max_answer_length: int = 30,
    n_best: int = 20,
    context_mask=None,
) -> list[Span]:
    """The ``n_best`` highest-scoring valid spans of one sequence, best first.

    A span ``(start, end)`` is valid when ``start <= end``, it holds at most ``max_answer_length``
    tokens (``end - start + 1 <= max_answer_length``), if ``context_mask`` is given both of its
    ends are context tokens, and its score is above ``-inf``. Its score is
    ``start_logits[start] + end_logits[end]``: the two logits are log-probabilities up to a constant,
    so the sum ranks spans like the product of probabilities. A ``-inf`` logit (a position masked
    out upstream) has probability 0: no span starting or ending there is ever returned.

    Args:
        start_logits: ``(seq,)`` floats, the head's ``start_logits`` for one example (one window);
            finite, or ``-inf`` where no span may start.
        end_logits: ``(seq,)`` floats, same shape; finite or ``-inf``.
        max_answer_length: longest answer, in tokens, that may be returned; at least 1.
        n_best: how many spans to return at most; at least 1.
        context_mask: optional ``(seq,)`` bools, True on context tokens (``sequence_ids == 1``). With
            it, spans over the question, special tokens or padding are never proposed.

    Returns:
        Up to ``n_best`` :class:`Span` s sorted by decreasing score (equal scores: earlier start, then
        earlier end, first), every score finite; fewer if fewer spans are valid, an empty list if none
        is (a mask with no True, or every allowed span has a ``-inf`` logit at one end).

    Raises:
        ValueError: a NaN or ``+inf`` logit (its positions named), logits not 1-D or of different
            lengths, a mask of the wrong shape, ``max_answer_length`` or ``n_best`` below 1.
        TypeError: logits or mask of the wrong dtype, ``max_answer_length`` or ``n_best`` not an int.

    Example:
        >>> best_spans([0.0, 2.0, 1.0], [0.0, 0.0, 3.0], max_answer_length=2, n_best=2)
        [Span(start=1, end=2, score=5.0), Span(start=2, end=2, score=4.0)]
    """
    start = _as_logits("start_logits", start_logits)
    end = _as_logits("end_logits", end_logits)
    if start.ndim != 1 or end.ndim != 1:
        raise ValueError(
            f"best_spans decodes one sequence: expected 1-D logits of shape (seq,), got start_logits "
            f"{tuple(start.shape)} and end_logits {tuple(end.shape)}; index the batch first, e.g. "
            f"outputs.start_logits[0]. Use decode_windows for several windows of one example."
        )
    if start.shape != end.shape:
        raise ValueError(
            f"start_logits has {start.shape[0]} tokens but end_logits has {end.shape[0]}; "
            f"both must come from the same forward pass."
        )
    _check_no_nan_or_plus_inf("start_logits", start)
    _check_no_nan_or_plus_inf("end_logits", end)
    _check_positive_int("max_answer_length", max_answer_length)
    _check_positive_int("n_best", n_best)
    seq_len = start.shape[0]
    if context_mask is None:
        mask = torch.ones(seq_len, dtype=torch.bool)
    else:
        mask = torch.as_tensor(context_mask)
        if mask.dtype != torch.bool:
            raise TypeError(
                f"context_mask must hold bools (True on context tokens), got dtype {mask.dtype}; "
                f"build it as torch.tensor(sequence_ids) == 1 or pass the 'context_mask' of encode_qa_windows."
            )
        if mask.shape != (seq_len,):
            raise ValueError(f"context_mask has shape {tuple(mask.shape)}, expected ({seq_len},) like the logits.")
        mask = mask.cpu()

    scores = start[:, None] + end[None, :]  # (seq, seq): row = start token, column = end token
    index = torch.arange(seq_len)
    length = index[None, :] - index[:, None] + 1  # (seq, seq): end - start + 1
    allowed = (length >= 1) & (length <= max_answer_length) & mask[:, None] & mask[None, :]
    scores = scores.masked_fill(~allowed, float("-inf")).flatten()  # (seq * seq,)
    # A span with a -inf logit at either end has probability 0: it is no candidate, however few remain.
    # (Counting only `allowed` would let the sort fill up n_best with -inf spans, masked or end < start.)
    n_valid = int((scores > float("-inf")).sum())
    if n_valid == 0:
        return []
    # A stable sort breaks ties the same way everywhere: the earlier start first, then the earlier end.
    values, order = torch.sort(scores, descending=True, stable=True)
    k = min(n_best, n_valid)
    return [
        Span(int(flat) // seq_len, int(flat) % seq_len, float(score))
        for score, flat in zip(values[:k].tolist(), order[:k].tolist())
    ]


def best_span(start_logits, end_logits, *, max_answer_length: int = 30, context_mask=None) -> Span:
    """The single highest-scoring valid span (see :func:`best_spans` for the rules).

    Raises:
        ValueError: no span is valid (``context_mask`` has no True, or every allowed span has a
            ``-inf`` logit at one end), plus the errors of :func:`best_spans`. Use :func:`best_spans`,
            which returns an empty list then, to handle that case without an exception.

    Example:
        >>> best_span([0.0, 2.0, 1.0], [3.0, 0.0, 0.0])  # end 0 would precede start 1
        Span(start=0, end=0, score=3.0)
    """
    spans = best_spans(start_logits, end_logits, max_answer_length=max_answer_length, n_best=1, context_mask=context_mask)
    if not spans:
        if context_mask is not None and not bool(torch.as_tensor(context_mask).any()):
            raise ValueError(
                "no valid span: context_mask marks no token as context. Check the mask "
                "(True where sequence_ids == 1) or leave it out to allow every token."
            )
        raise ValueError(
            f"no valid span scores above -inf: every span of at most max_answer_length={max_answer_length} "
            f"tokens{' inside context_mask' if context_mask is not None else ''} has a -inf start or end logit. "
            f"Check what set those logits to -inf, or call best_spans, which returns [] here."
        )
    return spans[0]
