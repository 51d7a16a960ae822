"""Tests for modlayers/spans/ (decoding, offsets, windows): span decoding, character mapping, windows over long contexts."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from modlayers.losses import question_answering_loss
from modlayers.spans import (
    Span,
    best_span,
    best_spans,
    char_span_to_token_span,
    decode_answers,
    decode_windows,
    encode_qa_windows,
    token_span_to_char_span,
)
from wordpiece_fixture import make_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


# ---------------------------------------------------------------- best_spans / best_span


def test_best_span_is_argmax_of_start_plus_end_among_ordered_spans():
    # Individually start=2 and end=0 are the largest, but end 0 precedes start 2.
    # Valid candidates include (0,0) = 1+6 = 7 and (2,3) = 5+3 = 8.
    start = [1.0, 0.0, 5.0, 0.0]
    end = [6.0, 0.0, 0.0, 3.0]
    assert best_span(start, end) == Span(2, 3, 8.0)


def test_best_spans_lists_n_best_in_decreasing_score_by_hand():
    start = [0.0, 2.0, 1.0]
    end = [0.0, 0.0, 3.0]
    # Every valid span and its score: (0,0)=0 (0,1)=0 (0,2)=3 (1,1)=2 (1,2)=5 (2,2)=4
    assert best_spans(start, end, n_best=3) == [Span(1, 2, 5.0), Span(2, 2, 4.0), Span(0, 2, 3.0)]


def test_max_answer_length_excludes_longer_spans():
    start = [5.0, 0.0, 0.0, 0.0]
    end = [0.0, 0.0, 0.0, 5.0]
    assert best_span(start, end, max_answer_length=4) == Span(0, 3, 10.0)
    # With at most 2 tokens, (0,3) is out; the best left is (0,0) or (0,1) = 5, or (3,3) = 5.
    span = best_span(start, end, max_answer_length=2)
    assert span.end - span.start + 1 <= 2 and span.score == 5.0


def test_context_mask_keeps_spans_inside_the_context():
    start = [9.0, 0.0, 1.0, 0.0]  # [CLS] would win without the mask
    end = [9.0, 0.0, 0.0, 2.0]
    mask = torch.tensor([False, False, True, True])
    assert best_span(start, end, context_mask=mask) == Span(2, 3, 3.0)
    assert best_span(start, end) == Span(0, 0, 18.0)


def test_best_spans_returns_only_the_valid_spans_when_fewer_than_n_best():
    # 2 tokens, max length 1: only (0,0) and (1,1) are valid.
    assert len(best_spans([1.0, 2.0], [1.0, 2.0], max_answer_length=1, n_best=10)) == 2


def test_all_false_mask_gives_no_span_and_best_span_explains():
    mask = torch.zeros(3, dtype=torch.bool)
    assert best_spans([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], context_mask=mask) == []
    with pytest.raises(ValueError, match="marks no token as context"):
        best_span([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], context_mask=mask)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"start_logits": [1.0, 2.0], "end_logits": [1.0]}, ValueError, "same forward pass"),
        ({"start_logits": [[1.0, 2.0]], "end_logits": [[1.0, 2.0]]}, ValueError, "1-D logits"),
        ({"max_answer_length": 0}, ValueError, "at least 1"),
        ({"max_answer_length": 2.5}, TypeError, "must be an int"),
        ({"n_best": 0}, ValueError, "n_best must be at least 1"),
        ({"context_mask": [1, 0]}, TypeError, "bools"),
        ({"context_mask": torch.tensor([True])}, ValueError, "expected \\(2,\\)"),
        ({"start_logits": ["a", "b"]}, TypeError, "sequence of numbers"),
    ],
)
def test_best_spans_rejects_bad_input_with_a_teaching_error(kwargs, error, message):
    arguments = {"start_logits": [1.0, 2.0], "end_logits": [1.0, 2.0], **kwargs}
    with pytest.raises(error, match=message):
        best_spans(**arguments)


INF = float("inf")


@pytest.mark.parametrize(
    "start, end, name, positions",
    [
        ([0.0, 5.0, float("nan")], [0.0, 5.0, 1.0], "start_logits", r"\[2\]"),  # would rank first: Span(2, 2, nan)
        ([0.0, 1.0, 2.0], [float("nan"), 0.0, float("nan")], "end_logits", r"\[0, 2\]"),
        ([INF, 0.0], [-INF, 0.0], "start_logits", r"\[0\]"),  # +inf + -inf is NaN
    ],
)
def test_nan_or_plus_inf_logits_are_an_error_naming_the_positions(start, end, name, positions):
    for decode in (best_span, best_spans):
        with pytest.raises(ValueError, match=rf"{name} holds NaN or \+inf at token positions {positions}"):
            decode(start, end)


def test_decode_windows_names_the_window_and_token_of_a_nan_logit():
    start, end = torch.zeros(2, 3), torch.zeros(2, 3)
    end[1, 2] = float("nan")
    offsets = torch.tensor([[(0, 1), (1, 2), (2, 3)]] * 2)
    with pytest.raises(ValueError, match=r"end_logits holds NaN or \+inf at \(window, token\) positions \[\(1, 2\)\]"):
        decode_windows(start, end, offsets, torch.ones(2, 3, dtype=torch.bool), "abc")


def test_spans_with_a_minus_inf_logit_are_never_returned_so_fewer_than_n_best_may_come_back():
    # masked token 0 scores 0, the context tokens -inf: nothing in the context can be the answer
    mask = torch.tensor([False, True, True])
    assert best_spans([0.0, -INF, -INF], [0.0, -INF, -INF], context_mask=mask, n_best=3) == []
    # every end is -inf: no span, and never (1, 0) with end < start
    assert best_spans([1.0, 2.0], [-INF, -INF], n_best=3) == []
    # only end 1 is finite: (0,1) = 1 + 0, (1,1) = 2 + 0; (1,2), (2,2), (0,0) ... are -inf
    assert best_spans([1.0, 2.0, 0.0], [-INF, 0.0, -INF], n_best=5) == [Span(1, 1, 2.0), Span(0, 1, 1.0)]
    # with a mask: (2,3) = 1 + 2 and (3,3) = 0 + 2; [CLS]'s 9 + 9 is outside, the rest has a -inf end
    start, end = [9.0, -INF, 1.0, 0.0], [9.0, 0.0, -INF, 2.0]
    mask = torch.tensor([False, True, True, True])
    assert best_spans(start, end, context_mask=mask, n_best=10) == [Span(2, 3, 3.0), Span(3, 3, 2.0)]
    assert best_span(start, end, context_mask=mask) == Span(2, 3, 3.0)
    with pytest.raises(ValueError, match="no valid span scores above -inf"):
        best_span([1.0, 2.0], [-INF, -INF])


def test_a_window_whose_context_logits_are_all_minus_inf_proposes_no_answer():
    offsets = torch.tensor([[(0, 1), (1, 2), (2, 3)]] * 2)
    start = torch.tensor([[-INF, -INF, -INF], [0.0, 4.0, 0.0]])
    end = torch.tensor([[-INF, -INF, -INF], [0.0, 0.0, 3.0]])
    answers = decode_windows(start, end, offsets, torch.ones(2, 3, dtype=torch.bool), "abc", n_best=5)
    assert [(a.window, a.token_start, a.token_end, a.score) for a in answers][:2] == [(1, 1, 2, 7.0), (1, 1, 1, 4.0)]
    assert all(a.window == 1 for a in answers)
    assert decode_windows(start[:1], end[:1], offsets[:1], torch.ones(1, 3, dtype=torch.bool), "abc") == []


def run_qa_reference(start, end, mask, max_answer_length, n_best):
    """transformers' run_qa postprocessing (utils_qa.postprocess_qa_predictions) over every start and end:
    skip a position outside the context, end < start and a span too long; score start + end (float32 as the
    kit); then, the kit's rule, skip a -inf score. Ranked by score, ties by start then end."""
    start, end = torch.tensor(start, dtype=torch.float32), torch.tensor(end, dtype=torch.float32)
    spans = []
    for i in range(len(start)):
        for j in range(len(end)):
            if not (mask[i] and mask[j]) or j < i or j - i + 1 > max_answer_length:
                continue
            score = float(start[i] + end[j])
            if score > -INF:
                spans.append(Span(i, j, score))
    return sorted(spans, key=lambda s: (-s.score, s.start, s.end))[:n_best]


