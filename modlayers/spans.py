"""Answer spans for extractive question answering: from start/end logits to text, and back.

A question-answering head (``GenericForQuestionAnswering``) scores every token twice: how likely the
answer *starts* there and how likely it *ends* there. This module holds everything around those two
vectors, as pure functions:

- decoding: :func:`best_spans` / :func:`best_span` pick ``(start, end)`` with ``start <= end`` and a
  maximum answer length, scored ``start_logit + end_logit``, optionally only inside the context;
- characters: :func:`token_span_to_char_span` maps a token span back to the context string with the
  tokenizer's offset mapping; :func:`char_span_to_token_span` goes the other way for training labels;
- long contexts: :func:`encode_qa_windows` splits (question, context) pairs into overlapping windows
  with a stride and labels each window; :func:`decode_windows` / :func:`decode_answers` pick the best
  span over all windows of an example.

Conventions used throughout:

- token spans are **inclusive** ``(start, end)`` token indices, like the head's ``start_positions`` and
  ``end_positions``;
- character spans are **half-open** ``(char_start, char_end)``, so ``context[char_start:char_end]`` is
  the answer text.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch

__all__ = [
    "Span",
    "Answer",
    "MISSING_ANSWER_CONVENTIONS",
    "best_spans",
    "best_span",
    "token_span_to_char_span",
    "char_span_to_token_span",
    "encode_qa_windows",
    "decode_windows",
    "decode_answers",
]

# How a window that does not contain the answer is labelled (see char_span_to_token_span).
MISSING_ANSWER_CONVENTIONS = ("cls", "ignore")


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
    tokens (``end - start + 1 <= max_answer_length``) and, if ``context_mask`` is given, both of its
    ends are context tokens. Its score is ``start_logits[start] + end_logits[end]``: the two logits
    are log-probabilities up to a constant, so the sum ranks spans like the product of probabilities.

    Args:
        start_logits: ``(seq,)`` floats, the head's ``start_logits`` for one example (one window).
        end_logits: ``(seq,)`` floats, same shape.
        max_answer_length: longest answer, in tokens, that may be returned; at least 1.
        n_best: how many spans to return at most; at least 1.
        context_mask: optional ``(seq,)`` bools, True on context tokens (``sequence_ids == 1``). With
            it, spans over the question, special tokens or padding are never proposed.

    Returns:
        Up to ``n_best`` :class:`Span` s sorted by decreasing score (equal scores: earlier start, then
        earlier end, first); fewer if fewer spans are valid, an empty list if none is (a mask with no
        True).

    Raises:
        TypeError / ValueError: logits not 1-D or of different lengths, a mask of the wrong shape or
            dtype, ``max_answer_length`` or ``n_best`` below 1.

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
    valid = (length >= 1) & (length <= max_answer_length) & mask[:, None] & mask[None, :]
    n_valid = int(valid.sum())
    if n_valid == 0:
        return []
    scores = scores.masked_fill(~valid, float("-inf")).flatten()  # (seq * seq,)
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
        ValueError: no span is valid (``context_mask`` has no True), plus the errors of
            :func:`best_spans`.

    Example:
        >>> best_span([0.0, 2.0, 1.0], [3.0, 0.0, 0.0])  # end 0 would precede start 1
        Span(start=0, end=0, score=3.0)
    """
    spans = best_spans(start_logits, end_logits, max_answer_length=max_answer_length, n_best=1, context_mask=context_mask)
    if not spans:
        raise ValueError(
            "no valid span: context_mask marks no token as context. Check the mask "
            "(True where sequence_ids == 1) or leave it out to allow every token."
        )
    return spans[0]


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
            f"or modlayers.data.load_tokenizer()."
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
        Up to ``n_best`` :class:`Answer` s, sorted by decreasing score.

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
