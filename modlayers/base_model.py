"""Calling the wrapped base model the same way on every supported transformers release.

The KV cache keyword is ``past_key_values`` in transformers 4.56 to 5.2x and
``cache`` in the newest releases, on model inputs and on output classes alike.
Encoders (BERT) and decoders (Llama) also name different optional inputs. The heads
therefore look at the base model's ``forward`` signature and pass each keyword
only where that signature names it.

Two more things every head needs from its base model:

- :func:`build_base_model` builds it without the parts no head uses (BERT's pooler), so
  every parameter gets a gradient and plain ``DistributedDataParallel`` works;
- :func:`pop_loss_kwargs` takes the keywords meant for the loss (``num_items_in_batch``,
  passed by transformers' ``Trainer``) out before the rest goes to the base model.
"""

import dataclasses
import inspect

from torch import nn
from transformers import AutoModel
from transformers.modeling_outputs import BaseModelOutputWithPast
from transformers.models.auto.modeling_auto import MODEL_MAPPING

CACHE_KEYWORDS = ("cache", "past_key_values")
# Keywords for the loss, never for the base model. Trainer passes num_items_in_batch to
# any model whose forward takes **kwargs (or that sets accepts_loss_kwargs = True).
LOSS_KEYWORDS = ("num_items_in_batch",)
# Parts of a base model that none of the three heads reads: BERT-like encoders build a
# pooler (a dense layer on the first token) unless told add_pooling_layer=False.
UNUSED_PART_SWITCHES = {"add_pooling_layer": False}


def build_base_model(config) -> nn.Module:
    """``AutoModel.from_config(config)`` without the parts the heads never use.

    Where the architecture's model class takes ``add_pooling_layer`` (BERT, RoBERTa,
    ELECTRA-like encoders), it is built with ``add_pooling_layer=False``, as
    transformers' own ``BertForTokenClassification`` and ``BertForQuestionAnswering`` do.
    A pooler that never runs gets no gradient: DistributedDataParallel then stops
    averaging gradients (ranks silently diverge) and fails at the next step.

    Example:
        >>> "pooler" in dict(build_base_model(BertConfig()).named_children())  # doctest: +SKIP
        False
    """
    try:
        model_class = MODEL_MAPPING[type(config)]
    except KeyError:
        model_class = None
    switches = {}
    if model_class is not None:
        accepted = inspect.signature(model_class.__init__).parameters
        switches = {name: value for name, value in UNUSED_PART_SWITCHES.items() if name in accepted}
    return AutoModel.from_config(config, **switches)


def pop_loss_kwargs(kwargs: dict) -> dict:
    """Remove the loss keywords from ``kwargs`` (in place) and return them.

    Example:
        >>> kwargs = {"num_items_in_batch": 8, "output_attentions": True}
        >>> pop_loss_kwargs(kwargs), kwargs
        ({'num_items_in_batch': 8}, {'output_attentions': True})
    """
    return {name: kwargs.pop(name) for name in LOSS_KEYWORDS if name in kwargs}


# forward's keyword names, and whether it takes **kwargs, per base model class. A plain dict
# (not functools.lru_cache, which torch.compile would trace through with a warning).
_SIGNATURES: dict[type, tuple[frozenset[str], bool]] = {}


def _signature_of(model_class: type) -> tuple[frozenset[str], bool]:
    if model_class not in _SIGNATURES:
        parameters = inspect.signature(model_class.forward).parameters
        names = frozenset(parameters) - {"self"}
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        _SIGNATURES[model_class] = (names, takes_any)
    return _SIGNATURES[model_class]


def _forward_parameters(model_class: type) -> frozenset[str]:
    return _signature_of(model_class)[0]


def _forward_takes_any_keyword(model_class: type) -> bool:
    return _signature_of(model_class)[1]


# Read once at import: inside torch.compile a dataclass' fields cannot be inspected.
_OUTPUT_CACHE_FIELD = "cache" if "cache" in {f.name for f in dataclasses.fields(BaseModelOutputWithPast)} else "past_key_values"


def output_cache_field() -> str:
    """Name of the cache field on transformers' output classes in the installed release."""
    return _OUTPUT_CACHE_FIELD


def cache_of(outputs) -> object:
    """The cache a base model returned, whatever the installed release calls it."""
    for name in CACHE_KEYWORDS:
        if name in outputs.keys():
            return outputs[name]
    return None


def call_base_model(base_model: nn.Module, input_ids, cache=None, **optional):
    """Run ``base_model`` with the keywords its ``forward`` accepts.

    ``input_ids`` goes positionally, as upstream passes it. ``cache`` is passed
    under whichever cache keyword the signature names. Each other keyword is passed
    when the signature names it; a keyword the signature does not name is passed
    only if it has a value and the base model's ``forward`` takes ``**kwargs``, so
    ``use_cache=None`` never reaches a model that has no such input.

    Returns:
        The base model's output (a ``ModelOutput``).

    Raises:
        TypeError: a cache was given but the base model takes no cache; a keyword with a
            value that the base model's ``forward`` neither names nor takes as ``**kwargs``.
    """
    accepted = _forward_parameters(type(base_model))
    if cache is not None:
        name = next((n for n in CACHE_KEYWORDS if n in accepted), None)
        if name is None:
            raise TypeError(f"{type(base_model).__name__}.forward takes no KV cache, but one was given.")
        optional[name] = cache
    elif "cache" in accepted:
        optional["cache"] = None
    elif "past_key_values" in accepted:
        optional["past_key_values"] = None
    keywords = {key: value for key, value in optional.items() if key in accepted or value is not None}
    unknown = sorted(key for key in keywords if key not in accepted)
    if unknown and not _forward_takes_any_keyword(type(base_model)):
        raise TypeError(
            f"{type(base_model).__name__}.forward takes no keyword argument(s) {unknown}; it accepts "
            f"{sorted(accepted)}. Remove them from the call."
        )
    if "return_dict" in accepted:
        keywords["return_dict"] = True  # the heads read fields by name
    return base_model(input_ids, **keywords)
