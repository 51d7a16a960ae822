"""Exercises of notebook 03 (token classification, the loss).

Example:
    >>> check_counted_mean(2.0)
    ✓ loss of 5 labelled tokens among 12: 2.0.
    True
"""

from __future__ import annotations

from modlayers.course.answers import check_number, check_prediction, is_blank, not_answered
from modlayers.course.checking import CheckFailed, passed
from modlayers.lessons.data import TAGGING_LABELS
from modlayers.label_alignment import align_labels_to_tokens

__all__ = ["check_counted_mean", "check_every_subword_prediction", "check_three_pieces"]

SCHEMES = ("first sub-word only", "every sub-word")


def _expected_pieces() -> dict[str, list[str]]:
    word_ids, word_labels = [0, 0, 0], [TAGGING_LABELS.index("B-LOC")]  # one word, three pieces
    first = align_labels_to_tokens(word_labels, word_ids)
    every = align_labels_to_tokens(word_labels, word_ids, label_all_subwords=True, label_names=TAGGING_LABELS)
    name = lambda label: "-100" if label == -100 else TAGGING_LABELS[label]  # noqa: E731
    return {"first sub-word only": [name(x) for x in first], "every sub-word": [name(x) for x in every]}


def check_three_pieces(answer) -> bool:
    """The labels of a word tagged ``B-LOC`` and cut into three pieces, in both alignment schemes.

    ``answer`` is ``{"first sub-word only": [3 labels], "every sub-word": [3 labels]}``, each label a tag
    name or ``"-100"``; the schemes' blanks are ``None``.
    """
    name = "the three pieces of a B-LOC word"
    if is_blank(answer) or (isinstance(answer, dict) and all(is_blank(answer.get(s)) for s in SCHEMES)):
        return not_answered(name, 'fill in both lists, e.g. ["B-LOC", "...", "..."], and run this cell again.')
    if not isinstance(answer, dict) or set(answer) != set(SCHEMES):
        raise TypeError(f"{name}: expected a dict with the keys {list(SCHEMES)}, got {answer!r}.")
    expected = _expected_pieces()
    for scheme in SCHEMES:
        mine = answer[scheme]
        if is_blank(mine):
            return not_answered(f"{name}, {scheme}", "fill in its list of three labels and run this cell again.")
        mine = [str(x) for x in mine] if isinstance(mine, (list, tuple)) else mine
        if not isinstance(mine, list) or len(mine) != 3:
            raise CheckFailed(f"{name}, {scheme}: expected a list of three labels (one per piece), got {answer[scheme]!r}.")
        unknown = [x for x in mine if x not in (*TAGGING_LABELS, "-100")]
        if unknown:
            raise CheckFailed(f"{name}, {scheme}: {unknown} are no labels; use the tag names {TAGGING_LABELS} or '-100'.")
        if mine == expected[scheme]:
            continue
        if mine[0] != "B-LOC":
            why = "the first piece carries the word's own tag in both schemes."
        elif scheme == "every sub-word" and "B-LOC" in mine[1:]:
            why = "a continuation piece tagged B- opens a second entity inside one word."
        elif scheme == "every sub-word" and "-100" in mine[1:]:
            why = "in this scheme continuation pieces are labelled too, not skipped."
        elif scheme == "first sub-word only" and "-100" not in mine[1:]:
            why = "in this scheme only the first piece is labelled; the loss must skip the others."
        else:
            why = "continuation pieces are inside the same location, not outside it."
        raise CheckFailed(f"{name}, {scheme}: {mine} is not it: {why}")
    passed(name, "both schemes.")
    return True


def check_counted_mean(answer) -> bool:
    """The head's loss for 12 positions, 5 of them labelled, whose per-token losses sum to 10."""
    return check_number(
        "loss of 5 labelled tokens among 12", answer, expected=2.0, tolerance=1e-3,
        mistakes=[(10 / 12, "the sum is divided by every position; the -100 positions are not counted."),
                  (10.0, "the losses are summed, not averaged.")],
        hint="The -100 positions add 0 to the sum; what do they add to the count?")


def check_every_subword_prediction(prediction, gain: float) -> bool:
    """Compare the predicted change of entity F1 from labelling every sub-word (within 0.05) with the run."""
    return check_prediction("entity F1 gained by labelling every sub-word", prediction, round(gain, 3), tolerance=0.05,
                            why="every piece of a name now carries I-X, so each name teaches the model several "
                                "times as much, although evaluation still reads first pieces only.")
