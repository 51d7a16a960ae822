"""Interactive widgets for the notebooks (ipywidgets 7.7 and 8).

Only APIs present in both major versions are used: ``widgets.interactive`` with explicit control
widgets (``IntSlider``, ``ToggleButtons``), whose ``.children`` are the controls followed by the
output area, ``.result`` is the callback's last return value, and ``.update()`` redraws. Setting a
control's ``.value`` from code runs the callback too, which is how the tests (and the notebooks' check
cells) drive a widget without a browser.

Each widget draws with a function from :mod:`modlayers.lessons.plots` and computes with the package's pure
functions, so what it shows is what the code does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display

from modlayers.lessons.plots import plot_pooled_batch
from modlayers.pooling import last_attended_index, last_non_pad_index

# Controls size their label to its text ("row 0 length" is cut to "row 0 len..." at the default width).
LABEL_STYLE = {"description_width": "initial"}


def _controls(widget) -> list:
    """Every descendant of ``widget`` that holds a ``value`` (sliders, toggles, text boxes), depth first."""
    found = []
    for child in getattr(widget, "children", ()):
        if isinstance(child, widgets.ValueWidget):
            found.append(child)
        found.extend(_controls(child))
    return found


@contextmanager
def values_restored(widget) -> Iterator:
    """Drive ``widget``'s controls inside the block; on leaving it, put every control back as it was.

    A check cell moves a widget's sliders to test what it shows; without this the student scrolls up
    to a widget that no longer shows the picture next to it. Restoring a value runs the widget's
    callback again, so its output (and ``.result``) is what it was before the block.

    Example:
        >>> w = pooling_widget(tokenizer, ["Rain in Osterby."])  # doctest: +SKIP
        >>> with values_restored(w):  # doctest: +SKIP
        ...     w.children[0].value = "left"  # a check moves the padding side
        >>> w.children[0].value  # doctest: +SKIP
        'right'
    """
    saved = [(control, control.value) for control in _controls(widget)]
    try:
        yield widget
    finally:
        for control, value in reversed(saved):
            control.value = value


def pad_sequences(
    sequences: Sequence[Sequence[int]], pad_token_id: int, padding_side: str = "right"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token-id lists to one length, on the right or the left, like a tokenizer does.

    Returns:
        ``(input_ids, attention_mask)``, both ``(batch, longest)`` int64; the mask is 1 on tokens.

    Raises:
        ValueError: ``padding_side`` is neither ``"right"`` nor ``"left"``, or ``sequences`` is empty.

    Example:
        >>> pad_sequences([[5, 6, 7], [5]], pad_token_id=0, padding_side="left")[0]
        tensor([[5, 6, 7],
                [0, 0, 5]])
    """
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}.")
    if not sequences:
        raise ValueError("pad_sequences needs at least one sequence.")
    longest = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), longest), pad_token_id, dtype=torch.long)  # (batch, longest)
    attention_mask = torch.zeros((len(sequences), longest), dtype=torch.long)  # (batch, longest)
    for row, sequence in enumerate(sequences):
        n = len(sequence)
        columns = slice(0, n) if padding_side == "right" else slice(longest - n, longest)
        input_ids[row, columns] = torch.tensor(list(sequence), dtype=torch.long)
        attention_mask[row, columns] = 1
    return input_ids, attention_mask


