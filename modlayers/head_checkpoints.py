"""Saving and loading a head's weights across the prefixes transformers uses.

A head keeps its base model under ``base_model_prefix``. transformers' own task classes
do not all use the architecture's prefix: ``LlamaForQuestionAnswering`` and
``Qwen2ForQuestionAnswering`` keep the base model under ``transformer``, their sequence and
token classifiers under ``model``. transformers' loader only adds or strips the class's
own prefix, so a checkpoint under another one loads *no* base weight, with a log line.

The functions here, called by the three heads, make that safe both ways:

- **loading** (``from_pretrained``, and ``load_state_dict`` as used by ``Trainer`` to resume):
  the base weights are found under any known prefix (the class's own, the architecture's,
  ``model``, ``transformer``, or bare base-model keys); a head that would start with no
  base-model weight from a checkpoint that has weights raises ``ValueError``;
- **saving** (``save_pretrained``): the base weights are written under the prefix of
  transformers' class for the same task and architecture (what ``AutoModelFor<Task>``
  loads), e.g. ``transformer.`` for a Llama QA head.

transformers' renaming hooks (``key_mapping``, ``_fix_state_dict_key_on_load``) do not cover
this on every supported release: 4.56 decides whether to add its prefix from the original keys
of the whole checkpoint, before any renaming, and then refuses a checkpoint with head weights but
no key under its prefix as "corrupted". The loader therefore lets transformers build the model
and load what it can, then reads the weights it left out from the checkpoint files itself. On 5.x, which renames
key by key, it passes transformers a ``key_mapping`` from the prefix the checkpoint uses to the head's own, so that
transformers loads every weight itself and its load report lists no weight as missing.
"""

from __future__ import annotations

import json
import re

import torch
from transformers import PreTrainedModel
from transformers.models.auto import modeling_auto
from transformers.utils import cached_file
from transformers.utils import logging

logger = logging.get_logger(__name__)

# Prefixes transformers' task classes keep a base model under, besides the architecture's own.
KNOWN_PREFIXES = ("model", "transformer")
_SAFE_WEIGHTS, _SAFE_INDEX = "model.safetensors", "model.safetensors.index.json"
_TORCH_WEIGHTS, _TORCH_INDEX = "pytorch_model.bin", "pytorch_model.bin.index.json"
_FILE_KWARGS = ("subfolder", "revision", "cache_dir", "token", "local_files_only")
# transformers 4.x decides from the original keys, for the whole checkpoint, whether to add its
# prefix; 5.x decides key by key after renaming (and has no _get_key_renaming_mapping).
_LOADER_PREFIXES_WHOLE_CHECKPOINT = hasattr(PreTrainedModel, "_get_key_renaming_mapping")
_UNPLACED = "unplaced_checkpoint_weight."


def architecture_prefix(cls: type) -> str:
    """The ``base_model_prefix`` of the first ``PreTrainedModel`` class after the head mixins in ``cls``'s MRO."""
    for klass in cls.__mro__[1:]:
        if "transformers_task_mapping" in klass.__dict__:  # one of the kit's head mixins
            continue
        prefix = klass.__dict__.get("base_model_prefix")
        if prefix:
            return prefix
    return "model"


def transformers_prefix(model) -> str | None:
    """The ``base_model_prefix`` of transformers' own class for ``model``'s task and architecture, if any.

    Example: a kit QA head on Llama -> ``"transformer"`` (``LlamaForQuestionAnswering``).
    """
    mapping_name = getattr(type(model), "transformers_task_mapping", None)
    if mapping_name is None:
        return None
    class_name = getattr(modeling_auto, mapping_name, {}).get(model.config.model_type)
    if not isinstance(class_name, str):
        return None
    import transformers

    upstream = getattr(transformers, class_name, None)
    return getattr(upstream, "base_model_prefix", None) or None


def rename_prefix(state_dict: dict, source: str, target: str, under: str = "") -> dict:
    """``state_dict`` with every key ``under + source + "."...`` renamed to ``under + target + "."...``."""
    old, new = f"{under}{source}.", f"{under}{target}."
    return {(new + key[len(old):] if key.startswith(old) else key): value for key, value in state_dict.items()}


def _checkpoint_files(path, kwargs: dict) -> list[str]:
    """Local paths of the weight files of a checkpoint (a folder or a Hub id), safetensors first."""
    file_kwargs = {key: kwargs[key] for key in _FILE_KWARGS if kwargs.get(key) is not None}
    for weights, index in ((_SAFE_WEIGHTS, _SAFE_INDEX), (_TORCH_WEIGHTS, _TORCH_INDEX)):
        single = cached_file(path, weights, _raise_exceptions_for_missing_entries=False, **file_kwargs)
        if single is not None:
            return [single]
        index_file = cached_file(path, index, _raise_exceptions_for_missing_entries=False, **file_kwargs)
        if index_file is not None:
            with open(index_file) as handle:
                shards = sorted(set(json.load(handle)["weight_map"].values()))
            return [cached_file(path, shard, **file_kwargs) for shard in shards]
    return []


