"""Assignment 3, token classification: checks and hidden tests for ``align_labels`` and ``masked_token_loss``.

Graded parts (one nbgrader check cell each, 6 points in all):

===========================  ======  ==================================================
part                         points  behaviour
===========================  ======  ==================================================
``align_labels``             3       special tokens -100, first sub-word labelled, continuation pieces -100
``masked_token_loss``
  ``"labelled tokens"``      2       -100 ignored, mean over the labelled tokens
  ``"no labelled token"``    1       0.0 (not nan), connected to the logits, from a loss that divides
                                     by the labelled tokens (a single labelled token among ignored
                                     ones is its own loss), so that ``per_token.mean()``, 0.0 here by
                                     accident, does not earn it
===========================  ======  ==================================================

The one-line ``F.cross_entropy(logits.view(-1, n), labels.view(-1))`` gives NaN when nothing is
labelled; it loses only the last part's point. The hand-made cases use the pieces the real
``bert-base-uncased`` WordPiece tokenizer gives (``Leuven`` -> ``le ##uven``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from modlayers.course.checking import (
    CheckFailed,
    assert_matches_reference,
    call,
    passed,
    require_scalar_loss,
)
from modlayers.course.hidden_seeds import hidden_seed
from modlayers.label_alignment import align_labels_to_tokens
from modlayers.losses import IGNORE_INDEX, token_classification_loss

__all__ = [
    "ALIGN_LABELS_CASES",
    "MASKED_TOKEN_LOSS_PARTS",
    "check_align_labels",
    "check_masked_token_loss",
    "hidden_test_align_labels",
    "hidden_test_masked_token_loss",
    "random_token_batches",
    "random_word_ids",
]

MASKED_TOKEN_LOSS_PARTS = {
    "labelled tokens": "-100 ignored, mean over labelled tokens",
    "no labelled token": "0.0 (not nan), connected to the logits, when nothing is labelled; one labelled token alone "
                         "counts as its own loss",
}

# (tokens as the tokenizer prints them, word labels, word_ids); tests check them against the real tokenizer.
ALIGN_LABELS_CASES = [
    ("[CLS] alice visited le ##uven [SEP]", [1, 0, 5], [None, 0, 1, 2, 2, None]),
    ("[CLS] the os ##ter ##by team won [SEP]", [0, 3, 4, 0], [None, 0, 1, 1, 1, 2, 3, None]),
    ("[CLS] rain in gr ##eno ##ble [SEP] [PAD] [PAD]", [0, 0, 5], [None, 0, 1, 2, 2, 2, None, None, None]),
    ("[CLS] id ##ris [SEP]", [1], [None, 0, 0, None]),
]


def check_align_labels(fn: Callable) -> None:
    """Check ``fn(word_labels, word_ids) -> list[int]``: a word's label on its first sub-word, -100 elsewhere.

    Raises:
        CheckFailed: the first wrong token, saying whether it is a special token, a word's first
            piece or a continuation piece.
        NotWrittenYet: ``fn`` is still the stub.
    """
    name = "align_labels"
    for case, labels, word_ids in ALIGN_LABELS_CASES:
        tokens = case.split()
        expected = align_labels_to_tokens(labels, word_ids)
        result = call(name, fn, list(labels), list(word_ids), references=[align_labels_to_tokens])
        if isinstance(result, torch.Tensor):
            result = result.tolist()
        if not isinstance(result, (list, tuple)):
            raise CheckFailed(f"{case}: {name} returned {type(result).__name__}; return a list of ints, one per token.")
        if len(result) != len(word_ids):
            raise CheckFailed(f"{case}: {name} returned {len(result)} labels for {len(word_ids)} tokens; one label per token.")
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
            raise CheckFailed(f"{case}: got {got}, expected {want}. {why}.\n  word_labels={labels}, word_ids={word_ids}")
    passed(name, "special tokens -100, first sub-word labelled, continuation pieces -100.")


def check_masked_token_loss(fn: Callable, part: str | None = None) -> None:
    """Check ``fn(logits, labels) -> scalar``: mean cross-entropy over the tokens whose label is not -100.

    Args:
        part: one of :data:`MASKED_TOKEN_LOSS_PARTS`, or None for all.

    Raises:
        CheckFailed: the first wrong loss (with a hint when it is the mean over *all* tokens), a NaN
            when every label is -100, or a loss cut off from the graph.
        NotWrittenYet: ``fn`` is still the stub.
    """
    if part is not None and part not in MASKED_TOKEN_LOSS_PARTS:
        raise ValueError(f"part must be one of {list(MASKED_TOKEN_LOSS_PARTS)} or None (every part), got {part!r}.")
    chosen = [part] if part else list(MASKED_TOKEN_LOSS_PARTS)
    name = "masked_token_loss"
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 5, 3, generator=generator)
    cases = {
        "labelled tokens": [
            ("every token labelled", torch.tensor([[0, 1, 2, 1, 0], [2, 2, 1, 0, 1]])),
            ("special tokens and continuation pieces at -100", torch.tensor([[-100, 1, -100, 0, -100], [-100, 2, 2, 0, -100]])),
            ("one sentence with no labelled token", torch.tensor([[-100, -100, -100, -100, -100], [-100, 2, -100, 1, -100]])),
        ],
        # A loss that divides by every token is 0.0 here by accident: the second case shows its denominator.
        "no labelled token": [("no labelled token at all", torch.full((2, 5), -100)),
                              ("a single labelled token among ignored ones",
                               torch.tensor([[-100, -100, -100, -100, -100], [-100, -100, 2, -100, -100]]))],
    }
    for case, labels in [c for p in chosen for c in cases[p]]:
        expected = token_classification_loss(logits, labels)
        leaf = logits.clone().requires_grad_(True)
        result = require_scalar_loss(name, call(name, fn, leaf, labels.clone(), references=[token_classification_loss]), case)
        value = float(result.detach())
        if math.isnan(value):
            raise CheckFailed(
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
            raise CheckFailed(f"{case}: loss {value:.5f}, expected {float(expected):.5f}.{hint}\n  labels={labels.tolist()}")
        if not result.requires_grad:
            raise CheckFailed(
                f"{case}: the loss does not require grad; compute it from the logits (even when it is 0.0) so that "
                "loss.backward() works."
            )
    passed(name + (f", {part}" if part else ""), "; ".join(MASKED_TOKEN_LOSS_PARTS[p] for p in chosen) + ".")


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


def random_token_batches(seed: int, count: int = 20, none_labelled: bool | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` random ``(logits (batch, seq_len, num_labels), labels (batch, seq_len))`` cases, with -100s.

    About 40% of the labels are -100; one case in five is all -100 (``none_labelled=None``), or every
    case (``True``), or none (``False``: at least one token labelled).
    """
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for index in range(count):
        batch, seq_len = int(torch.randint(1, 5, (), generator=generator)), int(torch.randint(1, 10, (), generator=generator))
        num_labels = int(torch.randint(2, 10, (), generator=generator))
        logits = torch.randn(batch, seq_len, num_labels, generator=generator)
        labels = torch.randint(0, num_labels, (batch, seq_len), generator=generator)
        every = index % 5 == 4 if none_labelled is None else none_labelled
        ignored = torch.rand(batch, seq_len, generator=generator) < (1.0 if every else 0.4)
        if none_labelled is False:
            ignored[0, 0] = False
        cases.append((logits, labels.masked_fill(ignored, IGNORE_INDEX)))
    return cases


