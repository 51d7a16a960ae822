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

DATA_DIR = Path(__file__).resolve().parents[2] / "data"  # the repository's data/: modlayers/lessons/data.py
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
        from modlayers.lessons.doctor import pip_install, python_command  # the fix uses the Python that raised it

        raise FileNotFoundError(
            f"The kit's data folder was not found at {DATA_DIR}. The datasets and the tokenizer ship with "
            "the repository, not with the installed package. Clone the repository and install it from there:\n"
            "    git clone https://github.com/modlayers/modlayers\n"
            f"    {pip_install()} -e modlayers\n"
            f"or regenerate the data into that folder with `{python_command()} -m modlayers.lessons.datasets_generator --out "
            f"{DATA_DIR}`."
        )
    return DATA_DIR


def _python() -> str:
    from modlayers.lessons.doctor import python_command

    return python_command()


class DataError(ValueError):
    """A data file the kit cannot use; the message names the file, the line and the record's id.

    Attributes:
        path: the file.
        line: the line number in the file (1 = the first line), or ``None`` for the whole file.
        record_id: the record's ``"id"`` when it has one.
    """

    def __init__(self, path: Path, line: int | None, record_id: str | None, problem: str):
        self.path, self.line, self.record_id = path, line, record_id
        where = str(path) if line is None else f"{path}, line {line}"
        if record_id is not None:
            where += f" (record {record_id!r})"
        super().__init__(f"{where}: {problem}. Restore the file (git checkout -- {path}) or fix that line.")


def _read_jsonl(dataset: str, split: str) -> list[dict]:
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r} for the {dataset} data; choose one of {list(SPLITS)}.")
    path = data_dir() / dataset / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; regenerate the data with `{_python()} -m modlayers.lessons.datasets_generator --out {DATA_DIR}`.")
    return read_records(path, RECORD_CHECKS[dataset])


def read_records(path: Path, check=None) -> list[dict]:
    """The records of a JSON-lines file, each checked by ``check(record)`` (which returns a problem or ``None``).

    Raises:
        DataError: a line that is not a JSON object, a record ``check`` refuses, or a file with no record;
            the message names the file, the line number and the record's id.
    """
    records = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):  # the file's own line numbers, blank lines included
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(path, number, None, f"not valid JSON ({error.msg} at column {error.colno})") from None
            if not isinstance(record, dict):
                raise DataError(path, number, None, f"a record must be a JSON object, got {type(record).__name__}")
            record_id = record.get("id")
            if not isinstance(record_id, str) or not record_id:
                raise DataError(path, number, None, f"the record has no \"id\" (a non-empty string), got {record_id!r}")
            problem = check(record) if check else None
            if problem:
                raise DataError(path, number, record_id, problem)
            records.append(record)
    if not records:
        raise DataError(path, None, None, "the file holds no record (every score on it would be a meaningless 0)")
    return records


def _missing_fields(record: dict, fields: dict[str, type]) -> str | None:
    for name, kind in fields.items():
        if not isinstance(record.get(name), kind) or isinstance(record.get(name), bool):
            got = type(record[name]).__name__ if name in record else "nothing"
            return f"\"{name}\" must be a {kind.__name__}, got {got}"
    return None


def _check_classification(record: dict) -> str | None:
    problem = _missing_fields(record, {"text": str, "label": str})
    if problem is None and record["label"] not in CLASSIFICATION_LABELS:
        problem = f"unknown label {record['label']!r}; the labels are {CLASSIFICATION_LABELS}"
    return problem


def _check_qa(record: dict) -> str | None:
    problem = _missing_fields(record, {"context": str, "question": str, "answer_text": str, "answer_start": int})
    if problem is None:
        start, answer = record["answer_start"], record["answer_text"]
        if not answer or start < 0 or record["context"][start : start + len(answer)] != answer:
            found = record["context"][max(start, 0) : max(start, 0) + len(answer)]
            problem = f"answer_text {answer!r} is not at answer_start {start} of the context (found {found!r} there)"
    return problem


def _check_tagging(record: dict) -> str | None:
    problem = _missing_fields(record, {"words": list, "tags": list})
    if problem is None and len(record["words"]) != len(record["tags"]):
        problem = f"{len(record['words'])} words but {len(record['tags'])} tags; each word needs one tag"
    if problem is None:
        unknown = sorted({str(t) for t in record["tags"] if t not in TAGGING_LABELS})
        if unknown:
            problem = f"unknown tag(s) {unknown}; the tags are {TAGGING_LABELS}"
        elif not all(isinstance(w, str) for w in record["words"]) or not record["words"]:
            problem = "\"words\" must be a non-empty list of strings"
    return problem


RECORD_CHECKS = {"classification": _check_classification, "qa": _check_qa, "tagging": _check_tagging}


def load_classification(split: str = "train") -> list[dict]:
    """Sentences and their topic.

    Args:
        split: ``"train"`` (1,280 sentences) or ``"validation"`` (320).

    Returns:
        A list of dicts ``{"id": str, "text": str, "label": int, "label_name": str}``; ``label`` indexes
        :data:`CLASSIFICATION_LABELS` (``label_name`` is the same topic as a word).

    Raises:
        ValueError: unknown ``split``.
        DataError: a line of the file the kit cannot use, or a file without records (see :func:`read_records`).
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
        DataError: a line of the file the kit cannot use, or a file without records (see :func:`read_records`).
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
        DataError: a line of the file the kit cannot use, or a file without records (see :func:`read_records`).
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
        raise FileNotFoundError(f"{path} is missing; regenerate the data with `{_python()} -m modlayers.lessons.datasets_generator --out {DATA_DIR}`.")
    return PreTrainedTokenizerFast(
        tokenizer_file=str(path),
        model_max_length=512,
        padding_side=padding_side,
        model_input_names=["input_ids", "attention_mask"],
        clean_up_tokenization_spaces=False,
        **SPECIAL_TOKENS,
    )
