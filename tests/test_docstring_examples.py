"""The examples in the docstrings of the pure functions are true."""

import doctest

import pytest
import torch

import modlayers.course.answers
import modlayers.course.exercises.checkpointing
import modlayers.course.exercises.pooling
import modlayers.course.exercises.scaling_out
import modlayers.course.exercises.spans
import modlayers.course.exercises.token_loss
import modlayers.course.quizzes
import modlayers.course.submissions
import modlayers.losses
import modlayers.pooling
import modlayers.lessons.stated_figures


@pytest.mark.parametrize("module", [modlayers.pooling, modlayers.losses, modlayers.lessons.stated_figures,
                                    modlayers.course.submissions, modlayers.course.answers, modlayers.course.quizzes,
                                    modlayers.course.exercises.pooling, modlayers.course.exercises.spans,
                                    modlayers.course.exercises.token_loss, modlayers.course.exercises.checkpointing,
                                    modlayers.course.exercises.scaling_out], ids=lambda m: m.__name__)
def test_docstring_examples_run_as_written(module):
    result = doctest.testmod(module, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