def _read_keys(files: list[str]) -> list[str]:
    keys = []
    for file in files:
        if file.endswith(".safetensors"):
            from safetensors import safe_open

            with safe_open(file, framework="pt") as handle:
                keys.extend(handle.keys())
        else:
            keys.extend(torch.load(file, map_location="meta", weights_only=True))
    return keys


def _read_tensors(files: list[str], wanted: set[str]) -> dict[str, torch.Tensor]:
    tensors = {}
    for file in files:
        if file.endswith(".safetensors"):
            from safetensors import safe_open

            with safe_open(file, framework="pt") as handle:
                tensors.update({key: handle.get_tensor(key) for key in handle.keys() if key in wanted})
        else:
            loaded = torch.load(file, map_location="cpu", weights_only=True)
            tensors.update({key: value for key, value in loaded.items() if key in wanted})
    return tensors


def _prefixes_of(keys) -> list[str]:
    return sorted({key.split(".", 1)[0] for key in keys if "." in key})


def use_architecture_prefix(cls: type) -> None:
    """Give a head class that sets no ``base_model_prefix`` its architecture's (Llama: "model", BERT: "bert")."""
    if issubclass(cls, PreTrainedModel) and not getattr(cls, "base_model_prefix", ""):
        cls.base_model_prefix = architecture_prefix(cls)


def known_prefixes(model) -> list[str]:
    """Prefixes a checkpoint may keep ``model``'s base model under, its own first."""
    candidates = [model.base_model_prefix, architecture_prefix(type(model)), transformers_prefix(model), *KNOWN_PREFIXES]
    return list(dict.fromkeys(prefix for prefix in candidates if prefix))


def base_weights_under_own_prefix(model, state_dict, prefix, *args) -> None:
    """``load_state_dict`` pre-hook: rename base weights saved under another known prefix to ``model``'s own."""
    own = f"{prefix}{model.base_model_prefix}."
    if any(key.startswith(own) for key in state_dict):
        return
    for other in known_prefixes(model)[1:]:
        if any(key.startswith(f"{prefix}{other}.") for key in state_dict):
            renamed = rename_prefix(state_dict, other, model.base_model_prefix, under=prefix)
            state_dict.clear()
            state_dict.update(renamed)
            return


def register_prefix_hook(model) -> None:
    """Make ``model.load_state_dict`` take base weights saved under any known prefix (Trainer resumes with it).

    The hook is a module-level function that torch calls with the model (``with_module=True``), not a
    closure, so ``pickle`` and ``torch.save(model)`` can write the model.
    """
    model._register_load_state_dict_pre_hook(base_weights_under_own_prefix, with_module=True)


def with_transformers_prefix(model, save_kwargs: dict) -> dict:
    """``save_pretrained`` keywords that write the base weights under the prefix of transformers' class for
    the task (``transformer.`` for Llama and Qwen2 QA), so ``AutoModelFor<Task>`` loads them."""
    target = transformers_prefix(model)
    if target is None or target == model.base_model_prefix:
        return save_kwargs
    state_dict = save_kwargs.pop("state_dict", None)
    state_dict = model.state_dict() if state_dict is None else state_dict
    return {**save_kwargs, "state_dict": rename_prefix(state_dict, model.base_model_prefix, target)}


