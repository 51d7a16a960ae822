"""Calling the wrapped base model the same way on every supported transformers release.

The KV cache keyword is ``past_key_values`` in transformers 4.56 to 5.2x and
``cache`` in the newest releases, on model inputs and on output classes alike.
Encoders (BERT) and decoders (Llama) also name different optional inputs. The heads
therefore look at the base model's ``forward`` signature and pass each keyword
only where that signature names it.
"""

import dataclasses
import functools
import inspect

from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPast

CACHE_KEYWORDS = ("cache", "past_key_values")


@functools.lru_cache(maxsize=None)
def _forward_parameters(model_class: type) -> frozenset[str]:
    return frozenset(inspect.signature(model_class.forward).parameters) - {"self"}


def output_cache_field() -> str:
    """Name of the cache field on transformers' output classes in the installed release."""
    fields = {field.name for field in dataclasses.fields(BaseModelOutputWithPast)}
    return "cache" if "cache" in fields else "past_key_values"


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
    only if it has a value (then the base model's ``**kwargs`` may take it), so
    ``use_cache=None`` never reaches a model that has no such input.

    Returns:
        The base model's output (a ``ModelOutput``).

    Raises:
        TypeError: a cache was given but the base model takes no cache.
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
    if "return_dict" in accepted:
        keywords["return_dict"] = True  # the heads read fields by name
    return base_model(input_ids, **keywords)
