"""The walkthrough exercises' checks (modlayers/course/exercises/, modlayers/course/answers.py) answer like the
assignments: a blank is "not answered yet" and fails nothing, a right answer passes, each typical wrong answer gets
the message naming its mistake, and no message contains the answer."""

import re

import numpy as np
import pytest
import torch

from modlayers.course.answers import as_number, check_choice, check_number, check_prediction
from modlayers.course.checking import CheckFailed
from modlayers.course.exercises import checkpointing, memory_at_scale, pooling, scaling_out, spans, token_loss
from modlayers.pooling import mean_pool


def message_of(check, *args) -> str:
    with pytest.raises(CheckFailed) as raised:
        check(*args)
    return str(raised.value)


NUMBER_EXERCISES = [  # (check, right answer, {wrong answer: words of the message naming the mistake})
    (spans.check_valid_span_count, 27, {100: "ends before starts", 55: "however long", 30: "fewer fit"}),
    (token_loss.check_counted_mean, 2.0, {10 / 12: "not counted", 10.0: "summed, not averaged"}),
    (checkpointing.check_kept_bytes, 1179648, {131072: "bias is left out", 1048576: "positional input",
                                               294912: "elements"}),
    (checkpointing.check_best_segments, 6, {36: "its own segment", 1: "all 36 layers", 18: "smaller total"}),
    (scaling_out.check_weighted_loss, 1.75, {1.5: "different number of tokens", 3.0: "summed"}),
    (scaling_out.check_ranks_for_state, 3, {2: "56 GB", 4: "fewer do too", 1: "one 40 GB"}),
    (lambda a: checkpointing.check_state_bytes(a, 1000), 4000, {3000: "two moments", 2000: "Adam's state is left out",
                                                                1000: "only the weights"}),
    (memory_at_scale.check_zero2_bytes_per_parameter, 3.75, {16: "that is DDP", 5.5: "that is ZeRO-1",
                                                             2.0: "that is ZeRO-3", 3.25: "master copy",
                                                             1.75: "16-bit weights are left out"}),
    # 1024 x 2 x 1024 x (34 + 5 x 16 x 1024 / 1024) bytes, eq. 1 written out (the kit's formula is the check's)
    (memory_at_scale.check_layer_activation_bytes, 2_097_152 * 114,
     {2_097_152 * 34: "scores are left out", 5 * 16 * 1024**2 * 2: "only the attention scores",
      1024 * 1024 * 114: "batch is left out", 2 * 2_097_152: "every-layer checkpointing",
      2_097_152 * 34 + 5 * 16 * 1024 * 2: "s² is taken as s"}),
]


@pytest.mark.parametrize("check, right, wrongs", NUMBER_EXERCISES, ids=lambda x: getattr(x, "__name__", None))
def test_number_exercise_blank_right_and_each_typical_mistake_named_without_the_answer(check, right, wrongs, capsys):
    assert check(None) is False and "not answered yet" in capsys.readouterr().out
    assert check(right) is True and "✓" in capsys.readouterr().out
    for wrong, words in wrongs.items():
        message = message_of(check, wrong)
        assert words in message, message
        assert not states(right, message), message
    other = message_of(check, right * 7 + 1)
    assert "too large" in other and not states(right, other), other


def states(number, message: str) -> bool:
    """Whether ``message`` (after the exercise's name) states ``number`` as a number of its own."""
    return bool(re.search(rf"(?<![\d.]){re.escape(str(number))}(?![\d.])", message.split(":", 1)[1]))


