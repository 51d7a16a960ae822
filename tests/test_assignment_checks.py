"""The assignment checks: the kit's own functions pass, classic mistakes fail with a message that teaches."""

import doctest
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import modlayers.assignment_checks as checks
from modlayers import GradientCheckpointingLayer, disable_gradient_checkpointing, enable_gradient_checkpointing
from modlayers.label_alignment import align_labels_to_tokens
from modlayers.losses import question_answering_loss, token_classification_loss
from modlayers.memory import SavedTensorCounter
from modlayers.pooling import last_non_pad_index, pool_at
from modlayers.spans import best_spans


def kit_best_spans(start_logits, end_logits, max_answer_length=30, n_best=20):
    return best_spans(start_logits, end_logits, max_answer_length=max_answer_length, n_best=n_best)


def not_written(*args, **kwargs):
    raise NotImplementedError()


def test_docstring_examples_run_as_written():
    result = doctest.testmod(checks, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    "check, reference",
    [
        (checks.check_last_non_pad_index, last_non_pad_index),
        (checks.check_pooled_logits, pool_at),
        (checks.check_best_spans, kit_best_spans),
        (checks.check_qa_loss, question_answering_loss),
        (checks.check_align_labels, align_labels_to_tokens),
        (checks.check_masked_token_loss, token_classification_loss),
        (checks.check_block_saved_bytes, checks.mlp_block_saved_bytes),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_the_kits_reference_passes_and_a_stub_says_it_is_not_written(check, reference, capsys):
    check(reference)
    assert capsys.readouterr().out.startswith("✓ ")
    with pytest.raises(NotImplementedError, match="not written yet"):
        check(not_written)


def test_a_value_that_is_not_a_function_is_named():
    with pytest.raises(TypeError, match="expected the function last_non_pad_index, got int"):
        checks.check_last_non_pad_index(3)


def test_left_padding_mistake_names_the_row_and_the_cause():
    with pytest.raises(AssertionError, match=r"left padding, row 0: pooled index 2, expected 8\. You counted the real tokens"):
        checks.check_last_non_pad_index(lambda ids, pad: (ids != pad).sum(-1) - 1)


def test_last_column_mistake_says_it_is_padding():
    with pytest.raises(AssertionError, match="last column, which is padding"):
        checks.check_last_non_pad_index(lambda ids, pad: torch.full((ids.shape[0],), ids.shape[1] - 1))


def test_hard_coded_pad_id_zero_fails_on_pad_id_three():
    def zero_pad(ids, pad):
        return last_non_pad_index(ids, 0) if bool((ids == 0).any()) else torch.full((ids.shape[0],), ids.shape[1] - 1)

    with pytest.raises(AssertionError, match="pad id 3"):
        checks.check_last_non_pad_index(zero_pad)


def test_pooled_logits_mistakes_broadcast_wrong_position_and_detached():
    with pytest.raises(AssertionError, match=r"shape \(3, 3, 2\)\. logits\[:, index\] takes every index"):
        checks.check_pooled_logits(lambda logits, index: logits[:, index])
    with pytest.raises(AssertionError, match="row 0: got the logits of row 0, position 4|row 1: got the logits of row 1, position 4"):
        checks.check_pooled_logits(lambda logits, index: logits[:, -1])
    with pytest.raises(AssertionError, match="does not require grad"):
        checks.check_pooled_logits(lambda logits, index: pool_at(logits, index).detach())


def all_pairs(start_logits, end_logits, max_answer_length=30, n_best=20):
    spans = [(s, e, float(start_logits[s] + end_logits[e])) for s in range(len(start_logits)) for e in range(len(end_logits))]
    return sorted(spans, key=lambda span: -span[2])[:n_best]


def ordered_pairs(start_logits, end_logits, max_answer_length=30, n_best=20):
    spans = [(s, e, score) for s, e, score in all_pairs(start_logits, end_logits, n_best=10**6) if s <= e]
    return spans[:n_best]


def test_best_spans_mistakes_end_before_start_and_too_long():
    with pytest.raises(AssertionError, match=r"your span \(3, 1\) ends before it starts"):
        checks.check_best_spans(all_pairs)
    with pytest.raises(AssertionError, match=r"your span \(0, 5\) holds 6 tokens but max_answer_length=3"):
        checks.check_best_spans(ordered_pairs)


def test_best_spans_mistakes_unsorted_and_wrong_score():
    with pytest.raises(AssertionError, match="sorted best first"):
        checks.check_best_spans(lambda *a, **k: list(reversed(kit_best_spans(*a, **k))))
    with pytest.raises(AssertionError, match=r"has score .*expected start_logits\["):
        checks.check_best_spans(lambda *a, **k: [(s.start, s.end, s.score + 1) for s in kit_best_spans(*a, **k)])


def test_qa_loss_mistakes_out_of_window_crash_and_nan_and_disconnected_zero():
    with pytest.raises(AssertionError, match="(?s)outside the window.*IndexError.*clamp positions to seq_len"):
        checks.check_qa_loss(lambda s, e, sp, ep: (F.cross_entropy(s, sp) + F.cross_entropy(e, ep)) / 2)

    def plain_mean(s, e, sp, ep):
        n = s.shape[1]
        return (F.cross_entropy(s, sp.clamp(0, n), ignore_index=n) + F.cross_entropy(e, ep.clamp(0, n), ignore_index=n)) / 2

    with pytest.raises(AssertionError, match="every answer lies outside the window: loss is nan"):
        checks.check_qa_loss(plain_mean)

    def disconnected_zero(s, e, sp, ep):
        loss = question_answering_loss(s, e, sp, ep)
        return loss if bool((sp < s.shape[1]).any()) else torch.tensor(0.0)

    with pytest.raises(AssertionError, match="not connected to the logits"):
        checks.check_qa_loss(disconnected_zero)


def test_align_labels_mistakes_name_the_token_kind():
    with pytest.raises(AssertionError, match=r"token 4 \('##eaux'\) continues word 2"):
        checks.check_align_labels(lambda labels, ids: [-100 if w is None else labels[w] for w in ids])
    with pytest.raises(AssertionError, match=r"token 0 \('\[CLS\]'\) is a special token"):
        checks.check_align_labels(lambda labels, ids: [0 if w is None else x for w, x in zip(ids, align_labels_to_tokens(labels, ids))])
    with pytest.raises(AssertionError, match="returned 5 labels for 6 tokens"):
        checks.check_align_labels(lambda labels, ids: align_labels_to_tokens(labels, ids)[:-1])


def test_masked_token_loss_mistakes_divide_by_all_tokens_and_nan():
    def over_all(logits, labels):
        flat = labels.reshape(-1)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), flat, reduction="sum") / flat.numel()

    with pytest.raises(AssertionError, match="You divided by every token"):
        checks.check_masked_token_loss(over_all)
    with pytest.raises(AssertionError, match="no labelled token at all: loss is nan"):
        checks.check_masked_token_loss(lambda logits, labels: F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)))