def hidden_test_align_labels(fn: Callable) -> None:
    """Compare ``fn`` with the kit's ``align_labels_to_tokens`` on 30 random sentences, seeded by the instructor."""
    cases = random_word_ids(hidden_seed("a3_token_loss/align_labels"), 30)
    assert_matches_reference("align_labels", fn, align_labels_to_tokens, cases, references=[align_labels_to_tokens])


def hidden_test_masked_token_loss(fn: Callable, part: str) -> None:
    """Compare ``fn`` with the kit's ``token_classification_loss`` on 30 random batches of ``part``."""
    if part not in MASKED_TOKEN_LOSS_PARTS:
        raise ValueError(f"part must be one of {list(MASKED_TOKEN_LOSS_PARTS)}, got {part!r}.")
    seed = hidden_seed(f"a3_token_loss/masked_token_loss/{part}")
    cases = random_token_batches(seed, 30, none_labelled=part == "no labelled token")
    if part == "no labelled token":  # every other case: one token labelled, so the denominator shows
        cases = [_one_labelled(case, seed + index) if index % 2 else case for index, case in enumerate(cases)]
    assert_matches_reference("masked_token_loss", fn, token_classification_loss, cases, references=[token_classification_loss])


def _one_labelled(case: tuple[torch.Tensor, torch.Tensor], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``case`` (all labels -100) with one random token given a random label."""
    logits, labels = case
    generator = torch.Generator().manual_seed(seed)
    labels = labels.clone()
    position = int(torch.randint(0, labels.numel(), (), generator=generator))
    labels.view(-1)[position] = int(torch.randint(0, logits.shape[-1], (), generator=generator))
    return logits, labels
