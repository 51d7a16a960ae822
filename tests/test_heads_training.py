"""Training the heads: every parameter learns, and gradient accumulation gives the full-batch gradient.

- Every parameter of every head gets a gradient (BERT is built without its pooler), so plain
  DistributedDataParallel works without ``find_unused_parameters``.
- ``num_items_in_batch`` (passed by transformers' ``Trainer``) divides the summed loss and never
  reaches the base model: with a real ``Trainer``, one step on a batch of 8 and two accumulated
  steps of 4 give the same parameter update within 1e-6, on the kit's own TinyTransformer and on
  a tiny Llama.
"""

import pytest
import torch

from heads_training_setup import HEADS, make_config, make_examples, make_head, trainer_step_update
from modlayers.losses import question_answering_loss, sequence_classification_loss, token_classification_loss


def _batch(examples):
    return {key: torch.stack([example[key] for example in examples]) for key in examples[0]}


@pytest.mark.parametrize("task", list(HEADS))
@pytest.mark.parametrize("arch", ["tiny", "llama", "bert"])
def test_every_parameter_of_the_head_gets_a_gradient(arch, task):
    model = make_head(arch, task).train()
    model(**_batch(make_examples(task, n=4))).loss.backward()
    without = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not without, f"parameters with no gradient (DDP would fail on them): {without}"


def test_bert_heads_are_built_without_the_pooler():
    for task in HEADS:
        assert make_head("bert", task).bert.pooler is None


@pytest.mark.parametrize("task", list(HEADS))
@pytest.mark.parametrize("arch", ["tiny", "llama", "bert"])
def test_num_items_in_batch_reaches_the_loss_and_not_the_base_model(arch, task):
    """The kit's TinyTransformerModel.forward has no **kwargs: passing the keyword on would raise."""
    model = make_head(arch, task).eval()
    batch = _batch(make_examples(task, n=4))
    with torch.no_grad():
        mean = model(**batch).loss
        scaled = model(**batch, num_items_in_batch=torch.tensor(40)).loss
    if task == "sequence":
        count = 4
    elif task == "qa":
        count = 4  # every answer lies inside the window: the mean divides each half by 4 examples
    else:
        count = int((batch["labels"] != -100).sum())
    torch.testing.assert_close(scaled, mean * count / 40, atol=1e-6, rtol=1e-6)


def test_the_losses_divide_their_sum_by_num_items_in_batch():
    logits = torch.randn(4, 3)
    labels = torch.tensor([0, 2, -100, 1])
    summed = torch.nn.functional.cross_entropy(logits, labels, ignore_index=-100, reduction="sum")
    torch.testing.assert_close(sequence_classification_loss(logits, labels, num_items_in_batch=10), summed / 10)
    multi = torch.tensor([[1.0, 0.0, 1.0]] * 4)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, multi, reduction="sum")
    torch.testing.assert_close(sequence_classification_loss(logits, multi, num_items_in_batch=24), bce / 24)
    targets = torch.randn(4, 3)
    mse = torch.nn.functional.mse_loss(logits, targets, reduction="sum")
    torch.testing.assert_close(sequence_classification_loss(logits, targets, "regression", num_items_in_batch=24), mse / 24)
    token_logits, token_labels = torch.randn(2, 5, 3), torch.tensor([[0, 1, -100, 2, 2], [-100, -100, 1, 0, 1]])
    token_sum = torch.nn.functional.cross_entropy(token_logits.reshape(-1, 3), token_labels.reshape(-1), reduction="sum")
    torch.testing.assert_close(token_classification_loss(token_logits, token_labels, num_items_in_batch=16), token_sum / 16)
    start, end = torch.randn(2, 5), torch.randn(2, 5)
    starts, ends = torch.tensor([1, 9]), torch.tensor([3, 4])  # 9 lies past the window: ignored
    expected = (torch.nn.functional.cross_entropy(start[:1], starts[:1], reduction="sum")
                + torch.nn.functional.cross_entropy(end, ends, reduction="sum")) / (2 * 4)
    torch.testing.assert_close(question_answering_loss(start, end, starts, ends, num_items_in_batch=4), expected)


@pytest.mark.parametrize("task", list(HEADS))
@pytest.mark.parametrize("arch", ["tiny", "llama"])
def test_a_step_whose_labels_are_all_ignored_gives_loss_zero_and_zero_gradients_with_num_items_in_batch_zero(arch, task):
    """Trainer's count for such a step is 0; transformers' heads return NaN there (0 / 0)."""
    model = make_head(arch, task).train()
    batch = _batch(make_examples(task, n=4))
    if task == "qa":
        batch["start_positions"] = batch["end_positions"] = torch.full((4,), 99)  # past the window: ignored
    else:
        batch["labels"] = torch.full_like(batch["labels"], -100)
    loss = model(**batch, num_items_in_batch=torch.tensor(0)).loss
    assert loss.item() == 0.0
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.equal(g, torch.zeros_like(g)) for g in grads)


@pytest.mark.parametrize("task", list(HEADS))
@pytest.mark.parametrize("arch", ["tiny", "llama"])
def test_trainer_accumulating_two_batches_of_4_updates_like_one_batch_of_8(arch, task, tmp_path):
    examples = make_examples(task)
    full, _ = trainer_step_update(make_head(arch, task), examples, tmp_path / "full", batch_size=8, accumulation=1)
    accumulated, _ = trainer_step_update(make_head(arch, task), examples, tmp_path / "acc", batch_size=4, accumulation=2)
    assert max(update.abs().max().item() for update in full.values()) > 1e-3, "the step must change the weights"
    for name in full:
        torch.testing.assert_close(accumulated[name], full[name], atol=1e-6, rtol=0, msg=name)


def test_trainer_evaluates_a_qa_head_not_named_question_answering_with_transformers_eval_loss(tmp_path):
    """transformers#5104, #8390: Trainer finds start/end positions by the class name; the kit's heads are
    called MyReader or TinyReader, and evaluate() must still report the loss transformers' class gets."""
    import copy

    from transformers import LlamaForQuestionAnswering, Trainer, TrainingArguments

    config = make_config("llama")
    torch.manual_seed(0)
    theirs = LlamaForQuestionAnswering(copy.deepcopy(config)).eval()
    ours = make_head("llama", "qa")  # class LlamaQaHead
    assert "QuestionAnswering" not in type(ours).__name__
    ours.load_state_dict(theirs.state_dict())  # transformers keeps it under "transformer.", the kit under "model."
    examples = make_examples("qa", n=8)

    def eval_loss(model):
        args = TrainingArguments(output_dir=str(tmp_path), per_device_eval_batch_size=4, report_to=[], use_cpu=True,
                                 disable_tqdm=True)
        return Trainer(model=model, args=args, eval_dataset=examples).evaluate().get("eval_loss")

    expected = eval_loss(theirs)
    assert expected is not None and expected > 0
    assert eval_loss(ours) == pytest.approx(expected, abs=1e-5)
    assert eval_loss(make_head("tiny", "qa")) is not None