class PlainModule(nn.Module):
    def __init__(self, hidden_size, intermediate_size):
        super().__init__()


class NoResidual(GradientCheckpointingLayer):
    def __init__(self, hidden_size, intermediate_size):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size)
        self.fc1 = nn.Linear(hidden_size, intermediate_size)
        self.fc2 = nn.Linear(intermediate_size, hidden_size)

    def forward(self, hidden_states):
        return self.fc2(F.gelu(self.fc1(self.norm(hidden_states))))


class NoCheckpoint(checks.MLPBlock):
    pass


NoCheckpoint.forward = checks.MLPBlock.forward.__wrapped__  # a plain forward put there afterwards is not checkpointed


def test_mlp_block_passes_and_mistakes_are_named(capsys):
    checks.check_mlp_block(checks.MLPBlock)
    checks.check_mlp_block(checks.MLPBlock, hidden_size=8, intermediate_size=12, seed=3)
    assert capsys.readouterr().out.count("✓ MLPBlock") == 2
    with pytest.raises(AssertionError, match="must subclass GradientCheckpointingLayer"):
        checks.check_mlp_block(PlainModule)
    with pytest.raises(AssertionError, match="Without the residual"):
        checks.check_mlp_block(NoResidual)
    with pytest.raises(AssertionError, match="forward ran 2 times for 2 without"):
        checks.check_mlp_block(NoCheckpoint)


