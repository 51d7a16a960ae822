"""The three generic task heads, as mixins for any ``PreTrainedModel``.

Use them exactly like transformers' own::

    class MyClassifier(GenericForSequenceClassification, LlamaPreTrainedModel):
        pass

Each head builds the base model with ``AutoModel.from_config(config)`` (without parts
no head uses, such as BERT's pooler: :func:`modlayers.base_model.build_base_model`) under
``base_model_prefix`` (the architecture's own, e.g. ``"model"`` for Llama and ``"bert"`` for
BERT, unless the subclass sets another), adds one linear layer and calls ``post_init()``.
Checkpoints load and save across transformers' prefixes (:mod:`modlayers.head_checkpoints`).

What differs from upstream, on purpose:
    - the loss follows ``config.problem_type`` and the labels, never the class name;
    - the config is never modified (the inferred problem type is not written back);
    - bad input raises a ValueError/TypeError before the base model runs (value checks
      are skipped inside ``torch.compile``, so ``fullgraph=True`` works);
    - a loss with nothing to learn from is 0.0, not NaN (see :mod:`modlayers.losses`);
    - ``num_items_in_batch`` (from ``Trainer``) divides the summed loss, so gradient
      accumulation and several processes give the full-batch gradient; it never reaches
      the base model;
    - the sequence head pools from the attention mask when it has one (``inputs_embeds``,
      no pad id, ``pad_token = eos_token``) and refuses a pad id that contradicts the mask;
    - every loss is computed in float32 whatever the logits' dtype;
    - the QA head takes ``return_loss=True``, so ``Trainer`` evaluates its loss whatever
      the class is called.
"""

import torch
from torch import nn
from transformers.modeling_outputs import (
    QuestionAnsweringModelOutput,
    SequenceClassifierOutputWithPast,
    TokenClassifierOutput,
)
from transformers.utils import logging

from modlayers.base_model import build_base_model, cache_of, call_base_model, output_cache_field, pop_loss_kwargs
from modlayers.head_checkpoints import load_under_any_prefix, register_prefix_hook, use_architecture_prefix, with_transformers_prefix
from modlayers.losses import (
    check_sequence_classification_labels,
    check_span_positions,
    check_token_labels,
    infer_problem_type,
    question_answering_loss,
    sequence_classification_loss,
    token_classification_loss,
)
from modlayers.pooling import last_token_index, pool_at, rows_ending_in_kept_pads

logger = logging.get_logger(__name__)


# ---------------------------------------------------------------- input checks shared by the heads


def check_model_inputs(input_ids, inputs_embeds, attention_mask, has_cache: bool = False) -> tuple[int, int]:
    """Validate what every head passes to its base model; return ``(batch_size, seq_len)``.

    Raises:
        ValueError: both or neither of ``input_ids`` / ``inputs_embeds``; wrong number of
            dimensions; an ``attention_mask`` whose shape does not match the inputs.
        TypeError: a non-tensor, or ``input_ids`` that are not integers.
    """
    if (input_ids is None) == (inputs_embeds is None):
        given = "both" if input_ids is not None else "neither"
        raise ValueError(
            f"Pass exactly one of input_ids (token ids, (batch, seq_len)) or inputs_embeds "
            f"((batch, seq_len, hidden)); got {given}."
        )
    if input_ids is not None:
        if not isinstance(input_ids, torch.Tensor):
            raise TypeError(f"input_ids must be a torch.Tensor, got {type(input_ids).__name__}.")
        if input_ids.is_floating_point() or input_ids.is_complex() or input_ids.dtype == torch.bool:
            raise TypeError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}.")
        if input_ids.dim() != 2:
            raise ValueError(
                f"input_ids must have shape (batch, seq_len), got {tuple(input_ids.shape)}. "
                "For one sequence add a batch dimension: input_ids.unsqueeze(0)."
            )
        batch_size, seq_len = input_ids.shape
    else:
        if not isinstance(inputs_embeds, torch.Tensor):
            raise TypeError(f"inputs_embeds must be a torch.Tensor, got {type(inputs_embeds).__name__}.")
        if inputs_embeds.dim() != 3:
            raise ValueError(f"inputs_embeds must have shape (batch, seq_len, hidden), got {tuple(inputs_embeds.shape)}.")
        batch_size, seq_len = inputs_embeds.shape[:2]

    if attention_mask is not None:
        if not isinstance(attention_mask, torch.Tensor):
            raise TypeError(f"attention_mask must be a torch.Tensor, got {type(attention_mask).__name__}.")
        shape = tuple(attention_mask.shape)
        # With a cache the mask also covers the cached positions, so it may be longer.
        fits = len(shape) == 2 and shape[0] == batch_size and (shape[1] == seq_len or (has_cache and shape[1] > seq_len))
        # A prepared 4-D mask: (batch, 1 or heads, query_len, key_len).
        fits = fits or (len(shape) == 4 and shape[0] == batch_size and shape[2] == seq_len)
        if not fits:
            raise ValueError(
                f"attention_mask must have shape ({batch_size}, {seq_len}) to match the inputs (1 = token, "
                f"0 = padding), got {shape}."
            )
    return batch_size, seq_len


