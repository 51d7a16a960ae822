"""Token spans <-> character spans, through the tokenizer's offset mapping (training labels and answers' text)."""

from __future__ import annotations

import torch


# How a window that does not contain the answer is labelled (see char_span_to_token_span).
MISSING_ANSWER_CONVENTIONS = ("cls", "ignore")


def _check_offsets(offset_mapping) -> list[tuple[int, int]]:
    if isinstance(offset_mapping, torch.Tensor):
        offset_mapping = offset_mapping.tolist()
    try:
        pairs = [(int(a), int(b)) for a, b in offset_mapping]
    except (TypeError, ValueError) as error:
        raise TypeError(
            "offset_mapping must be a sequence of (char_start, char_end) pairs, one per token, as returned "
            "by a fast tokenizer called with return_offsets_mapping=True."
        ) from error
    return pairs


def token_span_to_char_span(start: int, end: int, offset_mapping) -> tuple[int, int]:
    """Map an inclusive token span to a half-open character span of the text the offsets refer to.

    Args:
        start, end: token indices, ``0 <= start <= end < len(offset_mapping)``.
        offset_mapping: ``(seq, 2)`` pairs ``(char_start, char_end)`` per token (fast tokenizer,
            ``return_offsets_mapping=True``). For a question/context pair the offsets of context tokens
            index the context string.

    Returns:
        ``(char_start, char_end)`` with ``text[char_start:char_end]`` covering every token of the span:
        from the first character of ``start`` to the last character of ``end``.

    Raises:
        ValueError: ``start > end`` or an index outside the sequence.

    Example:
        >>> token_span_to_char_span(1, 2, [(0, 0), (0, 3), (4, 7), (0, 0)])
        (0, 7)
    """
    pairs = _check_offsets(offset_mapping)
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int token index, got {type(value).__name__}.")
        if not 0 <= value < len(pairs):
            raise ValueError(
                f"{name}={value} is outside the sequence of {len(pairs)} tokens; token indices run from 0 "
                f"to {len(pairs) - 1}."
            )
    if start > end:
        raise ValueError(f"start={start} comes after end={end}; a span needs start <= end.")
    return pairs[start][0], pairs[end][1]


def char_span_to_token_span(
    offset_mapping,
    context_mask,
    answer_start: int,
    answer_end: int,
    *,
    missing_position: int = 0,
) -> tuple[int, int]:
    """Turn a character answer into start/end token positions inside one window.

    The answer ``context[answer_start:answer_end]`` is *in* the window when the window's context
    tokens cover it completely. Then ``start`` is the first context token holding a character of the
    answer and ``end`` the last one (answers that begin or end inside a word piece extend to the whole
    piece; characters no token holds, such as a leading space or a zero-width space, are skipped). When the answer is not (wholly) in the window, both positions
    are ``missing_position``:

    - ``0`` (the default, "cls"): point at ``[CLS]``. The model learns that this window has no answer,
      and the span decoder never picks ``[CLS]`` because it only looks at context tokens;
    - ``seq_len`` or more ("ignore"): the QA loss clamps positions to ``seq_len`` and ignores them,
      so the window adds nothing to the loss.

    Args:
        offset_mapping: ``(seq, 2)`` character offsets of the window's tokens into the context.
        context_mask: ``(seq,)`` bools, True on context tokens (``sequence_ids == 1``).
        answer_start: first character of the answer in the context, ``>= 0``.
        answer_end: one past the last character, ``> answer_start``.
        missing_position: the position used for both ends when the answer is not in the window;
            must be ``>= 0`` (negative positions are rejected by the loss).

    Returns:
        ``(start_position, end_position)``, inclusive token indices.

    Raises:
        ValueError: negative or empty answer span, negative ``missing_position``, offsets and mask of
            different lengths, a window with no context token, or an answer inside the window that no
            token covers (its characters all dropped by the tokenizer, e.g. ``"\\u200b"``): labelling
            the neighbouring tokens would teach a wrong span.

    Example:
        >>> offsets = [(0, 0), (0, 5), (0, 0), (0, 3), (4, 7), (8, 11), (0, 0)]
        >>> in_context = [False, False, False, True, True, True, False]
        >>> char_span_to_token_span(offsets, in_context, 4, 11)  # "cat sat"
        (4, 5)
        >>> char_span_to_token_span(offsets, in_context, 20, 23)  # not in this window
        (0, 0)
    """
    pairs = _check_offsets(offset_mapping)
    mask = [bool(m) for m in (context_mask.tolist() if isinstance(context_mask, torch.Tensor) else context_mask)]
    if len(mask) != len(pairs):
        raise ValueError(
            f"offset_mapping has {len(pairs)} tokens but context_mask has {len(mask)}; both describe the same window."
        )
    if answer_start < 0:
        raise ValueError(f"answer_start={answer_start} is negative; character positions start at 0.")
    if answer_end <= answer_start:
        raise ValueError(
            f"answer_end={answer_end} must be greater than answer_start={answer_start}; the answer is "
            f"context[answer_start:answer_end], so answer_end = answer_start + len(answer_text)."
        )
    if missing_position < 0:
        raise ValueError(
            f"missing_position={missing_position} is negative; the QA loss rejects negative positions. "
            f"Use 0 to point at [CLS] or the window length (or more) to have the loss ignore the window."
        )
    context_tokens = [i for i, inside in enumerate(mask) if inside]
    if not context_tokens:
        raise ValueError(
            "the window has no context token (context_mask is all False): the context produced no token (it is "
            "empty, or only characters the tokenizer drops), or the mask is wrong."
        )
    first, last = context_tokens[0], context_tokens[-1]
    if pairs[first][0] > answer_start or pairs[last][1] < answer_end:
        return missing_position, missing_position
    if not any(pairs[i][0] < answer_end and pairs[i][1] > answer_start for i in context_tokens):
        raise ValueError(
            f"the answer, characters {answer_start} to {answer_end} of the context, lies in the window but no token "
            f"holds any of its characters: the tokenizer drops them all (spaces, zero-width spaces \\u200b, soft "
            f"hyphens), so no start/end position can point at it. Fix the answer text, or leave the example out."
        )
    # The first and the last context token holding a character of the answer. (transformers' run_qa example
    # takes the last token starting at or before answer_start: the same, unless the answer begins with
    # characters no token holds, a space or a zero-width space, where it would add the token before.)
    start = min(i for i in context_tokens if pairs[i][1] > answer_start)
    end = max(i for i in context_tokens if pairs[i][0] < answer_end)
    return start, end
