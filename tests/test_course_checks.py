"""The assignment checks (modlayers/course/): correct answers pass, classic mistakes fail with a message that
teaches, and an answer is judged on its own: inputs copied, expected values first, the kit's code refused."""

import doctest
import inspect
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from modlayers import GradientCheckpointingLayer, disable_gradient_checkpointing, enable_gradient_checkpointing
from modlayers.course import a1_pooling, a2_spans, a3_token_loss, a4_checkpointing, checking, grading, hidden_seeds, submissions
from modlayers.course.checking import CheckFailed, NotWrittenYet, assert_matches_reference
from modlayers.label_alignment import align_labels_to_tokens
from modlayers.losses import question_answering_loss, token_classification_loss
from modlayers.lessons.memory import SavedTensorCounter
from modlayers.pooling import last_non_pad_index, pool_at
from modlayers.spans import best_spans


@pytest.fixture(autouse=True)
def instructor_secret(monkeypatch):
    monkeypatch.setenv(hidden_seeds.SEED_VARIABLE, "a test secret")


# ---------------------------------------------------------------- answers written independently of the kit


def my_last_non_pad_index(input_ids, pad_token_id):
    positions = torch.arange(input_ids.shape[-1])
    return (positions * (input_ids != pad_token_id)).argmax(-1)


def my_pooled_logits(logits, index):
    return logits[torch.arange(logits.shape[0]), index]


def my_best_spans(start_logits, end_logits, max_answer_length=30, n_best=20):
    spans = [(s, e, float(start_logits[s] + end_logits[e])) for s in range(len(start_logits))
             for e in range(s, min(len(end_logits), s + max_answer_length))]
    return sorted(spans, key=lambda span: -span[2])[:n_best]


def my_qa_loss(start_logits, end_logits, start_positions, end_positions):
    n = start_logits.shape[1]

    def half(logits, positions):
        positions = positions.clamp(0, n)
        return F.cross_entropy(logits, positions, ignore_index=n, reduction="sum") / (positions != n).sum().clamp(min=1)

    return (half(start_logits, start_positions) + half(end_logits, end_positions)) / 2


def transformers_qa_loss(start_logits, end_logits, start_positions, end_positions):
    """transformers' QA loss: a plain mean, NaN when no position is in the window."""
    n = start_logits.shape[1]
    return (F.cross_entropy(start_logits, start_positions.clamp(0, n), ignore_index=n)
            + F.cross_entropy(end_logits, end_positions.clamp(0, n), ignore_index=n)) / 2


def my_align_labels(word_labels, word_ids):
    return [-100 if w is None or (i and word_ids[i - 1] == w) else word_labels[w] for i, w in enumerate(word_ids)]


def my_token_loss(logits, labels):
    flat = labels.reshape(-1)
    summed = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), flat, reduction="sum")
    return summed / (flat != -100).sum().clamp(min=1)


def in_place_token_loss(logits, labels):
    """Correct, and changes its input: the idiom that scored 0 when the reference ran second on the same tensor."""
    keep = labels != -100
    labels[labels == -100] = 0
    per_token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="none")
    return (per_token * keep.reshape(-1)).sum() / keep.sum().clamp(min=1)


class MyBlock(GradientCheckpointingLayer):
    def __init__(self, hidden_size, intermediate_size):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size)
        self.fc1 = nn.Linear(hidden_size, intermediate_size)
        self.fc2 = nn.Linear(intermediate_size, hidden_size)

    def forward(self, hidden_states):
        return hidden_states + self.fc2(F.gelu(self.fc1(self.norm(hidden_states))))


def my_block_saved_bytes(batch, seq_len, hidden_size, intermediate_size, checkpointed):
    n = batch * seq_len
    return 4 * n * hidden_size if checkpointed else 4 * n * (2 * hidden_size + 2 * intermediate_size + 2)


def my_measure(model, hidden_states, enable=True, difference=None):
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
    measured = max(float((a - b).abs().max()) for a, b in zip(grads_off, grads_on))
    return off, on, measured if difference is None else difference


