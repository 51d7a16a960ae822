"""Rows of any table -> the kit's records for one task, every row checked (the adapters of :mod:`modlayers.lessons.data_sources`).

:func:`convert_rows` finds the task's columns (:data:`TASK_COLUMNS`), settles the label names and turns each
row of the training and validation splits into a record. Every problem raises a
:class:`~modlayers.lessons.data_sources.DataSourceError` on one line naming the split, the row (its line in a JSONL
file, its position otherwise) and the record id when there is one, before anything is trained.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modlayers.label_alignment import check_bio_tag

TASK_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "classification": {"text": ("text", "sentence"), "label": ("label",), "id": ("id", "idx")},
    "qa": {"question": ("question",), "context": ("context",), "answers": ("answers",),
           "answer_text": ("answer_text",), "answer_start": ("answer_start",), "id": ("id",)},
    "tagging": {"words": ("words", "tokens"), "tags": ("tags", "ner_tags"), "id": ("id",)},
}
"""Each task's fields -> the column names tried when you name none (first found wins). ``id`` is optional."""


@dataclass
class TaskRows:
    """One split as read: ``rows`` (a list of dicts, or a ``datasets.Dataset``), its column names, where it lives.

    ``row_word`` is ``"line"`` for a JSONL file (rows carry their line number) and ``"row"`` otherwise;
    ``features`` is a ``datasets`` dataset's features (class names live there), else ``None``.
    """

    rows: Any
    columns: list[str]
    where: str
    row_word: str = "row"
    features: Any = None


def _error(message: str):
    from modlayers.lessons.data_sources import DataSourceError

    return DataSourceError(message)


def _flag(field: str) -> str:
    return f"--{field.replace('_', '-')}-column"


def find_column(split: TaskRows, field: str, task: str, columns: Mapping[str, str], required: bool = True) -> str | None:
    """The column of ``split`` that holds ``field``: the one named in ``columns``, else the first usual name found."""
    candidates = (columns[field],) if field in columns else TASK_COLUMNS[task][field]
    for name in candidates:
        if name in split.columns:
            return name
    if not required:
        return None
    tried = ", ".join(repr(c) for c in candidates)
    raise _error(
        f"{split.where}: no {field} column (looked for {tried}); the columns are {split.columns}. Name yours with "
        f"{_flag(field)} (Python: columns={{{field!r}: ...}})."
    )


def _rows(split: TaskRows):
    """``(where, row)`` for each row: ``where`` names the split, the row (or JSONL line) and the id."""
    for i, row in enumerate(split.rows):
        number = row.get("__line__", i + 1) if split.row_word == "line" else i + 1
        yield f"{split.where}, {split.row_word} {number}", row


def _where(where: str, row: dict, id_column: str | None) -> str:
    if id_column is not None and row.get(id_column) not in (None, ""):
        return f"{where} (id {str(row[id_column])!r})"
    return where


def _record_id(split: TaskRows, i: int, row: dict, id_column: str | None) -> str:
    if id_column is not None and row.get(id_column) not in (None, ""):
        return str(row[id_column])
    return f"{split.where.rsplit('/', 1)[-1]}-{i}"


def _check_not_empty(split: TaskRows, name: str) -> None:
    if len(split.rows) == 0:
        raise _error(f"{split.where}: the {name} split holds no row (every score on it would be a meaningless 0); "
                     "fill it or choose another split.")


def convert_rows(task: str, train: TaskRows, validation: TaskRows, columns: Mapping[str, str],
                 label_names: Sequence[str] | None) -> tuple[list[dict], list[dict], list[str] | None, dict[str, str]]:
    """``(train records, validation records, label names or None, {field: column used})`` for ``task``."""
    _check_not_empty(train, "training")
    _check_not_empty(validation, "validation")
    convert = {"classification": _classification, "qa": _qa, "tagging": _tagging}[task]
    return convert(train, validation, columns, label_names)


# ------------------------------------------------------------------------------------------ classification


def _class_label_names(split: TaskRows, column: str) -> list[str] | None:
    feature = (split.features or {}).get(column)
    return list(feature.names) if hasattr(feature, "names") else None