logit_or_minus_inf = st.one_of(st.integers(-3, 3).map(float), st.just(-INF))


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 8).flatmap(
        lambda n: st.tuples(
            *(st.lists(item, min_size=n, max_size=n) for item in (logit_or_minus_inf, logit_or_minus_inf, st.booleans()))
        )
    ),
    st.integers(1, 4),
    st.integers(1, 12),
)
def test_best_spans_equal_run_qa_postprocessing_with_minus_inf_logits_and_a_mask(logits, max_answer_length, n_best):
    start, end, mask = logits  # small integers: many ties
    spans = best_spans(start, end, max_answer_length=max_answer_length, n_best=n_best, context_mask=torch.tensor(mask))
    assert spans == run_qa_reference(start, end, mask, max_answer_length, n_best)
    assert all(mask[s.start] and mask[s.end] and s.start <= s.end and s.score > -INF for s in spans)


logit_lists = st.integers(1, 12).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(-10, 10, allow_nan=False), min_size=n, max_size=n),
        st.lists(st.floats(-10, 10, allow_nan=False), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(logit_lists, st.integers(1, 12))
def test_best_span_matches_brute_force_and_respects_the_rules(logits, max_answer_length):
    start, end = logits
    spans = best_spans(start, end, max_answer_length=max_answer_length, n_best=5)
    for span in spans:
        assert 0 <= span.start <= span.end < len(start)
        assert span.end - span.start + 1 <= max_answer_length
        assert span.score == pytest.approx(start[span.start] + end[span.end], abs=1e-4)
    brute = max(
        start[i] + end[j]
        for i in range(len(start))
        for j in range(i, min(len(start), i + max_answer_length))
    )
    assert spans[0].score == pytest.approx(brute, abs=1e-4)
    assert [s.score for s in spans] == sorted((s.score for s in spans), reverse=True)


# ---------------------------------------------------------------- characters <-> tokens

OFFSETS = [(0, 0), (0, 5), (0, 0), (0, 3), (4, 7), (8, 11), (12, 14), (15, 17), (17, 18), (0, 0)]
#          [CLS]   where   [SEP]   the     cat     sat      on        ma        ##t       [SEP]
IN_CONTEXT = [False, False, False, True, True, True, True, True, True, False]
CONTEXT = "the cat sat on mat"


def test_token_span_to_char_span_covers_first_to_last_token():
    assert token_span_to_char_span(4, 5, OFFSETS) == (4, 11)
    assert CONTEXT[slice(*token_span_to_char_span(4, 5, OFFSETS))] == "cat sat"
    assert CONTEXT[slice(*token_span_to_char_span(7, 8, OFFSETS))] == "mat"


@pytest.mark.parametrize("start, end, message", [(5, 4, "start <= end"), (0, 10, "outside the sequence"), (-1, 2, "outside")])
def test_token_span_to_char_span_rejects_bad_spans(start, end, message):
    with pytest.raises(ValueError, match=message):
        token_span_to_char_span(start, end, OFFSETS)


def test_char_span_to_token_span_finds_tokens_holding_the_answer():
    assert char_span_to_token_span(OFFSETS, IN_CONTEXT, 4, 11) == (4, 5)  # "cat sat"
    assert char_span_to_token_span(OFFSETS, IN_CONTEXT, 15, 18) == (7, 8)  # "mat" = ma ##t
    assert char_span_to_token_span(OFFSETS, IN_CONTEXT, 0, 3) == (3, 3)  # "the", the first context token


def test_char_span_to_token_span_uses_missing_position_when_answer_is_outside_the_window():
    assert char_span_to_token_span(OFFSETS, IN_CONTEXT, 20, 24) == (0, 0)  # past "mat"
    assert char_span_to_token_span(OFFSETS, IN_CONTEXT, 20, 24, missing_position=10) == (10, 10)
    # Partly inside (starts in the window, ends after it) counts as missing too.
    assert char_span_to_token_span(OFFSETS, IN_CONTEXT, 15, 25) == (0, 0)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((-1, 3), {}, "negative"),
        ((5, 5), {}, "greater than answer_start"),
        ((4, 7), {"missing_position": -1}, "rejects negative positions"),
    ],
)
def test_char_span_to_token_span_rejects_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        char_span_to_token_span(OFFSETS, IN_CONTEXT, *args, **kwargs)


