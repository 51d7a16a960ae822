"""modlayers: transformers' modeling layers, re-implemented readably and taught in notebooks.

The four building blocks of ``transformers/modeling_layers.py``:

- :class:`GradientCheckpointingLayer` (``modlayers.checkpointing``)
- :class:`GenericForSequenceClassification`, :class:`GenericForQuestionAnswering`,
  :class:`GenericForTokenClassification` (``modlayers.heads``)

the pure functions behind them: pooling (``modlayers.pooling``), the losses
(``modlayers.losses``), span decoding (``modlayers.spans``), label alignment
(``modlayers.label_alignment``) and metrics (``modlayers.metrics``); and the memory lab
(``modlayers.memory``), the shipped data (``modlayers.data``) and a small training loop
(``modlayers.training``).
"""

# Before anything imports torch: torch's OpenMP threads wait passively (modlayers/cpu_threads.py).
import modlayers.cpu_threads  # noqa: F401

from modlayers.doctor import launched_as_command as _launched_as_command, missing_core_packages as _missing

# `python -m modlayers ...` in a Python without torch or transformers: the doctor still runs and any other
# command says in one line what is missing, instead of a traceback from the imports below.
if _launched_as_command() and _missing():
    from modlayers.__main__ import main_without_core_packages

    raise SystemExit(main_without_core_packages())

from modlayers.checkpointing import (  # noqa: E402  (after the wait policy is chosen)
    GradientCheckpointingLayer,
    checkpointable_layers,
    disable_gradient_checkpointing,
    enable_gradient_checkpointing,
)
from modlayers.data import (
    CLASSIFICATION_LABELS,
    TAGGING_LABELS,
    load_classification,
    load_qa,
    load_tagging,
    load_tokenizer,
)
from modlayers.heads import (
    GenericForQuestionAnswering,
    GenericForSequenceClassification,
    GenericForTokenClassification,
)
from modlayers.label_alignment import align_labels_to_tokens, tokenize_and_align_labels, word_predictions
from modlayers.losses import (
    infer_problem_type,
    masked_cross_entropy,
    question_answering_loss,
    sequence_classification_loss,
    token_classification_loss,
)
from modlayers.memory import MemoryRecord, SavedTensorCounter, get_policy, measure_training_step
from modlayers.metrics import entity_scores, exact_match, squad_scores, token_f1
from modlayers.pooling import first_token_pool, last_attended_index, last_non_pad_index, mean_pool, pool_at
from modlayers.spans import best_span, best_spans, decode_windows, encode_qa_windows, token_span_to_char_span
from modlayers.training import batches_from, evaluate_accuracy, pick_device, predict, set_seed, train
from modlayers.tiny_transformer import (
    TinyTransformerAttentionCore,
    TinyTransformerConfig,
    TinyTransformerForQuestionAnswering,
    TinyTransformerForSequenceClassification,
    TinyTransformerForTokenClassification,
    TinyTransformerModel,
    TinyTransformerPreTrainedModel,
)

__version__ = "0.1.0"

__all__ = [
    "MemoryRecord",
    "SavedTensorCounter",
    "get_policy",
    "measure_training_step",
    "align_labels_to_tokens",
    "best_span",
    "best_spans",
    "decode_windows",
    "encode_qa_windows",
    "entity_scores",
    "exact_match",
    "squad_scores",
    "token_f1",
    "token_span_to_char_span",
    "tokenize_and_align_labels",
    "word_predictions",
    "CLASSIFICATION_LABELS",
    "TAGGING_LABELS",
    "batches_from",
    "evaluate_accuracy",
    "load_classification",
    "load_qa",
    "load_tagging",
    "load_tokenizer",
    "pick_device",
    "predict",
    "set_seed",
    "train",
    "GradientCheckpointingLayer",
    "GenericForQuestionAnswering",
    "GenericForSequenceClassification",
    "GenericForTokenClassification",
    "TinyTransformerAttentionCore",
    "TinyTransformerConfig",
    "TinyTransformerForQuestionAnswering",
    "TinyTransformerForSequenceClassification",
    "TinyTransformerForTokenClassification",
    "TinyTransformerModel",
    "TinyTransformerPreTrainedModel",
    "checkpointable_layers",
    "disable_gradient_checkpointing",
    "enable_gradient_checkpointing",
    "first_token_pool",
    "infer_problem_type",
    "last_attended_index",
    "last_non_pad_index",
    "masked_cross_entropy",
    "mean_pool",
    "pool_at",
    "question_answering_loss",
    "sequence_classification_loss",
    "token_classification_loss",
]
