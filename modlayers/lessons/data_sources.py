"""Your own data for the lessons' fine-tunes: a folder, a CSV/JSONL file, a saved ``datasets`` dataset or a hub id.

:func:`load_task_data` reads a source, finds the task's columns and turns every row into the record the
kit's fine-tunes read (the same dicts as :mod:`modlayers.lessons.data` returns):

- ``"classification"``: ``{"id", "text", "label" (int), "label_name"}``;
- ``"qa"``: ``{"id", "question", "context", "answer_text", "answer_start"}`` (SQuAD's ``answers`` column,
  ``{"text": [...], "answer_start": [...]}``, gives its first answer);
- ``"tagging"``: ``{"id", "words", "tags"}``, the tags as BIO names.

A source is one of (tried in this order):

1. a folder written by ``datasets``' ``DatasetDict.save_to_disk`` (it holds ``dataset_dict.json``);
2. a folder of split files, ``train.jsonl`` / ``validation.jsonl`` (the kit's own ``data/<task>/`` layout),
   or ``.csv`` / ``.json`` files with those names;
3. one ``.csv``, ``.jsonl`` or ``.json`` file: the training split; the validation split is a second file
   (``validation_data=``);
4. anything else is a Hugging Face Hub dataset id, loaded with ``datasets.load_dataset`` (needs the network):
   ``glue/sst2``, ``conll2003`` and ``squad`` are short names (:data:`HUB_ALIASES`), ``name:config`` names a
   configuration.

Every problem is found before any training and raised as a :class:`DataSourceError` (a ``ValueError``)
whose one-line message names the split, the row and the fix: a missing column (with the columns found), a
label outside the labels or an unknown tag, an answer that is not in its context, an empty split.

``datasets`` is an optional dependency (``pip install modlayers[data]``): needed only for sources 1 and 4.

Example:
    >>> data = load_task_data("classification", "data/classification", label_names=["sports", "cooking",
    ...                       "weather", "technology"])  # doctest: +SKIP
    >>> len(data.train), data.label_names[0]  # doctest: +SKIP
    (1280, 'sports')
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modlayers.lessons.data_tasks import TASK_COLUMNS, TaskRows, convert_rows

TASKS = ("classification", "qa", "tagging")
FILE_SUFFIXES = (".jsonl", ".csv", ".json")

HUB_ALIASES = {
    "glue/sst2": ("nyu-mll/glue", "sst2"),
    "sst2": ("nyu-mll/glue", "sst2"),
    "conll2003": ("lhoestq/conll2003", None),  # the script-free copy (datasets 4 dropped loading scripts)
    "squad": ("rajpurkar/squad", None),
}
"""Short names for the datasets the field reports on -> ``(hub id, configuration)`` for ``load_dataset``."""


class DataSourceError(ValueError):
    """A data source the kit cannot fine-tune on; the message names the split, the row and the fix."""


@dataclass
class TaskData:
    """The records of both splits, ready for a task's ``finetune``, and where they came from.

    Attributes:
        train, validation: the records (see the module docstring for their keys).
        label_names: class or tag names in label-id order (``None`` for QA).
        source: the source as given, for reports.
        columns: the task's fields -> the columns they were read from.
        validation_split: the split scored (``"validation"`` unless told otherwise).
        validation_source: the validation file when it was given on its own (``validation_data=``), else None.
    """

    train: list[dict]
    validation: list[dict]
    label_names: list[str] | None
    source: str
    columns: dict[str, str] = field(default_factory=dict)
    validation_split: str = "validation"
    validation_source: str | None = None

    @property
    def description(self) -> str:
        """What was scored, for a report: the validation file when it was given on its own, else the source, with
        the scored split when it is not ``"validation"``."""
        if self.validation_source is not None:
            return self.validation_source
        return self.source if self.validation_split == "validation" else f"{self.source} ({self.validation_split} split)"


def load_task_data(
    task: str,
    data: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    label_names: Sequence[str] | None = None,
    validation_data: str | Path | None = None,
    train_split: str = "train",
    validation_split: str = "validation",
) -> TaskData:
    """Read ``data`` for ``task`` and check every row; see the module docstring for the sources.

    Args:
        task: ``"classification"``, ``"qa"`` or ``"tagging"``.
        data: the source (a folder, a file, or a hub dataset id).
        columns: the task's fields -> your column names, e.g. ``{"text": "review", "label": "stars"}``.
            Fields not named are looked up under their usual names (:data:`modlayers.lessons.data_tasks.TASK_COLUMNS`).
        label_names: class names (classification) or BIO tag names (tagging) in label-id order. Default: the
            dataset's own (a ``datasets`` ``ClassLabel``), else the names found in the training split, sorted
            (tags: ``"O"`` first, then ``B-X``, ``I-X`` per entity type), else ``"0"``..``"n-1"`` for integer labels
            (which must then cover 0..n-1: a gap is refused).
        validation_data: the validation file when ``data`` is a single file.
        train_split, validation_split: split names in a folder or a ``datasets`` dataset.

    Returns:
        A :class:`TaskData`.

    Raises:
        DataSourceError: any row or split the task cannot use (one line naming the split and the row).
        FileNotFoundError: ``data`` looks like a path (``/``, ``.``, ``~`` or a file suffix) but is not there.
        ModuleNotFoundError: the source needs ``datasets`` and it is not installed (the message says how).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}.")
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(TASK_COLUMNS[task]))
    if unknown:
        raise ValueError(f"columns names unknown field(s) {unknown} for the {task} task; its fields are "
                         f"{list(TASK_COLUMNS[task])}.")
    splits = read_splits(data, validation_data=validation_data, train_split=train_split,
                         validation_split=validation_split)
    train, validation, names, used = convert_rows(task, splits["train"], splits["validation"], columns, label_names)
    return TaskData(train=train, validation=validation, label_names=names, source=str(data), columns=used,
                    validation_split=validation_split,
                    validation_source=None if validation_data is None else str(validation_data))