def test_char_span_to_token_span_rejects_mask_of_other_length():
    with pytest.raises(ValueError, match="same window"):
        char_span_to_token_span(OFFSETS, IN_CONTEXT[:-1], 4, 7)


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 8), st.data())
def test_char_to_token_to_char_round_trips_whole_tokens(n_context, data):
    # Context tokens of 3 letters separated by one space: "aaa aaa aaa ...".
    offsets = [(0, 0), (0, 0)] + [(4 * i, 4 * i + 3) for i in range(n_context)] + [(0, 0)]
    mask = [False, False] + [True] * n_context + [False]
    first = data.draw(st.integers(0, n_context - 1))
    last = data.draw(st.integers(first, n_context - 1))
    answer = (4 * first, 4 * last + 3)
    tokens = char_span_to_token_span(offsets, mask, *answer)
    assert tokens == (first + 2, last + 2)
    assert token_span_to_char_span(*tokens, offsets) == answer


# ---------------------------------------------------------------- windows over long contexts

LONG_CONTEXT = (
    "alice lives in london . bob lives in paris . the cat sat on the mat . "
    "the dog ran to the park . alice visited new york city and bob visited the park ."
)


def test_encode_qa_windows_splits_long_context_with_overlapping_stride(tokenizer):
    windows = encode_qa_windows(tokenizer, ["who lives in paris ?"], [LONG_CONTEXT], max_length=16, stride=3)
    n_windows = windows["input_ids"].shape[0]
    assert n_windows > 1
    assert windows["input_ids"].shape == (n_windows, 16)
    assert windows["offset_mapping"].shape == (n_windows, 16, 2)
    assert windows["example_index"].tolist() == [0] * n_windows
    # Consecutive windows share exactly `stride` context tokens (by character offsets).
    for w in range(n_windows - 1):
        here = windows["offset_mapping"][w][windows["context_mask"][w]].tolist()
        there = windows["offset_mapping"][w + 1][windows["context_mask"][w + 1]].tolist()
        assert here[-3:] == there[:3]