def pooling_batch(
    tokenizer,
    texts: Sequence[str],
    *,
    padding_side: str = "right",
    pad_token: str = "[PAD]",
    lengths: Sequence[int] | None = None,
    max_tokens: int = 12,
) -> dict:
    """Build the batch the pooling widget shows, and the positions both pooling rules pick.

    Each row is ``[CLS]``, the first ``length - 2`` word pieces of its text, ``[SEP]``; rows are padded
    on ``padding_side`` with ``pad_token`` (``"[PAD]"``, or ``"[SEP]"`` to play "pad = end of sequence").

    Args:
        tokenizer: a tokenizer with ``cls``, ``sep`` and ``pad`` tokens (e.g. ``load_tokenizer()``).
        texts: the sentences, one row each.
        padding_side: ``"right"`` or ``"left"``.
        pad_token: ``"[PAD]"`` or ``"[SEP]"``.
        lengths: tokens per row, special tokens included (at least 2); default: the whole text, up to
            ``max_tokens``.
        max_tokens: longest row.

    Returns:
        A dict: ``input_ids`` and ``attention_mask`` ``(batch, seq_len)``, ``tokens`` (strings per row),
        ``pad_token_id``, ``padding_side``, ``pooled_index`` (``last_non_pad_index``, ``(batch,)``) and
        ``last_real_index`` (``last_attended_index``, ``(batch,)``).

    Raises:
        ValueError: unknown ``pad_token`` or ``padding_side``, wrong number of lengths, a length < 2.

    Example:
        >>> batch = pooling_batch(load_tokenizer(), ["Rain in Osterby."], pad_token="[SEP]")  # doctest: +SKIP
    """
    pad_ids = {"[PAD]": tokenizer.pad_token_id, "[SEP]": tokenizer.sep_token_id}
    if pad_token not in pad_ids:
        raise ValueError(f"pad_token must be one of {list(pad_ids)}, got {pad_token!r}.")
    pieces = [tokenizer(text, add_special_tokens=False)["input_ids"][: max_tokens - 2] for text in texts]
    if lengths is None:
        lengths = [len(p) + 2 for p in pieces]
    if len(lengths) != len(texts) or any(n < 2 for n in lengths):
        raise ValueError(f"lengths must give one length of at least 2 per text ({len(texts)}), got {list(lengths)}.")
    sequences = [[tokenizer.cls_token_id] + p[: n - 2] + [tokenizer.sep_token_id] for p, n in zip(pieces, lengths)]
    input_ids, attention_mask = pad_sequences(sequences, pad_ids[pad_token], padding_side)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "tokens": [tokenizer.convert_ids_to_tokens(row.tolist()) for row in input_ids],
        "pad_token": pad_token,
        "pad_token_id": pad_ids[pad_token],
        "padding_side": padding_side,
        "pooled_index": last_non_pad_index(input_ids, pad_ids[pad_token]),  # (batch,)
        "last_real_index": last_attended_index(attention_mask),  # (batch,)
    }