def _as_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_fraction(value) -> bool:
    """A number that is not an integer: ``1.5``, ``"1.5"``, ``1.0`` or ``"0.0"`` (a spreadsheet's float column)."""
    if isinstance(value, float):
        return True
    if not isinstance(value, str) or _as_int(value) is not None or not any(c.isdigit() for c in value):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def _check_label_value(where: str, value, column: str, names: list[str]) -> None:
    """Refuse a missing label or a non-integer number, at the row that holds it."""
    if _is_missing(value):
        raise _error(f"{where}: the label ({column!r}) is missing (empty cell); fill it with one of {names} or "
                     "drop the row.")
    if _is_fraction(value) and str(value) not in names:
        raise _error(f"{where}: label {value!r} in {column!r} is not an integer; class labels are integers 0..n-1 "
                     "or names: write 1 for 1.0 (e.g. pandas' df[col].astype(int)) or fix the row.")


def _shown(numbers: list[int], limit: int = 10) -> str:
    head = ", ".join(str(n) for n in numbers[:limit])
    return head + (f", ... ({len(numbers)} in all)" if len(numbers) > limit else "")


def _check_integer_labels_cover(train: TaskRows, column: str, labels: list[int]) -> None:
    """Integer labels without names must be 0..n-1: a gap would add classes no row teaches."""
    found = sorted(set(labels))
    missing = sorted(set(range(found[-1] + 1)) - set(found)) if found else []
    if missing:
        raise _error(f"{train.where}: the integer labels in {column!r} are {_shown(found)}; missing indices: "
                     f"{_shown(missing)} (without names that is a {found[-1] + 1}-class model with classes no row teaches); "
                     "relabel them 0..n-1 or name every class with --labels name0,name1,... (Python: label_names=).")


def _classification(train, validation, columns, label_names):
    used = {f: find_column(train, f, "classification", columns) for f in ("text", "label")}
    label_column = used["label"]
    names = list(label_names) if label_names is not None else _class_label_names(train, label_column)
    integer_names = False  # names "0".."max" made up from the training split's integers
    if names is None:
        # empty cells and non-integer numbers are refused at their row below, not turned into class names
        raw = [v for v in (row.get(label_column) for row in train.rows) if not _is_missing(v) and not _is_fraction(v)]
        if all(_as_int(v) is not None for v in raw):
            names = [str(i) for i in range(max([_as_int(v) for v in raw], default=0) + 1)]
            integer_names = True
        else:
            names = sorted({str(v) for v in raw})
    # names read off the training split's own words: a "0" elsewhere is a word that is not among them, not an index
    names_only = label_names is None and _class_label_names(train, label_column) is None and not integer_names
    records = []
    for split in (train, validation):
        text_column = find_column(split, "text", "classification", columns)
        found_label = find_column(split, "label", "classification", columns)
        id_column = find_column(split, "id", "classification", columns, required=False)
        converted = []
        for i, (where, row) in enumerate(_rows(split)):
            where = _where(where, row, id_column)
            text, value = row.get(text_column), row.get(found_label)
            if not isinstance(text, str) or not text.strip():
                raise _error(f"{where}: the text ({text_column!r}) must be a non-empty string, got {text!r}.")
            _check_label_value(where, value, found_label, names)
            if isinstance(value, str) and value in names:
                label = names.index(value)
            else:
                label = None if names_only else _as_int(value)
            if label is None:
                raise _error(f"{where}: unknown label {value!r} in {found_label!r}; the labels are {names}. Add it "
                             "with --labels (Python: label_names=) or fix the row.")
            if not 0 <= label < len(names):
                raise _error(f"{where}: label {label} is outside the {len(names)} labels (0 to {len(names) - 1}: "
                             f"{names}); a test split without labels holds -1. Fix the row or pass all the names "
                             "with --labels.")
            converted.append({"id": _record_id(split, i, row, id_column), "text": text, "label": label,
                              "label_name": names[label]})
        if split is train and integer_names:
            _check_integer_labels_cover(train, label_column, [r["label"] for r in converted])
        records.append(converted)
    return records[0], records[1], names, used


# ---------------------------------------------------------------------------------------------- QA