def test_encode_qa_windows_labels_answer_in_its_windows_and_cls_elsewhere(tokenizer):
    answer = "new york city"
    start = LONG_CONTEXT.index(answer)
    windows = encode_qa_windows(
        tokenizer, ["where did alice visit ?"], [LONG_CONTEXT],
        answer_starts=[start], answer_texts=[answer], max_length=16, stride=4,
    )
    starts, ends = windows["start_positions"], windows["end_positions"]
    holding = (starts != 0).nonzero().flatten().tolist()
    assert holding, "at least one window holds the whole answer"
    assert (starts == 0).any(), "the first windows do not reach the answer"
    for w in holding:
        char_span = token_span_to_char_span(int(starts[w]), int(ends[w]), windows["offset_mapping"][w])
        assert LONG_CONTEXT[slice(*char_span)] == answer
    for w in (starts == 0).nonzero().flatten().tolist():
        assert ends[w] == 0


def test_encode_qa_windows_ignore_convention_points_past_every_window(tokenizer):
    answer = "new york city"
    windows = encode_qa_windows(
        tokenizer, ["where ?"], [LONG_CONTEXT], answer_starts=[LONG_CONTEXT.index(answer)],
        answer_texts=[answer], max_length=16, stride=4, missing="ignore",
    )
    outside = windows["start_positions"] == 16
    assert outside.any() and (~outside).any()
    # The QA loss ignores such windows: with every window outside, the loss is 0, not NaN.
    logits = torch.randn(int(outside.sum()), 16)
    loss = question_answering_loss(logits, logits, windows["start_positions"][outside], windows["end_positions"][outside])
    assert loss.item() == 0.0


def test_encode_qa_windows_rejects_stride_that_does_not_fit(tokenizer):
    with pytest.raises(ValueError, match="lower stride"):
        encode_qa_windows(tokenizer, ["where did the cat sit ?"], [LONG_CONTEXT], max_length=12, stride=3)


def test_encode_qa_windows_rejects_answer_not_at_answer_start(tokenizer):
    with pytest.raises(ValueError, match="not the answer"):
        encode_qa_windows(tokenizer, ["who ?"], ["alice lives"], answer_starts=[1], answer_texts=["alice"])


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"questions": ["a", "b"]}, ValueError, "2 questions but 1 contexts"),
        ({"answer_starts": [0]}, ValueError, "pass both"),
        ({"missing": "nowhere"}, ValueError, "not one of"),
        ({"stride": -1}, ValueError, "stride must be"),
        ({"questions": "who ?"}, TypeError, "lists of strings"),
    ],
)
def test_encode_qa_windows_rejects_bad_arguments(tokenizer, kwargs, error, message):
    arguments = {"questions": ["who ?"], "contexts": ["alice lives"], **kwargs}
    with pytest.raises(error, match=message):
        encode_qa_windows(tokenizer, **arguments)