def load_under_any_prefix(cls, load, pretrained_model_name_or_path, *args, **kwargs):
    """transformers' ``from_pretrained`` (``load``), finding the base weights under any known prefix.

    Raises:
        ValueError: the checkpoint has weights, but none of them is a weight of this head's
            base model under a known prefix (the head would start from random weights).
    """
    output_loading_info = kwargs.pop("output_loading_info", False)
    path = pretrained_model_name_or_path
    files, checkpoint_keys, hidden = None, None, False
    if path is not None and _LOADER_PREFIXES_WHOLE_CHECKPOINT and "key_mapping" not in kwargs:
        files = _checkpoint_files(path, kwargs)
        checkpoint_keys = _read_keys(files)
        own = f"{cls.base_model_prefix}."
        # transformers 4.x would prefix every key (head keys too) and refuse the checkpoint as
        # "corrupted": let it build the model and load nothing, then load every weight here.
        hidden = bool(checkpoint_keys) and not any(key.startswith(own) for key in checkpoint_keys)
        if hidden:
            kwargs["key_mapping"] = {"^": _UNPLACED}
    elif path is not None and "key_mapping" not in kwargs:
        # transformers 5.x renames key by key: point it at the prefix the base weights sit under, so it loads
        # them itself and its load report says what really happened (not "MISSING ... newly initialized")
        files = _checkpoint_files(path, kwargs)
        checkpoint_keys = _read_keys(files)
        mapping = _base_prefix_mapping(cls, checkpoint_keys)
        if mapping:
            kwargs["key_mapping"] = mapping
    verbosity = logging.get_verbosity()
    if hidden:
        logging.set_verbosity_error()  # its "weights not used" list would name the hidden keys
    try:
        model, info = load(path, *args, output_loading_info=True, **kwargs)
    finally:
        logging.set_verbosity(verbosity)
    missing = set(info["missing_keys"])
    if hidden:
        missing = set(model.state_dict())
    prefix = model.base_model_prefix
    base_keys = {key for key in model.state_dict() if key.startswith(f"{prefix}.")}
    if path is not None and (hidden or (base_keys and base_keys <= missing)):
        if files is None:
            files = _checkpoint_files(path, kwargs)
            checkpoint_keys = _read_keys(files)
        loaded, used = _load_from_files(model, files, checkpoint_keys, missing, path)
        # The same container transformers gives (a set in 5.x, a list in 4.x), as its own tests expect.
        info["missing_keys"] = _like(info["missing_keys"], missing - loaded)
        unexpected = set(checkpoint_keys) if hidden else set(info["unexpected_keys"])
        info["unexpected_keys"] = _like(info["unexpected_keys"], unexpected - used)
        if info["missing_keys"]:
            logger.warning(f"Some weights of {cls.__name__} were not in {path!r}: {sorted(info['missing_keys'])[:10]}")
    return (model, info) if output_loading_info else model


def _base_prefix_mapping(cls, checkpoint_keys: list[str]) -> dict[str, str] | None:
    """``{"^transformer\\.": "model."}`` when no checkpoint key is under ``cls``'s own prefix and another known
    prefix (the architecture's, ``model``, ``transformer``) holds keys; the one holding the most wins."""
    own = cls.base_model_prefix
    if not checkpoint_keys or any(key.startswith(f"{own}.") for key in checkpoint_keys):
        return None
    hits = {other: sum(key.startswith(f"{other}.") for key in checkpoint_keys)
            for other in dict.fromkeys([architecture_prefix(cls), *KNOWN_PREFIXES]) if other != own}
    best = max(hits, key=hits.get, default=None)
    return {f"^{re.escape(best)}\\.": f"{own}."} if best is not None and hits[best] else None


def _like(original, keys: set[str]):
    """``keys`` as a set if transformers gave ``original`` as a set, else as a sorted list."""
    return set(keys) if isinstance(original, (set, frozenset)) else sorted(keys)


def _load_from_files(model, files, checkpoint_keys, missing: set[str], path) -> tuple[set[str], set[str]]:
    """Load the missing weights transformers left out: the head's by name, the base model's from the
    known prefix that holds the most of them. Return (model keys loaded, checkpoint keys used)."""
    own = model.base_model_prefix
    base = getattr(model, own)
    base_names = set(base.state_dict())
    wanted = {}  # checkpoint key -> model key
    for key in checkpoint_keys:  # head weights keep their names in every layout
        if key in missing and not key.startswith(f"{own}."):
            wanted[key] = key
    if {f"{own}.{name}" for name in base_names} <= missing:
        best, best_hits = None, 0
        for candidate in [*known_prefixes(model), ""]:  # "" = bare base-model keys
            start = f"{candidate}." if candidate else ""
            hits = sum(1 for key in checkpoint_keys if key.startswith(start) and key[len(start):] in base_names)
            if hits > best_hits:
                best, best_hits = candidate, hits
        if best is None:
            head_names = {key for key in model.state_dict() if not key.startswith(f"{own}.")}
            foreign = [key for key in checkpoint_keys if key not in head_names]
            if foreign:
                raise ValueError(
                    f"{type(model).__name__} would start with random base-model weights: none of the "
                    f"{len(base_names)} weights of its base model ({type(base).__name__}, under '{own}.') is in "
                    f"{str(path)!r}, whose weights sit under the prefixes {_prefixes_of(foreign)[:8]}. The kit reads "
                    f"the prefixes {known_prefixes(model)} and bare base-model keys. Check that the checkpoint "
                    "is of the same architecture, or set base_model_prefix on your class to its prefix."
                )
        else:
            start = f"{best}." if best else ""
            for key in checkpoint_keys:
                if key.startswith(start) and key[len(start):] in base_names:
                    wanted[key] = f"{own}.{key[len(start):]}"
            logger.info(f"{type(model).__name__}: base-model weights read from under '{start or '(bare keys)'}'.")
    tensors = {wanted[key]: value for key, value in _read_tensors(files, set(wanted)).items()}
    with torch.no_grad():
        model.load_state_dict(tensors, strict=False)
    return set(tensors), set(wanted)
