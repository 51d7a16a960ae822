"""Tests for modlayers/lessons/memory/segments.py: segments checkpoint as units and the peak is smallest near sqrt(n)."""

import pytest
import torch

from modlayers.lessons.memory.segments import (
    EqualLayerStack,
    best_segment_count,
    checkpoint_segments,
    measure_segment_peaks,
    predicted_segment_peak,
    segment_lengths,
)


def test_segment_lengths_cover_the_stack_and_differ_by_at_most_one():
    assert segment_lengths(10, 3) == [4, 3, 3]
    assert sum(segment_lengths(37, 6)) == 37


def test_checkpoint_segments_leaves_the_last_segment_unchecked():
    stack = EqualLayerStack(depth=8, width=4, segments=4)
    assert checkpoint_segments(stack) == 3
    assert [s.gradient_checkpointing for s in stack.segments] == [True, True, True, False]


def test_segmented_stack_gradients_equal_the_plain_stack():
    torch.manual_seed(0)
    stack = EqualLayerStack(depth=6, width=8, segments=3)
    x = torch.randn(5, 8, requires_grad=True)
    stack(x).sum().backward()
    expected = [p.grad.clone() for p in stack.parameters()] + [x.grad.clone()]
    stack.zero_grad(set_to_none=True)
    x.grad = None
    checkpoint_segments(stack)
    stack(x).sum().backward()
    for got, reference in zip([p.grad for p in stack.parameters()] + [x.grad], expected):
        torch.testing.assert_close(got, reference)


def test_predicted_peak_is_smallest_at_sqrt_n():
    assert [predicted_segment_peak(16, s) for s in (1, 2, 4, 8, 16)] == [17, 10, 8, 10, 17]
    assert best_segment_count(16) == 4
    assert best_segment_count(36) == 6


def test_measured_held_activations_match_the_prediction_and_are_smallest_near_sqrt_n():
    rows = measure_segment_peaks(depth=16, width=8, batch=64, segment_counts=[1, 2, 4, 8, 16])
    assert [row["held_units"] for row in rows] == [row["predicted_units"] for row in rows]
    best = min(rows, key=lambda row: row["held_units"])
    assert best["segments"] == 4


@pytest.mark.parametrize("depth,segments", [(0, 1), (4, 5), (4, 0)])
def test_bad_depth_or_segments_raise_value_errors(depth, segments):
    with pytest.raises(ValueError, match="must be"):
        segment_lengths(depth, segments)


def test_docstring_examples_run_as_written():
    import doctest

    import modlayers.lessons.memory.segments

    result = doctest.testmod(modlayers.lessons.memory.segments, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
