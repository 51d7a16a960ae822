"""Tests for modlayers/lessons/data_sources.py and data_tasks.py: the kit's shipped data written out as a `datasets`
dataset on disk (SST-2's, SQuAD's and CoNLL's column layouts), as CSV and as JSONL with other column names, read
back through each path into the very records of modlayers.lessons.data, and fine-tuned for a few steps to the very metric
of the kit's own path."""

import csv
import json
import re

import pytest

import modlayers.lessons.data_sources as data_sources
from modlayers.lessons import data
from modlayers.lessons.data_sources import DataSourceError, load_task_data
from modlayers.lessons.finetuning import classification, qa, tagging

datasets = pytest.importorskip("datasets", reason="the `data` extra (datasets) is not installed")

TASKS = {"classification": classification, "qa": qa, "tagging": tagging}
KIT = {"classification": data.load_classification, "qa": data.load_qa, "tagging": data.load_tagging}


def hub_layout(task: str, records: list[dict]) -> list[dict]:
    """The kit's records in the layout of the dataset the field uses for the task (SST-2, SQuAD, CoNLL-2003)."""
    if task == "classification":
        return [{"idx": r["id"], "sentence": r["text"], "label": r["label"]} for r in records]
    if task == "qa":
        return [{"id": r["id"], "question": r["question"], "context": r["context"],
                 "answers": {"text": [r["answer_text"]], "answer_start": [r["answer_start"]]}} for r in records]
    return [{"id": r["id"], "tokens": r["words"], "ner_tags": [data.TAGGING_LABELS.index(t) for t in r["tags"]]}
            for r in records]