def test_mean_pool_exercise_names_the_padding_case_and_the_mistake_never_the_answer(capsys):
    assert pooling.check_mean_pool(None) is False and "not answered yet" in capsys.readouterr().out

    def template(hidden_states, attention_mask):
        ...  # the notebook's blank: the body still `...`

    def stub(hidden_states, attention_mask):
        raise NotImplementedError()

    for blank in (template, stub):
        assert pooling.check_mean_pool(blank) is False and "not answered yet" in capsys.readouterr().out
    assert pooling.check_mean_pool(lambda h, m: (h * m[..., None]).sum(1) / m.sum(1, keepdim=True))
    cases = {lambda h, m: h.mean(dim=1): "padding is averaged in",
             lambda h, m: (h * m[..., None]).sum(dim=1) / h.shape[1]: "padded length",
             lambda h, m: (h * m[..., None]).sum(dim=1): "not divided"}
    for wrong, words in cases.items():
        message = message_of(pooling.check_mean_pool, wrong)
        assert "right padding" in message and words in message and "input:" in message, message
        assert "expected" not in message
    message = message_of(pooling.check_mean_pool, lambda h, m: h[:, -1])  # no known mistake: case and input only
    assert "likely mistake" not in message and "right padding" in message


def test_mean_pool_exercise_refuses_the_kits_own_function():
    assert "kit" in message_of(pooling.check_mean_pool, lambda h, m: mean_pool(h, m))


def test_char_span_exercise_cases_and_mistakes():
    assert spans.check_char_span(lambda c, o, s, e: c[o[s][0]:o[e][1]])
    assert "first character of the end token" in message_of(spans.check_char_span, lambda c, o, s, e: c[o[s][0]:o[e][0]])
    message = message_of(spans.check_char_span, lambda c, o, s, e: c[s:e + 1])
    assert "one-token answer" in message and "token positions are used as character positions" in message
    assert "'1987'" in message  # the case names the text: the answer of the case, not of the exercise


def test_problem_type_choice_explains_each_wrong_option_without_naming_the_right_one(capsys):
    assert pooling.check_problem_type(None) is False and "not answered yet" in capsys.readouterr().out
    assert pooling.check_problem_type("multi_label_classification")
    for wrong in ("regression", "single_label_classification"):
        assert "multi_label" not in message_of(pooling.check_problem_type, wrong)
    with pytest.raises(ValueError, match="none of the options"):
        pooling.check_problem_type("multi label")


def test_three_pieces_exercise_follows_the_kits_alignment_and_names_each_mistake(capsys):
    blank = {"first sub-word only": None, "every sub-word": None}
    assert token_loss.check_three_pieces(blank) is False and "not answered yet" in capsys.readouterr().out
    right = {"first sub-word only": ["B-LOC", "-100", "-100"], "every sub-word": ["B-LOC", "I-LOC", "I-LOC"]}
    assert token_loss.check_three_pieces(right)
    mistakes = {("every sub-word", ("B-LOC", "B-LOC", "B-LOC")): "second entity",
                ("every sub-word", ("B-LOC", "-100", "-100")): "labelled too",
                ("first sub-word only", ("B-LOC", "I-LOC", "I-LOC")): "skip the others",
                ("first sub-word only", ("O", "-100", "-100")): "first piece"}
    for (scheme, labels), words in mistakes.items():
        message = message_of(token_loss.check_three_pieces, {**right, scheme: list(labels)})
        assert scheme in message and words in message, message
        assert "I-LOC', 'I-LOC" not in message.replace(str(list(labels)), "")
    with pytest.raises(CheckFailed, match="no labels"):
        token_loss.check_three_pieces({**right, "every sub-word": ["B-LOC", "I-LOCATION", "I-LOC"]})