def test_block_saved_bytes_prediction_equals_the_counter_and_a_wrong_one_lists_the_tensors():
    for shape in [(2, 8, 16, 64), (1, 3, 4, 10), (4, 2, 8, 8)]:
        for checkpointed in (False, True):
            assert checks.mlp_block_saved_bytes(*shape, checkpointed) == checks.measured_block_saved_bytes(*shape, checkpointed)
    with pytest.raises(AssertionError, match=r"(?s)= 10240, but the kit measured 10368 bytes.*\(2, 8, 1\) float32: 64 bytes"):
        checks.check_block_saved_bytes(lambda b, t, h, i, c: 4 * b * t * (2 * h + 2 * i))
    with pytest.raises(AssertionError, match="keeps only its input"):
        checks.check_block_saved_bytes(lambda b, t, h, i, c: checks.mlp_block_saved_bytes(b, t, h, i, False))


def measure(model, hidden_states, enable=True):
    def step():
        model.zero_grad()
        x = hidden_states.detach().requires_grad_()
        with SavedTensorCounter(model) as counter:
            loss = model(x).sum()
        loss.backward()
        return counter.saved_bytes, [x.grad] + [p.grad.clone() for p in model.parameters()]

    disable_gradient_checkpointing(model)
    off, grads_off = step()
    if enable:
        enable_gradient_checkpointing(model)
    on, grads_on = step()
    return off, on, max(float((a - b).abs().max()) for a, b in zip(grads_off, grads_on))


def test_measure_checkpointing_accepts_a_correct_measurement_and_prints_the_drop(capsys):
    checks.check_measure_checkpointing(measure)
    out = capsys.readouterr().out
    assert "3 layers keep 31104 bytes (predicted 3 x 10368)" in out and "3072 (predicted 3 x 1024)" in out


def test_measure_checkpointing_rejects_forgetting_to_enable_and_wrong_tuple():
    with pytest.raises(AssertionError, match="that is the count without checkpointing: enable it first"):
        checks.check_measure_checkpointing(lambda m, x: measure(m, x, enable=False))
    with pytest.raises(AssertionError, match="return three numbers"):
        checks.check_measure_checkpointing(lambda m, x: measure(m, x)[:2])


@pytest.mark.parametrize(
    "generator, reference",
    [
        (checks.random_padded_batches, last_non_pad_index),
        (checks.random_pooling_inputs, pool_at),
        (checks.random_span_logits, kit_best_spans),
        (checks.random_qa_batches, question_answering_loss),
        (checks.random_word_ids, align_labels_to_tokens),
        (checks.random_token_batches, token_classification_loss),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_random_cases_are_reproducible_and_accepted_by_the_reference(generator, reference):
    first, second = generator(seed=5, count=15), generator(seed=5, count=15)
    assert len(first) == 15
    assert repr(first) == repr(second)
    assert repr(first) != repr(generator(seed=6, count=15))
    checks.assert_matches_reference("reference", reference, reference, first)


def test_random_qa_batches_include_out_of_window_and_all_outside_cases():
    cases = checks.random_qa_batches(seed=0, count=10)
    outside = [bool((start >= logits.shape[1]).all()) for logits, _, start, _ in cases]
    some = [bool((start >= logits.shape[1]).any()) for logits, _, start, _ in cases]
    assert any(outside) and sum(some) > sum(outside)


def test_assert_matches_reference_reports_the_input_and_both_results():
    cases = checks.random_padded_batches(seed=1, count=5)
    with pytest.raises(AssertionError, match=r"(?s)differs from the kit's reference.*input: .*yours: .*expected: "):
        checks.assert_matches_reference("last_non_pad_index", lambda ids, pad: last_non_pad_index(ids, pad) + 1, last_non_pad_index, cases)
    with pytest.raises(AssertionError, match="raised ZeroDivisionError"):
        checks.assert_matches_reference("f", lambda ids, pad: 1 / 0, last_non_pad_index, cases)
    with pytest.raises(ValueError, match="no cases"):
        checks.assert_matches_reference("f", last_non_pad_index, last_non_pad_index, [])


def test_spans_compare_as_tuples_or_named_tuples_and_losses_as_numbers():
    cases = checks.random_span_logits(seed=2, count=10)
    as_tuples = lambda *case: [tuple(span) for span in kit_best_spans(*case)]  # noqa: E731
    checks.assert_matches_reference("best_spans", as_tuples, kit_best_spans, cases)
    qa = checks.random_qa_batches(seed=2, count=10)
    checks.assert_matches_reference("qa_loss", lambda *c: question_answering_loss(*c).reshape(1), question_answering_loss, qa)


def test_checks_module_imports_without_nbgrader():
    code = "import sys; sys.modules['nbgrader'] = None; import modlayers.assignment_checks; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