def read_splits(data: str | Path, *, validation_data: str | Path | None = None, train_split: str = "train",
                validation_split: str = "validation") -> dict[str, TaskRows]:
    """The raw rows of the training and validation splits: ``{"train": TaskRows, "validation": TaskRows}``."""
    path = Path(data).expanduser()
    if path.is_dir() and (path / "dataset_dict.json").is_file():
        return _dataset_dict_splits(_load_from_disk(path), str(data), train_split, validation_split)
    if path.is_dir() and (path / "state.json").is_file():
        raise DataSourceError(
            f"{data} holds one saved Dataset, not a DatasetDict with a {train_split!r} and a {validation_split!r} "
            "split; save both, e.g. DatasetDict(train=..., validation=...).save_to_disk(folder)."
        )
    if path.is_dir():
        found = {split: _split_file(path, split) for split in (train_split, validation_split)}
        missing = [split for split, file in found.items() if file is None]
        if missing:
            present = sorted(p.name for p in path.iterdir())[:12]
            raise DataSourceError(
                f"{data} has no file for the split(s) {missing}: a folder needs {train_split}.jsonl (or .csv, .json) "
                f"and {validation_split}.jsonl, or a dataset saved with save_to_disk; it holds {present}."
            )
        return {"train": read_file(found[train_split]), "validation": read_file(found[validation_split])}
    if path.is_file():
        if validation_data is None:
            raise DataSourceError(
                f"{data} is one file, so it holds one split (training); name the validation file too "
                "(--validation-data FILE, Python: validation_data=) or pass a folder with train.* and validation.*."
            )
        validation_path = Path(validation_data).expanduser()
        if not validation_path.is_file():
            raise FileNotFoundError(f"the validation file {validation_data} does not exist.")
        return {"train": read_file(path), "validation": read_file(validation_path)}
    text = str(data)
    if isinstance(data, Path) or text.startswith(("/", ".", "~")) or text.endswith(FILE_SUFFIXES):
        raise FileNotFoundError(
            f"the data source {text!r} is not a file or a folder. Pass a folder (train.jsonl and validation.jsonl, "
            "or a dataset saved with save_to_disk), a .csv/.jsonl file, or a hub dataset id such as glue/sst2."
        )
    return _hub_splits(text, train_split, validation_split)


def _split_file(folder: Path, split: str) -> Path | None:
    for suffix in FILE_SUFFIXES:
        if (folder / f"{split}{suffix}").is_file():
            return folder / f"{split}{suffix}"
    return None