def not_written(*args, **kwargs):
    raise NotImplementedError()


# (check, answer, parts, hidden test)
QUESTIONS = [
    (a1_pooling.check_last_non_pad_index, my_last_non_pad_index, list(a1_pooling.LAST_NON_PAD_INDEX_PARTS),
     a1_pooling.hidden_test_last_non_pad_index),
    (a1_pooling.check_pooled_logits, my_pooled_logits, [None], a1_pooling.hidden_test_pooled_logits),
    (a2_spans.check_best_spans, my_best_spans, list(a2_spans.BEST_SPANS_PARTS), a2_spans.hidden_test_best_spans),
    (a2_spans.check_qa_loss, my_qa_loss, list(a2_spans.QA_LOSS_PARTS), a2_spans.hidden_test_qa_loss),
    (a3_token_loss.check_align_labels, my_align_labels, [None], a3_token_loss.hidden_test_align_labels),
    (a3_token_loss.check_masked_token_loss, my_token_loss, list(a3_token_loss.MASKED_TOKEN_LOSS_PARTS),
     a3_token_loss.hidden_test_masked_token_loss),
    (a4_checkpointing.check_block_saved_bytes, my_block_saved_bytes, list(a4_checkpointing.BLOCK_SAVED_BYTES_PARTS),
     a4_checkpointing.hidden_test_block_saved_bytes),
    (a4_checkpointing.check_measure_checkpointing, my_measure, list(a4_checkpointing.MEASURE_PARTS),
     a4_checkpointing.hidden_test_measure_checkpointing),
]


def run(check, answer, part):
    return check(answer) if part is None else check(answer, part)


@pytest.mark.parametrize("check, answer, parts, hidden", QUESTIONS, ids=lambda v: getattr(v, "__name__", ""))
def test_a_correct_answer_passes_every_part_visible_and_hidden_and_a_stub_says_it_is_not_written(check, answer, parts, hidden, capsys):
    for part in parts:
        run(check, answer, part)
        assert capsys.readouterr().out.startswith("✓ ")
        run(hidden, answer, part)
        with pytest.raises(NotWrittenYet, match="not written yet"):
            run(check, not_written, part)


def test_mlp_block_passes_visible_and_hidden_and_the_stub_says_so(capsys):
    a4_checkpointing.check_mlp_block(MyBlock)
    a4_checkpointing.hidden_test_mlp_block(MyBlock)
    assert capsys.readouterr().out.count("✓ MLPBlock") == 2

    class Stub(GradientCheckpointingLayer):
        def __init__(self, hidden_size, intermediate_size):
            raise NotImplementedError()

    with pytest.raises(NotWrittenYet):
        a4_checkpointing.check_mlp_block(Stub)


# ---------------------------------------------------------------- fault 1: expected values first, on copies


def test_an_answer_that_changes_its_inputs_in_place_is_graded_right_visible_and_hidden():
    a3_token_loss.check_masked_token_loss(in_place_token_loss)
    for part in a3_token_loss.MASKED_TOKEN_LOSS_PARTS:
        a3_token_loss.hidden_test_masked_token_loss(in_place_token_loss, part)


def test_a_failure_shows_the_input_as_drawn_not_as_the_answer_left_it():
    cases = a3_token_loss.random_token_batches(seed=3, count=5, none_labelled=False)

    def wrong_and_in_place(logits, labels):
        labels[labels == -100] = 0
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))

    with pytest.raises(CheckFailed) as failure:
        assert_matches_reference("masked_token_loss", wrong_and_in_place, token_classification_loss, cases)
    assert "-100" in str(failure.value)
    assert bool((cases[0][1] == -100).any())  # the drawn case itself is untouched


def test_the_reference_runs_first_so_an_answer_cannot_change_what_it_is_compared_with():
    order = []

    def reference(x):
        order.append("reference")
        return x.clone()

    def answer(x):
        order.append("answer")
        x.zero_()
        return torch.zeros(3)

    with pytest.raises(CheckFailed):
        assert_matches_reference("f", answer, reference, [(torch.ones(3),)])
    assert order == ["reference", "answer"]


