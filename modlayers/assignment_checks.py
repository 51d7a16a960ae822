"""Checks for the course assignments (``notebooks/assignments/``): they say what is wrong, and why.

Each assignment asks the learner to write a function the kit already has (``last_non_pad_index``,
``best_spans``, the QA and token losses, sub-word label alignment) or a layer on
:class:`~modlayers.checkpointing.GradientCheckpointingLayer`. Under each answer a check cell calls one
of the ``check_*`` functions below on the learner's code:

- it runs a few small, hand-made cases, each built to catch one classic mistake (left padding,
  ``start > end``, an answer outside the window, a continuation sub-word, a missing residual, ...);
- on the first wrong answer it raises ``AssertionError`` with a message that names the case, what
  came back, what was expected and the likely cause;
- when the code is still the ``raise NotImplementedError()`` stub it raises ``NotImplementedError``
  saying so, so a notebook that has not been started fails only in its answer cells;
- when everything holds it prints one line starting with ``✓``.

The hidden tests used for grading compare the learner's function with the kit's reference on
random inputs the learner has not seen: :func:`assert_matches_reference` with the ``random_*``
generators (each takes a ``seed``; the grading notebooks choose theirs).

Nothing here needs nbgrader: the student notebooks import this module and nothing else from the
grading tools.

Example:
    >>> from modlayers.pooling import last_non_pad_index
    >>> check_last_non_pad_index(last_non_pad_index)
    ✓ last_non_pad_index: right padding, left padding, no padding, a pad id other than 0, mixed sides.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from modlayers.checkpointing import (
    GradientCheckpointingLayer,
    disable_gradient_checkpointing,
    enable_gradient_checkpointing,
)
from modlayers.label_alignment import align_labels_to_tokens
from modlayers.losses import IGNORE_INDEX, question_answering_loss, token_classification_loss
from modlayers.memory.saved_tensors import SavedTensorCounter, saved_tensor_table
from modlayers.pooling import last_non_pad_index, pool_at
from modlayers.spans import best_spans

__all__ = [
    "MLPBlock",
    "assert_matches_reference",
    "check_align_labels",
    "check_best_spans",
    "check_block_saved_bytes",
    "check_last_non_pad_index",
    "check_masked_token_loss",
    "check_measure_checkpointing",
    "check_mlp_block",
    "check_pooled_logits",
    "check_qa_loss",
    "measured_block_saved_bytes",
    "mlp_block_saved_bytes",
    "random_padded_batches",
    "random_pooling_inputs",
    "random_qa_batches",
    "random_span_logits",
    "random_token_batches",
    "random_word_ids",
]


# ---------------------------------------------------------------- shared machinery


def _call(name: str, fn: Callable, *args, **kwargs):
    """Call the learner's function; a stub that is not written yet says so plainly."""
    if not callable(fn):
        raise TypeError(
            f"expected the function {name}, got {type(fn).__name__} ({fn!r}). Run the cell that defines {name} "
            f"and pass the function itself, e.g. check_{name}({name})."
        )
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise NotImplementedError(
            f"{name} is not written yet: replace `raise NotImplementedError()` in its cell with your code, "
            "run that cell, then run this check again."
        ) from None
    except Exception as error:  # the learner's code crashed: say on which case, keep the cause
        raise AssertionError(
            f"{name} raised {type(error).__name__}: {error}\n  called with {_describe_args(args, kwargs)}"
        ) from error


def _short(value, limit: int = 220) -> str:
    if isinstance(value, torch.Tensor):
        text = repr(value.detach()) if value.numel() <= 64 else f"tensor of shape {tuple(value.shape)}"
    else:
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_args(args: Sequence, kwargs: dict | None = None) -> str:
    parts = [_short(a) for a in args] + [f"{k}={_short(v)}" for k, v in (kwargs or {}).items()]
    return ", ".join(parts)


def _passed(name: str, what: str) -> None:
    print(f"✓ {name}: {what}")


def _require_tensor(name: str, result, shape: tuple[int, ...], case: str) -> torch.Tensor:
    if not isinstance(result, torch.Tensor):
        raise AssertionError(f"{case}: {name} returned {type(result).__name__} ({_short(result)}); return a torch.Tensor.")
    if tuple(result.shape) != shape:
        raise AssertionError(f"{case}: {name} returned shape {tuple(result.shape)}, expected {shape}.")
    return result


def _require_scalar_loss(name: str, result, case: str) -> torch.Tensor:
    if not isinstance(result, torch.Tensor):
        raise AssertionError(
            f"{case}: {name} returned {type(result).__name__} ({_short(result)}); return a scalar torch.Tensor "
            "(loss.backward() needs a tensor, not a Python number)."
        )
    if result.numel() != 1:
        raise AssertionError(
            f"{case}: {name} returned shape {tuple(result.shape)}; a loss is one number, the mean over the "
            "examples (or tokens) it counts."
        )
    return result.reshape(())