def read_file(path: Path) -> TaskRows:
    """The rows of one ``.csv``, ``.jsonl`` or ``.json`` (lines, or one array of objects) file.

    Raises:
        DataSourceError: an unknown suffix, a line that is not a JSON object (named by its line number), a CSV
            separated by semicolons or tabs (how to convert it is said), or a CSV row with more or fewer cells than
            the header (named by its row number).
    """
    path = Path(path)
    if path.suffix not in FILE_SUFFIXES:
        raise DataSourceError(f"{path}: unknown file type {path.suffix!r}; use one of {list(FILE_SUFFIXES)}.")
    if path.suffix == ".csv":
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark that would otherwise prefix the first column
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            rows = [dict(row) for row in reader]
            names = list(reader.fieldnames or [])
        separator = next((sep for sep in (";", "\t") if len(names) == 1 and sep in names[0]), None)
        if separator is not None:  # what Excel writes where the decimal mark is a comma, or a tab-separated file
            raise DataSourceError(
                f"{path}: the header is one column, {names[0]!r}: the file is separated by {separator!r}, not by "
                "commas. Save it as comma-separated (Excel: \"CSV UTF-8 (Comma delimited)\"), or convert it with Python: "
                f"import csv; csv.writer(open('{path.stem}_comma.csv', 'w', newline='')).writerows(csv.reader(open("
                f"'{path}', newline='', encoding='utf-8-sig'), delimiter={separator!r}))")
        for number, row in enumerate(rows, start=1):
            # DictReader files surplus cells under the key None and fills missing ones with None
            cells = len(names) - sum(value is None for value in row.values()) + len(row.get(None) or ())
            if cells != len(names):
                raise DataSourceError(
                    f"{path}, row {number}: {cells} cell(s) where the header has {len(names)} ({names}); an unclosed "
                    "quote or a comma inside an unquoted text is the usual cause: quote the text (csv.writer does).")
        return TaskRows(rows=rows, columns=names, where=str(path), row_word="row")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".json" and text.lstrip().startswith("["):
        rows = json.loads(text)
        if not all(isinstance(row, dict) for row in rows):
            raise DataSourceError(f"{path}: a JSON array of objects (one per row) is expected.")
        return TaskRows(rows=rows, columns=_union_of_keys(rows), where=str(path), row_word="row")
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataSourceError(f"{path}, line {number}: not valid JSON ({error.msg} at column {error.colno}).") from None
        if not isinstance(row, dict):
            raise DataSourceError(f"{path}, line {number}: a row must be a JSON object, got {type(row).__name__}.")
        row.setdefault("__line__", number)
        rows.append(row)
    return TaskRows(rows=rows, columns=[c for c in _union_of_keys(rows) if c != "__line__"], where=str(path),
                    row_word="line")


def _union_of_keys(rows: Sequence[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _import_datasets():
    try:
        import datasets
    except ModuleNotFoundError:
        from modlayers.lessons.doctor import pip_install

        raise ModuleNotFoundError(
            "this data source needs the `datasets` library, which is not installed; install it with "
            f"`{pip_install()} 'datasets>=3'` (or the kit's extra: pip install -e '.[data]')."
        ) from None
    return datasets


def _load_from_disk(path: Path):
    return _import_datasets().load_from_disk(str(path))


def _hub_splits(name: str, train_split: str, validation_split: str) -> dict[str, TaskRows]:
    datasets = _import_datasets()
    repo, config = HUB_ALIASES.get(name, (name.partition(":")[0], name.partition(":")[2] or None))
    try:
        dataset = datasets.load_dataset(repo, config)
    except Exception as error:  # offline, unknown id, no such config: say which and why, on one line
        raise DataSourceError(
            f"could not load the hub dataset {repo!r}" + (f" (configuration {config!r})" if config else "")
            + f": {type(error).__name__}: {error}. This needs the network (unset HF_HUB_OFFLINE) and an existing "
            "dataset id; a local folder or file works offline."
        ) from None
    return _dataset_dict_splits(dataset, name, train_split, validation_split)


def _dataset_dict_splits(dataset, name: str, train_split: str, validation_split: str) -> dict[str, TaskRows]:
    missing = [split for split in (train_split, validation_split) if split not in dataset]
    if missing:
        raise DataSourceError(
            f"{name} has no split(s) {missing}; its splits are {list(dataset)}. Choose them with --train-split / "
            "--validation-split (Python: train_split=, validation_split=)."
        )
    return {key: TaskRows(rows=dataset[split], columns=list(dataset[split].column_names),
                          where=f"{name} split {split!r}", row_word="row", features=dataset[split].features)
            for key, split in (("train", train_split), ("validation", validation_split))}


BASELINE_LIMIT = 5000
"""Training rows up to which a fine-tune on your data also computes the baselines (bag-of-words models grow
with the data: a dense count matrix of every training row)."""


def task_data_for(task: str, data, *, columns: Mapping[str, str] | None = None,
                  label_names: Sequence[str] | None = None, validation_data: str | Path | None = None,
                  train_split: str = "train", validation_split: str = "validation") -> TaskData | None:
    """``data`` as a :class:`TaskData`: read with :func:`load_task_data` (a source), as it is (already one),
    or ``None`` for the kit's own data (then the other options must be left out).

    Raises:
        ValueError: options for your data given without ``data``; and as :func:`load_task_data`.
    """
    if isinstance(data, TaskData):
        return data
    if data is None:
        given = {name for name, value in (("columns", columns), ("label_names", label_names),
                                          ("validation_data", validation_data)) if value}
        if given or (train_split, validation_split) != ("train", "validation"):
            raise ValueError(f"{sorted(given) or 'the split names'} apply to your own data; pass data= too (a folder, "
                             "a file or a hub dataset id), or leave them out to use the kit's data.")
        return None
    return load_task_data(task, data, columns=columns, label_names=label_names, validation_data=validation_data,
                          train_split=train_split, validation_split=validation_split)