def test_decoding_across_windows_picks_the_most_confident_window(tokenizer):
    answer = "new york city"
    windows = encode_qa_windows(tokenizer, ["where ?"], [LONG_CONTEXT], max_length=16, stride=4)
    # Fake logits: a weak preference for "alice" in window 0, a strong one for the answer where it lies.
    n_windows, seq = windows["input_ids"].shape
    start_logits = torch.zeros(n_windows, seq)
    end_logits = torch.zeros(n_windows, seq)
    labelled = encode_qa_windows(
        tokenizer, ["where ?"], [LONG_CONTEXT], answer_starts=[LONG_CONTEXT.index(answer)],
        answer_texts=[answer], max_length=16, stride=4,
    )
    w = int((labelled["start_positions"] != 0).nonzero()[0])
    start_logits[w, labelled["start_positions"][w]] = 5.0
    end_logits[w, labelled["end_positions"][w]] = 5.0
    first_context_token = int(windows["context_mask"][0].nonzero()[0])
    start_logits[0, first_context_token] = 3.0
    end_logits[0, first_context_token] = 3.0

    answers = decode_windows(
        start_logits, end_logits, windows["offset_mapping"], windows["context_mask"], LONG_CONTEXT, n_best=3
    )
    assert answers[0].text == answer and answers[0].score == 10.0 and answers[0].window == w
    assert answers[1].text == "alice" and answers[1].score == 6.0
    assert decode_answers(windows, start_logits, end_logits, [LONG_CONTEXT]) == [answer]


def test_decode_answers_groups_windows_by_example(tokenizer):
    contexts = [LONG_CONTEXT, "bob lives in paris ."]
    windows = encode_qa_windows(tokenizer, ["who ?", "where ?"], contexts, max_length=16, stride=4)
    n_windows, seq = windows["input_ids"].shape
    start_logits, end_logits = torch.zeros(n_windows, seq), torch.zeros(n_windows, seq)
    last = n_windows - 1  # the only window of the short second example
    paris = int((windows["offset_mapping"][last, :, 0] == contexts[1].index("paris")).nonzero()[0])
    start_logits[last, paris] = end_logits[last, paris] = 4.0
    texts = decode_answers(windows, start_logits, end_logits, contexts)
    assert texts[1] == "paris"
    assert len(texts) == 2 and texts[0] != ""


def test_decode_answers_rejects_logits_for_other_windows(tokenizer):
    windows = encode_qa_windows(tokenizer, ["who ?"], [LONG_CONTEXT], max_length=16, stride=4)
    with pytest.raises(ValueError, match="run the model on every window"):
        decode_answers(windows, torch.zeros(1, 16), torch.zeros(1, 16), [LONG_CONTEXT])


def test_docstring_examples_of_the_module_hold():
    import doctest

    from modlayers.spans import decoding, offsets, windows

    results = [doctest.testmod(module, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
               for module in (decoding, offsets, windows)]
    assert sum(r.attempted for r in results) > 0 and sum(r.failed for r in results) == 0


def test_equal_scores_are_ordered_by_start_then_end():
    # All logits equal: every valid span ties; the order is (0,0), (0,1), (1,1), ...
    spans = best_spans([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], max_answer_length=2, n_best=5)
    assert [(s.start, s.end) for s in spans] == [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2)]


# ---------------------------------------------------------------- characters that produce no token


def test_an_answer_no_token_covers_is_an_error_not_the_neighbouring_tokens():
    # "alice \u200b lives": the zero-width space (6, 7) has no token; alice (0, 5), lives (8, 13)
    offsets = [(0, 0), (0, 5), (8, 13), (0, 0)]
    in_context = [False, True, True, False]
    with pytest.raises(ValueError, match="no token holds any of its characters"):
        char_span_to_token_span(offsets, in_context, 6, 7)
    assert char_span_to_token_span(offsets, in_context, 6, 13) == (2, 2)  # "\u200b lives": lives
    assert char_span_to_token_span(offsets, in_context, 0, 7) == (1, 1)


def test_encode_qa_windows_names_the_example_whose_answer_has_no_token(tokenizer):
    contexts = ["alice lives in paris .", "alice \u200b lives", "\u200b"]
    with pytest.raises(ValueError, match=r"example 1 \(answer '\\u200b'\).*no token holds any"):
        encode_qa_windows(tokenizer, ["who ?"] * 2, contexts[:2], answer_starts=[0, 6], answer_texts=["alice", "\u200b"])
    with pytest.raises(ValueError, match="example 0 .*context produced no token"):
        encode_qa_windows(tokenizer, ["who ?"], contexts[2:], answer_starts=[0], answer_texts=["\u200b"])


def test_decoding_a_context_with_a_zero_width_space_keeps_the_characters_between_tokens(tokenizer):
    context = "alice \u200b lives"
    windows = encode_qa_windows(tokenizer, ["who ?"], [context], max_length=16, stride=4)
    mask = windows["context_mask"][0]
    start = torch.full((16,), -10.0)
    end = torch.full((16,), -10.0)
    first, last = mask.nonzero().flatten().tolist()  # alice, lives
    start[first], end[last] = 5.0, 5.0
    answer = decode_windows(start[None], end[None], windows["offset_mapping"], windows["context_mask"], context)[0]
    assert answer.text == context and (answer.char_start, answer.char_end) == (0, 13)
