"""The examples in the docstrings of the pure functions are true."""

import doctest

import pytest
import torch

import modlayers.course.submissions
import modlayers.losses
import modlayers.pooling
import modlayers.stated_figures


@pytest.mark.parametrize("module", [modlayers.pooling, modlayers.losses, modlayers.stated_figures,
                                    modlayers.course.submissions], ids=lambda m: m.__name__)
def test_docstring_examples_run_as_written(module):
    result = doctest.testmod(module, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
