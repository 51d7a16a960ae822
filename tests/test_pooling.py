"""Pooling: the last non-pad token under left and right padding, and its alternatives."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from modlayers.pooling import first_token_pool, last_attended_index, last_non_pad_index, mean_pool, pool_at

PAD = 0


def test_right_and_left_padding_hand_computed():
    ids = torch.tensor([[5, 6, 7, 0, 0], [0, 0, 5, 6, 7], [5, 6, 7, 8, 9], [5, 0, 0, 0, 0]])
    assert last_non_pad_index(ids, PAD).tolist() == [2, 4, 4, 0]


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(1, 9), min_size=1, max_size=5), left=st.booleans(), data=st.data())
def test_the_index_is_the_last_real_token_for_any_lengths_and_padding_side(lengths, left, data):
    seq_len = max(lengths) + data.draw(st.integers(0, 3))
    ids = torch.full((len(lengths), seq_len), PAD)
    expected = []
    for row, length in enumerate(lengths):
        tokens = torch.tensor(data.draw(st.lists(st.integers(1, 50), min_size=length, max_size=length)))
        start = seq_len - length if left else 0
        ids[row, start : start + length] = tokens
        expected.append(start + length - 1)
    assert last_non_pad_index(ids, PAD).tolist() == expected


def test_a_pad_token_inside_the_text_is_skipped_when_it_is_also_the_end_of_sequence_token():
    eos = 2  # pad_token = eos_token: the real final eos looks like padding
    ids = torch.tensor([[5, 6, eos, eos, eos]])
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    assert last_non_pad_index(ids, eos).tolist() == [1]  # misses the real eos at 2
    assert last_attended_index(mask).tolist() == [2]  # the mask knows better


def test_a_row_of_only_padding_raises_naming_it():
    with pytest.raises(ValueError, match=r"row\(s\) \[1\]"):
        last_non_pad_index(torch.tensor([[1, 0], [0, 0]]), PAD)


@pytest.mark.parametrize(
    "ids, error", [(torch.tensor([1, 2]), ValueError), (torch.tensor([[1.0, 2.0]]), TypeError), ([[1, 2]], TypeError)]
)
def test_bad_input_ids_raise(ids, error):
    with pytest.raises(error):
        last_non_pad_index(ids, PAD)


def test_attention_mask_pooling_rejects_non_binary_and_empty_rows():
    with pytest.raises(ValueError, match="only 0"):
        last_attended_index(torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match=r"row\(s\) \[0\]"):
        last_attended_index(torch.tensor([[0, 0]]))


def test_pool_at_picks_one_row_per_position():
    values = torch.arange(24.0).view(2, 3, 4)
    torch.testing.assert_close(pool_at(values, torch.tensor([2, 0])), torch.stack([values[0, 2], values[1, 0]]))
    torch.testing.assert_close(pool_at(values, -1), values[:, -1])
    with pytest.raises(ValueError, match="one position per row"):
        pool_at(values, torch.tensor([0, 1, 2]))


def test_first_token_and_mean_pooling_hand_computed():
    hidden = torch.tensor([[[1.0, 10.0], [3.0, 30.0], [100.0, 100.0]]])
    torch.testing.assert_close(first_token_pool(hidden), torch.tensor([[1.0, 10.0]]))
    torch.testing.assert_close(mean_pool(hidden, torch.tensor([[1, 1, 0]])), torch.tensor([[2.0, 20.0]]))
    with pytest.raises(ValueError, match="attention_mask must have shape"):
        mean_pool(hidden, torch.tensor([[1, 1]]))
