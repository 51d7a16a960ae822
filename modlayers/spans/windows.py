"""Long contexts: overlapping windows with a stride, each labelled, and the best answer over all windows."""

from __future__ import annotations

from typing import Sequence

import torch

from modlayers.spans.decoding import (
    Answer,
    _as_logits,
    _check_no_nan_or_plus_inf,
    _check_positive_int,
    best_spans,
)
from modlayers.spans.offsets import MISSING_ANSWER_CONVENTIONS, char_span_to_token_span, token_span_to_char_span


def encode_qa_windows(
    tokenizer,
    questions: Sequence[str],
    contexts: Sequence[str],
    *,
    answer_starts: Sequence[int] | None = None,
    answer_texts: Sequence[str] | None = None,
    max_length: int = 128,
    stride: int = 32,
    missing: str = "cls",
) -> dict[str, torch.Tensor]:
    """Tokenize (question, context) pairs into fixed-length windows over long contexts.

    A context longer than the window is cut into several windows that all repeat the question; two
    consecutive windows share ``stride`` context tokens, so an answer cut by one window boundary is
    whole in the next window. This is the fast tokenizer's ``truncation="only_second"``,
    ``return_overflowing_tokens=True``, ``stride=stride``, ``return_offsets_mapping=True``.

    Args:
        tokenizer: a *fast* tokenizer (offset mappings and ``sequence_ids`` are needed).
        questions, contexts: one string each per example, same length.
        answer_starts, answer_texts: optional, one per example: the answer's first character in the
            context and its text. Given both, the windows are labelled (``start_positions``,
            ``end_positions``).
        max_length: tokens per window, question and special tokens included.
        stride: context tokens shared by consecutive windows, ``0 <= stride`` and small enough that the
            question, the special tokens and ``stride`` context tokens fit (the tokenizer itself would
            otherwise abort with a panic).
        missing: label of a window that does not hold its example's answer: ``"cls"`` puts both
            positions on ``[CLS]`` (index 0); ``"ignore"`` puts them at ``max_length``, past every
            window, so the loss clamps and ignores them (see :func:`char_span_to_token_span`).

    Returns:
        A dict of tensors, one row per window (``windows >= len(questions)``):
        ``input_ids``, ``attention_mask`` (and ``token_type_ids`` if the tokenizer makes them)
        ``(windows, max_length)`` long; ``offset_mapping`` ``(windows, max_length, 2)`` long;
        ``context_mask`` ``(windows, max_length)`` bool; ``example_index`` ``(windows,)`` long, the
        example each window comes from; with answers, ``start_positions`` and ``end_positions``
        ``(windows,)`` long.

    Raises:
        ValueError: lists of different lengths, only one of the answer lists, an unknown ``missing``,
            a ``stride`` that does not fit, an answer text that is not found at ``answer_start``, an
            answer (or a whole context) that produces no token (see :func:`char_span_to_token_span`).
        TypeError: a slow tokenizer (no offset mappings).

    Example:
        >>> windows = encode_qa_windows(tok, ["Who sat?"], [long_context], max_length=64, stride=16)  # doctest: +SKIP
        >>> windows["input_ids"].shape  # (windows, 64), windows >= 1  # doctest: +SKIP
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(
            f"encode_qa_windows needs a fast tokenizer (offset mappings, sequence_ids), got "
            f"{type(tokenizer).__name__}; load it with AutoTokenizer.from_pretrained(..., use_fast=True) "
            f"or modlayers.lessons.data.load_tokenizer()."
        )
    if isinstance(questions, str) or isinstance(contexts, str):
        raise TypeError("questions and contexts must be lists of strings; wrap a single example as [question], [context].")
    if len(questions) != len(contexts):
        raise ValueError(f"got {len(questions)} questions but {len(contexts)} contexts; pass one context per question.")
    if (answer_starts is None) != (answer_texts is None):
        raise ValueError("pass both answer_starts and answer_texts to label the windows, or neither to only encode them.")
    if answer_starts is not None and not (len(answer_starts) == len(answer_texts) == len(questions)):
        raise ValueError(
            f"got {len(questions)} questions, {len(answer_starts)} answer_starts and {len(answer_texts)} "
            f"answer_texts; pass one answer per question."
        )
    if missing not in MISSING_ANSWER_CONVENTIONS:
        raise ValueError(f"missing={missing!r} is not one of {MISSING_ANSWER_CONVENTIONS}.")
    _check_positive_int("max_length", max_length)
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 0:
        raise ValueError(f"stride must be an int >= 0, got {stride!r}.")
    n_special = tokenizer.num_special_tokens_to_add(pair=True)
    for i, question in enumerate(questions):
        room = max_length - n_special - len(tokenizer(question, add_special_tokens=False)["input_ids"])
        if stride >= room:
            raise ValueError(
                f"question {i} leaves room for {room} context tokens per window (max_length={max_length} "
                f"minus the question and {n_special} special tokens), but stride={stride} needs more than "
                f"that; lower stride below {max(room, 0)} or raise max_length."
            )
    if answer_starts is not None:
        for i, (context, start, text) in enumerate(zip(contexts, answer_starts, answer_texts)):
            if start < 0:
                raise ValueError(f"answer_starts[{i}]={start} is negative; character positions start at 0.")
            if not text or context[start : start + len(text)] != text:
                raise ValueError(
                    f"example {i}: context[{start}:{start + len(text)}] is "
                    f"{context[start:start + len(text)]!r}, not the answer {text!r}; answer_start must be the "
                    f"character where the answer text begins in the context."
                )

    encoded = tokenizer(
        list(questions),
        list(contexts),
        max_length=max_length,
        stride=stride,
        truncation="only_second",
        padding="max_length",
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    n_windows = len(encoded["input_ids"])
    windows = {
        key: torch.tensor(encoded[key], dtype=torch.long)
        for key in ("input_ids", "attention_mask", "token_type_ids")
        if key in encoded
    }
    windows["offset_mapping"] = torch.tensor(encoded["offset_mapping"], dtype=torch.long)  # (windows, seq, 2)
    windows["context_mask"] = torch.tensor(
        [[sid == 1 for sid in encoded.sequence_ids(w)] for w in range(n_windows)], dtype=torch.bool
    )  # (windows, seq)
    windows["example_index"] = torch.tensor(encoded["overflow_to_sample_mapping"], dtype=torch.long)

    if answer_starts is not None:
        missing_position = 0 if missing == "cls" else max_length
        positions = []
        for w, example in enumerate(windows["example_index"].tolist()):
            try:
                positions.append(
                    char_span_to_token_span(
                        windows["offset_mapping"][w],
                        windows["context_mask"][w],
                        answer_starts[example],
                        answer_starts[example] + len(answer_texts[example]),
                        missing_position=missing_position,
                    )
                )
            except ValueError as error:  # say which example: the answer (or its context) has no token
                raise ValueError(f"example {example} (answer {answer_texts[example]!r}): {error}") from error
        windows["start_positions"] = torch.tensor([s for s, _ in positions], dtype=torch.long)
        windows["end_positions"] = torch.tensor([e for _, e in positions], dtype=torch.long)
    return windows


def decode_windows(
    start_logits,
    end_logits,
    offset_mapping,
    context_mask,
    context: str,
    *,
    max_answer_length: int = 30,
    n_best: int = 20,
) -> list[Answer]:
    """The best answers over all windows of *one* example, best first.

    Each window proposes its ``n_best`` context spans (:func:`best_spans`); all proposals are ranked
    together by score, so the answer comes from whichever window is most confident. Spans read from
    the overlap of two windows may appear twice (same characters, two scores); only the best copy is
    kept.

    Args:
        start_logits, end_logits: ``(windows, seq)`` floats, the head's logits for this example's windows.
        offset_mapping: ``(windows, seq, 2)`` character offsets into ``context``.
        context_mask: ``(windows, seq)`` bools, True on context tokens.
        context: the example's context string.
        max_answer_length, n_best: as in :func:`best_spans`.

    Returns:
        Up to ``n_best`` :class:`Answer` s, sorted by decreasing score; an empty list when no window
        has a context span scoring above ``-inf``.

    Raises:
        ValueError: a NaN or ``+inf`` logit, its ``(window, token)`` positions named; shapes that differ.

    Example:
        >>> rows = windows["example_index"] == 0  # the windows of example 0  # doctest: +SKIP
        >>> answers = decode_windows(out.start_logits[rows], out.end_logits[rows],  # doctest: +SKIP
        ...                          windows["offset_mapping"][rows], windows["context_mask"][rows], context)
        >>> answers[0].text  # doctest: +SKIP
    """
    start = _as_logits("start_logits", start_logits)
    end = _as_logits("end_logits", end_logits)
    if start.ndim == 1:  # a single window
        start, end = start[None], end[None]
        offset_mapping = torch.as_tensor(offset_mapping)[None]
        context_mask = torch.as_tensor(context_mask)[None]
    offsets = torch.as_tensor(offset_mapping)
    mask = torch.as_tensor(context_mask)
    if start.ndim != 2 or start.shape != end.shape:
        raise ValueError(
            f"expected start_logits and end_logits of the same shape (windows, seq), got "
            f"{tuple(start.shape)} and {tuple(end.shape)}."
        )
    if offsets.shape != (*start.shape, 2) or mask.shape != start.shape:
        raise ValueError(
            f"offset_mapping {tuple(offsets.shape)} and context_mask {tuple(mask.shape)} must match the logits "
            f"{tuple(start.shape)} (offsets with a trailing 2); select the same window rows from each."
        )
    _check_no_nan_or_plus_inf("start_logits", start)  # names (window, token), before any window is decoded
    _check_no_nan_or_plus_inf("end_logits", end)
    best_by_chars: dict[tuple[int, int], Answer] = {}
    for w in range(start.shape[0]):
        for span in best_spans(
            start[w], end[w], max_answer_length=max_answer_length, n_best=n_best, context_mask=mask[w]
        ):
            char_start, char_end = token_span_to_char_span(span.start, span.end, offsets[w])
            answer = Answer(context[char_start:char_end], char_start, char_end, span.score, w, span.start, span.end)
            kept = best_by_chars.get((char_start, char_end))
            if kept is None or answer.score > kept.score:
                best_by_chars[(char_start, char_end)] = answer
    return sorted(best_by_chars.values(), key=lambda a: a.score, reverse=True)[:n_best]


def decode_answers(
    windows: dict[str, torch.Tensor],
    start_logits,
    end_logits,
    contexts: Sequence[str],
    *,
    max_answer_length: int = 30,
) -> list[str]:
    """The best answer text of every example, decoded across its windows.

    Args:
        windows: the dict returned by :func:`encode_qa_windows` for ``contexts``.
        start_logits, end_logits: ``(windows, seq)``, the head's logits for all those windows, in order.
        contexts: the context strings, one per example.
        max_answer_length: as in :func:`best_spans`.

    Returns:
        One string per example (``""`` for an example with no window, which cannot happen with
        windows from :func:`encode_qa_windows`).

    Example:
        >>> decode_answers(windows, out.start_logits, out.end_logits, contexts)  # doctest: +SKIP
        ['the mat', ...]
    """
    example_index = windows["example_index"]
    start = _as_logits("start_logits", start_logits)
    end = _as_logits("end_logits", end_logits)
    if start.shape[0] != example_index.shape[0]:
        raise ValueError(
            f"got logits for {start.shape[0]} windows but the encoding has {example_index.shape[0]}; run the "
            f"model on every window, in order."
        )
    if int(example_index.max()) >= len(contexts):
        raise ValueError(
            f"the windows refer to {int(example_index.max()) + 1} examples but {len(contexts)} contexts were "
            f"given; pass the contexts that were encoded, in the same order."
        )
    texts = []
    for example, context in enumerate(contexts):
        rows = (example_index == example).nonzero().flatten()
        if rows.numel() == 0:
            texts.append("")
            continue
        answers = decode_windows(
            start[rows],
            end[rows],
            windows["offset_mapping"][rows],
            windows["context_mask"][rows],
            context,
            max_answer_length=max_answer_length,
            n_best=1,
        )
        texts.append(answers[0].text if answers else "")
    return texts
