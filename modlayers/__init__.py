"""modlayers: transformers' modeling layers, re-implemented readably and taught in notebooks.

The package has three layers, each importing only from its own and the ones above it:

- **the library**, what mirrors ``transformers/modeling_layers.py``: :class:`GradientCheckpointingLayer`
  (``modlayers.checkpointing``, with ``modlayers.reentrant_warnings`` and
  ``modlayers.offloading``); :class:`GenericForSequenceClassification`,
  :class:`GenericForQuestionAnswering`, :class:`GenericForTokenClassification` (``modlayers.heads``,
  ``modlayers.head_checkpoints``, ``modlayers.base_model``); and the pure functions behind them: pooling
  (``modlayers.pooling``), the losses (``modlayers.losses``), span decoding (``modlayers.spans``), label
  alignment (``modlayers.label_alignment``) and metrics (``modlayers.metrics``);
- **the lessons' helpers** (``modlayers.lessons``): the memory lab (``modlayers.lessons.memory``), distributed
  training, the shipped data (``modlayers.lessons.data``), MiniLM from its wheel, fine-tuning, a small training
  loop (``modlayers.lessons.training``), plots and widgets;
- **the course** (``modlayers.course``): exercise and assignment checks, quizzes, grading, the site's builder.

The names below are the ones a notebook or an engineer uses most, importable from ``modlayers`` itself.
"""

# Before anything imports torch: torch's OpenMP threads wait passively (modlayers/lessons/cpu_threads.py).
import modlayers.lessons.cpu_threads  # noqa: F401
import modlayers.lessons.moved_names

modlayers.lessons.moved_names.install()  # `import modlayers.pretrained` (the name before the move) still works

from modlayers.lessons.doctor import launched_as_command as _launched_as_command, missing_core_packages as _missing

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
from modlayers.lessons.data import (
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
from modlayers.lessons.memory import MemoryRecord, SavedTensorCounter, get_policy, measure_training_step
from modlayers.metrics import entity_scores, exact_match, squad_scores, token_f1
from modlayers.pooling import first_token_pool, last_attended_index, last_non_pad_index, mean_pool, pool_at
from modlayers.spans import best_span, best_spans, decode_windows, encode_qa_windows, token_span_to_char_span
from modlayers.lessons.training import batches_from, evaluate_accuracy, pick_device, predict, set_seed, train
from modlayers.lessons.tiny_transformer import (
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


def __getattr__(name: str):
    """``modlayers.training`` and the other lessons' helpers' old names, as attributes (PEP 562): with a warning."""
    return modlayers.lessons.moved_names.moved_attribute(name)