def pooling_widget(tokenizer, texts: Sequence[str], *, max_tokens: int = 12):
    """A widget to watch the pooled position move as padding side, lengths and pad token change.

    Shows the batch of :func:`pooling_batch` with :func:`modlayers.lessons.plots.plot_pooled_batch`: the token
    that ``last_non_pad_index`` pools is framed red, and the last real token (``last_attended_index``)
    dashed green where the two disagree -- which happens when the pad token is also the
    end-of-sequence token.

    Controls (in ``widget.children`` order): ``padding side`` (ToggleButtons ``"right"``/``"left"``),
    ``pad token`` (ToggleButtons ``"[PAD]"``/``"[SEP]"``; the latter plays "pad = end of sequence"),
    then one ``IntSlider`` per text for its length in tokens (2 to its full length, at most
    ``max_tokens``). The last child is the output area.

    Args:
        tokenizer: a tokenizer with ``cls``, ``sep`` and ``pad`` tokens (e.g. ``load_tokenizer()``).
        texts: one to four sentences, one batch row each.
        max_tokens: largest length a slider allows.

    Returns:
        An ``ipywidgets.interactive``. After every change ``widget.result`` is the dict of
        :func:`pooling_batch` for the current settings.

    Raises:
        ValueError: no texts, more than four, or ``max_tokens < 3``.

    Example:
        >>> w = pooling_widget(load_tokenizer(), ["Rain in Osterby.", "Who won the final?"])  # doctest: +SKIP
        >>> w.children[0].value = "left"  # redraws: w.result["pooled_index"] is all seq_len - 1  # doctest: +SKIP
    """
    if not 1 <= len(texts) <= 4:
        raise ValueError(f"pooling_widget draws one to four texts, got {len(texts)}.")
    if max_tokens < 3:
        raise ValueError(f"max_tokens must be at least 3 ([CLS], a word piece, [SEP]), got {max_tokens}.")
    full = pooling_batch(tokenizer, texts, max_tokens=max_tokens)["attention_mask"].sum(dim=1).tolist()

    def draw(padding_side, pad_token, **lengths):
        batch = pooling_batch(tokenizer, texts, padding_side=padding_side, pad_token=pad_token,
                              lengths=[lengths[f"length_{i}"] for i in range(len(texts))], max_tokens=max_tokens)
        fig, ax = plt.subplots(figsize=(0.75 * max_tokens + 1, 0.55 * len(texts) + 1.2))
        plot_pooled_batch(batch, ax=ax)
        display(fig)
        plt.close(fig)
        return batch

    controls = {
        "padding_side": widgets.ToggleButtons(options=["right", "left"], value="right", description="padding side",
                                              style=LABEL_STYLE),
        "pad_token": widgets.ToggleButtons(options=["[PAD]", "[SEP]"], value="[PAD]", description="pad token",
                                           style=LABEL_STYLE),
    }
    for i, n in enumerate(full):
        controls[f"length_{i}"] = widgets.IntSlider(
            value=n, min=2, max=n, description=f"row {i} length", continuous_update=False, style=LABEL_STYLE
        )
    widget = widgets.interactive(draw, **controls)
    if getattr(widget, "result", None) is None:  # ipywidgets 7 draws on display, 8 on construction
        widget.update()
    return widget


# ---------------------------------------------------------------- question answering and tagging


def draw_qa_example(model, tokenizer, record: dict, *, max_length: int = 192, stride: int = 64,
                    max_answer_length: int = 10) -> dict:
    """Answer one QA record with ``model`` and draw the logits of the window the answer came from.

    The record's context is split into windows (:func:`modlayers.spans.encode_qa_windows`), the head
    scores every window, the best span over all windows is decoded
    (:func:`modlayers.spans.decode_windows`), and :func:`modlayers.lessons.plots.plot_span_logits` shows that
    window with the decoded span (red) and, when the window holds it, the true span (dashed green).

    Args:
        model: a trained QA head.
        tokenizer: its fast tokenizer.
        record: a dict with ``question``, ``context``, ``answer_text`` and ``answer_start`` (``load_qa``).
        max_length, stride, max_answer_length: as in :func:`modlayers.lessons.pipelines.answer_question`.

    Returns:
        ``{"question", "predicted", "expected", "window", "n_windows", "answers"}``: the decoded and true
        answer texts, the window drawn, how many windows the context needed, and the n-best list.

    Example:
        >>> draw_qa_example(model, tokenizer, load_qa("validation")[0])["predicted"]  # doctest: +SKIP
    """
    from modlayers.lessons.pipelines import qa_logits
    from modlayers.lessons.plots import plot_span_logits
    from modlayers.spans import decode_windows, encode_qa_windows

    windows = encode_qa_windows(
        tokenizer, [record["question"]], [record["context"]], answer_starts=[record["answer_start"]],
        answer_texts=[record["answer_text"]], max_length=max_length, stride=stride,
    )
    start, end = qa_logits(model, windows)  # (windows, seq) each
    answers = decode_windows(start, end, windows["offset_mapping"], windows["context_mask"], record["context"],
                             max_answer_length=max_answer_length, n_best=5)
    best = answers[0]
    w = best.window
    true_start, true_end = int(windows["start_positions"][w]), int(windows["end_positions"][w])
    expected = (true_start, true_end) if true_start > 0 else None  # 0 = [CLS]: the answer is not in this window
    fig, axes = plt.subplots(2, 1, figsize=(11, 4.6), gridspec_kw={"height_ratios": [1.2, 1]})
    plot_span_logits(
        tokenizer.convert_ids_to_tokens(windows["input_ids"][w].tolist()), start[w], end[w],
        predicted=(best.token_start, best.token_end), expected=expected, context_mask=windows["context_mask"][w],
        axes=axes, title=f"{record['question']}  predicted: {best.text!r}  true: {record['answer_text']!r}  "
                         f"(window {w + 1} of {len(start)})",
    )
    fig.tight_layout()
    display(fig)
    plt.close(fig)
    return {"question": record["question"], "predicted": best.text, "expected": record["answer_text"],
            "window": w, "n_windows": len(start), "answers": answers}


