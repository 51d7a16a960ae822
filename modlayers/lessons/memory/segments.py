"""``checkpoint_sequential``-style segments: checkpoint runs of layers, not single layers.

Split a stack of ``n`` equal layers into ``s`` segments and checkpoint each segment
as one unit (the last one excepted, as ``torch.utils.checkpoint.checkpoint_sequential``
does: its activations are the first the backward pass needs). The forward pass keeps
one input per checkpointed segment; the backward pass recomputes one segment at a
time, holding its ``n / s`` layers' activations. The peak is about

    peak(s) = s + n / s     layer outputs (one input per segment, one segment's layers),

smallest at ``s = sqrt(n)``: ``2 * sqrt(n)`` instead of ``n + 1``.

Each segment is a :class:`~modlayers.checkpointing.GradientCheckpointingLayer`, so the
kit's :func:`~modlayers.checkpointing.enable_gradient_checkpointing` switches it on.
"""


import torch
from torch import nn

from modlayers.checkpointing import GradientCheckpointingLayer, enable_gradient_checkpointing


class EqualBlock(nn.Module):
    """``tanh(linear(x))``: ``(batch, width) -> (batch, width)``; keeps one activation (its output) for backward."""

    def __init__(self, width: int):
        super().__init__()
        self.linear = nn.Linear(width, width)

    def forward(self, x):
        return torch.tanh(self.linear(x))


class Segment(GradientCheckpointingLayer):
    """A run of blocks checkpointed as one unit."""

    def __init__(self, blocks: list[nn.Module]):
        super().__init__()
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x):
        return self.blocks(x)


def segment_lengths(depth: int, segments: int) -> list[int]:
    """Split ``depth`` layers into ``segments`` runs whose lengths differ by at most one.

    Example:
        >>> segment_lengths(10, 3)
        [4, 3, 3]
    """
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}.")
    if not isinstance(segments, int) or not 1 <= segments <= depth:
        raise ValueError(f"segments must be an integer between 1 and depth ({depth}), got {segments!r}.")
    base, extra = divmod(depth, segments)
    return [base + 1 if index < extra else base for index in range(segments)]


class EqualLayerStack(nn.Module):
    """``depth`` :class:`EqualBlock` s of width ``width``, grouped into ``segments`` :class:`Segment` s.

    Example:
        >>> stack = EqualLayerStack(depth=16, width=64, segments=4)
        >>> checkpoint_segments(stack)  # segments 0..2 checkpointed, the last one not
        3
    """

    def __init__(self, depth: int, width: int, segments: int = 1):
        super().__init__()
        blocks = [EqualBlock(width) for _ in range(depth)]
        self.segments = nn.ModuleList()
        start = 0
        for length in segment_lengths(depth, segments):
            self.segments.append(Segment(blocks[start : start + length]))
            start += length

    def forward(self, x):
        for segment in self.segments:
            x = segment(x)  # positionally: the checkpoint's input
        return x


def checkpoint_segments(stack: EqualLayerStack, **checkpoint_kwargs) -> int:
    """Checkpoint every segment of ``stack`` but the last; return how many are checkpointed."""
    enable_gradient_checkpointing(stack, **checkpoint_kwargs)
    stack.segments[-1].gradient_checkpointing = False
    return len(stack.segments) - 1


def predicted_segment_peak(depth: int, segments: int) -> int:
    """Activations held at the peak, in units of one layer's output: ``segments + longest segment``.

    One input per segment (the stack's own input for the first; each checkpointed
    segment keeps its input, the last segment's first layer keeps its input too), plus
    the outputs of the longest segment's layers: the last segment's after the forward
    pass, or a checkpointed one while the backward pass recomputes it.

    Example:
        >>> [predicted_segment_peak(16, s) for s in (1, 2, 4, 8, 16)]
        [17, 10, 8, 10, 17]
    """
    return segments + max(segment_lengths(depth, segments))


def best_segment_count(depth: int) -> int:
    """The segment count with the smallest :func:`predicted_segment_peak` (the smallest such, near ``sqrt(depth)``)."""
    return min(range(1, depth + 1), key=lambda s: (predicted_segment_peak(depth, s), s))


def measure_segment_peaks(
    depth: int, width: int, batch: int, segment_counts, profile_counts=(), seed: int = 0
) -> list[dict]:
    """Peak activation memory of a training step of an :class:`EqualLayerStack`, per segment count.

    Each row, in units of one layer's output (``unit_bytes = batch * width * 4``):

    ``held_units`` (exact, saved-tensor accounting)
        ``max(kept after forward, inputs kept + largest recomputed segment)``: what
        the forward pass leaves for backward (counted), and the moment the backward
        pass recomputes the longest checkpointed segment next to the inputs still kept
        (that segment's saved tensors counted by running it without checkpointing).
    ``peak_units`` (torch profiler, only for the counts in ``profile_counts``, else ``None``)
        The allocator's view of the whole step: adds gradient buffers and temporaries,
        a few units above ``held_units``.
    ``predicted_units``
        :func:`predicted_segment_peak`.

    ``segments == 1`` is no checkpointing. Choose ``batch`` much larger than ``width``
    so activations, not weight gradients, dominate (e.g. width 32, batch 1024).
    """
    from modlayers.lessons.memory.measure import profiler_peak_bytes
    from modlayers.lessons.memory.saved_tensors import SavedTensorCounter

    torch.manual_seed(seed)
    x = torch.randn(batch, width)
    unit = x.nelement() * x.element_size()
    rows = []
    for segments in segment_counts:
        stack = EqualLayerStack(depth, width, segments).train()
        checkpointed = stack.segments[:checkpoint_segments(stack)]
        with SavedTensorCounter(stack) as after_forward:
            loss = stack(x).pow(2).mean()
        loss.backward()
        inputs_kept = len(checkpointed) * unit
        recompute = 0
        if checkpointed:
            longest = max(checkpointed, key=lambda segment: len(segment.blocks))
            with SavedTensorCounter(stack) as one_segment:
                longest.blocks(x)  # the segment's own tensors, as its recompute saves them
            recompute = one_segment.saved_bytes - unit  # its input is already among the inputs kept
        held = max(after_forward.saved_bytes, inputs_kept + recompute)

        peak = None
        if segments in profile_counts:

            def step():
                stack.zero_grad(set_to_none=True)
                stack(x).pow(2).mean().backward()

            peak = profiler_peak_bytes(step)
        rows.append(
            {
                "segments": segments,
                "unit_bytes": unit,
                "held_units": held / unit,
                "peak_units": None if peak is None else peak / unit,
                "predicted_units": predicted_segment_peak(depth, segments),
            }
        )
    return rows