# ---------------------------------------------------------------- fault 2: the kit's own code scores nothing


def kit_copy(reference):
    """A verbatim copy of the kit's function, as a student pasting its source would write it."""
    namespace = dict(vars(sys.modules[reference.__module__]))
    exec(compile(inspect.getsource(reference), "<student cell>", "exec"), namespace)
    return namespace[reference.__name__]


def kit_best_spans(start_logits, end_logits, max_answer_length=30, n_best=20):
    return best_spans(start_logits, end_logits, max_answer_length=max_answer_length, n_best=n_best)


def importing_last_non_pad_index(input_ids, pad_token_id):
    from modlayers.pooling import last_non_pad_index as kit

    return kit(input_ids, pad_token_id)


@pytest.mark.parametrize(
    "check, answer",
    [
        (a1_pooling.check_last_non_pad_index, last_non_pad_index),  # is
        (a1_pooling.check_last_non_pad_index, importing_last_non_pad_index),  # imports
        (a1_pooling.check_last_non_pad_index, kit_copy(last_non_pad_index)),  # copies
        (a1_pooling.check_pooled_logits, lambda logits, index: pool_at(logits, index)),  # wraps
        (a2_spans.check_best_spans, kit_best_spans),
        (a2_spans.check_qa_loss, question_answering_loss),
        (a3_token_loss.check_align_labels, align_labels_to_tokens),
        (a3_token_loss.check_masked_token_loss, lambda logits, labels: token_classification_loss(logits, labels)),
        (a4_checkpointing.check_block_saved_bytes, a4_checkpointing.mlp_block_saved_bytes),
        (a4_checkpointing.check_block_saved_bytes, lambda *a: a4_checkpointing.measured_block_saved_bytes(*a)),
        (a4_checkpointing.check_measure_checkpointing, lambda model, x: (lambda m: (m["off"], m["on"], m["all"]))(
            a4_checkpointing._reference_measurement(model, x))),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_an_answer_that_is_wraps_imports_or_copies_the_kits_implementation_is_refused(check, answer):
    with pytest.raises(CheckFailed, match="the kit's"):
        check(answer)


def test_the_kits_mlp_block_or_a_subclass_of_it_is_refused():
    class Mine(a4_checkpointing.MLPBlock):
        pass

    for block in (a4_checkpointing.MLPBlock, Mine):
        with pytest.raises(CheckFailed, match="the kit's modlayers.course.a4_checkpointing.MLPBlock"):
            a4_checkpointing.check_mlp_block(block)


def test_hidden_tests_refuse_the_kits_implementation_too():
    with pytest.raises(CheckFailed, match="calls the kit's own modlayers.pooling.last_non_pad_index"):
        a1_pooling.hidden_test_last_non_pad_index(last_non_pad_index, "left padding")


def test_a4_q3_cannot_pass_without_comparing_gradients():
    with pytest.raises(CheckFailed, match="NOT safe to checkpoint"):
        a4_checkpointing.check_measure_checkpointing(lambda m, x: my_measure(m, x, difference=0.0), "gradients")
    with pytest.raises(CheckFailed, match="NOT safe to checkpoint"):
        a4_checkpointing.hidden_test_measure_checkpointing(lambda m, x: my_measure(m, x, difference=0.0), "gradients")
    a4_checkpointing.check_measure_checkpointing(my_measure, "gradients")


# ---------------------------------------------------------------- fault 4: partial credit per behaviour


def test_transformers_qa_loss_loses_only_the_no_answer_part():
    a2_spans.check_qa_loss(transformers_qa_loss, "answers in the window")
    a2_spans.hidden_test_qa_loss(transformers_qa_loss, "answers in the window")
    with pytest.raises(CheckFailed, match="loss is nan"):
        a2_spans.check_qa_loss(transformers_qa_loss, "no answer in the window")
    with pytest.raises(CheckFailed):
        a2_spans.hidden_test_qa_loss(transformers_qa_loss, "no answer in the window")


def test_one_line_cross_entropy_token_loss_loses_only_the_no_labelled_token_part():
    def one_line(logits, labels):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))

    a3_token_loss.check_masked_token_loss(one_line, "labelled tokens")
    a3_token_loss.hidden_test_masked_token_loss(one_line, "labelled tokens")
    with pytest.raises(CheckFailed, match="no labelled token at all: loss is nan"):
        a3_token_loss.check_masked_token_loss(one_line, "no labelled token")