def _one_cache(past_key_values, cache):
    if past_key_values is not None and cache is not None:
        raise ValueError("Pass the KV cache as either past_key_values or cache, not both.")
    return cache if cache is not None else past_key_values


def _finish(self, output, return_dict):
    """Return the typed output, or a tuple of its non-None fields when asked (as upstream)."""
    if return_dict is None:
        return_dict = getattr(self.config, "return_dict", True)
    return output if return_dict else output.to_tuple()


# ---------------------------------------------------------------- sequence classification


class GenericForSequenceClassification:
    """Score every token, keep the score of the last non-pad token (left or right padding).

    Adds ``score = nn.Linear(hidden, num_labels, bias=False)``. The loss follows
    ``config.problem_type`` (regression: MSE; single label: cross-entropy ignoring -100;
    multi label: BCE with logits), inferred like transformers when unset.

    Pooling (:func:`modlayers.pooling.last_token_index`): with an ``attention_mask``, the last
    position it keeps, for ``input_ids`` and ``inputs_embeds`` alike (PEFT's prompt tuning passes
    only ``inputs_embeds``), also when the pad token is a real token (``pad_token = eos_token``).
    Without a mask, the rightmost token that is not ``pad_token_id``, as transformers does. A row
    that is all padding raises. With neither, a batch of one uses its last token and a larger
    batch raises; ``inputs_embeds`` without a mask pools the last position (a warning is logged once).

    A mask that contradicts ``config.pad_token_id`` (a position it marks as padding holds another
    token: the tokenizer pads with another id) raises a ``ValueError`` naming both ids and the fix,
    rather than pooling from the mask with a warning: the pooling of this call would be right, but
    the config is saved with the model, and wherever no mask is given (transformers' own classes,
    which always read the pad id; a pipeline) the saved model would silently pool a pad. A warning
    is easily lost in a training log; the fix is one line. Like every value check it runs in eager
    mode only, not while ``torch.compile`` traces.

    Example:
        >>> class MyClassifier(GenericForSequenceClassification, LlamaPreTrainedModel):
        ...     pass
        >>> out = MyClassifier(config)(input_ids, attention_mask=mask, labels=labels)
        >>> out.logits.shape  # (batch, num_labels)
    """

    accepts_loss_kwargs = True  # Trainer then passes num_items_in_batch, which the loss uses
    transformers_task_mapping = "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES"  # transformers' classes for this task, by model type

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        use_architecture_prefix(cls)

    def __init__(self, config):
        super().__init__(config)
        self.loss_type = "ForSequenceClassification"  # not guessed from the class name (Trainer reads it)
        self.num_labels = config.num_labels
        setattr(self, self.base_model_prefix, build_base_model(config))
        self.score = nn.Linear(config.get_text_config().hidden_size, self.num_labels, bias=False)
        self.post_init()
        register_prefix_hook(self)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """transformers' ``from_pretrained``; finds the base weights under any known prefix, raises if none
        would load (see :mod:`modlayers.head_checkpoints`)."""
        return load_under_any_prefix(cls, super().from_pretrained, pretrained_model_name_or_path, *args, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """transformers' ``save_pretrained``, the base weights under the prefix of transformers' class for the task."""
        return super().save_pretrained(save_directory, *args, **with_transformers_prefix(self, kwargs))

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values=None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.Tensor | None = None,
        use_cache: bool | None = None,
        return_dict: bool | None = None,
        cache=None,
        **kwargs,
    ) -> SequenceClassifierOutputWithPast:
        cache = _one_cache(past_key_values, cache)
        loss_kwargs = pop_loss_kwargs(kwargs)  # for the loss only, never for the base model
        batch_size, seq_len = check_model_inputs(input_ids, inputs_embeds, attention_mask, has_cache=cache is not None)
        problem_type = None
        if labels is not None:
            problem_type = self.config.problem_type or infer_problem_type(self.num_labels, labels)
            check_sequence_classification_labels(labels, problem_type, self.num_labels, batch_size)

        pad_token_id = self.config.get_text_config().pad_token_id
        reads_mask = attention_mask is not None and attention_mask.dim() == 2
        if pad_token_id is None and batch_size != 1 and not reads_mask:
            raise ValueError(
                f"Cannot find the last real token of {batch_size} sequences without a pad token: "
                "config.pad_token_id is None and no attention_mask was given. Pass the attention_mask, set "
                "config.pad_token_id (e.g. to the tokenizer's pad token id) or classify one sequence at a time."
            )
        # (batch,) positions, or -1 for the last position of every row; raises if the mask and the pad id disagree.
        last_token = last_token_index(input_ids, attention_mask, pad_token_id, seq_len)
        if reads_mask and input_ids is not None and pad_token_id is not None and not torch.compiler.is_compiling():
            # once per model class and pad id (warning_once keys on the text): not once per batch
            if rows_ending_in_kept_pads(input_ids, attention_mask[:, -seq_len:], pad_token_id):
                logger.warning_once(
                    f"attention_mask keeps two or more pad tokens (id {pad_token_id}) at the end of a row, so "
                    f"{self.__class__.__name__} pools a pad there: it trusts the mask. If those positions are "
                    "padding, pass the tokenizer's attention_mask (not one of all ones)."
                )
        if input_ids is None and not reads_mask and not torch.compiler.is_compiling():
            logger.warning_once(
                f"{self.__class__.__name__} cannot see padding in inputs_embeds without an attention_mask, so it "
                "pools the last position of every row. Pass the attention_mask if rows are padded."
            )

        outputs = call_base_model(
            getattr(self, self.base_model_prefix),
            input_ids,
            cache=cache,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state  # (batch, seq_len, hidden)
        logits = self.score(hidden_states)  # (batch, seq_len, num_labels)
        pooled_logits = pool_at(logits, last_token)  # (batch, num_labels)

        loss = None
        if labels is not None:
            loss = sequence_classification_loss(pooled_logits, labels, problem_type, self.num_labels, **loss_kwargs)

        output = SequenceClassifierOutputWithPast(
            loss=loss,
            logits=pooled_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            **{output_cache_field(): cache_of(outputs)},
        )
        return _finish(self, output, return_dict)


# ---------------------------------------------------------------- question answering


class GenericForQuestionAnswering:
    """Extractive QA: two logits per token, where the answer starts and where it ends.

    Adds ``qa_outputs = nn.Linear(hidden, 2)``. ``start_logits`` and ``end_logits`` are
    ``(batch, seq_len)`` and contiguous. The loss is the mean of the start and end
    cross-entropies; positions at or past ``seq_len`` (answer outside this window) are
    ignored, negative positions raise, and a batch with no answer inside the window
    has loss 0.0.

    Example:
        >>> class MyReader(GenericForQuestionAnswering, LlamaPreTrainedModel):
        ...     pass
        >>> out = MyReader(config)(input_ids, start_positions=starts, end_positions=ends)
        >>> out.start_logits.shape  # (batch, seq_len)
    """

    accepts_loss_kwargs = True  # Trainer then passes num_items_in_batch, which the loss uses
    transformers_task_mapping = "MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES"  # transformers' classes for this task, by model type

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        use_architecture_prefix(cls)

    def __init__(self, config):
        super().__init__(config)
        self.loss_type = "ForQuestionAnswering"
        setattr(self, self.base_model_prefix, build_base_model(config))
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.post_init()
        register_prefix_hook(self)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """transformers' ``from_pretrained``; finds the base weights under any known prefix, raises if none
        would load (see :mod:`modlayers.head_checkpoints`)."""
        return load_under_any_prefix(cls, super().from_pretrained, pretrained_model_name_or_path, *args, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """transformers' ``save_pretrained``, the base weights under the prefix of transformers' class for the task."""
        return super().save_pretrained(save_directory, *args, **with_transformers_prefix(self, kwargs))

    def get_input_embeddings(self):
        return getattr(self, self.base_model_prefix).get_input_embeddings()

    def set_input_embeddings(self, value):
        getattr(self, self.base_model_prefix).set_input_embeddings(value)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values=None,
        inputs_embeds: torch.FloatTensor | None = None,
        start_positions: torch.LongTensor | None = None,
        end_positions: torch.LongTensor | None = None,
        return_dict: bool | None = None,
        cache=None,
        return_loss: bool = True,
        **kwargs,
    ) -> QuestionAnsweringModelOutput:
        """``return_loss=True`` (its default) tells transformers' ``Trainer`` that this model returns a loss
        from its inputs: ``Trainer`` looks for ``start_positions``/``end_positions`` only in classes whose
        name contains "QuestionAnswering", so without it ``evaluate()`` of a head named ``MyReader`` gives no
        ``eval_loss``. ``return_loss=False`` leaves the loss out even when positions are given."""
        cache = _one_cache(past_key_values, cache)
        loss_kwargs = pop_loss_kwargs(kwargs)  # for the loss only, never for the base model
        batch_size, _ = check_model_inputs(input_ids, inputs_embeds, attention_mask, has_cache=cache is not None)
        check_span_positions(start_positions, end_positions, batch_size)

        outputs = call_base_model(
            getattr(self, self.base_model_prefix),
            input_ids,
            cache=cache,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            **kwargs,
        )
        sequence_output = outputs.last_hidden_state  # (batch, seq_len, hidden)
        logits = self.qa_outputs(sequence_output)  # (batch, seq_len, 2)
        start_logits, end_logits = logits.split(1, dim=-1)  # 2 x (batch, seq_len, 1)
        start_logits = start_logits.squeeze(-1).contiguous()  # (batch, seq_len)
        end_logits = end_logits.squeeze(-1).contiguous()  # (batch, seq_len)

        loss = None
        if start_positions is not None and return_loss:
            loss = question_answering_loss(start_logits, end_logits, start_positions, end_positions, **loss_kwargs)

        output = QuestionAnsweringModelOutput(
            loss=loss,
            start_logits=start_logits,
            end_logits=end_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return _finish(self, output, return_dict)


# ---------------------------------------------------------------- token classification


class GenericForTokenClassification:
    """One label per token (named entities, part of speech), loss ignoring -100.

    Adds dropout (``config.classifier_dropout``, else ``config.hidden_dropout``, else
    0.1) and ``score = nn.Linear(hidden, num_labels)`` with a bias. The cross-entropy is
    computed in float32 over the tokens whose label is not -100.

    Example:
        >>> class MyTagger(GenericForTokenClassification, LlamaPreTrainedModel):
        ...     pass
        >>> out = MyTagger(config)(input_ids, labels=token_labels)
        >>> out.logits.shape  # (batch, seq_len, num_labels)
    """

    accepts_loss_kwargs = True  # Trainer then passes num_items_in_batch, which the loss uses
    transformers_task_mapping = "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES"  # transformers' classes for this task, by model type

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        use_architecture_prefix(cls)

    def __init__(self, config):
        super().__init__(config)
        self.loss_type = "ForTokenClassification"
        self.num_labels = config.num_labels
        setattr(self, self.base_model_prefix, build_base_model(config))
        if getattr(config, "classifier_dropout", None) is not None:
            classifier_dropout = config.classifier_dropout
        elif getattr(config, "hidden_dropout", None) is not None:
            classifier_dropout = config.hidden_dropout
        else:
            classifier_dropout = 0.1
        self.dropout = nn.Dropout(classifier_dropout)
        self.score = nn.Linear(
            config.get_text_config().hidden_size,
            config.num_labels,
            bias=getattr(config, "token_classification_bias", True),
        )
        self.post_init()
        register_prefix_hook(self)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """transformers' ``from_pretrained``; finds the base weights under any known prefix, raises if none
        would load (see :mod:`modlayers.head_checkpoints`)."""
        return load_under_any_prefix(cls, super().from_pretrained, pretrained_model_name_or_path, *args, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """transformers' ``save_pretrained``, the base weights under the prefix of transformers' class for the task."""
        return super().save_pretrained(save_directory, *args, **with_transformers_prefix(self, kwargs))

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values=None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        return_dict: bool | None = None,
        cache=None,
        **kwargs,
    ) -> TokenClassifierOutput:
        cache = _one_cache(past_key_values, cache)
        loss_kwargs = pop_loss_kwargs(kwargs)  # for the loss only, never for the base model
        batch_size, seq_len = check_model_inputs(input_ids, inputs_embeds, attention_mask, has_cache=cache is not None)
        if labels is not None:
            check_token_labels(labels, self.num_labels, batch_size, seq_len)

        outputs = call_base_model(
            getattr(self, self.base_model_prefix),
            input_ids,
            cache=cache,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        sequence_output = self.dropout(outputs.last_hidden_state)  # (batch, seq_len, hidden)
        logits = self.score(sequence_output)  # (batch, seq_len, num_labels)

        loss = None
        if labels is not None:
            loss = token_classification_loss(logits, labels, self.num_labels, **loss_kwargs)

        output = TokenClassifierOutput(
            loss=loss,
            logits=logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return _finish(self, output, return_dict)
