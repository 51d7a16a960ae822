"""A widget for the predictor: choose a model and a way to train it, see one device's memory as stacked bars.

Built as the kit's other widgets (:mod:`modlayers.lessons.widgets`): explicit controls, ``interactive_output`` and a
``VBox`` (ipywidgets 7.7 and 8); setting a control's ``.value`` from code redraws, which is how the tests and
the notebook's check cells drive it.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from modlayers.lessons.memory.breakdown_plot import plot_breakdown
from modlayers.lessons.memory.model_configs import MODEL_NAMES
from modlayers.lessons.memory.predictor import OPTIMIZERS, PRECISIONS, SHARDINGS, MemoryBreakdown, predict_memory

LABEL_STYLE = {"description_width": "initial"}
POWERS_OF_TWO = [2**k for k in range(0, 11)]  # 1 .. 1024
SEQ_LENS = [128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768]
POLICIES = ("off", "attention-core", "every-4", "every-2", "every-layer")
GPU_BYTES = 80e9  # an 80 GB accelerator (H100, A100 80GB)
GB = 1e9  # the bars in decimal GB, as the GPU is sold and as the scale table and notebook 06 state figures


def all_shardings(model: str, *, world_size: int = 8, **settings) -> dict[str, MemoryBreakdown]:
    """The predictor for every sharding at the same settings (``none`` on one device): the widget's bars.

    Example:
        >>> bars = all_shardings("llama-3-8b", world_size=8, seq_len=4096, checkpointing="every-layer")
        >>> bars["zero3"].state < bars["zero1"].state < bars["ddp"].state
        True
    """
    return {s: predict_memory(model, sharding=s, world_size=1 if s == "none" else world_size, **settings)
            for s in SHARDINGS}


def predictor_widget(*, model: str = "llama-3-8b", precision: str = "bf16-mixed", optimizer: str = "adamw",
                     world_size: int = 8, batch: int = 1, seq_len: int = 4096, checkpointing: str = "every-layer",
                     flash_attention: bool = True):
    """Controls for the predictor's settings that redraw one device's memory under every sharding.

    Returns:
        A ``VBox``: ``children[0]`` holds the controls (model, precision, optimizer, world size, batch,
        seq_len, checkpointing, flash attention, in that order), ``children[1]`` is the output area. After
        every redraw ``widget.bars`` is the ``{sharding: MemoryBreakdown}`` just drawn.

    Raises:
        ValueError: a start value that is not among its control's options.

    Example:
        >>> w = predictor_widget()  # doctest: +SKIP
        >>> w.children[0].children[3].value = 64  # world size: ZeRO-3's bar shrinks by 8  # doctest: +SKIP
    """
    start = {"model": (model, MODEL_NAMES), "precision": (precision, PRECISIONS), "optimizer": (optimizer, OPTIMIZERS),
             "world_size": (world_size, POWERS_OF_TWO), "batch": (batch, POWERS_OF_TWO[:7]),
             "seq_len": (seq_len, SEQ_LENS), "checkpointing": (checkpointing, POLICIES)}
    for name, (value, options) in start.items():
        if value not in options:
            raise ValueError(f"{name}={value!r} is not one of the widget's options {list(options)}.")
    controls = {
        "model": widgets.Dropdown(options=MODEL_NAMES, value=model, description="model", style=LABEL_STYLE),
        "precision": widgets.ToggleButtons(options=PRECISIONS, value=precision, description="precision", style=LABEL_STYLE),
        "optimizer": widgets.ToggleButtons(options=OPTIMIZERS, value=optimizer, description="optimizer", style=LABEL_STYLE),
        "world_size": widgets.SelectionSlider(options=POWERS_OF_TWO, value=world_size, description="world size",
                                              continuous_update=False, style=LABEL_STYLE),
        "batch": widgets.SelectionSlider(options=POWERS_OF_TWO[:7], value=batch, description="batch per device",
                                         continuous_update=False, style=LABEL_STYLE),
        "seq_len": widgets.SelectionSlider(options=SEQ_LENS, value=seq_len, description="seq_len",
                                           continuous_update=False, style=LABEL_STYLE),
        "checkpointing": widgets.ToggleButtons(options=POLICIES, value=checkpointing, description="checkpointing",
                                               style=LABEL_STYLE),
        "flash_attention": widgets.Checkbox(value=flash_attention, description="fused attention (no s x s scores)",
                                            style=LABEL_STYLE),
    }
    box = widgets.VBox([widgets.VBox(list(controls.values()))])

    def draw(model, precision, optimizer, world_size, batch, seq_len, checkpointing, flash_attention):
        bars = all_shardings(model, world_size=world_size, precision=precision, optimizer=optimizer, batch=batch,
                             seq_len=seq_len, checkpointing=checkpointing, flash_attention=flash_attention)
        fig, ax = plt.subplots(figsize=(8, 4.6))
        plot_breakdown(bars, ax=ax, device_bytes=GPU_BYTES, device_name="an 80 GB GPU", unit=GB, unit_name="GB",
                       title=f"{model}, {precision}, W={world_size}, batch {batch} x {seq_len} tokens, {checkpointing}")
        display(fig)
        plt.close(fig)
        box.bars = bars

    output = widgets.interactive_output(draw, controls)
    box.children = (box.children[0], output)
    if getattr(box, "bars", None) is None:  # interactive_output draws at once; draw here if a release does not
        with output:
            draw(**{name: control.value for name, control in controls.items()})
    return box