def _normalize(value):
    """A value in a form that compares across tensors, numbers, tuples and named tuples."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return float(value) if value.dim() == 0 and value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return [_normalize(v) for v in value]
    return value


def _same(mine, reference, atol: float) -> bool:
    if isinstance(reference, torch.Tensor):
        if not isinstance(mine, torch.Tensor) or mine.shape != reference.shape:
            return False
        if reference.is_floating_point():
            return bool(torch.allclose(mine.float(), reference.float(), atol=atol, rtol=1e-4, equal_nan=True))
        return bool(torch.equal(mine.long(), reference.long()))
    if isinstance(reference, float):
        if isinstance(mine, torch.Tensor) and mine.numel() == 1:
            mine = float(mine)
        if not isinstance(mine, (int, float)) or isinstance(mine, bool):
            return False
        if math.isnan(reference):
            return math.isnan(mine)
        return math.isclose(mine, reference, rel_tol=1e-4, abs_tol=atol)
    if isinstance(reference, list):
        if isinstance(mine, torch.Tensor):
            mine = mine.tolist()
        return (
            isinstance(mine, list) and len(mine) == len(reference)
            and all(_same(m, r, atol) for m, r in zip(mine, reference))
        )
    if isinstance(reference, int) and isinstance(mine, (int, float, torch.Tensor)) and not isinstance(mine, bool):
        return float(mine) == reference
    return mine == reference


def assert_matches_reference(
    name: str,
    fn: Callable,
    reference: Callable,
    cases: Iterable[tuple],
    *,
    atol: float = 1e-5,
) -> None:
    """Raise ``AssertionError`` unless ``fn(*case) == reference(*case)`` for every case.

    Used by the hidden tests: ``cases`` come from the ``random_*`` generators with a seed the learner
    has not seen. Tensors are compared by shape and value (floats to ``atol``), losses as numbers,
    lists (of spans, of labels) element by element.

    Args:
        name: the learner's function name, for the message.
        fn: the learner's function.
        reference: the kit's function with the same arguments.
        cases: tuples of positional arguments.
        atol: absolute tolerance for floating-point results.

    Raises:
        AssertionError: the first case where the results differ, with the input, both results.
        NotImplementedError: ``fn`` is still the stub.

    Example:
        >>> from modlayers.pooling import last_non_pad_index
        >>> assert_matches_reference("last_non_pad_index", last_non_pad_index, last_non_pad_index,
        ...                          random_padded_batches(seed=0, count=3))
    """
    count = 0
    for case in cases:
        mine = _normalize(_call(name, fn, *case))
        expected = _normalize(reference(*case))
        if not _same(mine, expected, atol):
            raise AssertionError(
                f"{name} differs from the kit's reference on an input you have not seen:\n"
                f"  input:    {_describe_args(case)}\n  yours:    {_short(mine)}\n  expected: {_short(expected)}"
            )
        count += 1
    if count == 0:
        raise ValueError("assert_matches_reference got no cases; pass at least one tuple of arguments.")


# ---------------------------------------------------------------- assignment 1: pooling


def check_last_non_pad_index(fn: Callable) -> None:
    """Check ``fn(input_ids, pad_token_id) -> (batch,)`` against hand-made padded batches.

    Cases: right padding, left padding, no padding, a pad id other than 0 (with token 0 a real token),
    left- and right-padded rows in one batch.

    Raises:
        AssertionError: the first wrong row, e.g. ``left padding, row 1: pooled index 3, expected 8``,
            with a hint when the answer matches a known mistake.
        NotImplementedError: ``fn`` is still the stub.

    Example:
        >>> from modlayers.pooling import last_non_pad_index
        >>> check_last_non_pad_index(last_non_pad_index)
        ✓ last_non_pad_index: right padding, left padding, no padding, a pad id other than 0, mixed sides.
    """
    cases = [
        ("right padding", torch.tensor([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0], [4, 4, 4, 4, 0]]), 0),
        ("left padding", torch.tensor([[0, 0, 0, 0, 0, 0, 5, 6, 7], [0, 0, 0, 0, 0, 0, 0, 8, 9]]), 0),
        ("no padding", torch.tensor([[5, 6, 7, 8], [1, 2, 3, 4]]), 0),
        ("pad id 3 (token 0 is a real token)", torch.tensor([[0, 1, 0, 3, 3], [3, 3, 0, 1, 0]]), 3),
        ("mixed sides", torch.tensor([[0, 0, 0, 9, 9, 9], [9, 9, 9, 9, 0, 0], [9, 9, 9, 9, 9, 9]]), 0),
    ]
    for case, input_ids, pad in cases:
        expected = last_non_pad_index(input_ids, pad)
        result = _call("last_non_pad_index", fn, input_ids.clone(), pad)
        result = _require_tensor("last_non_pad_index", result, tuple(expected.shape), case)
        if result.is_floating_point():
            raise AssertionError(f"{case}: last_non_pad_index returned dtype {result.dtype}; positions are integers (torch.long).")
        seq_len = input_ids.shape[1]
        for row in range(input_ids.shape[0]):
            got, want = int(result[row]), int(expected[row])
            if got == want:
                continue
            real = input_ids[row] != pad
            hint = ""
            if got == int(real.sum()) - 1:
                hint = (
                    " You counted the real tokens (mask.sum() - 1): that is the last real position only when "
                    "the padding is on the right. Find the rightmost real position wherever the pads are."
                )
            elif got == seq_len - 1:
                hint = f" Position {got} is the last column, which is padding in this row."
            elif bool(input_ids[row, got] == pad) if 0 <= got < seq_len else False:
                hint = f" Position {got} holds the pad token {pad}."
            raise AssertionError(f"{case}, row {row}: pooled index {got}, expected {want}.{hint}\n  input_ids[{row}] = {input_ids[row].tolist()}")
    _passed("last_non_pad_index", "right padding, left padding, no padding, a pad id other than 0, mixed sides.")


def check_pooled_logits(fn: Callable) -> None:
    """Check ``fn(logits, index) -> (batch, num_labels)``: row ``b`` of the result is ``logits[b, index[b]]``.

    Raises:
        AssertionError: wrong shape (with the ``logits[:, index]`` hint), a row taken at the wrong
            position (named), or a result cut off from the graph.
        NotImplementedError: ``fn`` is still the stub.

    Example:
        >>> from modlayers.pooling import pool_at
        >>> check_pooled_logits(pool_at)
        ✓ pooled_logits: one row per sequence, taken at its own index, gradients flow.
    """
    batch, seq_len, num_labels = 3, 5, 2
    logits = torch.arange(batch * seq_len * num_labels, dtype=torch.float32).view(batch, seq_len, num_labels)
    logits.requires_grad_(True)
    index = torch.tensor([4, 1, 2])
    case = "logits of shape (3, 5, 2), index [4, 1, 2]"
    result = _call("pooled_logits", fn, logits, index.clone())
    if isinstance(result, torch.Tensor) and tuple(result.shape) == (batch, batch, num_labels):
        raise AssertionError(
            f"{case}: pooled_logits returned shape {tuple(result.shape)}. logits[:, index] takes every index for "
            "every row; pair each row with its own index: logits[torch.arange(batch), index]."
        )
    result = _require_tensor("pooled_logits", result, (batch, num_labels), case)
    for row in range(batch):
        if torch.equal(result[row].detach(), logits[row, index[row]].detach()):
            continue
        matches = [(b, t) for b in range(batch) for t in range(seq_len) if torch.equal(result[row].detach(), logits[b, t].detach())]
        found = f"the logits of row {matches[0][0]}, position {matches[0][1]}" if matches else f"{result[row].tolist()}"
        raise AssertionError(f"{case}, row {row}: got {found}, expected row {row}, position {int(index[row])}.")
    if not result.requires_grad:
        raise AssertionError(
            f"{case}: the result does not require grad, so no gradient would reach the model. Index the tensor "
            "directly; avoid .detach(), .tolist() or torch.tensor(...) on the logits."
        )
    _passed("pooled_logits", "one row per sequence, taken at its own index, gradients flow.")


def random_padded_batches(seed: int, count: int = 20) -> list[tuple[torch.Tensor, int]]:
    """``count`` random ``(input_ids, pad_token_id)`` cases: any lengths, left, right or mixed padding.

    Example:
        >>> input_ids, pad = random_padded_batches(seed=0, count=1)[0]
        >>> input_ids.dim()
        2
    """
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for _ in range(count):
        batch = int(torch.randint(1, 6, (), generator=generator))
        seq_len = int(torch.randint(1, 13, (), generator=generator))
        pad = int(torch.randint(0, 4, (), generator=generator))
        input_ids = torch.full((batch, seq_len), pad)
        for row in range(batch):
            length = int(torch.randint(1, seq_len + 1, (), generator=generator))
            tokens = torch.randint(0, 50, (length,), generator=generator)
            tokens[tokens == pad] = pad + 50  # real tokens are never the pad id
            start = seq_len - length if bool(torch.rand((), generator=generator) < 0.5) else 0
            input_ids[row, start : start + length] = tokens
        cases.append((input_ids, pad))
    return cases


def random_pooling_inputs(seed: int, count: int = 20) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` random ``(logits (batch, seq_len, num_labels), index (batch,))`` cases."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for _ in range(count):
        batch, seq_len, num_labels = (int(torch.randint(1, high, (), generator=generator)) for high in (6, 10, 5))
        logits = torch.randn(batch, seq_len, num_labels, generator=generator)
        index = torch.randint(0, seq_len, (batch,), generator=generator)
        cases.append((logits, index))
    return cases


# ---------------------------------------------------------------- assignment 2: spans


def _as_spans(name: str, result, case: str) -> list[tuple[int, int, float]]:
    try:
        return [(int(span[0]), int(span[1]), float(span[2])) for span in result]
    except (TypeError, ValueError, IndexError) as error:
        raise AssertionError(
            f"{case}: {name} returned {_short(result)}; return a list of (start, end, score) tuples, best first."
        ) from error


def check_best_spans(fn: Callable) -> None:
    """Check ``fn(start_logits, end_logits, max_answer_length=..., n_best=...) -> [(start, end, score), ...]``.

    Cases: the best pair ends before it starts, the best pair is too long, the n best in order, more
    spans asked for than are valid.

    Raises:
        AssertionError: the first rule broken (``start <= end``, length, order, count, score), named.
        NotImplementedError: ``fn`` is still the stub.

    Example:
        >>> from modlayers.spans import best_spans
        >>> check_best_spans(best_spans)
        ✓ best_spans: start <= end, max_answer_length, n-best order and scores, fewer valid spans than n_best.
    """
    cases = [
        ("start_logits peak at token 3, end_logits at token 1",
         [0.1, 0.3, 0.2, 5.0, 0.4], [0.2, 4.0, 0.1, 0.3, 0.5], 5, 1),
        ("start_logits peak at token 0, end_logits at token 5, max_answer_length=3",
         [3.0, 0.1, 0.2, 0.3, 0.4, 0.5], [0.1, 0.2, 0.3, 0.4, 0.5, 3.1], 3, 1),
        ("the 4 best spans, max_answer_length=2",
         [1.0, -0.5, 2.0, 0.3, -1.0, 0.7], [0.2, 1.5, -0.3, 2.5, 0.1, -0.8], 2, 4),
        ("n_best=5 but only 3 spans are valid (3 tokens, max_answer_length=1)",
         [0.5, 1.5, -0.5], [1.0, -1.0, 0.25], 1, 5),
    ]
    name = "best_spans"
    for case, start, end, max_len, n_best in cases:
        start_logits, end_logits = torch.tensor(start), torch.tensor(end)
        expected = [(s.start, s.end, s.score) for s in best_spans(start_logits, end_logits, max_answer_length=max_len, n_best=n_best)]
        result = _as_spans(name, _call(name, fn, start_logits.clone(), end_logits.clone(), max_answer_length=max_len, n_best=n_best), case)
        for s, e, score in result:
            if s > e:
                raise AssertionError(f"{case}: your span ({s}, {e}) ends before it starts; a span needs start <= end.")
            if e - s + 1 > max_len:
                raise AssertionError(
                    f"{case}: your span ({s}, {e}) holds {e - s + 1} tokens but max_answer_length={max_len}; "
                    "a span holds end - start + 1 tokens."
                )
            want = start[s] + end[e] if 0 <= s < len(start) and 0 <= e < len(end) else None
            if want is None or not math.isclose(score, want, rel_tol=1e-5, abs_tol=1e-5):
                raise AssertionError(
                    f"{case}: your span ({s}, {e}) has score {score:.4f}, expected start_logits[{s}] + "
                    f"end_logits[{e}] = {want}."
                )
        if len(result) != len(expected):
            raise AssertionError(
                f"{case}: got {len(result)} span(s), expected {len(expected)}: n_best={n_best} at most, and no more "
                "than the number of valid spans."
            )
        scores = [score for _, _, score in result]
        if scores != sorted(scores, reverse=True):
            raise AssertionError(f"{case}: spans must be sorted best first, got scores {[round(x, 4) for x in scores]}.")
        for rank, (mine, want) in enumerate(zip(result, expected)):
            if mine[:2] != want[:2]:
                raise AssertionError(
                    f"{case}: span #{rank} is {mine[:2]} (score {mine[2]:.4f}), expected {want[:2]} "
                    f"(score {want[2]:.4f}). Consider every (start, end) with start <= end <= start + "
                    "max_answer_length - 1."
                )
    _passed(name, "start <= end, max_answer_length, n-best order and scores, fewer valid spans than n_best.")


def check_qa_loss(fn: Callable) -> None:
    """Check ``fn(start_logits, end_logits, start_positions, end_positions) -> scalar loss``.

    Cases: answers in the window, one example's answer outside the window (ignored), every answer
    outside (loss 0.0, not NaN, still connected to the logits).

    Raises:
        AssertionError: the first wrong loss, with what it should have been and why.
        NotImplementedError: ``fn`` is still the stub.

    Example:
        >>> from modlayers.losses import question_answering_loss
        >>> check_qa_loss(question_answering_loss)
        ✓ qa_loss: mean of start and end cross-entropies, out-of-window answers ignored, 0.0 when none is in the window.
    """
    generator = torch.Generator().manual_seed(0)
    start_logits = torch.randn(3, 6, generator=generator)
    end_logits = torch.randn(3, 6, generator=generator)
    cases = [
        ("answers inside the window (seq_len 6)", [1, 2, 0], [3, 2, 4],
         " The loss is (cross_entropy(start_logits, start_positions) + cross_entropy(end_logits, end_positions)) / 2."),
        ("example 2's answer lies outside the window (positions 9 >= seq_len 6)", [1, 2, 9], [3, 2, 9],
         " An answer outside the window must be ignored: clamp positions to seq_len and pass ignore_index=seq_len."),
        ("example 0's start lies inside but its end outside the window", [1, 2, 0], [6, 2, 4],
         " Each half of the loss ignores its own out-of-window positions."),
    ]
    name = "qa_loss"
    for case, starts, ends, hint in cases:
        s_logits = start_logits.clone().requires_grad_(True)
        e_logits = end_logits.clone().requires_grad_(True)
        positions = torch.tensor(starts), torch.tensor(ends)
        expected = question_answering_loss(start_logits, end_logits, *positions)
        try:
            result = _call(name, fn, s_logits, e_logits, positions[0].clone(), positions[1].clone())
        except AssertionError as error:  # typically cross_entropy's "Target 9 is out of bounds"
            raise AssertionError(f"{case}: {error}\n {hint}") from error
        result = _require_scalar_loss(name, result, case)
        if not torch.isclose(result.detach().float(), expected, atol=1e-5):
            raise AssertionError(f"{case}: loss {float(result.detach()):.5f}, expected {float(expected):.5f}.{hint}")
        if not result.requires_grad:
            raise AssertionError(f"{case}: the loss does not require grad; compute it from the logits so backward() reaches the model.")
    case = "every answer lies outside the window"
    s_logits = start_logits.clone().requires_grad_(True)
    e_logits = end_logits.clone().requires_grad_(True)
    far = torch.tensor([6, 7, 100])
    result = _require_scalar_loss(name, _call(name, fn, s_logits, e_logits, far.clone(), far.clone()), case)
    if torch.isnan(result.detach()):
        raise AssertionError(
            f"{case}: loss is nan. There is nothing to learn from this batch, so the loss should be 0.0: divide the "
            "summed cross-entropy by the number of kept positions, clamped to at least 1 (a plain mean over zero "
            "positions is 0 / 0)."
        )
    if float(result.detach()) != 0.0:
        raise AssertionError(f"{case}: loss {float(result.detach()):.5f}, expected 0.0: every position is ignored.")
    if not result.requires_grad:
        raise AssertionError(
            f"{case}: the loss is 0.0 but not connected to the logits (torch.tensor(0.0)?), so loss.backward() "
            "fails. Compute it from the logits, e.g. summed / count.clamp(min=1), and the gradients are simply zero."
        )
    _passed(name, "mean of start and end cross-entropies, out-of-window answers ignored, 0.0 when none is in the window.")


def random_span_logits(seed: int, count: int = 20) -> list[tuple[torch.Tensor, torch.Tensor, int, int]]:
    """``count`` random ``(start_logits, end_logits, max_answer_length, n_best)`` cases of one sequence.

    Positional, in the order of the assignment's ``best_spans(start_logits, end_logits,
    max_answer_length, n_best)``.
    """
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for _ in range(count):
        seq_len = int(torch.randint(1, 13, (), generator=generator))
        max_len = int(torch.randint(1, 6, (), generator=generator))
        n_best = int(torch.randint(1, 8, (), generator=generator))
        cases.append((torch.randn(seq_len, generator=generator), torch.randn(seq_len, generator=generator), max_len, n_best))
    return cases


def random_qa_batches(seed: int, count: int = 20) -> list[tuple[torch.Tensor, ...]]:
    """``count`` random ``(start_logits, end_logits, start_positions, end_positions)`` cases.

    About a third of the positions lie at or past ``seq_len`` (answer outside the window); one case in
    five has every position outside.
    """
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for index in range(count):
        batch = int(torch.randint(1, 6, (), generator=generator))
        seq_len = int(torch.randint(2, 12, (), generator=generator))
        start_logits = torch.randn(batch, seq_len, generator=generator)
        end_logits = torch.randn(batch, seq_len, generator=generator)
        positions = []
        for _ in range(2):
            inside = torch.randint(0, seq_len, (batch,), generator=generator)
            outside = torch.randint(seq_len, 3 * seq_len, (batch,), generator=generator)
            out = torch.rand(batch, generator=generator) < (1.0 if index % 5 == 4 else 0.33)
            positions.append(torch.where(out, outside, inside))
        cases.append((start_logits, end_logits, positions[0], positions[1]))
    return cases


# ---------------------------------------------------------------- assignment 3: token loss


def check_align_labels(fn: Callable) -> None:
    """Check ``fn(word_labels, word_ids) -> list[int]``: a word's label on its first sub-word, -100 elsewhere.

    Cases: ``[CLS] alice visited bord ##eaux [SEP]``, a word in three pieces, padding at the end.

    Raises:
        AssertionError: the first wrong token, saying whether it is a special token, a word's first
            piece or a continuation piece.
        NotImplementedError: ``fn`` is still the stub.

    Example:
        >>> from modlayers.label_alignment import align_labels_to_tokens
        >>> check_align_labels(align_labels_to_tokens)
        ✓ align_labels: special tokens -100, first sub-word labelled, continuation pieces -100.
    """
    cases = [
        ("[CLS] alice visited bord ##eaux [SEP]", [1, 0, 5], [None, 0, 1, 2, 2, None]),
        ("[CLS] the osterby ##ville ##rs won [SEP]", [0, 3, 0], [None, 0, 1, 1, 1, 2, None]),
        ("[CLS] rain in bord ##eaux [SEP] [PAD] [PAD]", [0, 0, 5], [None, 0, 1, 2, 2, None, None, None]),
        ("[CLS] mon ##day [SEP]", [7], [None, 0, 0, None]),
    ]
    name = "align_labels"
    for case, labels, word_ids in cases:
        tokens = case.split()
        expected = align_labels_to_tokens(labels, word_ids)
        result = _call(name, fn, list(labels), list(word_ids))
        if isinstance(result, torch.Tensor):
            result = result.tolist()
        if not isinstance(result, (list, tuple)):
            raise AssertionError(f"{case}: {name} returned {type(result).__name__}; return a list of ints, one per token.")
        if len(result) != len(word_ids):
            raise AssertionError(f"{case}: {name} returned {len(result)} labels for {len(word_ids)} tokens; one label per token.")
        for position, (got, want) in enumerate(zip(result, expected)):
            if got == want:
                continue
            word = word_ids[position]
            token = f"token {position} ({tokens[position]!r})"
            if word is None:
                why = f"{token} is a special token (word id None): it gets -100 so the loss ignores it"
            elif position > 0 and word_ids[position - 1] == word:
                why = (f"{token} continues word {word} (not its first piece): only the first sub-word carries the "
                       "word's label, the others get -100")
            else:
                why = f"{token} is the first piece of word {word}: it carries that word's label, {labels[word]}"
            raise AssertionError(f"{case}: got {got}, expected {want}. {why}.\n  word_labels={labels}, word_ids={word_ids}")
    _passed(name, "special tokens -100, first sub-word labelled, continuation pieces -100.")


def check_masked_token_loss(fn: Callable) -> None:
    """Check ``fn(logits, labels) -> scalar``: mean cross-entropy over the tokens whose label is not -100.

    Raises:
        AssertionError: the first wrong loss (with a hint when it is the mean over *all* tokens), a NaN
            when every label is -100, or a loss cut off from the graph.
        NotImplementedError: ``fn`` is still the stub.

    Example:
        >>> from modlayers.losses import token_classification_loss
        >>> check_masked_token_loss(token_classification_loss)
        ✓ masked_token_loss: -100 ignored, mean over labelled tokens, 0.0 when nothing is labelled.
    """
    name = "masked_token_loss"
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 5, 3, generator=generator)
    cases = [
        ("every token labelled", torch.tensor([[0, 1, 2, 1, 0], [2, 2, 1, 0, 1]])),
        ("special tokens and continuation pieces at -100",
         torch.tensor([[-100, 1, -100, 0, -100], [-100, 2, 2, 0, -100]])),
        ("one sentence with no labelled token", torch.tensor([[-100, -100, -100, -100, -100], [-100, 2, -100, 1, -100]])),
        ("no labelled token at all", torch.full((2, 5), -100)),
    ]
    for case, labels in cases:
        expected = token_classification_loss(logits, labels)
        leaf = logits.clone().requires_grad_(True)
        result = _require_scalar_loss(name, _call(name, fn, leaf, labels.clone()), case)
        value = float(result.detach())
        if math.isnan(value):
            raise AssertionError(
                f"{case}: loss is nan. With no labelled token there is nothing to learn, so the loss should be 0.0: "
                "divide the summed cross-entropy by the number of labelled tokens clamped to at least 1."
            )
        if not math.isclose(value, float(expected), rel_tol=1e-4, abs_tol=1e-5):
            hint = ""
            kept = labels != IGNORE_INDEX
            if bool(kept.any()):
                per_token = F.cross_entropy(logits.reshape(-1, 3), labels.reshape(-1).clamp(min=0), reduction="none")
                over_all = float((per_token * kept.reshape(-1)).sum() / labels.numel())
                if math.isclose(value, over_all, rel_tol=1e-4, abs_tol=1e-5):
                    hint = " You divided by every token; divide by the number of labelled tokens (label != -100)."
            raise AssertionError(f"{case}: loss {value:.5f}, expected {float(expected):.5f}.{hint}\n  labels={labels.tolist()}")
        if not result.requires_grad:
            raise AssertionError(
                f"{case}: the loss does not require grad; compute it from the logits (even when it is 0.0) so that "
                "loss.backward() works."
            )
    _passed(name, "-100 ignored, mean over labelled tokens, 0.0 when nothing is labelled.")


def random_word_ids(seed: int, count: int = 20) -> list[tuple[list[int], list[int | None]]]:
    """``count`` random ``(word_labels, word_ids)`` cases: ``[CLS]``, words in 1-3 pieces, ``[SEP]``, padding."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for _ in range(count):
        words = int(torch.randint(1, 8, (), generator=generator))
        labels = torch.randint(0, 9, (words,), generator=generator).tolist()
        word_ids: list[int | None] = [None]
        for word in range(words):
            word_ids += [word] * int(torch.randint(1, 4, (), generator=generator))
        word_ids += [None] * (1 + int(torch.randint(0, 4, (), generator=generator)))  # [SEP] and padding
        cases.append((labels, word_ids))
    return cases