def test_counting_real_tokens_keeps_the_right_padding_part_only():
    def counted(ids, pad):
        return (ids != pad).sum(-1) - 1

    a1_pooling.check_last_non_pad_index(counted, "right padding")
    a1_pooling.hidden_test_last_non_pad_index(counted, "right padding")
    for part in ("left padding", "pad id"):
        with pytest.raises(CheckFailed):
            a1_pooling.check_last_non_pad_index(counted, part)


def test_an_unknown_part_is_named():
    with pytest.raises(ValueError, match="part must be one of"):
        a2_spans.check_qa_loss(my_qa_loss, "everything")


# ---------------------------------------------------------------- hidden seeds come from the instructor


def test_hidden_tests_without_the_instructors_secret_say_how_to_set_it(monkeypatch, tmp_path):
    monkeypatch.delenv(hidden_seeds.SEED_VARIABLE)
    monkeypatch.setenv(hidden_seeds.SEED_FILE_VARIABLE, str(tmp_path / "absent"))
    with pytest.raises(hidden_seeds.HiddenSeedMissing, match="MODLAYERS_HIDDEN_SEED"):
        a1_pooling.hidden_test_pooled_logits(my_pooled_logits)
    (tmp_path / "seed").write_text("from a file\n")
    assert hidden_seeds.read_instructor_secret(tmp_path / "seed") == "from a file"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(hidden_seeds.HiddenSeedMissing, match="empty"):
        hidden_seeds.read_instructor_secret(tmp_path / "empty")


def test_each_hidden_test_has_its_own_seed_which_follows_the_secret(monkeypatch):
    first = hidden_seeds.hidden_seed("a1_pooling/pooled_logits")
    assert first == hidden_seeds.hidden_seed("a1_pooling/pooled_logits")
    assert first != hidden_seeds.hidden_seed("a2_spans/qa_loss/answers in the window")
    monkeypatch.setenv(hidden_seeds.SEED_VARIABLE, "another secret")
    assert first != hidden_seeds.hidden_seed("a1_pooling/pooled_logits")


# ---------------------------------------------------------------- in a notebook: one line, not the kit's frames


def test_not_written_yet_renders_as_one_line_and_a_failure_without_the_kits_frames():
    with pytest.raises(NotWrittenYet) as stub:
        a1_pooling.check_pooled_logits(not_written)
    assert len(stub.value._render_traceback_()) == 1
    with pytest.raises(CheckFailed) as crash:
        a1_pooling.check_pooled_logits(lambda logits, index: logits[index, 0, 5])
    rendered = "\n".join(crash.value._render_traceback_())
    assert "IndexError" in rendered and "test_course_checks.py" in rendered
    assert "modlayers/course" not in rendered


def test_ipython_shows_the_short_traceback():
    code = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_cell('from modlayers.course.a1_pooling import check_pooled_logits')\n"
        "shell.run_cell('def pooled_logits(logits, index):\\n    raise NotImplementedError()')\n"
        "shell.run_cell('check_pooled_logits(pooled_logits)')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert any("pooled_logits is not written yet" in line for line in lines), result.stdout + result.stderr
    assert "checking.py" not in result.stdout and len(lines) <= 2, result.stdout


# ---------------------------------------------------------------- the random cases


