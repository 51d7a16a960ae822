"""The kit's datasets and tokenizer, loaded from the repository's ``data/`` folder.

Three small datasets written for the kit (see ``data/README.md``, the datasheet) and a WordPiece
tokenizer trained on them:

- :func:`load_classification` -- short sentences and their topic (:data:`CLASSIFICATION_LABELS`);
- :func:`load_qa` -- context, question, answer text and its character offset;
- :func:`load_tagging` -- words with BIO tags (:data:`TAGGING_LABELS`);
- :func:`load_tokenizer` -- a ``transformers`` fast tokenizer, with offsets and ``word_ids()``.

Everything is read from disk; nothing is downloaded. The data lives next to the package in the
repository (``<repository>/data``), so a kit installed from the repository with ``pip install -e .``
finds it; a kit installed without the repository does not (the error says what to do).
"""

from __future__ import annotations

import json
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SPLITS = ("train", "validation")

CLASSIFICATION_LABELS = ["sports", "cooking", "weather", "technology"]
"""Topics of the classification sentences; a record's ``label`` is an index into this list."""

ENTITY_TYPES = ["PER", "ORG", "LOC", "DATE"]
"""Entity types of the tagging data: people, organisations, locations, dates."""

TAGGING_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-DATE", "I-DATE"]
"""BIO tag names of the tagging data, in label-id order (use as ``config.id2label``)."""

SPECIAL_TOKENS = {
    "pad_token": "[PAD]",
    "unk_token": "[UNK]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}


def data_dir() -> Path:
    """The folder holding the kit's data: ``<repository>/data``.

    Raises:
        FileNotFoundError: the folder is missing, which happens when the kit was installed without its
            repository (e.g. ``pip install modlayers`` from an index). The message says how to fix it.

    Example:
        >>> (data_dir() / "README.md").exists()
        True
    """
    if not (DATA_DIR / "README.md").is_file():
        raise FileNotFoundError(
            f"The kit's data folder was not found at {DATA_DIR}. The datasets and the tokenizer ship with "
            "the repository, not with the installed package. Clone the repository and install it from there:\n"
            "    git clone https://github.com/modlayers/modlayers\n"
            "    pip install -e modlayers\n"
            "or regenerate the data into that folder with `python -m modlayers.datasets_generator --out "
            f"{DATA_DIR}`."
        )
    return DATA_DIR


def _read_jsonl(dataset: str, split: str) -> list[dict]:
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r} for the {dataset} data; choose one of {list(SPLITS)}.")
    path = data_dir() / dataset / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; regenerate the data with `python -m modlayers.datasets_generator`.")
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_classification(split: str = "train") -> list[dict]:
    """Sentences and their topic.

    Args:
        split: ``"train"`` (1,280 sentences) or ``"validation"`` (320).

    Returns:
        A list of dicts ``{"id": str, "text": str, "label": int, "label_name": str}``; ``label`` indexes
        :data:`CLASSIFICATION_LABELS` (``label_name`` is the same topic as a word).

    Raises:
        ValueError: unknown ``split``.
        FileNotFoundError: the data folder is missing (see :func:`data_dir`).

    Example:
        >>> example = load_classification("validation")[0]
        >>> CLASSIFICATION_LABELS[example["label"]] == example["label_name"]
        True
    """
    records = _read_jsonl("classification", split)
    return [
        {"id": r["id"], "text": r["text"], "label": CLASSIFICATION_LABELS.index(r["label"]), "label_name": r["label"]}
        for r in records
    ]


def load_qa(split: str = "train") -> list[dict]:
    """Extractive question answering: the answer is a stretch of the context.

    Args:
        split: ``"train"`` (480 examples) or ``"validation"`` (120).

    Returns:
        A list of dicts ``{"id", "context", "question", "answer_text", "answer_start"}``, where
        ``context[answer_start : answer_start + len(answer_text)] == answer_text`` (character offsets).
        Many contexts are longer than 128 tokens, and many answers sit near their end.

    Raises:
        ValueError: unknown ``split``.
        FileNotFoundError: the data folder is missing (see :func:`data_dir`).

    Example:
        >>> r = load_qa("validation")[0]
        >>> r["context"][r["answer_start"]:][: len(r["answer_text"])] == r["answer_text"]
        True
    """
    return _read_jsonl("qa", split)


def load_tagging(split: str = "train") -> list[dict]:
    """Sentences split into words, with one BIO tag per word.

    Args:
        split: ``"train"`` (560 sentences) or ``"validation"`` (140).

    Returns:
        A list of dicts ``{"id": str, "words": list[str], "tags": list[str]}`` with
        ``len(words) == len(tags)``; the tags are names from :data:`TAGGING_LABELS`
        (``TAGGING_LABELS.index(tag)`` is the label id).

    Raises:
        ValueError: unknown ``split``.
        FileNotFoundError: the data folder is missing (see :func:`data_dir`).

    Example:
        >>> r = load_tagging("validation")[0]
        >>> len(r["words"]) == len(r["tags"])
        True
    """
    return _read_jsonl("tagging", split)


def load_tokenizer(padding_side: str = "right"):
    """The kit's WordPiece tokenizer as a ``transformers`` fast tokenizer.

    Cased, 1000 tokens, special tokens ``[PAD]`` (id 0) ``[UNK]`` ``[CLS]`` ``[SEP]`` ``[MASK]``. One text
    becomes ``[CLS] text [SEP]``; a pair (question, context) becomes ``[CLS] question [SEP] context
    [SEP]``. Being a fast tokenizer it returns character offsets (``return_offsets_mapping=True``) and
    ``word_ids()``. It returns ``input_ids`` and ``attention_mask`` (ask for token type ids with
    ``return_token_type_ids=True``).

    Args:
        padding_side: ``"right"`` (pads after the text) or ``"left"`` (pads before it).

    Returns:
        A ``transformers.PreTrainedTokenizerFast``.

    Raises:
        ValueError: ``padding_side`` is neither ``"right"`` nor ``"left"``.
        FileNotFoundError: the data folder is missing (see :func:`data_dir`).

    Example:
        >>> tokenizer = load_tokenizer()
        >>> tokenizer("Rain in Osterby.")["input_ids"][0] == tokenizer.cls_token_id
        True
    """
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}.")
    from transformers import PreTrainedTokenizerFast

    path = data_dir() / "tokenizer" / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; regenerate the data with `python -m modlayers.datasets_generator`.")
    return PreTrainedTokenizerFast(
        tokenizer_file=str(path),
        model_max_length=512,
        padding_side=padding_side,
        model_input_names=["input_ids", "attention_mask"],
        clean_up_tokenization_spaces=False,
        **SPECIAL_TOKENS,
    )
