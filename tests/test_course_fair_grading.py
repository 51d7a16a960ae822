"""Fair grading: a part's point goes only to an answer that is right in that part for the right reason, and
the texts a student reads before and after an attempt name the mistake, never the answer."""

import nbformat
import pytest
import torch.nn.functional as F

from modlayers.course import a3_token_loss, grading
from modlayers.course.checking import CheckFailed


@pytest.fixture(autouse=True)
def instructor_secret(monkeypatch):
    monkeypatch.setenv("MODLAYERS_HIDDEN_SEED", "a test secret")


def per_token_mean(logits, labels):
    """The plausible wrong loss: ignored tokens contribute 0, but the mean divides by every token."""
    per_token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="none")
    return per_token.mean()


def test_a_loss_that_divides_by_every_token_earns_neither_part_visible_or_hidden():
    for part in a3_token_loss.MASKED_TOKEN_LOSS_PARTS:
        with pytest.raises(CheckFailed, match="You divided by every token"):
            a3_token_loss.check_masked_token_loss(per_token_mean, part)
        with pytest.raises(CheckFailed, match="differs from the kit's reference"):
            a3_token_loss.hidden_test_masked_token_loss(per_token_mean, part)


def test_the_no_labelled_token_part_still_passes_a_right_loss_and_fails_only_the_nan_of_the_one_liner():
    def right(logits, labels):
        keep = labels.reshape(-1) != -100
        per_token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="none")
        return per_token.sum() / keep.sum().clamp(min=1)

    a3_token_loss.check_masked_token_loss(right, "no labelled token")
    a3_token_loss.hidden_test_masked_token_loss(right, "no labelled token")


def answer_code(name: str, cell_id: str) -> str:
    nb = nbformat.read(grading.SOLUTIONS_DIR / f"{name}.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if c.id == cell_id)
    body = source.split("### BEGIN SOLUTION", 1)[1].split("### END SOLUTION", 1)[0]
    return [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("#")]


@pytest.mark.parametrize("folder", ["solutions", "student"])
def test_a1_texts_the_student_reads_do_not_hand_over_the_answer(folder):
    nb = nbformat.read(grading.SOLUTIONS_DIR.parent / folder / "a1_pooling.ipynb", as_version=4)
    read = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for forbidden in ("logits[torch.arange", "logits[rows, index]", "arange(batch)", "argmax", "torch.arange(seq_len)"):
        assert forbidden not in read, forbidden
    # no line of either solution appears in what the student reads
    for line in answer_code("a1_pooling", "last_non_pad_index") + answer_code("a1_pooling", "pooled_logits"):
        assert line.split("#")[0].strip() not in read, line