@pytest.mark.parametrize(
    "generator, reference, answer",
    [
        (a1_pooling.random_padded_batches, last_non_pad_index, my_last_non_pad_index),
        (a1_pooling.random_pooling_inputs, pool_at, my_pooled_logits),
        (a2_spans.random_span_logits, kit_best_spans, my_best_spans),
        (a2_spans.random_qa_batches, question_answering_loss, my_qa_loss),
        (a3_token_loss.random_word_ids, align_labels_to_tokens, my_align_labels),
        (a3_token_loss.random_token_batches, token_classification_loss, my_token_loss),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_random_cases_are_reproducible_and_a_correct_answer_matches_the_reference_on_them(generator, reference, answer):
    first, second = generator(seed=5, count=15), generator(seed=5, count=15)
    assert len(first) == 15 and repr(first) == repr(second)
    assert repr(first) != repr(generator(seed=6, count=15))
    assert assert_matches_reference("answer", answer, reference, first) == 15


def test_random_cases_of_each_part_hold_that_behaviour():
    inside = a2_spans.random_qa_batches(seed=0, count=10, all_outside=False)
    assert all(bool((s < lg.shape[1]).any() and (e < lg.shape[1]).any()) for lg, _, s, e in inside)
    outside = a2_spans.random_qa_batches(seed=0, count=10, all_outside=True)
    assert all(bool((s >= lg.shape[1]).all() and (e >= lg.shape[1]).all()) for lg, _, s, e in outside)
    few = a2_spans.random_span_logits(seed=0, count=10, few_valid=True)
    assert all(len(my_best_spans(*case)) < case[3] for case in few)
    right = a1_pooling.random_padded_batches(seed=0, count=10, sides=("right",), pad_ids=(0,))
    assert all(torch.equal(my_last_non_pad_index(ids, 0), (ids != 0).sum(-1) - 1) for ids, _ in right)


def test_assert_matches_reference_reports_the_input_and_both_results():
    cases = a1_pooling.random_padded_batches(seed=1, count=5)
    with pytest.raises(AssertionError, match=r"(?s)differs from the kit's reference.*input: .*yours: .*expected: "):
        assert_matches_reference("last_non_pad_index", lambda ids, pad: my_last_non_pad_index(ids, pad) + 1, last_non_pad_index, cases)
    with pytest.raises(AssertionError, match="raised ZeroDivisionError"):
        assert_matches_reference("f", lambda ids, pad: 1 / 0, last_non_pad_index, cases)
    with pytest.raises(ValueError, match="no cases"):
        assert_matches_reference("f", my_last_non_pad_index, last_non_pad_index, [])


def test_a_value_that_is_not_a_function_is_named():
    with pytest.raises(TypeError, match="expected the function last_non_pad_index, got int"):
        a1_pooling.check_last_non_pad_index(3)


@pytest.mark.parametrize("module", [checking, hidden_seeds, a1_pooling, a2_spans, a3_token_loss, a4_checkpointing,
                                    grading, submissions],
                         ids=lambda m: m.__name__)
def test_docstring_examples_run_as_written(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_assignment_modules_import_without_nbgrader():
    code = ("import sys; sys.modules['nbgrader'] = None\n"
            "import modlayers.course.a1_pooling, modlayers.course.a2_spans, modlayers.course.a3_token_loss, "
            "modlayers.course.a4_checkpointing, modlayers.course.a5_scaling_out; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_measure_checkpointing_may_use_the_kits_switch_and_saved_tensor_counter():
    """The assignment allows the counter (modlayers/lessons/memory/): an answer built on it earns the point."""

    def measure_checkpointing(model, hidden_states):
        counts = []
        for switch in (disable_gradient_checkpointing, enable_gradient_checkpointing):
            switch(model)
            model.zero_grad()
            with SavedTensorCounter(model) as counter:
                loss = model(hidden_states.detach().requires_grad_()).sum()
            loss.backward()
            counts.append(counter.saved_bytes)
        return counts[0], counts[1], 0.0

    a4_checkpointing.check_measure_checkpointing(measure_checkpointing, "saved bytes")


def test_an_allowed_path_that_does_not_exist_is_refused_before_the_learners_code_runs():
    ran = []
    with pytest.raises(ValueError, match=r"allowed names \[.*modlayers/memory.\], which do not exist"):
        checking.call("f", lambda: ran.append(1), allowed=("memory/",))
    assert ran == []
