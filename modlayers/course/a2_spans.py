"""Assignment 2, spans: checks and hidden tests for ``best_spans`` and ``qa_loss``.

Graded parts (one nbgrader check cell each, 7 points in all):

===============================  ======  ===================================================
part                             points  behaviour
===============================  ======  ===================================================
``best_spans``
  ``"best spans"``               3       start <= end, max_answer_length, n-best order and scores
  ``"few valid spans"``          1       fewer valid spans than n_best: return only those
``qa_loss``
  ``"answers in the window"``    2       mean of start and end cross-entropies, out-of-window ignored
  ``"no answer in the window"``  1       every position outside: 0.0, not NaN, still connected
===============================  ======  ===================================================

transformers' own QA loss (``CrossEntropyLoss(ignore_index=seq_len)``) gives NaN when no answer is in
the window; it loses only the last part's point.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from modlayers.course.checking import (
    CheckFailed,
    assert_matches_reference,
    call,
    passed,
    require_scalar_loss,
    short,
)
from modlayers.course.hidden_seeds import hidden_seed
from modlayers.losses import question_answering_loss
from modlayers.spans import best_spans

__all__ = [
    "BEST_SPANS_PARTS",
    "QA_LOSS_PARTS",
    "check_best_spans",
    "check_qa_loss",
    "hidden_test_best_spans",
    "hidden_test_qa_loss",
    "random_qa_batches",
    "random_span_logits",
]

BEST_SPANS_PARTS = {
    "best spans": "start <= end, max_answer_length, n-best order and scores",
    "few valid spans": "fewer valid spans than n_best",
}
QA_LOSS_PARTS = {
    "answers in the window": "mean of start and end cross-entropies, out-of-window answers ignored",
    "no answer in the window": "0.0 (not nan), connected to the logits, when no answer is in the window",
}


def _parts(part, parts):
    if part is None:
        return list(parts)
    if part not in parts:
        raise ValueError(f"part must be one of {list(parts)} or None (every part), got {part!r}.")
    return [part]


def _as_spans(name: str, result, case: str) -> list[tuple[int, int, float]]:
    try:
        return [(int(span[0]), int(span[1]), float(span[2])) for span in result]
    except (TypeError, ValueError, IndexError) as error:
        raise CheckFailed(
            f"{case}: {name} returned {short(result)}; return a list of (start, end, score) tuples, best first."
        ) from error


def _kit_best_spans(start_logits, end_logits, max_answer_length, n_best):
    return best_spans(start_logits, end_logits, max_answer_length=max_answer_length, n_best=n_best)


def check_best_spans(fn: Callable, part: str | None = None) -> None:
    """Check ``fn(start_logits, end_logits, max_answer_length=..., n_best=...) -> [(start, end, score), ...]``.

    Args:
        part: one of :data:`BEST_SPANS_PARTS`, or None for all.

    Raises:
        CheckFailed: the first rule broken (``start <= end``, length, order, count, score), named.
        NotWrittenYet: ``fn`` is still the stub.
    """
    cases = {
        "best spans": [
            ("start_logits peak at token 3, end_logits at token 1",
             [0.1, 0.3, 0.2, 5.0, 0.4], [0.2, 4.0, 0.1, 0.3, 0.5], 5, 1),
            ("start_logits peak at token 0, end_logits at token 5, max_answer_length=3",
             [3.0, 0.1, 0.2, 0.3, 0.4, 0.5], [0.1, 0.2, 0.3, 0.4, 0.5, 3.1], 3, 1),
            ("the 4 best spans, max_answer_length=2",
             [1.0, -0.5, 2.0, 0.3, -1.0, 0.7], [0.2, 1.5, -0.3, 2.5, 0.1, -0.8], 2, 4),
        ],
        "few valid spans": [
            ("n_best=5 but only 3 spans are valid (3 tokens, max_answer_length=1)",
             [0.5, 1.5, -0.5], [1.0, -1.0, 0.25], 1, 5),
        ],
    }
    name = "best_spans"
    chosen = _parts(part, BEST_SPANS_PARTS)
    for case, start, end, max_len, n_best in [c for p in chosen for c in cases[p]]:
        start_logits, end_logits = torch.tensor(start), torch.tensor(end)
        expected = [(s.start, s.end, s.score) for s in best_spans(start_logits, end_logits, max_answer_length=max_len, n_best=n_best)]
        result = call(name, fn, start_logits.clone(), end_logits.clone(), max_answer_length=max_len, n_best=n_best,
                      references=[best_spans])
        result = _as_spans(name, result, case)
        for s, e, score in result:
            if s > e:
                raise CheckFailed(f"{case}: your span ({s}, {e}) ends before it starts; a span needs start <= end.")
            if e - s + 1 > max_len:
                raise CheckFailed(
                    f"{case}: your span ({s}, {e}) holds {e - s + 1} tokens but max_answer_length={max_len}; "
                    "a span holds end - start + 1 tokens."
                )
            want = start[s] + end[e] if 0 <= s < len(start) and 0 <= e < len(end) else None
            if want is None or not math.isclose(score, want, rel_tol=1e-5, abs_tol=1e-5):
                raise CheckFailed(
                    f"{case}: your span ({s}, {e}) has score {score:.4f}, expected start_logits[{s}] + "
                    f"end_logits[{e}] = {want}."
                )
        if len(result) != len(expected):
            raise CheckFailed(
                f"{case}: got {len(result)} span(s), expected {len(expected)}: n_best={n_best} at most, and no more "
                "than the number of valid spans."
            )
        scores = [score for _, _, score in result]
        if scores != sorted(scores, reverse=True):
            raise CheckFailed(f"{case}: spans must be sorted best first, got scores {[round(x, 4) for x in scores]}.")
        for rank, (mine, want) in enumerate(zip(result, expected)):
            if mine[:2] != want[:2]:
                raise CheckFailed(
                    f"{case}: span #{rank} is {mine[:2]} (score {mine[2]:.4f}), expected {want[:2]} "
                    f"(score {want[2]:.4f}). Consider every (start, end) with start <= end <= start + "
                    "max_answer_length - 1."
                )
    passed(name + (f", {part}" if part else ""), "; ".join(BEST_SPANS_PARTS[p] for p in chosen) + ".")


def check_qa_loss(fn: Callable, part: str | None = None) -> None:
    """Check ``fn(start_logits, end_logits, start_positions, end_positions) -> scalar loss``.

    Args:
        part: one of :data:`QA_LOSS_PARTS`, or None for all.

    Raises:
        CheckFailed: the first wrong loss, with what it should have been and why.
        NotWrittenYet: ``fn`` is still the stub.
    """
    generator = torch.Generator().manual_seed(0)
    start_logits = torch.randn(3, 6, generator=generator)
    end_logits = torch.randn(3, 6, generator=generator)
    name = "qa_loss"
    chosen = _parts(part, QA_LOSS_PARTS)
    cases = [
        ("answers inside the window (seq_len 6)", [1, 2, 0], [3, 2, 4],
         " The loss is (cross_entropy(start_logits, start_positions) + cross_entropy(end_logits, end_positions)) / 2."),
        ("example 2's answer lies outside the window (positions 9 >= seq_len 6)", [1, 2, 9], [3, 2, 9],
         " An answer outside the window must be ignored: clamp positions to seq_len and pass ignore_index=seq_len."),
        ("example 0's start lies inside but its end outside the window", [1, 2, 0], [6, 2, 4],
         " Each half of the loss ignores its own out-of-window positions."),
    ]
    for case, starts, ends, hint in cases if "answers in the window" in chosen else []:
        positions = torch.tensor(starts), torch.tensor(ends)
        expected = question_answering_loss(start_logits, end_logits, *positions)
        s_logits = start_logits.clone().requires_grad_(True)
        e_logits = end_logits.clone().requires_grad_(True)
        try:
            result = call(name, fn, s_logits, e_logits, positions[0].clone(), positions[1].clone(),
                          references=[question_answering_loss])
        except CheckFailed as error:  # typically cross_entropy's "Target 9 is out of bounds"
            if "kit's" in str(error):
                raise
            raise CheckFailed(f"{case}: {error}\n {hint}") from error.__cause__
        result = require_scalar_loss(name, result, case)
        if not torch.isclose(result.detach().float(), expected, atol=1e-5):
            raise CheckFailed(f"{case}: loss {float(result.detach()):.5f}, expected {float(expected):.5f}.{hint}")
        if not result.requires_grad:
            raise CheckFailed(f"{case}: the loss does not require grad; compute it from the logits so backward() reaches the model.")
    if "no answer in the window" in chosen:
        case = "every answer lies outside the window"
        s_logits = start_logits.clone().requires_grad_(True)
        e_logits = end_logits.clone().requires_grad_(True)
        far = torch.tensor([6, 7, 100])
        result = call(name, fn, s_logits, e_logits, far.clone(), far.clone(), references=[question_answering_loss])
        result = require_scalar_loss(name, result, case)
        if torch.isnan(result.detach()):
            raise CheckFailed(
                f"{case}: loss is nan. There is nothing to learn from this batch, so the loss should be 0.0: divide the "
                "summed cross-entropy by the number of kept positions, clamped to at least 1 (a plain mean over zero "
                "positions is 0 / 0)."
            )
        if float(result.detach()) != 0.0:
            raise CheckFailed(f"{case}: loss {float(result.detach()):.5f}, expected 0.0: every position is ignored.")
        if not result.requires_grad:
            raise CheckFailed(
                f"{case}: the loss is 0.0 but not connected to the logits (torch.tensor(0.0)?), so loss.backward() "
                "fails. Compute it from the logits, e.g. summed / count.clamp(min=1), and the gradients are simply zero."
            )
    passed(name + (f", {part}" if part else ""), "; ".join(QA_LOSS_PARTS[p] for p in chosen) + ".")


def random_span_logits(seed: int, count: int = 20, few_valid: bool = False) -> list[tuple[torch.Tensor, torch.Tensor, int, int]]:
    """``count`` random ``(start_logits, end_logits, max_answer_length, n_best)`` cases of one sequence.

    With ``few_valid=True`` every case asks for more spans than there are valid ones.
    """
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for _ in range(count):
        seq_len = int(torch.randint(1, 13, (), generator=generator))
        max_len = int(torch.randint(1, 6, (), generator=generator))
        n_best = int(torch.randint(1, 8, (), generator=generator))
        if few_valid:
            seq_len, max_len = min(seq_len, 4), min(max_len, 2)
            valid = sum(min(max_len, seq_len - start) for start in range(seq_len))
            n_best = valid + 1 + n_best
        cases.append((torch.randn(seq_len, generator=generator), torch.randn(seq_len, generator=generator), max_len, n_best))
    return cases


def random_qa_batches(seed: int, count: int = 20, all_outside: bool | None = None) -> list[tuple[torch.Tensor, ...]]:
    """``count`` random ``(start_logits, end_logits, start_positions, end_positions)`` cases.

    About a third of the positions lie at or past ``seq_len`` (answer outside the window); one case in
    five has every position outside (``all_outside=None``), or every case (``True``), or none (``False``).
    """
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for index in range(count):
        batch = int(torch.randint(1, 6, (), generator=generator))
        seq_len = int(torch.randint(2, 12, (), generator=generator))
        start_logits = torch.randn(batch, seq_len, generator=generator)
        end_logits = torch.randn(batch, seq_len, generator=generator)
        every = index % 5 == 4 if all_outside is None else all_outside
        positions = []
        for half in range(2):
            inside = torch.randint(0, seq_len, (batch,), generator=generator)
            outside = torch.randint(seq_len, 3 * seq_len, (batch,), generator=generator)
            out = torch.rand(batch, generator=generator) < (1.0 if every else 0.33)
            if all_outside is False:
                out[0] = False  # at least one position of each half inside
            positions.append(torch.where(out, outside, inside))
        cases.append((start_logits, end_logits, positions[0], positions[1]))
    return cases


def hidden_test_best_spans(fn: Callable, part: str) -> None:
    """Compare ``fn`` with the kit's ``best_spans`` on 30 random windows of ``part``, seeded by the instructor."""
    few = _parts(part, BEST_SPANS_PARTS)[0] == "few valid spans"
    cases = random_span_logits(hidden_seed(f"a2_spans/best_spans/{part}"), 30, few_valid=few)
    assert_matches_reference("best_spans", fn, _kit_best_spans, cases, references=[best_spans])


def hidden_test_qa_loss(fn: Callable, part: str) -> None:
    """Compare ``fn`` with the kit's ``question_answering_loss`` on 30 random batches of ``part``."""
    outside = _parts(part, QA_LOSS_PARTS)[0] == "no answer in the window"
    cases = random_qa_batches(hidden_seed(f"a2_spans/qa_loss/{part}"), 30, all_outside=outside)
    assert_matches_reference("qa_loss", fn, question_answering_loss, cases, references=[question_answering_loss])
