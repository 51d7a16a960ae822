"""Answer spans for extractive question answering: from start/end logits to text, and back.

A question-answering head (``GenericForQuestionAnswering``) scores every token twice: how likely the
answer *starts* there and how likely it *ends* there. This module holds everything around those two
vectors, as pure functions:

- decoding: :func:`best_spans` / :func:`best_span` pick ``(start, end)`` with ``start <= end`` and a
  maximum answer length, scored ``start_logit + end_logit``, optionally only inside the context;
- characters: :func:`token_span_to_char_span` maps a token span back to the context string with the
  tokenizer's offset mapping; :func:`char_span_to_token_span` goes the other way for training labels;
- long contexts: :func:`encode_qa_windows` splits (question, context) pairs into overlapping windows
  with a stride and labels each window; :func:`decode_windows` / :func:`decode_answers` pick the best
  span over all windows of an example.

One module each: :mod:`~modlayers.spans.decoding`, :mod:`~modlayers.spans.offsets`,
:mod:`~modlayers.spans.windows`; import from ``modlayers.spans``.

Conventions used throughout:

- token spans are **inclusive** ``(start, end)`` token indices, like the head's ``start_positions`` and
  ``end_positions``;
- character spans are **half-open** ``(char_start, char_end)``, so ``context[char_start:char_end]`` is
  the answer text.
"""

from modlayers.spans.decoding import Answer, Span, best_span, best_spans
from modlayers.spans.offsets import MISSING_ANSWER_CONVENTIONS, char_span_to_token_span, token_span_to_char_span
from modlayers.spans.windows import decode_answers, decode_windows, encode_qa_windows

__all__ = [
    "Span",
    "Answer",
    "MISSING_ANSWER_CONVENTIONS",
    "best_spans",
    "best_span",
    "token_span_to_char_span",
    "char_span_to_token_span",
    "encode_qa_windows",
    "decode_windows",
    "decode_answers",
]