def test_predictions_are_compared_after_the_run_and_never_fail(capsys):
    left = torch.tensor([[0, 0, 5, 6], [0, 7, 8, 9]])
    assert pooling.check_left_padding_prediction(None, left, 0) is False
    assert "not answered yet" in capsys.readouterr().out
    assert pooling.check_left_padding_prediction([3, 3], left, 0)
    assert not pooling.check_left_padding_prediction([1, 2], left, 0)
    out = capsys.readouterr().out
    assert "you predicted [1, 2], the run gives [3, 3]" in out and "last column" in out
    assert pooling.check_first_token_prediction(0.3, 0.26) and not pooling.check_first_token_prediction(0.9, 0.26)
    assert spans.check_reachable_prediction(0.4, 0.38) and spans.check_window_count_prediction(4, 4, 32)
    assert token_loss.check_every_subword_prediction(0.1, 0.15)
    assert checkpointing.check_batch_growth_prediction(2.1, 2.0)
    assert scaling_out.check_fsdp2_state_prediction(1.0, 1.01)
    with pytest.raises(TypeError, match="a number"):
        check_prediction("x", "five", 5)
    assert check_prediction("x", np.int64(5), 5) and check_prediction("x", torch.tensor(5.0), 5)


def test_a_number_may_come_from_numpy_or_torch_but_must_be_one_finite_number():
    assert as_number("x", np.int64(12)) == 12 and type(as_number("x", np.int64(12))) is int
    assert as_number("x", torch.tensor([0.5])) == 0.5 and as_number("x", np.array(3.0)) == 3.0
    assert check_number("x", np.float64(0.5), expected=0.5, tolerance=0.01)
    with pytest.raises(TypeError, match=r"x: expected one number, got a ndarray of shape \(2, 2\)"):
        as_number("x", np.ones((2, 2)))
    with pytest.raises(TypeError, match="expected a number, got bool True"):
        as_number("x", True)
    with pytest.raises(ValueError, match="x: got inf, which is no finite number"):
        check_number("x", float("inf"), expected=0.5, tolerance=0.01)


def test_choice_with_an_unknown_option_lists_the_options():
    with pytest.raises(ValueError, match="'a', 'b'"):
        check_choice("x", "c", options={"a": (True, ""), "b": (False, "")})


def test_zero2_state_exercise_matches_the_predictor_on_one_device_and_uneven_shares_and_names_each_stage(capsys):
    check = memory_at_scale.check_zero2_state_bytes
    assert check(None) is False and "not answered yet" in capsys.readouterr().out

    def template(parameters, world_size):
        ...  # the notebook's blank

    assert check(template) is False and "not answered yet" in capsys.readouterr().out
    assert check(lambda p, w: 2 * p + 14 * p / w)  # the ZeRO paper's 2 + 14/N bytes a parameter
    assert "right on 4 cases" in capsys.readouterr().out
    cases = {lambda p, w: 4 * p + 12 * p / w: ("8 devices", "that is ZeRO-1"),
             lambda p, w: 16 * p / w: ("8 devices", "that is ZeRO-3"),
             lambda p, w: 16 * p: ("8 devices", "that is DDP"),
             lambda p, w: 2 * p + 10 * p / w: ("one device (W = 1)", "master copy"),
             lambda p, w: 2 * p + 14 * p // w: ("uneven: 10 parameters on 9 devices", "integer division")}
    for wrong, (case, words) in cases.items():
        message = message_of(check, wrong)
        assert case in message and words in message and "input:" in message, message
        assert not states(28_125_000_000, message) and not states(20 + 140 / 9, message), message
    # integer division of the optimizer state alone: only an uneven share whose bytes are not whole shows it
    assert "uneven: 10 parameters on 9 devices" in message_of(check, lambda p, w: 2 * p + 2 * p / w + 12 * p // w)
    from modlayers.lessons.memory.predictor import state_bytes
    refused = message_of(check, lambda p, w: sum(state_bytes(p, "bf16-mixed", "adamw", "zero2", world_size=w).values()))
    assert "kit" in refused


def test_fake_activations_prediction_is_compared_and_never_fails(capsys):
    assert memory_at_scale.check_fake_activations_prediction(None, 1.0) is False
    assert memory_at_scale.check_fake_activations_prediction(1, 1.0)
    assert not memory_at_scale.check_fake_activations_prediction(1 / 32, 1.0)
    assert "each rank runs its own batch" in capsys.readouterr().out
