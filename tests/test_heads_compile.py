"""``torch.compile(model, fullgraph=True)`` works on the three heads and gives the eager loss.

In eager mode the heads check label and position values (a host read of the tensor); inside
``torch.compile`` those value checks are skipped (``torch.compiler.is_compiling()``), so the
graph has no break and, on a GPU, no device synchronisation. Shapes and dtypes are still
checked while tracing. The eager errors stay: see tests/test_heads_inputs.py.
"""

import pytest
import torch

from heads_training_setup import HEADS, make_examples, make_head


def _batch(task):
    examples = make_examples(task, n=4)
    return {key: torch.stack([example[key] for example in examples]) for key in examples[0]}


@pytest.mark.parametrize("task", list(HEADS))
@pytest.mark.parametrize("arch", ["tiny", "llama"])
def test_fullgraph_compile_trains_with_the_eager_loss_and_gradients(arch, task):
    torch._dynamo.reset()
    model = make_head(arch, task).train()
    batch = _batch(task)
    eager_loss = model(**batch).loss
    eager_loss.backward()
    eager_grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    loss = compiled(**batch).loss
    loss.backward()
    torch.testing.assert_close(loss, eager_loss, atol=1e-6, rtol=0)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, eager_grads[name], atol=1e-6, rtol=0, msg=name)


def test_fullgraph_compile_with_inductor_gives_the_eager_loss_on_every_head():
    """One test for the three heads: inductor compiles C++ on the CPU, which takes a while."""
    for task in HEADS:
        torch._dynamo.reset()
        model = make_head("tiny", task).eval()
        batch = _batch(task)
        with torch.no_grad():
            expected = model(**batch).loss
            got = torch.compile(model, fullgraph=True, backend="inductor")(**batch).loss
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0, msg=task)


def test_the_eager_value_checks_still_raise_after_a_compiled_call():
    model = make_head("tiny", "token").eval()
    batch = _batch("token")
    torch._dynamo.reset()
    with torch.no_grad():
        torch.compile(model, fullgraph=True, backend="eager")(**batch)
        batch["labels"][0, 0] = 7  # outside [0, 3)
        with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
            model(**batch)


@pytest.mark.parametrize("use_reentrant", [False, True])
@pytest.mark.parametrize("task", list(HEADS))
def test_fullgraph_compile_with_the_kits_checkpointing_gives_the_eager_loss_and_gradients(task, use_reentrant):
    """The kit's layers under torch.compile(fullgraph=True) with checkpointing on: no graph break, same numbers.

    The compiled step runs first, in a fresh thread, where the per-thread count of running checkpointed forwards
    has never been written (compile could not read it there once)."""
    import threading

    from modlayers import enable_gradient_checkpointing

    torch._dynamo.reset()
    model = make_head("tiny", task).train()
    enable_gradient_checkpointing(model, use_reentrant=use_reentrant)
    batch = _batch(task)
    compiled, failures = {}, []

    def compiled_step():
        try:
            compiled["loss"] = torch.compile(model, fullgraph=True, backend="aot_eager")(**batch).loss
            compiled["loss"].backward()
        except Exception as error:  # noqa: BLE001  (reported below, in the test's thread)
            failures.append(error)

    thread = threading.Thread(target=compiled_step)
    thread.start()
    thread.join()
    assert not failures, failures[0]
    compiled_grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    eager_loss = model(**batch).loss
    eager_loss.backward()
    torch.testing.assert_close(compiled["loss"], eager_loss, atol=1e-6, rtol=0)
    for name, p in model.named_parameters():
        torch.testing.assert_close(compiled_grads[name], p.grad, atol=1e-6, rtol=0, msg=name)
