"""The assignment checks name each classic mistake: which case, what came back, what was expected, why."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from test_course_checks import (
    MyBlock,
    my_align_labels,
    my_best_spans,
    my_block_saved_bytes,
    my_last_non_pad_index,
    my_measure,
    my_pooled_logits,
    my_qa_loss,
)

from modlayers.course import a1_pooling, a2_spans, a3_token_loss, a4_checkpointing


@pytest.fixture(autouse=True)
def instructor_secret(monkeypatch):
    monkeypatch.setenv("MODLAYERS_HIDDEN_SEED", "a test secret")


def test_left_padding_mistake_names_the_row_and_the_cause():
    with pytest.raises(AssertionError, match=r"left padding, row 0: pooled index 2, expected 8\. You counted the real tokens"):
        a1_pooling.check_last_non_pad_index(lambda ids, pad: (ids != pad).sum(-1) - 1)


def test_last_column_mistake_says_it_is_padding():
    with pytest.raises(AssertionError, match="last column, which is padding"):
        a1_pooling.check_last_non_pad_index(lambda ids, pad: torch.full((ids.shape[0],), ids.shape[1] - 1))


def test_hard_coded_pad_id_zero_fails_on_pad_id_three():
    with pytest.raises(AssertionError, match="pad id 3"):
        a1_pooling.check_last_non_pad_index(lambda ids, pad: my_last_non_pad_index(ids, 0), "pad id")


def test_pooled_logits_mistakes_broadcast_wrong_position_and_detached():
    with pytest.raises(AssertionError, match=r"shape \(3, 3, 2\), expected \(3, 2\)\. .*logits\[:, index\]\) takes every") as error:
        a1_pooling.check_pooled_logits(lambda logits, index: logits[:, index])
    assert "arange" not in str(error.value) and "gather" not in str(error.value)  # the mistake, not the answer
    with pytest.raises(AssertionError, match="row 1: got the logits of row 1, position 4"):
        a1_pooling.check_pooled_logits(lambda logits, index: logits[:, -1])
    with pytest.raises(AssertionError, match="does not require grad"):
        a1_pooling.check_pooled_logits(lambda logits, index: my_pooled_logits(logits, index).detach())


def all_pairs(start_logits, end_logits, max_answer_length=30, n_best=20):
    spans = [(s, e, float(start_logits[s] + end_logits[e])) for s in range(len(start_logits)) for e in range(len(end_logits))]
    return sorted(spans, key=lambda span: -span[2])[:n_best]


def ordered_pairs(start_logits, end_logits, max_answer_length=30, n_best=20):
    return [(s, e, score) for s, e, score in all_pairs(start_logits, end_logits, n_best=10**6) if s <= e][:n_best]


def test_best_spans_mistakes_end_before_start_too_long_unsorted_wrong_score():
    with pytest.raises(AssertionError, match=r"your span \(3, 1\) ends before it starts"):
        a2_spans.check_best_spans(all_pairs)
    with pytest.raises(AssertionError, match=r"your span \(0, 5\) holds 6 tokens but max_answer_length=3"):
        a2_spans.check_best_spans(ordered_pairs)
    with pytest.raises(AssertionError, match="sorted best first"):
        a2_spans.check_best_spans(lambda *a, **k: list(reversed(my_best_spans(*a, **k))))
    with pytest.raises(AssertionError, match=r"has score .*expected start_logits\["):
        a2_spans.check_best_spans(lambda *a, **k: [(s, e, x + 1) for s, e, x in my_best_spans(*a, **k)])


def test_qa_loss_mistakes_out_of_window_crash_and_disconnected_zero():
    with pytest.raises(AssertionError, match="(?s)outside the window.*IndexError.*clamp positions to seq_len"):
        a2_spans.check_qa_loss(lambda s, e, sp, ep: (F.cross_entropy(s, sp) + F.cross_entropy(e, ep)) / 2)

    def disconnected_zero(s, e, sp, ep):
        return my_qa_loss(s, e, sp, ep) if bool((sp < s.shape[1]).any()) else torch.tensor(0.0)

    with pytest.raises(AssertionError, match="not connected to the logits"):
        a2_spans.check_qa_loss(disconnected_zero)


def test_align_labels_mistakes_name_the_token_kind():
    with pytest.raises(AssertionError, match=r"token 4 \('##uven'\) continues word 2"):
        a3_token_loss.check_align_labels(lambda labels, ids: [-100 if w is None else labels[w] for w in ids])
    with pytest.raises(AssertionError, match=r"token 0 \('\[CLS\]'\) is a special token"):
        a3_token_loss.check_align_labels(lambda labels, ids: [0 if w is None else x for w, x in zip(ids, my_align_labels(labels, ids))])
    with pytest.raises(AssertionError, match="returned 5 labels for 6 tokens"):
        a3_token_loss.check_align_labels(lambda labels, ids: my_align_labels(labels, ids)[:-1])


def test_masked_token_loss_dividing_by_every_token_is_named():
    def over_all(logits, labels):
        flat = labels.reshape(-1)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), flat, reduction="sum") / flat.numel()

    with pytest.raises(AssertionError, match="You divided by every token"):
        a3_token_loss.check_masked_token_loss(over_all)


def test_align_labels_cases_are_what_the_students_tokenizer_prints():
    from modlayers.lessons.pretrained import load_pretrained_tokenizer

    tokenizer = load_pretrained_tokenizer()  # the one assignment 3 shows: bert-base-uncased WordPiece
    for case, labels, word_ids in a3_token_loss.ALIGN_LABELS_CASES:
        tokens = case.replace(" [PAD]", "").split()
        words = []
        for token in tokens[1:-1]:  # the pieces, joined back into words
            if token.startswith("##"):
                words[-1] += token[2:]
            else:
                words.append(token)
        encoding = tokenizer(words, is_split_into_words=True)
        assert tokenizer.convert_ids_to_tokens(encoding["input_ids"]) == tokens, case
        assert encoding.word_ids() == word_ids[: len(tokens)], case
        assert len(labels) == len(words)


class PlainModule(nn.Module):
    def __init__(self, hidden_size, intermediate_size):
        super().__init__()


class NoResidual(MyBlock):
    def forward(self, hidden_states):
        return self.fc2(F.gelu(self.fc1(self.norm(hidden_states))))


class NoCheckpoint(MyBlock):
    pass


NoCheckpoint.forward = MyBlock.forward.__wrapped__  # a plain forward put there afterwards is not checkpointed


def test_mlp_block_mistakes_are_named():
    with pytest.raises(AssertionError, match="must subclass GradientCheckpointingLayer"):
        a4_checkpointing.check_mlp_block(PlainModule)
    with pytest.raises(AssertionError, match="Without the residual"):
        a4_checkpointing.check_mlp_block(NoResidual)
    with pytest.raises(AssertionError, match="forward ran 2 times for 2 without"):
        a4_checkpointing.check_mlp_block(NoCheckpoint)


def test_block_saved_bytes_prediction_equals_the_counter_and_a_wrong_one_lists_the_tensors():
    for shape in [(2, 8, 16, 64), (1, 3, 4, 10), (4, 2, 8, 8)]:
        for checkpointed in (False, True):
            assert my_block_saved_bytes(*shape, checkpointed) == a4_checkpointing.measured_block_saved_bytes(*shape, checkpointed)
    with pytest.raises(AssertionError, match=r"(?s)= 10240, but the kit measured 10368 bytes.*\(2, 8, 1\) float32: 64 bytes"):
        a4_checkpointing.check_block_saved_bytes(lambda b, t, h, i, c: 4 * b * t * (2 * h + 2 * i), "not checkpointed")
    with pytest.raises(AssertionError, match="keeps only its input"):
        a4_checkpointing.check_block_saved_bytes(lambda b, t, h, i, c: my_block_saved_bytes(b, t, h, i, False), "checkpointed")


def test_measure_checkpointing_prints_the_drop_and_names_forgetting_to_enable(capsys):
    a4_checkpointing.check_measure_checkpointing(my_measure, "saved bytes")
    out = capsys.readouterr().out
    assert "3 layers keep 31104 bytes (predicted 3 x 10368)" in out and "3072 (predicted 3 x 1024)" in out
    with pytest.raises(AssertionError, match="that is the count without checkpointing: enable it first"):
        a4_checkpointing.check_measure_checkpointing(lambda m, x: my_measure(m, x, enable=False), "saved bytes")
    with pytest.raises(AssertionError, match="return three numbers"):
        a4_checkpointing.check_measure_checkpointing(lambda m, x: my_measure(m, x)[:2])