def qa_widget(model, tokenizer, records: Sequence[dict], **options):
    """Pick an example with a slider; see its start/end logits, the decoded span and the true one.

    Controls (``widget.children``): an ``IntSlider`` ``example`` (0 to ``len(records) - 1``), then the
    output area. Each change runs :func:`draw_qa_example`; ``widget.result`` is its dict.

    Args:
        model, tokenizer: as in :func:`draw_qa_example`.
        records: QA records (``load_qa("validation")``).
        options: ``max_length``, ``stride``, ``max_answer_length`` for :func:`draw_qa_example`.

    Raises:
        ValueError: ``records`` is empty.

    Example:
        >>> w = qa_widget(model, tokenizer, load_qa("validation"))  # doctest: +SKIP
        >>> w.children[0].value = 3  # redraws; w.result["predicted"] is example 3's answer
    """
    if not records:
        raise ValueError("qa_widget needs at least one record to show.")

    def draw(example):
        return draw_qa_example(model, tokenizer, records[example], **options)

    slider = widgets.IntSlider(value=0, min=0, max=len(records) - 1, description="example", continuous_update=False,
                                style=LABEL_STYLE)
    widget = widgets.interactive(draw, example=slider)
    if getattr(widget, "result", None) is None:  # ipywidgets 7 draws on display, 8 on construction
        widget.update()
    return widget


def draw_tagged_text(model, tokenizer, text: str, label_names: Sequence[str], *, max_length: int = 64) -> list:
    """Tag a typed sentence with ``model`` and draw it with its entities highlighted.

    The text is split into words (:func:`modlayers.lessons.pipelines.split_words`), tagged
    (:func:`modlayers.lessons.pipelines.tag_sentences`) and drawn with :func:`modlayers.lessons.plots.plot_tagged_words`.

    Returns:
        ``[(word, tag), ...]``.

    Example:
        >>> draw_tagged_text(model, tokenizer, "Ada moved to Osterby.", TAGGING_LABELS)  # doctest: +SKIP
        [('Ada', 'B-PER'), ('moved', 'O'), ('to', 'O'), ('Osterby', 'B-LOC'), ('.', 'O')]
    """
    from modlayers.lessons.pipelines import split_words, tag_sentences
    from modlayers.lessons.plots import plot_tagged_words

    words = split_words(text)
    tags = tag_sentences(model, tokenizer, [words], label_names, max_length=max_length)[0]
    fig, ax = plt.subplots(figsize=(min(14.0, 0.9 * sum(0.12 * len(w) + 0.25 for w in words) + 1.5), 1.5))
    plot_tagged_words(words, tags, ax=ax, title=" ".join(f"{w}/{t}" for w, t in zip(words, tags)) or "(no words)")
    display(fig)
    plt.close(fig)
    return list(zip(words, tags))


