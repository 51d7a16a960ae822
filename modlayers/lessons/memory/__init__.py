"""The memory lab: what a training step keeps for backward, measured and predicted.

- :mod:`~modlayers.lessons.memory.saved_tensors`: count the activations autograd keeps (exact).
- :mod:`~modlayers.lessons.memory.analytic`: predict them on paper, tensor by tensor.
- :mod:`~modlayers.lessons.memory.policies`: off, every layer, every N-th, selective, attention core, offload, checkpoint
  and offload.
- :mod:`~modlayers.lessons.memory.segments`: ``checkpoint_sequential``-style segments and the sqrt(n) rule.
- :mod:`~modlayers.lessons.memory.measure`: one training step measured (saved, peak, time).
- :mod:`~modlayers.lessons.memory.allocator`: the same step by glibc's malloc count, a check from outside torch.
- :mod:`~modlayers.lessons.memory.timeline`: one step's allocations over time, by kind, and what is alive at the peak
  (:mod:`~modlayers.lessons.memory.peak_breakdown` predicts it; :mod:`~modlayers.lessons.memory.timeline_plot` draws it).
- :mod:`~modlayers.lessons.memory.predictor`: one device's memory for a real model (weights, gradients, optimizer state,
  activations, buffers) by precision, optimizer, sharding (DDP, ZeRO-1/2/3, FSDP2), world size and policy;
  :mod:`~modlayers.lessons.memory.model_configs` builds the real models' configs (Llama-3, Qwen2, BERT, MiniLM).
- :mod:`~modlayers.lessons.memory.recompute_flops`: one step's forward, backward and recompute FLOPs per policy, counted
  (``FlopCounterMode``) and predicted; :mod:`~modlayers.lessons.memory.compile_budget`: torch's compile-time
  ``activation_memory_budget`` swept; :mod:`~modlayers.lessons.memory.cost_plot`: saved bytes against recompute FLOPs.

The command line is ``python -m modlayers memory --help``.
"""

from modlayers.lessons.memory.allocator import malloc_held_bytes, malloc_in_use_bytes
from modlayers.lessons.memory.analytic import (
    attention_bias_bytes,
    bert_layer_saved_bytes,
    checkpointed_layer_saved_bytes,
    outside_layers_saved_bytes,
    tiny_transformer_layer_saved_bytes,
    tiny_transformer_policy_bars,
    tiny_transformer_saved_bytes,
)
from modlayers.lessons.memory.measure import (
    MemoryRecord,
    compare_policies,
    count_forward_calls,
    count_saved_bytes,
    cuda_peak_bytes,
    keep_freed_memory,
    measure_training_step,
    peak_drop_agreement,
    process_peak_bytes,
    profiler_peak_bytes,
    ratios_to_baseline,
    time_steps,
    tiny_model_and_batch,
)
from modlayers.lessons.memory.model_configs import MODEL_NAMES, get_config, parameter_counts
from modlayers.lessons.memory.predictor import MemoryBreakdown, korthikanti_layer_bytes, predict_memory, state_bytes
from modlayers.lessons.memory.policies import POLICY_NAMES, MemoryPolicy, get_policy, parse_policies, save_matmul_outputs
from modlayers.lessons.memory.saved_tensors import SavedTensorCounter, hold_for_backward, saved_tensor_table
from modlayers.lessons.memory.segments import (
    EqualLayerStack,
    best_segment_count,
    checkpoint_segments,
    measure_segment_peaks,
    predicted_segment_peak,
)

__all__ = [
    "MODEL_NAMES",
    "POLICY_NAMES",
    "MemoryBreakdown",
    "get_config",
    "korthikanti_layer_bytes",
    "parameter_counts",
    "predict_memory",
    "state_bytes",
    "attention_bias_bytes",
    "EqualLayerStack",
    "MemoryPolicy",
    "MemoryRecord",
    "SavedTensorCounter",
    "best_segment_count",
    "bert_layer_saved_bytes",
    "checkpoint_segments",
    "checkpointed_layer_saved_bytes",
    "compare_policies",
    "count_forward_calls",
    "count_saved_bytes",
    "cuda_peak_bytes",
    "get_policy",
    "hold_for_backward",
    "keep_freed_memory",
    "malloc_held_bytes",
    "malloc_in_use_bytes",
    "measure_segment_peaks",
    "measure_training_step",
    "outside_layers_saved_bytes",
    "parse_policies",
    "peak_drop_agreement",
    "predicted_segment_peak",
    "process_peak_bytes",
    "profiler_peak_bytes",
    "ratios_to_baseline",
    "save_matmul_outputs",
    "saved_tensor_table",
    "time_steps",
    "tiny_model_and_batch",
    "tiny_transformer_layer_saved_bytes",
    "tiny_transformer_policy_bars",
    "tiny_transformer_saved_bytes",
]
