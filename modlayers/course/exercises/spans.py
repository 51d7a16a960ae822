"""Exercises of notebook 02 (question answering, span logits).

Example:
    >>> check_valid_span_count(27)
    ✓ valid spans of 10 context tokens, at most 3 long: 27.
    True
"""

from __future__ import annotations

from modlayers.course.answers import check_function, check_number, check_prediction
from modlayers.spans import token_span_to_char_span

__all__ = ["check_char_span", "check_reachable_prediction", "check_valid_span_count", "check_window_count_prediction"]


def check_valid_span_count(answer) -> bool:
    """How many spans ``start <= end < start + 3`` a context of 10 tokens has (the decoder scores each)."""
    return check_number(
        "valid spans of 10 context tokens, at most 3 long", answer, expected=27, tolerance=0,
        mistakes=[(100, "every (start, end) pair is counted, ends before starts included."),
                  (55, "every pair with start <= end is counted, however long the span."),
                  (30, "every start gets 3 ends, also near the end of the context, where fewer fit.")],
        hint="Count for each start the ends that fit: start itself, and up to 2 more inside the context.")


def _char_span_reference(context: str, offsets, start: int, end: int) -> str:
    char_start, char_end = token_span_to_char_span(start, end, offsets)
    return context[char_start:char_end]


def _char_span_cases():
    context = "Ada Lindqvist was born in Marlow Bay in 1987."
    offsets = [(0, 0), (0, 3), (4, 8), (8, 13), (14, 17), (18, 22), (23, 25), (26, 32), (33, 36), (37, 39),
               (40, 44), (44, 45), (0, 0)]  # [CLS] ada lind ##qvist was born in marlow bay in 1987 . [SEP]
    return context, [("a one-token answer, '1987'", (context, offsets, 10, 10)),
                     ("a two-token answer, 'Marlow Bay'", (context, offsets, 7, 8)),
                     ("a word cut in pieces, 'Lindqvist'", (context, offsets, 2, 3))]


def check_char_span(fn) -> bool:
    """Check ``fn(context, offsets, start, end) -> str``: the answer text of an inclusive token span."""
    _, cases = _char_span_cases()
    mistakes = [
        ("the span ends at the first character of the end token; it ends at that token's last character",
         lambda c, o, s, e: c[o[s][0]:o[e][0]]),
        ("`end` is treated as exclusive; the decoder's spans include their end token",
         lambda c, o, s, e: c[o[s][0]:o[e - 1][1]] if e > s else ""),
        ("token positions are used as character positions; the offsets map one to the other",
         lambda c, o, s, e: c[s:e + 1]),
    ]
    return check_function("answer_text", fn, _char_span_reference, cases, mistakes=mistakes,
                          references=[token_span_to_char_span])


def check_window_count_prediction(prediction, actual_windows: int, stride: int) -> bool:
    """Compare the predicted number of windows of the long example with the run's (for the stride used)."""
    return check_prediction(f"windows of the long example with STRIDE = {stride}", prediction, actual_windows,
                            why="each window after the first adds only the context tokens it does not share "
                                "with the one before: the larger the stride, the more windows.")


def check_reachable_prediction(prediction, reachable: float) -> bool:
    """Compare the predicted share of long pairs whose answer lies in the first window (within 0.1)."""
    return check_prediction("reachable from the first window only", prediction, round(reachable, 2), tolerance=0.1,
                            why="every answer past the first window's last token is cut off; on these long "
                                "contexts many answers sit after it.")
