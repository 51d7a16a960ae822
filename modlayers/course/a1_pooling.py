"""Assignment 1, pooling: checks and hidden tests for ``last_non_pad_index`` and ``pooled_logits``.

Graded parts (one nbgrader check cell each, 5 points in all):

==========================  ======  ==============================================
part                        points  behaviour
==========================  ======  ==============================================
``last_non_pad_index``
  ``"right padding"``       1       right padding and no padding, pad id 0
  ``"left padding"``        1       left padding, left and right rows mixed
  ``"pad id"``              1       a pad id other than 0 (token 0 is then real)
``pooled_logits``           2       one row per sequence at its own index, gradients flow
==========================  ======  ==============================================

Example:
    >>> def mine(input_ids, pad_token_id):
    ...     positions = torch.arange(input_ids.shape[-1])
    ...     return (positions * (input_ids != pad_token_id)).argmax(-1)
    >>> check_last_non_pad_index(mine, part="left padding")
    ✓ last_non_pad_index, left padding: left padding, left and right rows mixed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from modlayers.course.checking import (
    CheckFailed,
    assert_matches_reference,
    call,
    passed,
    require_tensor,
)
from modlayers.course.hidden_seeds import hidden_seed
from modlayers.pooling import last_non_pad_index, pool_at

__all__ = [
    "LAST_NON_PAD_INDEX_PARTS",
    "check_last_non_pad_index",
    "check_pooled_logits",
    "hidden_test_last_non_pad_index",
    "hidden_test_pooled_logits",
    "random_padded_batches",
    "random_pooling_inputs",
]

LAST_NON_PAD_INDEX_PARTS = {
    "right padding": "right padding and no padding, pad id 0",
    "left padding": "left padding, left and right rows mixed",
    "pad id": "a pad id other than 0 (token 0 is then a real token)",
}


def _part_or_all(part: str | None, parts: dict) -> list[str]:
    if part is None:
        return list(parts)
    if part not in parts:
        raise ValueError(f"part must be one of {list(parts)} or None (every part), got {part!r}.")
    return [part]


def check_last_non_pad_index(fn: Callable, part: str | None = None) -> None:
    """Check ``fn(input_ids, pad_token_id) -> (batch,)`` on hand-made padded batches.

    Args:
        fn: the learner's function.
        part: one of :data:`LAST_NON_PAD_INDEX_PARTS` (one graded cell each), or None for all.

    Raises:
        CheckFailed: the first wrong row, e.g. ``left padding, row 1: pooled index 3, expected 8``,
            with a hint when the answer matches a known mistake; or an answer that uses the kit's own.
        NotWrittenYet: ``fn`` is still the stub.
        ValueError: an unknown ``part``.
    """
    cases = {
        "right padding": [
            ("right padding", torch.tensor([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0], [4, 4, 4, 4, 0]]), 0),
            ("no padding", torch.tensor([[5, 6, 7, 8], [1, 2, 3, 4]]), 0),
        ],
        "left padding": [
            ("left padding", torch.tensor([[0, 0, 0, 0, 0, 0, 5, 6, 7], [0, 0, 0, 0, 0, 0, 0, 8, 9]]), 0),
            ("mixed sides", torch.tensor([[0, 0, 0, 9, 9, 9], [9, 9, 9, 9, 0, 0], [9, 9, 9, 9, 9, 9]]), 0),
        ],
        "pad id": [("pad id 3 (token 0 is a real token)", torch.tensor([[0, 1, 0, 3, 3], [3, 3, 0, 1, 0]]), 3)],
    }
    chosen = _part_or_all(part, LAST_NON_PAD_INDEX_PARTS)
    for case, input_ids, pad in [c for p in chosen for c in cases[p]]:
        expected = last_non_pad_index(input_ids, pad)
        result = call("last_non_pad_index", fn, input_ids.clone(), pad, references=[last_non_pad_index])
        result = require_tensor("last_non_pad_index", result, tuple(expected.shape), case)
        if result.is_floating_point():
            raise CheckFailed(f"{case}: last_non_pad_index returned dtype {result.dtype}; positions are integers (torch.long).")
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
            raise CheckFailed(f"{case}, row {row}: pooled index {got}, expected {want}.{hint}\n  input_ids[{row}] = {input_ids[row].tolist()}")
    what = "; ".join(LAST_NON_PAD_INDEX_PARTS[p] for p in chosen)
    passed("last_non_pad_index" + (f", {part}" if part else ""), f"{what}.")


def check_pooled_logits(fn: Callable) -> None:
    """Check ``fn(logits, index) -> (batch, num_labels)``: row ``b`` of the result is ``logits[b, index[b]]``.

    Raises:
        CheckFailed: wrong shape (with the ``logits[:, index]`` hint), a row taken at the wrong
            position (named), or a result cut off from the graph.
        NotWrittenYet: ``fn`` is still the stub.
    """
    batch, seq_len, num_labels = 3, 5, 2
    logits = torch.arange(batch * seq_len * num_labels, dtype=torch.float32).view(batch, seq_len, num_labels)
    logits.requires_grad_(True)
    index = torch.tensor([4, 1, 2])
    case = "logits of shape (3, 5, 2), index [4, 1, 2]"
    expected = logits.detach()[torch.arange(batch), index]
    result = call("pooled_logits", fn, logits, index.clone(), references=[pool_at])
    if isinstance(result, torch.Tensor) and tuple(result.shape) == (batch, batch, num_labels):
        raise CheckFailed(
            f"{case}: pooled_logits returned shape {tuple(result.shape)}, expected {(batch, num_labels)}. Indexing "
            "the positions alone (logits[:, index]) takes every index for every row; row b needs only its own "
            "position, index[b]. See the hint of question 2."
        )
    result = require_tensor("pooled_logits", result, (batch, num_labels), case)
    for row in range(batch):
        if torch.equal(result[row].detach(), expected[row]):
            continue
        matches = [(b, t) for b in range(batch) for t in range(seq_len) if torch.equal(result[row].detach(), logits[b, t].detach())]
        found = f"the logits of row {matches[0][0]}, position {matches[0][1]}" if matches else f"{result[row].tolist()}"
        raise CheckFailed(f"{case}, row {row}: got {found}, expected row {row}, position {int(index[row])}.")
    if not result.requires_grad:
        raise CheckFailed(
            f"{case}: the result does not require grad, so no gradient would reach the model. Index the tensor "
            "directly; avoid .detach(), .tolist() or torch.tensor(...) on the logits."
        )
    passed("pooled_logits", "one row per sequence, taken at its own index, gradients flow.")


def random_padded_batches(
    seed: int, count: int = 20, sides: tuple[str, ...] = ("left", "right"), pad_ids: tuple[int, ...] = (0, 1, 2, 3)
) -> list[tuple[torch.Tensor, int]]:
    """``count`` random ``(input_ids, pad_token_id)`` cases: any lengths, rows padded on one of ``sides``.

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
        pad = pad_ids[int(torch.randint(0, len(pad_ids), (), generator=generator))]
        input_ids = torch.full((batch, seq_len), pad)
        for row in range(batch):
            length = int(torch.randint(1, seq_len + 1, (), generator=generator))
            tokens = torch.randint(0, 50, (length,), generator=generator)
            tokens[tokens == pad] = pad + 50  # real tokens are never the pad id
            side = sides[int(torch.randint(0, len(sides), (), generator=generator))]
            start = seq_len - length if side == "left" else 0
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


def hidden_test_last_non_pad_index(fn: Callable, part: str) -> None:
    """Compare ``fn`` with the kit's ``last_non_pad_index`` on 30 random batches of ``part``, seeded by the instructor."""
    sides, pad_ids = {"right padding": (("right",), (0,)), "left padding": (("left", "right"), (0,)),
                      "pad id": (("left", "right"), (1, 2, 3))}[_part_or_all(part, LAST_NON_PAD_INDEX_PARTS)[0]]
    cases = random_padded_batches(hidden_seed(f"a1_pooling/last_non_pad_index/{part}"), 30, sides, pad_ids)
    assert_matches_reference("last_non_pad_index", fn, last_non_pad_index, cases, references=[last_non_pad_index])


def hidden_test_pooled_logits(fn: Callable) -> None:
    """Compare ``fn`` with the kit's ``pool_at`` on 30 random cases, seeded by the instructor."""
    cases = random_pooling_inputs(hidden_seed("a1_pooling/pooled_logits"), 30)
    assert_matches_reference("pooled_logits", fn, pool_at, cases, references=[pool_at])