def random_token_batches(seed: int, count: int = 20) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` random ``(logits (batch, seq_len, num_labels), labels (batch, seq_len))`` cases, with -100s.

    About 40% of the labels are -100; one case in five is all -100.
    """
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for index in range(count):
        batch, seq_len = int(torch.randint(1, 5, (), generator=generator)), int(torch.randint(1, 10, (), generator=generator))
        num_labels = int(torch.randint(2, 10, (), generator=generator))
        logits = torch.randn(batch, seq_len, num_labels, generator=generator)
        labels = torch.randint(0, num_labels, (batch, seq_len), generator=generator)
        ignored = torch.rand(batch, seq_len, generator=generator) < (1.0 if index % 5 == 4 else 0.4)
        cases.append((logits, labels.masked_fill(ignored, IGNORE_INDEX)))
    return cases


# ---------------------------------------------------------------- assignment 4: checkpointing


class MLPBlock(GradientCheckpointingLayer):
    """The reference layer of assignment 4: ``x + fc2(gelu(fc1(norm(x))))``, checkpointable.

    The checks measure this block, so that a question about memory does not depend on the
    learner's own layer being right.

    Example:
        >>> block = MLPBlock(hidden_size=16, intermediate_size=64)
        >>> block(torch.randn(2, 8, 16)).shape
        torch.Size([2, 8, 16])
    """

    def __init__(self, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size)
        self.fc1 = nn.Linear(hidden_size, intermediate_size)
        self.fc2 = nn.Linear(intermediate_size, hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states + self.fc2(F.gelu(self.fc1(self.norm(hidden_states))))  # (batch, seq, hidden)


def mlp_block_saved_bytes(batch: int, seq_len: int, hidden_size: int, intermediate_size: int, checkpointed: bool) -> int:
    """Predicted bytes one float32 :class:`MLPBlock` keeps for backward on CPU.

    With ``N = batch * seq_len`` positions: the LayerNorm keeps its input ``N*H`` and a mean and
    1/std per position ``2*N``; ``fc1`` keeps its input (the normed states) ``N*H``; the GELU keeps
    its input ``N*I``; ``fc2`` keeps its input (the GELU output) ``N*I``; 4 bytes each. Checkpointed,
    the block keeps only its input, ``N*H``.

    Example:
        >>> mlp_block_saved_bytes(2, 8, 16, 64, checkpointed=False), mlp_block_saved_bytes(2, 8, 16, 64, checkpointed=True)
        (10368, 1024)
    """
    n = batch * seq_len
    if checkpointed:
        return 4 * n * hidden_size
    return 4 * n * (2 * hidden_size + 2 * intermediate_size + 2)


def _saved_bytes_of_step(model: nn.Module, hidden_states: torch.Tensor) -> tuple[int, list[dict]]:
    model.train()
    model.zero_grad(set_to_none=True)
    with SavedTensorCounter(model) as counter:
        loss = model(hidden_states).sum()
    loss.backward()
    return counter.saved_bytes, saved_tensor_table(counter)


def measured_block_saved_bytes(
    batch: int, seq_len: int, hidden_size: int, intermediate_size: int, checkpointed: bool
) -> int:
    """Bytes one float32 :class:`MLPBlock` keeps for backward, measured with the kit's counter.

    Runs the block on ``(batch, seq_len, hidden_size)`` inputs that require grad, with the loss
    ``output.sum()`` (which keeps nothing), under :class:`~modlayers.memory.SavedTensorCounter`.

    Example:
        >>> measured_block_saved_bytes(2, 8, 16, 64, checkpointed=False)
        10368
    """
    return _measure_block(batch, seq_len, hidden_size, intermediate_size, checkpointed)[0]


def _measure_block(batch, seq_len, hidden_size, intermediate_size, checkpointed) -> tuple[int, list[dict]]:
    torch.manual_seed(0)
    block = MLPBlock(hidden_size, intermediate_size)
    if checkpointed:
        enable_gradient_checkpointing(block)
    hidden_states = torch.randn(batch, seq_len, hidden_size, requires_grad=True)
    return _saved_bytes_of_step(block, hidden_states)


def check_mlp_block(block_class: type, hidden_size: int = 16, intermediate_size: int = 48, seed: int = 0) -> None:
    """Check a learner's ``MLPBlock(hidden_size, intermediate_size)`` class.

    It must subclass :class:`~modlayers.checkpointing.GradientCheckpointingLayer`, hold ``norm``
    (``nn.LayerNorm``), ``fc1`` and ``fc2`` (``nn.Linear``) of the right sizes, compute
    ``x + fc2(gelu(fc1(norm(x))))``, and give the same output and gradients in a stack of two with
    checkpointing on as off, the forward running twice per block when it is on.

    Raises:
        AssertionError: the first requirement broken, named.
        NotImplementedError: the class is still the stub.

    Example:
        >>> check_mlp_block(MLPBlock)
        ✓ MLPBlock: a GradientCheckpointingLayer, x + fc2(gelu(fc1(norm(x)))), same output and gradients checkpointed (forward run twice).
    """
    name = "MLPBlock"
    if not isinstance(block_class, type):
        raise TypeError(f"pass the class itself, check_mlp_block(MLPBlock), got {type(block_class).__name__}.")
    if not issubclass(block_class, GradientCheckpointingLayer):
        bases = ", ".join(base.__name__ for base in block_class.__bases__)
        raise AssertionError(
            f"MLPBlock subclasses ({bases}); it must subclass GradientCheckpointingLayer "
            "(class MLPBlock(GradientCheckpointingLayer): ...) so that checkpointing can reach it."
        )
    torch.manual_seed(seed)
    block = _call(name, block_class, hidden_size, intermediate_size)
    for attribute, kind, shape in (
        ("norm", nn.LayerNorm, (hidden_size,)),
        ("fc1", nn.Linear, (intermediate_size, hidden_size)),
        ("fc2", nn.Linear, (hidden_size, intermediate_size)),
    ):
        module = getattr(block, attribute, None)
        if not isinstance(module, kind):
            raise AssertionError(
                f"MLPBlock({hidden_size}, {intermediate_size}).{attribute} is {type(module).__name__}, expected "
                f"nn.{kind.__name__}. Create it in __init__ as self.{attribute} = nn.{kind.__name__}(...)."
            )
        if tuple(module.weight.shape) != shape:
            raise AssertionError(
                f"MLPBlock({hidden_size}, {intermediate_size}).{attribute}.weight has shape {tuple(module.weight.shape)}, "
                f"expected {shape}."
            )
    block.train()
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 5, hidden_size, generator=generator)
    out = _call(name, block, x)
    out = _require_tensor("MLPBlock", out, (2, 5, hidden_size), f"input of shape {tuple(x.shape)}")
    branch = F.linear(F.gelu(F.linear(F.layer_norm(x, (hidden_size,), block.norm.weight, block.norm.bias, block.norm.eps),
                                       block.fc1.weight, block.fc1.bias)), block.fc2.weight, block.fc2.bias)
    if not torch.allclose(out, x + branch, atol=1e-5):
        hint = ""
        if torch.allclose(out, branch, atol=1e-5):
            hint = " Without the residual: return hidden_states + the MLP branch."
        raise AssertionError(
            f"MLPBlock's output differs from x + fc2(gelu(fc1(norm(x)))) by up to "
            f"{float((out - x - branch).detach().abs().max()):.3g}.{hint}"
        )

    torch.manual_seed(seed)
    stack = nn.Sequential(block_class(hidden_size, intermediate_size), block_class(hidden_size, intermediate_size)).train()
    results = []
    for on in (False, True):
        (enable_gradient_checkpointing if on else disable_gradient_checkpointing)(stack)
        calls = []
        # Count the runs of each block's body through its first sub-module: only forward is checkpointed, so
        # hooks on the block itself run once a step, while its sub-modules run again in the recompute.
        handles = [next(layer.children(), layer).register_forward_pre_hook(lambda *_: calls.append(1)) for layer in stack]
        stack.zero_grad(set_to_none=True)
        leaf = x.clone().requires_grad_(True)
        output = stack(leaf)
        output.pow(2).mean().backward()
        for handle in handles:
            handle.remove()
        results.append((output.detach(), leaf.grad, [p.grad.clone() for p in stack.parameters()], len(calls)))
    disable_gradient_checkpointing(stack)
    (out_off, x_grad_off, grads_off, calls_off), (out_on, x_grad_on, grads_on, calls_on) = results
    if not torch.allclose(out_off, out_on, atol=1e-6):
        raise AssertionError("two MLPBlocks give a different output with checkpointing on; the forward must not depend on it.")
    worst = max(float((a - b).abs().max()) for a, b in zip([x_grad_off, *grads_off], [x_grad_on, *grads_on]))
    if worst > 1e-5:
        raise AssertionError(f"gradients differ by up to {worst:.3g} with checkpointing on; they must be the same.")
    if calls_on != 2 * calls_off:
        raise AssertionError(
            f"with checkpointing on the blocks' forward ran {calls_on} times for {calls_off} without; a checkpointed "
            "layer runs its forward again in the backward pass. Define forward in MLPBlock's class body (the base class "
            "wraps it there), and do not replace it afterwards."
        )
    _passed(name, "a GradientCheckpointingLayer, x + fc2(gelu(fc1(norm(x)))), same output and gradients checkpointed (forward run twice).")


def check_block_saved_bytes(fn: Callable) -> None:
    """Check ``fn(batch, seq_len, hidden_size, intermediate_size, checkpointed) -> int`` against the counter.

    The expected number is measured: :func:`measured_block_saved_bytes` on the kit's :class:`MLPBlock`.

    Raises:
        AssertionError: the first prediction that differs, with the list of tensors the block keeps.
        NotImplementedError: ``fn`` is still the stub.

    Example:
        >>> check_block_saved_bytes(mlp_block_saved_bytes)
        ✓ block_saved_bytes: matches the kit's measurement, with and without checkpointing.
    """
    name = "block_saved_bytes"
    for shape in ((2, 8, 16, 64), (1, 5, 8, 24), (3, 4, 32, 32)):
        for checkpointed in (False, True):
            measured, table = _measure_block(*shape, checkpointed)
            arguments = dict(zip(("batch", "seq_len", "hidden_size", "intermediate_size"), shape), checkpointed=checkpointed)
            predicted = _call(name, fn, *shape, checkpointed)
            if isinstance(predicted, torch.Tensor) and predicted.numel() == 1:
                predicted = predicted.item()
            if not isinstance(predicted, (int, float)) or isinstance(predicted, bool):
                raise AssertionError(f"{name}({_describe_args((), arguments)}) returned {_short(predicted)}; return a number of bytes.")
            if predicted != measured:
                rows = "\n".join(f"    {tuple(r['shape'])} {r['dtype']}: {r['bytes']} bytes" for r in table)
                lesson = ("A checkpointed layer keeps only its input." if checkpointed
                          else "Float32 is 4 bytes per element.")
                raise AssertionError(
                    f"{name}({_describe_args((), arguments)}) = {predicted}, but the kit measured {measured} bytes. "
                    f"{lesson} The block keeps:\n{rows}"
                )
    _passed(name, "matches the kit's measurement, with and without checkpointing.")


def check_measure_checkpointing(
    fn: Callable, layers: int = 3, batch: int = 2, seq_len: int = 8, hidden_size: int = 16, intermediate_size: int = 64, seed: int = 0
) -> None:
    """Check ``fn(model, hidden_states) -> (saved_off, saved_on, max_grad_difference)``.

    ``model`` is a stack of ``layers`` kit :class:`MLPBlock` s in train mode; ``fn`` must measure the
    bytes kept for backward of one step (loss ``model(hidden_states).sum()``) without checkpointing
    and with every layer checkpointed, and the largest difference between the two steps' gradients.
    On success it prints the measurement next to the prediction.

    Raises:
        AssertionError: a number that differs from the kit's own measurement, or gradients that
            differ.
        NotImplementedError: ``fn`` is still the stub.

    Example:
        >>> def measure(model, hidden_states):  # doctest: +SKIP
        ...     ...
        >>> check_measure_checkpointing(measure)  # doctest: +SKIP
    """
    name = "measure_checkpointing"
    torch.manual_seed(seed)
    model = nn.Sequential(*[MLPBlock(hidden_size, intermediate_size) for _ in range(layers)]).train()
    hidden_states = torch.randn(batch, seq_len, hidden_size, requires_grad=True)
    result = _call(name, fn, model, hidden_states)
    try:
        saved_off, saved_on, difference = (float(v) for v in result)
    except (TypeError, ValueError) as error:
        raise AssertionError(
            f"{name} returned {_short(result)}; return three numbers: (saved_off, saved_on, max_grad_difference)."
        ) from error

    probe = nn.Sequential(*[MLPBlock(hidden_size, intermediate_size) for _ in range(layers)])
    probe.load_state_dict(model.state_dict())
    x = hidden_states.detach().requires_grad_(True)
    disable_gradient_checkpointing(probe)
    expected_off, _ = _saved_bytes_of_step(probe, x)
    enable_gradient_checkpointing(probe)
    expected_on, _ = _saved_bytes_of_step(probe, x)
    setting = f"{layers} MLPBlocks({hidden_size}, {intermediate_size}) on hidden states {tuple(hidden_states.shape)}"
    if saved_off != expected_off:
        raise AssertionError(
            f"{setting}: saved_off = {saved_off:.0f} bytes, but the kit measured {expected_off}. Count one step without "
            "checkpointing: open SavedTensorCounter(model) around the forward and the loss, close it before backward()."
        )
    if saved_on != expected_on:
        hint = " (that is the count without checkpointing: enable it first)" if saved_on == expected_off else ""
        raise AssertionError(
            f"{setting}: saved_on = {saved_on:.0f} bytes, but the kit measured {expected_on} with every layer "
            f"checkpointed{hint}. Use enable_gradient_checkpointing(model) before the second step."
        )
    if not 0.0 <= difference <= 1e-5 or math.isnan(difference):
        raise AssertionError(
            f"{setting}: max_grad_difference = {difference:.3g}; checkpointing must not change the gradients, so it "
            "should be ~0. Compare the gradients of the same parameters (and the input) between the two steps, "
            "with model.zero_grad() before each."
        )
    per_layer_off = mlp_block_saved_bytes(batch, seq_len, hidden_size, intermediate_size, checkpointed=False)
    per_layer_on = mlp_block_saved_bytes(batch, seq_len, hidden_size, intermediate_size, checkpointed=True)
    _passed(
        name,
        f"{layers} layers keep {saved_off:.0f} bytes (predicted {layers} x {per_layer_off}) without checkpointing, "
        f"{saved_on:.0f} (predicted {layers} x {per_layer_on}) with it: {saved_off / saved_on:.1f}x less; "
        f"gradients differ by {difference:.1g}.",
    )
