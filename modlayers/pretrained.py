"""Put the kit's heads on a pretrained checkpoint.

The notebooks train tiny models offline. Online, the same heads work on any pretrained decoder from
the Hugging Face Hub (or a checkpoint folder on disk): the head mixin goes in front of the
architecture's ``PreTrainedModel`` class, exactly as in transformers::

    class MyClassifier(GenericForSequenceClassification, LlamaPreTrainedModel):
        pass

:func:`head_class` writes that class for whatever architecture a config names, and
:func:`load_pretrained_classifier` loads a checkpoint into it: the base model's weights come from the
checkpoint, the ``score`` layer starts fresh (transformers says so in a warning).
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import AutoConfig, AutoTokenizer, PretrainedConfig, PreTrainedModel
from transformers.models.auto.modeling_auto import MODEL_MAPPING

from modlayers.heads import GenericForSequenceClassification


def pretrained_base_class(config: PretrainedConfig) -> type[PreTrainedModel]:
    """The ``<Arch>PreTrainedModel`` class of ``config``'s architecture (``LlamaConfig`` -> ``LlamaPreTrainedModel``).

    Raises:
        ValueError: transformers has no base model registered for this config class.

    Example:
        >>> pretrained_base_class(LlamaConfig()).__name__  # doctest: +SKIP
        'LlamaPreTrainedModel'
    """
    try:
        base_model_class = MODEL_MAPPING[type(config)]
    except KeyError:
        raise ValueError(
            f"transformers has no base model (AutoModel) registered for {type(config).__name__}; the generic "
            "heads need one. Register it with AutoModel.register(ConfigClass, ModelClass) first."
        ) from None
    for cls in base_model_class.__mro__[1:]:
        if issubclass(cls, PreTrainedModel) and cls is not PreTrainedModel:
            return cls
    return base_model_class


def head_class(config: PretrainedConfig, head: type = GenericForSequenceClassification) -> type[PreTrainedModel]:
    """A model class: the ``head`` mixin on ``config``'s architecture, e.g. ``class _(head, LlamaPreTrainedModel)``.

    The class keeps the architecture's ``base_model_prefix`` (``"model"`` for Llama, ``"bert"`` for BERT),
    so checkpoint weights land where they belong.

    Args:
        config: the configuration of the base model (e.g. from ``AutoConfig.from_pretrained``).
        head: one of the kit's head mixins.

    Returns:
        The new class; build it with ``cls(config)`` or ``cls.from_pretrained(checkpoint, config=config)``.

    Example:
        >>> cls = head_class(LlamaConfig(num_labels=4))  # doctest: +SKIP
        >>> issubclass(cls, LlamaPreTrainedModel)  # doctest: +SKIP
        True
    """
    base = pretrained_base_class(config)
    architecture = base.__name__.removesuffix("PreTrainedModel")
    name = f"{head.__name__}On{architecture}"
    return type(name, (head, base), {"base_model_prefix": base.base_model_prefix, "__module__": __name__})


def load_pretrained_classifier(checkpoint: str, label_names: Sequence[str], **from_pretrained_kwargs):
    """Load a pretrained decoder with the kit's sequence classification head, and its tokenizer.

    A tokenizer without a pad token gets ``pad_token = eos_token``, the usual patch; the head then pools
    the last token that is not the end-of-sequence token (notebook 01, section 2, shows why).

    Args:
        checkpoint: a Hugging Face Hub id (needs the network) or a local folder from ``save_pretrained``.
        label_names: class names in label-id order; sets ``num_labels``, ``id2label`` and ``label2id``.
        **from_pretrained_kwargs: passed to ``from_pretrained`` (e.g. ``torch_dtype``).

    Returns:
        ``(tokenizer, model)``.

    Example:
        >>> tokenizer, model = load_pretrained_classifier("HuggingFaceTB/SmolLM2-135M", ["no", "yes"])  # doctest: +SKIP
    """
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    config = AutoConfig.from_pretrained(
        checkpoint,
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
        pad_token_id=tokenizer.pad_token_id,
    )
    model = head_class(config).from_pretrained(checkpoint, config=config, **from_pretrained_kwargs)
    return tokenizer, model