def _qa(train, validation, columns, label_names):
    if label_names is not None:
        raise ValueError("label_names does not apply to the qa task (its answers are spans of the context).")
    records, used = [], {}
    for split in (train, validation):
        used = {f: find_column(split, f, "qa", columns) for f in ("question", "context")}
        id_column = find_column(split, "id", "qa", columns, required=False)
        pair = "answer_text" in columns or "answer_start" in columns or "answers" not in split.columns
        if pair and "answers" not in columns:
            used.update({f: find_column(split, f, "qa", columns) for f in ("answer_text", "answer_start")})
        else:
            used["answers"] = find_column(split, "answers", "qa", columns)
        converted = []
        for i, (where, row) in enumerate(_rows(split)):
            where = _where(where, row, id_column)
            question, context = row.get(used["question"]), row.get(used["context"])
            for name, value in (("question", question), ("context", context)):
                if not isinstance(value, str) or not value.strip():
                    raise _error(f"{where}: the {name} ({used[name]!r}) must be a non-empty string, got {value!r}.")
            text, start = _answer(row, used, where)
            if context[start : start + len(text)] != text:
                elsewhere = context.find(text)
                hint = (f"it is at character {elsewhere}: fix answer_start" if elsewhere >= 0
                        else "it is nowhere in the context: fix the answer or the context")
                raise _error(f"{where}: the answer {text!r} is not in its context at answer_start {start} (found "
                             f"{context[start:start + len(text)]!r} there; {hint}).")
            converted.append({"id": _record_id(split, i, row, id_column), "question": question, "context": context,
                              "answer_text": text, "answer_start": start})
        records.append(converted)
    return records[0], records[1], None, used


def _answer(row: dict, used: dict, where: str) -> tuple[str, int]:
    if "answers" in used:
        answers = row.get(used["answers"])
        if isinstance(answers, str):
            answers = json.loads(answers) if answers.strip().startswith("{") else None
        texts = answers.get("text") if isinstance(answers, dict) else None
        starts = answers.get("answer_start") if isinstance(answers, dict) else None
        if not texts or not starts:
            raise _error(f"{where}: no answer in {used['answers']!r} (got {answers!r:.80}); each question needs "
                         "{'text': [...], 'answer_start': [...]} with one answer at least (unanswerable questions, "
                         "as in SQuAD v2, are not supported).")
        text, start = texts[0], starts[0]
    else:
        text, start = row.get(used["answer_text"]), row.get(used["answer_start"])
    start = _as_int(start)
    if not isinstance(text, str) or not text or start is None or start < 0:
        raise _error(f"{where}: the answer must be a non-empty text and a character position >= 0, got "
                     f"{text!r} at {start!r}.")
    return text, start


# ------------------------------------------------------------------------------------------ tagging


def _sequence(value):
    """A list from a list, or from a CSV cell: a JSON list, or words separated by spaces."""
    if isinstance(value, str):
        text = value.strip()
        return json.loads(text) if text.startswith("[") else text.split()
    return list(value) if isinstance(value, (list, tuple)) else value


def _tag_names_from(rows, column: str) -> list[str]:
    types = sorted({tag[2:] for row in rows for tag in (_sequence(row.get(column)) or [])
                    if isinstance(tag, str) and tag[:2] in ("B-", "I-")})
    return ["O"] + [f"{prefix}-{kind}" for kind in types for prefix in ("B", "I")]


def _tagging(train, validation, columns, label_names):
    used = {f: find_column(train, f, "tagging", columns) for f in ("words", "tags")}
    feature = (train.features or {}).get(used["tags"])
    names = list(label_names) if label_names is not None else (
        list(feature.feature.names) if hasattr(getattr(feature, "feature", None), "names") else None)
    if names is None:
        names = _tag_names_from(train.rows, used["tags"])
    for name in names:
        try:
            check_bio_tag(name)
        except (TypeError, ValueError) as error:
            raise _error(f"the tag names {names} are not all BIO tags: {error}") from None
    records = []
    for split in (train, validation):
        words_column = find_column(split, "words", "tagging", columns)
        tags_column = find_column(split, "tags", "tagging", columns)
        id_column = find_column(split, "id", "tagging", columns, required=False)
        converted = []
        for i, (where, row) in enumerate(_rows(split)):
            where = _where(where, row, id_column)
            words, tags = _sequence(row.get(words_column)), _sequence(row.get(tags_column))
            if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
                raise _error(f"{where}: the words ({words_column!r}) must be a non-empty list of strings, got {words!r:.80}.")
            if not isinstance(tags, list) or len(tags) != len(words):
                size = len(tags) if isinstance(tags, list) else "no list of"
                raise _error(f"{where}: {len(words)} words but {size} tags in {tags_column!r}; each word needs one tag.")
            converted.append({"id": _record_id(split, i, row, id_column), "words": words,
                              "tags": [_tag_name(tag, names, where) for tag in tags]})
        records.append(converted)
    return records[0], records[1], names, used


def _tag_name(tag, names: list[str], where: str) -> str:
    if isinstance(tag, str) and tag in names:
        return tag
    index = _as_int(tag)
    if index is not None and 0 <= index < len(names):
        return names[index]
    raise _error(f"{where}: unknown tag {tag!r}; the tags are {names}. Pass every tag with --labels (Python: "
                 "label_names=) or fix the row.")
