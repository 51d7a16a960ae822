"""The one fine-tuning loop of the kit: a fixed number of steps, a fixed number of evaluations.

Every task's ``finetune`` (classification, QA, tagging) and :func:`modlayers.lessons.training.train` build their
optimizer with :func:`adamw` and the three ``finetune`` functions train through :func:`run_steps`:

- **steps, never seconds**: the number of steps alone decides what is computed. ``max_seconds`` can stop a
  run earlier (the command's ``--max-seconds``); the run then says so in words (:attr:`LoopRun.note`),
  because its figures are not those of the full run;
- **fused AdamW** (``torch.optim.AdamW(..., fused=True)``): one kernel for the whole update instead of a
  loop of small ones (measured 116 ms a step against 15 ms on a 6-layer MiniLM on 2 CPU cores);
- **an evaluation cadence that does not grow with the run**: ``evaluations`` points on the curve (default
  5), each on the same fixed validation subset; the last point scores the full split, once;
- **the validation set prepared once**: the tasks tokenize it before the loop and pass an ``evaluate``
  function that only runs the model;
- **dynamic padding**: every training batch is cut to its own longest row
  (:func:`modlayers.lessons.training.batches_from` with ``trim_padding=True``).

Why a loop of our own and not transformers' ``Trainer`` with a callback, measured side by side
(``benchmarks/loop_vs_trainer.py``: the MiniLM sequence classifier, 12 steps of 16 sentences, each batch padded
to its own longest row, fused AdamW and the same warm-up in both, no evaluation; both in fresh processes at the
same time on the shared 2-core machine, load average 9 to 14): this loop trains 4.7 samples per CPU second
against ``Trainer``'s 4.5 (1.03x; 1.03x per wall second too), at 971 MiB peak resident memory against 893
(1.09x, both well inside a notebook's 1.5 GB). Equal speed, then, and a memory gap of 78 MiB; the loop wins on
what the kit is for: its lines read top to bottom next to the lesson, every step is the ``forward``,
``backward``, ``clip``, ``step`` a student writes, and nothing (accelerate, a data collator, a dataloader)
stands between the batch and the model.

Attention dropout: MiniLM is trained with attention dropout 0.1; with dropout on, CPU attention cannot use
its fused kernel and stores ``length x length`` probabilities per head. ``finetune`` switches it off
(:func:`set_attention_dropout`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from modlayers.lessons.training import adamw, batches_from

__all__ = ["adamw", "evaluation_steps", "set_attention_dropout", "warmup_schedule", "run_steps", "LoopRun"]


def warmup_schedule(optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up of every group's learning rate over the first tenth of ``steps``, then constant."""
    warmup = max(1, steps // 10)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))


def evaluation_steps(steps: int, *, evaluations: int = 5, eval_every: int | None = None) -> list[int]:
    """The steps after which the loop evaluates: ``evaluations`` evenly spread ones, the last being ``steps``.

    ``eval_every`` asks for a fixed spacing instead (every ``eval_every`` steps, plus the last step).

    Raises:
        ValueError: ``steps``, ``evaluations`` or ``eval_every`` below 1.

    Example:
        >>> evaluation_steps(80), evaluation_steps(80, eval_every=30), evaluation_steps(3)
        ([16, 32, 48, 64, 80], [30, 60, 80], [1, 2, 3])
    """
    for name, value in (("steps", steps), ("evaluations", evaluations), ("eval_every", eval_every or 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}.")
    if eval_every is not None:
        return sorted({*range(eval_every, steps + 1, eval_every), steps})
    return sorted({math.ceil(k * steps / evaluations) for k in range(1, evaluations + 1)})


def set_attention_dropout(model: torch.nn.Module, p: float) -> int:
    """Set the attention-probability dropout of a BERT-style encoder to ``p``; return how many modules changed.

    transformers' BERT attention keeps the rate in ``self.dropout.p`` (5.x) or ``self.dropout_prob`` (4.x,
    SDPA); both are set, and ``config.attention_probs_dropout_prob`` follows. Hidden dropout is untouched.

    Raises:
        ValueError: ``p`` outside ``[0, 1)``.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ValueError(f"attention dropout must be a number in [0, 1), got {p!r}.")
    changed = 0
    for name, module in model.named_modules():
        if not name.endswith("attention.self"):
            continue
        if hasattr(module, "dropout_prob"):
            module.dropout_prob = float(p)
        if isinstance(getattr(module, "dropout", None), torch.nn.Dropout):
            module.dropout.p = float(p)
        changed += 1
    config = getattr(model, "config", None)
    if changed and config is not None and hasattr(config, "attention_probs_dropout_prob"):
        config.attention_probs_dropout_prob = float(p)
    return changed


@dataclass
class LoopRun:
    """What :func:`run_steps` did: the evaluations, the steps done, and why it stopped."""

    history: list[dict] = field(default_factory=list)
    steps: int = 0
    steps_asked: int = 0
    note: str | None = None  # set when max_seconds stopped the run: its figures are not the full run's

    @property
    def stopped_early(self) -> bool:
        return self.steps < self.steps_asked


def run_steps(
    model: torch.nn.Module,
    train_features: Mapping[str, torch.Tensor],
    *,
    loss_of: Callable[[torch.nn.Module, dict], torch.Tensor],
    evaluate: Callable[[bool], dict],
    optimizer: torch.optim.Optimizer,
    steps: int,
    batch_size: int,
    seed: int = 0,
    evaluations: int = 5,
    eval_every: int | None = None,
    trim_padding: bool = True,
    max_seconds: float | None = None,
    progress: bool = True,
    description: str = "fine-tuning",
    on_eval: Callable[[dict], None] | None = None,
) -> LoopRun:
    """Train ``model`` for ``steps`` steps of ``batch_size`` rows; evaluate at :func:`evaluation_steps`.

    Args:
        train_features: name -> ``(n, ...)`` tensors, reshuffled (with ``seed``) every pass.
        loss_of: ``loss_of(model, batch)`` -> the scalar loss of one batch.
        evaluate: ``evaluate(final)`` -> ``{metric: value, ...}``; ``final`` is ``True`` once, after the last
            step (score the full split), ``False`` for the curve's points (score the fixed subset).
        optimizer: from :func:`adamw`; its learning rates are warmed up over the first tenth of ``steps``.
        trim_padding: cut every batch to its own longest row (dynamic padding).
        max_seconds: stop after the step that passes this much training time (``None``: never). The last
            entry is then a final evaluation at that step, and :attr:`LoopRun.note` says so.
        on_eval: called with each history entry as it is made.

    Returns:
        A :class:`LoopRun`; ``history`` holds ``{"step", "seconds", "loss", **evaluate(...)}`` per
        evaluation, ``loss`` the mean training loss since the previous one.
    """
    checkpoints = set(evaluation_steps(steps, evaluations=evaluations, eval_every=eval_every))
    source = batches_from(train_features, batch_size, shuffle=True, seed=seed, trim_padding=trim_padding)
    schedule = warmup_schedule(optimizer, steps)
    trained = [p for group in optimizer.param_groups for p in group["params"]]
    device = next(model.parameters()).device
    run, losses, start = LoopRun(steps_asked=steps), [], time.perf_counter()
    model.train()
    bar = tqdm(total=steps, desc=description, disable=not progress)
    while run.steps < steps and run.note is None:
        for batch in source():
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = loss_of(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trained, 1.0)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            run.steps += 1
            bar.update(1)
            if max_seconds is not None and run.steps < steps and time.perf_counter() - start >= max_seconds:
                run.note = (f"max_seconds={max_seconds:g} stopped training after {run.steps} of {steps} steps: "
                            f"these figures are not those of the full {steps}-step run.")
            final = run.steps == steps or run.note is not None
            if run.steps in checkpoints or final:
                scores = evaluate(final)
                model.train()
                entry = {"step": run.steps, "seconds": round(time.perf_counter() - start, 2),
                         "loss": sum(losses) / len(losses), **scores}
                losses = []
                run.history.append(entry)
                bar.set_postfix(loss=f"{entry['loss']:.3f}", **{k: f"{v:.3f}" for k, v in scores.items()
                                                                  if isinstance(v, float) and k != "examples"})
                if on_eval is not None:
                    on_eval(entry)
            if final:
                break
    bar.close()
    return run