def tagging_widget(model, tokenizer, label_names: Sequence[str], *,
                   value: str = "Ada Lindqvist joined Osterby Bank in March 2019 .", max_length: int = 64):
    """Type a sentence, see the tagger's entities.

    Controls (``widget.children``): a ``Text`` ``sentence`` (tagged when you press Enter or leave the
    box), then the output area. Each change runs :func:`draw_tagged_text`; ``widget.result`` is its
    list of ``(word, tag)``. Setting ``widget.children[0].value`` from code runs it too.

    Example:
        >>> w = tagging_widget(model, tokenizer, TAGGING_LABELS)  # doctest: +SKIP
        >>> w.children[0].value = "Bob visited Marlow Bay ."  # w.result is the new tagging
    """

    def draw(sentence):
        return draw_tagged_text(model, tokenizer, sentence, label_names, max_length=max_length)

    # As wide as the notebook: a sentence of the data (about 60 characters) fits without scrolling.
    box = widgets.Text(value=value, description="sentence", continuous_update=False, style=LABEL_STYLE,
                       layout=widgets.Layout(width="95%"))
    widget = widgets.interactive(draw, sentence=box)
    if getattr(widget, "result", None) is None:  # ipywidgets 7 draws on display, 8 on construction
        widget.update()
    return widget


# ---------------------------------------------------------------- memory lab (gradient checkpointing)


def memory_widget(*, hidden_size: int = 256, num_heads: int = 4, dropout: float = 0.1, layers: int = 12,
                  seq_len: int = 512, batch: int = 4, max_layers: int = 48, max_seq_len: int = 2048,
                  max_batch: int = 32):
    """Sliders for layers, sequence length and batch size that redraw the predicted memory bars.

    Draws :func:`modlayers.lessons.plots.plot_memory_bars` of
    :func:`modlayers.lessons.memory.tiny_transformer_policy_bars` (off, attention-core, every-2, every-layer) for
    the kit's tiny transformer. Built from ``IntSlider``, ``interactive_output`` and
    ``VBox``, present in ipywidgets 7.7 and 8.

    Returns:
        A ``VBox``: ``children[0]`` holds the three sliders (``layers``, ``seq_len``,
        ``batch``, in that order), ``children[1]`` is the output area. After every redraw
        ``widget.bars`` is the ``{policy: {part: bytes}}`` just drawn. Setting a
        slider's ``.value`` from code redraws too.

    Example:
        >>> w = memory_widget()  # doctest: +SKIP
        >>> w.children[0].children[1].value = 1024  # seq_len: the attention part quadruples
    """
    from modlayers.lessons.memory.analytic import tiny_transformer_policy_bars
    from modlayers.lessons.plots import plot_memory_bars

    for name, value, top in (("layers", layers, max_layers), ("seq_len", seq_len, max_seq_len), ("batch", batch, max_batch)):
        if not 1 <= value <= top:
            raise ValueError(f"{name}={value} must be between 1 and max_{name} ({top}).")
    sliders = {
        "layers": widgets.IntSlider(value=layers, min=1, max=max_layers, description="layers", continuous_update=False,
                                      style=LABEL_STYLE),
        "seq_len": widgets.IntSlider(value=seq_len, min=32, max=max_seq_len, step=32, description="seq_len",
                                     continuous_update=False, style=LABEL_STYLE),
        "batch": widgets.IntSlider(value=batch, min=1, max=max_batch, description="batch", continuous_update=False,
                                     style=LABEL_STYLE),
    }
    box = widgets.VBox([widgets.VBox(list(sliders.values()))])

    def draw(layers, seq_len, batch):
        bars = tiny_transformer_policy_bars(layers, seq_len, batch, hidden_size, num_heads, dropout)
        fig, ax = plt.subplots(figsize=(6, 4.8))
        plot_memory_bars(bars, ax=ax, title=f"Predicted saved activations: {layers} layers, seq_len {seq_len}, batch {batch}")
        display(fig)
        plt.close(fig)
        box.bars = bars

    output = widgets.interactive_output(draw, sliders)
    box.children = (box.children[0], output)
    if getattr(box, "bars", None) is None:  # interactive_output draws at once; draw here if a release does not
        with output:
            draw(**{name: slider.value for name, slider in sliders.items()})
    return box