def features_of(task: str):
    if task == "classification":
        return datasets.Features({"idx": datasets.Value("string"), "sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=data.CLASSIFICATION_LABELS)})
    if task == "tagging":
        return datasets.Features({"id": datasets.Value("string"), "tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=data.TAGGING_LABELS))})
    return None


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each task's shipped data as a DatasetDict saved with save_to_disk: {task: folder}."""
    root = tmp_path_factory.mktemp("saved")
    folders = {}
    for task, load in KIT.items():
        splits = {split: datasets.Dataset.from_list(hub_layout(task, load(split)), features=features_of(task))
                  for split in data.SPLITS}
        folders[task] = root / task
        datasets.DatasetDict(splits).save_to_disk(str(folders[task]))
    return folders


OTHER_NAMES = {
    "classification": {"text": "review", "label": "topic", "id": "key"},
    "qa": {"question": "ask", "context": "passage", "answer_text": "answer", "answer_start": "at", "id": "key"},
    "tagging": {"words": "toks", "tags": "bio", "id": "key"},
}


def renamed(task: str, record: dict) -> dict:
    """A kit record under OTHER_NAMES' columns (classification labels as their names)."""
    fields = {"classification": {"text": record.get("text"), "label": record.get("label_name")},
              "qa": {k: record.get(k) for k in ("question", "context", "answer_text", "answer_start")},
              "tagging": {"words": record.get("words"), "tags": record.get("tags")}}[task]
    return {OTHER_NAMES[task][field]: value for field, value in {**fields, "id": record["id"]}.items()}


def write_table(path, rows: list[dict]) -> None:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        return
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:  # list cells (words, tags) as JSON
            writer.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in row.items()})


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """Each task's shipped data as train/validation CSV and JSONL files under other column names: {(task, suffix): (train, validation)}."""
    root = tmp_path_factory.mktemp("tables")
    files = {}
    for task, load in KIT.items():
        for suffix in (".csv", ".jsonl"):
            pair = []
            for split in data.SPLITS:
                path = root / f"{task}-{split}{suffix}"
                write_table(path, [renamed(task, r) for r in load(split)])
                pair.append(path)
            files[task, suffix] = tuple(pair)
    return files


def kit_records(task: str, split: str) -> list[dict]:
    records = KIT[task](split)
    if task == "qa":  # the kit's QA file carries more keys than the fine-tune reads
        return [{k: r[k] for k in ("id", "question", "context", "answer_text", "answer_start")} for r in records]
    return records


LABELS = {"classification": data.CLASSIFICATION_LABELS, "qa": None, "tagging": data.TAGGING_LABELS}


@pytest.mark.parametrize("task", TASKS)
def test_a_saved_dataset_reads_back_as_the_kits_records_with_its_class_names(task, saved):
    loaded = load_task_data(task, saved[task])
    assert loaded.train == kit_records(task, "train") and loaded.validation == kit_records(task, "validation")
    assert loaded.label_names == LABELS[task]  # from the ClassLabel features, in their order


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
@pytest.mark.parametrize("task", TASKS)
def test_a_file_with_other_column_names_reads_back_as_the_kits_records(task, suffix, tables):
    train, validation = tables[task, suffix]
    loaded = load_task_data(task, train, validation_data=validation, columns=OTHER_NAMES[task], label_names=LABELS[task])
    assert loaded.train == kit_records(task, "train") and loaded.validation == kit_records(task, "validation")


def test_label_names_default_to_the_sorted_names_found_in_training(tables):
    train, validation = tables["classification", ".csv"]
    loaded = load_task_data("classification", train, validation_data=validation, columns=OTHER_NAMES["classification"])
    assert loaded.label_names == sorted(data.CLASSIFICATION_LABELS)
    assert all(loaded.label_names[r["label"]] == r["label_name"] for r in loaded.validation)
    train, validation = tables["tagging", ".jsonl"]
    tags = load_task_data("tagging", train, validation_data=validation, columns=OTHER_NAMES["tagging"]).label_names
    assert tags == ["O", "B-DATE", "I-DATE", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def test_the_kits_own_folder_reads_as_a_source(tmp_path):
    loaded = load_task_data("tagging", data.data_dir() / "tagging")
    assert loaded.validation == data.load_tagging("validation")


def test_a_hub_id_goes_to_load_dataset_under_its_full_name(saved, monkeypatch):
    asked = []

    def load_dataset(name, config=None):
        asked.append((name, config))
        return datasets.load_from_disk(str(saved["classification"]))

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    loaded = load_task_data("classification", "glue/sst2")
    assert asked == [("nyu-mll/glue", "sst2")] and loaded.train == kit_records("classification", "train")
    load_task_data("classification", "someone/reviews:small")
    assert asked[-1] == ("someone/reviews", "small")


def test_a_hub_id_offline_is_one_error_that_says_it_needs_the_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataSourceError, match="could not load the hub dataset 'nyu-mll/glue' .*needs the network"):
        load_task_data("classification", "glue/sst2")


def test_a_missing_path_is_not_mistaken_for_a_hub_id(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a file or a folder"):
        load_task_data("qa", tmp_path / "nothing.csv")
    with pytest.raises(FileNotFoundError):
        load_task_data("qa", "./nowhere")


def test_without_datasets_a_saved_dataset_says_what_to_install(saved, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_datasets(name, *args, **kwargs):
        if name == "datasets":
            raise ModuleNotFoundError("No module named 'datasets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(ModuleNotFoundError, match=r"needs the `datasets` library.*\[data\]"):
        load_task_data("qa", saved["qa"])


def finetune_metric(task: str, **source) -> tuple[float, list[float]]:
    result = TASKS[task].finetune("tiny", steps=3, batch_size=8, seed=0, progress=False, evaluations=1,
                                  validation_size=24, **source)
    return result["metric"], [entry["loss"] for entry in result["history"]]


@pytest.fixture(scope="module")
def kit_runs():
    return {task: finetune_metric(task) for task in TASKS}


@pytest.mark.parametrize("task", TASKS)
def test_fine_tuning_on_a_saved_dataset_gives_the_kit_paths_metric(task, saved, kit_runs):
    assert finetune_metric(task, data=saved[task]) == kit_runs[task]


@pytest.mark.parametrize("task", TASKS)
def test_fine_tuning_on_csv_with_other_columns_gives_the_kit_paths_metric(task, tables, kit_runs):
    train, validation = tables[task, ".csv"]
    options = {"label_names": LABELS[task]} if LABELS[task] else {}
    got = finetune_metric(task, data=train, validation_data=validation, columns=OTHER_NAMES[task], **options)
    assert got == kit_runs[task]


def test_options_for_your_data_without_data_are_refused():
    with pytest.raises(ValueError, match="apply to your own data; pass data="):
        classification.finetune("tiny", steps=1, columns={"text": "review"})
    with pytest.raises(ValueError, match="apply to your own data"):
        data_sources.task_data_for("qa", None, validation_split="dev")


def test_a_saved_dataset_without_the_validation_split_names_the_splits_it_has(saved, tmp_path):
    only_train = datasets.DatasetDict({"train": datasets.load_from_disk(str(saved["qa"]))["train"]})
    only_train.save_to_disk(str(tmp_path / "dict"))
    with pytest.raises(DataSourceError, match=r"has no split\(s\) \['validation'\]; its splits are \['train'\].*--validation-split"):
        load_task_data("qa", tmp_path / "dict")
    only_train["train"].save_to_disk(str(tmp_path / "one"))
    with pytest.raises(DataSourceError, match="holds one saved Dataset, not a DatasetDict"):
        load_task_data("qa", tmp_path / "one")
    assert len(load_task_data("qa", tmp_path / "dict", validation_split="train").validation) == 480


@pytest.mark.parametrize("separator", [";", "\t"])
def test_a_csv_separated_by_semicolons_or_tabs_is_named_with_a_conversion_that_works(tmp_path, separator, monkeypatch):
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="", encoding="utf-8-sig") as f:  # as a European Excel saves it
        csv.writer(f, delimiter=separator).writerows([["text", "label"], ["good, really", "positive"], ["bad", "negative"]])
    with pytest.raises(DataSourceError, match=re.escape(f"the header is one column, {'text' + separator + 'label'!r}")) as raised:
        data_sources.read_file(path)
    conversion = str(raised.value).split("convert it with Python: ")[1]
    monkeypatch.chdir(tmp_path)
    exec(conversion.replace(str(path), path.name), {})  # the command the message gives, run as a user would
    rows = data_sources.read_file(tmp_path / "reviews_comma.csv")
    assert rows.columns == ["text", "label"] and rows.rows[0] == {"text": "good, really", "label": "positive"}
