"""Tests for modlayers/lessons/data_tasks.py through `python -m modlayers finetune --data`: every kind of bad data is one
`error:` line naming the split, the row and the fix, exit status 2, and nothing starts training."""

import csv
import json

import pytest

from modlayers.__main__ import main
from modlayers.lessons.data_sources import DataSourceError, load_task_data
from modlayers.lessons.finetuning import classification, qa, tagging
from modlayers.lessons.finetuning.classification import finetune as classification_finetune
from modlayers.lessons.finetuning.qa import finetune as qa_finetune  # the real one: the fixture replaces qa.finetune
from modlayers.lessons.finetuning.tagging import finetune as tagging_finetune


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    """Any fine-tune, model load or training step fails the test: every error must come before them."""

    def work(*args, **kwargs):
        raise AssertionError("training started before the data was checked")

    for module in (classification, qa, tagging):
        monkeypatch.setattr(module, "finetune", work)
        monkeypatch.setattr(module, "run_steps", work)
    monkeypatch.setattr(classification, "load_model", work)
    monkeypatch.setattr(tagging, "load_model", work)
    monkeypatch.setattr(qa, "load_reader", work)


def write(path, rows):
    if path.suffix == ".csv":
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["text", "label"])
            writer.writeheader()
            writer.writerows(rows)
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def error_line(argv, capsys) -> str:
    status = main(["finetune", *argv, "--model", "tiny", "--no-progress"])
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and len(err.splitlines()) == 1 and err.startswith("error: "), (status, out, err)
    return err.strip()


GOOD = [{"review": "fine soup", "stars": "good"}, {"review": "cold soup", "stars": "bad"}]


def test_a_misnamed_column_lists_the_columns_found_and_the_flag_that_names_it(tmp_path, capsys):
    train, dev = write(tmp_path / "train.csv", GOOD), write(tmp_path / "dev.csv", GOOD)
    line = error_line(["classification", "--data", str(train), "--validation-data", str(dev)], capsys)
    assert f"{train}: no text column (looked for 'text', 'sentence'); the columns are ['review', 'stars']" in line
    assert "--text-column" in line
    line = error_line(["classification", "--data", str(train), "--validation-data", str(dev),
                       "--text-column", "review", "--label-column", "rating"], capsys)
    assert "no label column (looked for 'rating')" in line and "['review', 'stars']" in line


def test_a_label_outside_num_labels_names_the_row(tmp_path, capsys):
    train = write(tmp_path / "train.jsonl", [{"id": "a", "text": "x", "label": 0}, {"id": "b", "text": "y", "label": 1}])
    dev = write(tmp_path / "dev.jsonl", [{"id": "c", "text": "z", "label": 1}, {"id": "d", "text": "w", "label": 7}])
    line = error_line(["classification", "--data", str(train), "--validation-data", str(dev), "--labels", "neg,pos"], capsys)
    assert f"{dev}, line 2 (id 'd'): label 7 is outside the 2 labels (0 to 1: ['neg', 'pos'])" in line


def test_an_unknown_label_name_names_the_row_and_the_labels(tmp_path, capsys):
    train = write(tmp_path / "train.csv", GOOD)
    dev = write(tmp_path / "dev.csv", [GOOD[0], {"review": "odd soup", "stars": "meh"}])
    line = error_line(["classification", "--data", str(train), "--validation-data", str(dev),
                       "--text-column", "review", "--label-column", "stars"], capsys)
    assert f"{dev}, row 2: unknown label 'meh' in 'stars'; the labels are ['bad', 'good']" in line


def test_a_digit_label_is_not_taken_as_an_index_when_the_labels_are_words(tmp_path, capsys):
    train = write(tmp_path / "train.csv", GOOD)  # labels 'bad', 'good'
    dev = write(tmp_path / "dev.csv", [GOOD[0], {"review": "odd soup", "stars": "0"}])
    line = error_line(["classification", "--data", str(train), "--validation-data", str(dev),
                       "--text-column", "review", "--label-column", "stars"], capsys)
    assert f"{dev}, row 2: unknown label '0' in 'stars'; the labels are ['bad', 'good']" in line


def test_digit_labels_in_a_csv_are_indices_into_the_names_given_with_labels(tmp_path):
    train = write(tmp_path / "train.csv", [{"text": "a", "label": "0"}, {"text": "b", "label": "1"}])
    loaded = load_task_data("classification", train, validation_data=train, label_names=["neg", "pos"])
    assert [(r["label"], r["label_name"]) for r in loaded.train] == [(0, "neg"), (1, "pos")]


def test_a_csv_row_with_a_cell_too_few_or_too_many_names_the_row_and_the_likely_cause(tmp_path, capsys):
    good = write(tmp_path / "good.csv", [{"text": "a", "label": "0"}, {"text": "b", "label": "1"}])
    for name, body, cells in (("unclosed.csv", 'text,label\nfine,0\ngood,1\n"cold soup,0\n', 1),
                              ("comma.csv", "text,label\nfine,0\ncold, thin soup,1\n", 3)):
        (tmp_path / name).write_text(body)
        line = error_line(["classification", "--data", str(tmp_path / name), "--validation-data", str(good)], capsys)
        row = 3 if name == "unclosed.csv" else 2
        assert f"{tmp_path / name}, row {row}: {cells} cell(s) where the header has 2 (['text', 'label'])" in line
        assert "unclosed quote" in line


def test_an_unknown_tag_names_the_record(tmp_path, capsys):
    row = {"id": "s1", "words": ["Ada", "sang"], "tags": ["B-PER", "O"]}
    train = write(tmp_path / "train.jsonl", [row])
    dev = write(tmp_path / "dev.jsonl", [row, {"id": "s2", "words": ["Bo", "ran"], "tags": ["B-XYZ", "O"]}])
    line = error_line(["tagging", "--data", str(train), "--validation-data", str(dev)], capsys)
    assert f"{dev}, line 2 (id 's2'): unknown tag 'B-XYZ'; the tags are ['O', 'B-PER', 'I-PER']" in line


def test_words_and_tags_of_different_lengths_name_the_record(tmp_path, capsys):
    train = write(tmp_path / "train.jsonl", [{"id": "s1", "words": ["Ada", "sang"], "tags": ["B-PER"]}])
    line = error_line(["tagging", "--data", str(train), "--validation-data", str(train)], capsys)
    assert "line 1 (id 's1'): 2 words but 1 tags in 'tags'" in line


QUESTION = {"id": "q1", "question": "Who sang?", "context": "Ada sang.", "answer_text": "Ada", "answer_start": 0}


def test_an_answer_that_is_not_in_its_context_names_the_record_id(tmp_path, capsys):
    train = write(tmp_path / "train.jsonl", [QUESTION])
    dev = write(tmp_path / "dev.jsonl", [{**QUESTION, "id": "q2", "answer_start": 4},
                                         {**QUESTION, "id": "q3", "answer_text": "Bo"}])
    line = error_line(["qa", "--data", str(train), "--validation-data", str(dev)], capsys)
    assert f"{dev}, line 1 (id 'q2'): the answer 'Ada' is not in its context at answer_start 4" in line
    assert "it is at character 0: fix answer_start" in line
    dev = write(tmp_path / "dev.jsonl", [{**QUESTION, "id": "q3", "answer_text": "Bo"}])
    line = error_line(["qa", "--data", str(train), "--validation-data", str(dev)], capsys)
    assert "(id 'q3')" in line and "nowhere in the context" in line


def test_a_squad_v2_question_without_an_answer_is_refused_by_name(tmp_path, capsys):
    squad = {"id": "q9", "question": "Who?", "context": "Ada sang.", "answers": {"text": [], "answer_start": []}}
    train = write(tmp_path / "train.jsonl", [squad])
    line = error_line(["qa", "--data", str(train), "--validation-data", str(train)], capsys)
    assert "line 1 (id 'q9'): no answer in 'answers'" in line and "SQuAD v2" in line


@pytest.mark.parametrize("split", ["train", "validation"])
def test_an_empty_split_is_refused_instead_of_scoring_zero(tmp_path, capsys, split):
    (tmp_path / "train.csv").write_text("text,label\nfine,1\ncold,0\n")
    (tmp_path / "validation.csv").write_text("text,label\nfine,1\n")
    (tmp_path / f"{split}.csv").write_text("text,label\n")  # a header and no row
    line = error_line(["classification", "--data", str(tmp_path)], capsys)
    name = "training" if split == "train" else "validation"
    assert f"{tmp_path / f'{split}.csv'}: the {name} split holds no row" in line


def test_a_folder_without_its_split_files_says_what_it_holds(tmp_path, capsys):
    (tmp_path / "train.csv").write_text("text,label\nfine,1\ncold,0\n")
    line = error_line(["classification", "--data", str(tmp_path)], capsys)
    assert "has no file for the split(s) ['validation']" in line and "it holds ['train.csv']" in line


def test_one_file_without_a_validation_file_asks_for_it(tmp_path, capsys):
    train = write(tmp_path / "train.csv", GOOD)
    assert "--validation-data FILE" in error_line(["classification", "--data", str(train)], capsys)


@pytest.mark.parametrize("argv, says", [
    (["qa", "--text-column", "t", "--data", "x"], "--text-column do(es) not apply to the qa task"),
    (["classification", "--text-column", "review"], "--text-column describe(s) your own data; name it with --data"),
    (["qa", "--labels", "a,b", "--data", "x"], "--labels does not apply to the qa task"),
    (["classification", "--labels", "a,a", "--data", "x"], "argument --labels: must be distinct names"),
])
def test_options_that_do_not_go_together_stop_the_command(argv, says, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["finetune", *argv])
    out, err = capsys.readouterr()
    assert stop.value.code == 2 and len(err.splitlines()) == 1 and says in err, err


def test_model_source_with_the_tiny_model_is_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["finetune", "classification", "--model", "tiny", "--model-source", "./somewhere"])
    assert stop.value.code == 2 and "--model-source loads a pretrained checkpoint" in capsys.readouterr().err


def test_the_python_api_refuses_bad_data_before_loading_a_model(tmp_path):
    train = write(tmp_path / "train.jsonl", [QUESTION])
    dev = write(tmp_path / "dev.jsonl", [{**QUESTION, "answer_start": 3}])
    with pytest.raises(DataSourceError, match="not in its context"):
        qa_finetune("pretrained", steps=1, data=train, validation_data=dev)  # load_reader would fail the test
    with pytest.raises(DataSourceError, match="not in its context"):
        load_task_data("qa", train, validation_data=dev)


def test_integer_tags_without_names_are_refused(tmp_path, capsys):
    train = write(tmp_path / "train.jsonl", [{"id": "s1", "tokens": ["Ada", "sang"], "ner_tags": [1, 0]}])
    line = error_line(["tagging", "--data", str(train), "--validation-data", str(train)], capsys)
    assert "unknown tag 1; the tags are ['O']" in line and "--labels" in line


def test_the_fine_tunes_and_the_command_import_no_datasets():
    """The lab works without the `data` extra: only a saved dataset or a hub id imports datasets."""
    import subprocess
    import sys

    code = ("import sys, modlayers.lessons.finetuning.cli, modlayers.lessons.finetuning.classification, modlayers.lessons.finetuning.qa, "
            "modlayers.lessons.finetuning.tagging, modlayers.lessons.data_sources, modlayers.lessons.model_sources; "
            "print('datasets' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_a_json_array_and_csv_cells_of_words_separated_by_spaces_are_read(tmp_path):
    train = tmp_path / "train.json"
    train.write_text(json.dumps([{"id": "s1", "words": ["Ada", "sang"], "bio": ["B-PER", "O"]}]))
    dev = tmp_path / "dev.csv"
    dev.write_text("id,tokens,bio\ns2,Bo ran home,B-PER O O\n")
    loaded = load_task_data("tagging", train, validation_data=dev, columns={"tags": "bio"})
    assert loaded.train == [{"id": "s1", "words": ["Ada", "sang"], "tags": ["B-PER", "O"]}]
    assert loaded.validation == [{"id": "s2", "words": ["Bo", "ran", "home"], "tags": ["B-PER", "O", "O"]}]
    assert loaded.label_names == ["O", "B-PER", "I-PER"] and loaded.columns == {"words": "words", "tags": "bio"}


def test_integer_labels_without_names_count_from_zero_and_csv_digits_are_integers(tmp_path):
    train = write(tmp_path / "train.csv", [{"text": "a", "label": "0"}, {"text": "b", "label": "2"},
                                           {"text": "c", "label": "1"}])
    loaded = load_task_data("classification", train, validation_data=train)
    assert loaded.label_names == ["0", "1", "2"] and [r["label"] for r in loaded.train] == [0, 2, 1]
    assert [r["id"] for r in loaded.train] == ["train.csv-0", "train.csv-1", "train.csv-2"]  # no id column: file and row


def test_the_report_names_the_scored_split_when_it_is_not_validation(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\nfine,1\ncold,0\n")
    (tmp_path / "test.csv").write_text("text,label\nfine,1\n")
    loaded = load_task_data("classification", tmp_path, validation_split="test")
    assert loaded.description == f"{tmp_path} (test split)"
    (tmp_path / "validation.csv").write_text("text,label\nfine,1\n")
    assert load_task_data("classification", tmp_path).description == str(tmp_path)


def test_the_report_names_the_validation_file_it_scored_not_the_training_file(tmp_path):
    train, dev = write(tmp_path / "train.csv", GOOD), write(tmp_path / "dev.csv", GOOD)
    loaded = load_task_data("classification", train, validation_data=dev, columns={"text": "review", "label": "stars"})
    assert loaded.description == str(dev)


def test_the_python_api_refuses_a_model_source_for_the_tiny_model_before_reading_data():
    for finetune in (qa_finetune, classification_finetune, tagging_finetune):
        with pytest.raises(ValueError, match="is a pretrained checkpoint; pass model='pretrained'"):
            finetune("tiny", steps=1, model_source="./somewhere", data="./no/such/data")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_integer_training_labels_with_gaps_are_refused_naming_the_labels_found_and_the_indices_missing(
        tmp_path, capsys, suffix):
    labels = ["1", "5", "1"] if suffix == ".csv" else [1, 5, 1]  # a CSV's digits and JSON's integers alike
    train = write(tmp_path / f"train{suffix}", [{"text": t, "label": v} for t, v in zip("abc", labels)])
    line = error_line(["classification", "--data", str(train), "--validation-data", str(train)], capsys)
    assert line.startswith(f"error: {train}: the integer labels in 'label' are 1, 5; missing indices: 0, 2, 3, 4 ")
    assert "6-class model" in line and "relabel them 0..n-1" in line and "--labels name0,name1,..." in line
    # with every class named, the same file is six classes on purpose
    loaded = load_task_data("classification", train, validation_data=train, label_names=list("abcdef"))
    assert [(r["label"], r["label_name"]) for r in loaded.train] == [(1, "b"), (5, "f"), (1, "b")]


def test_a_long_run_of_missing_indices_is_shortened_to_one_line(tmp_path, capsys):
    train = write(tmp_path / "train.jsonl", [{"text": "a", "label": 0}, {"text": "b", "label": 500}])
    line = error_line(["classification", "--data", str(train), "--validation-data", str(train)], capsys)
    assert "missing indices: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ... (499 in all)" in line and len(line) < 400


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_file_saved_with_a_byte_order_mark_reads_as_the_same_file_without_one(tmp_path, suffix):
    rows = [{"text": "crème brûlée", "label": "cooking"}, {"text": "rain", "label": "weather"}]
    plain = write(tmp_path / f"plain{suffix}", rows)
    marked = tmp_path / f"excel{suffix}"
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())  # Excel's "CSV UTF-8" starts with the UTF-8 BOM
    assert marked.read_text(encoding="utf-8").startswith("\ufeff")
    expected = load_task_data("classification", plain, validation_data=plain)
    loaded = load_task_data("classification", marked, validation_data=marked)
    assert loaded.columns == {"text": "text", "label": "label"} and loaded.label_names == ["cooking", "weather"]
    assert [(r["text"], r["label"]) for r in loaded.train] == [(r["text"], r["label"]) for r in expected.train]


@pytest.mark.parametrize("bad, row", [(["1.0", "0.0"], 1), (["0", "1", "1.5"], 3)])
def test_a_non_integer_training_label_is_named_at_its_own_file_and_row(tmp_path, capsys, bad, row):
    train = write(tmp_path / "bad.csv", [{"text": f"t{i}", "label": v} for i, v in enumerate(bad)])
    good = write(tmp_path / "good.csv", [{"text": "a", "label": "0"}, {"text": "b", "label": "1"}])
    line = error_line(["classification", "--data", str(train), "--validation-data", str(good)], capsys)
    assert line.startswith(f"error: {train}, row {row}: label '{bad[row - 1]}' in 'label' is not an integer")
    assert "good.csv" not in line and "write 1 for 1.0" in line


def test_a_float_label_in_jsonl_is_named_at_its_line(tmp_path, capsys):
    train = write(tmp_path / "train.jsonl", [{"text": "a", "label": 0}, {"text": "b", "label": 1.0}])
    line = error_line(["classification", "--data", str(train), "--validation-data", str(train)], capsys)
    assert line.startswith(f"error: {train}, line 2: label 1.0 in 'label' is not an integer")


def test_an_empty_label_cell_says_the_label_is_missing_where_it_is(tmp_path, capsys):
    good = write(tmp_path / "good.csv", [{"text": "a", "label": "neg"}, {"text": "b", "label": "pos"}])
    train = write(tmp_path / "train.csv", [{"text": "a", "label": "neg"}, {"text": "b", "label": ""}])
    line = error_line(["classification", "--data", str(train), "--validation-data", str(good)], capsys)
    assert line.startswith(f"error: {train}, row 2: the label ('label') is missing (empty cell)")
    dev = write(tmp_path / "dev.jsonl", [{"id": "d1", "text": "c", "label": None}])
    line = error_line(["classification", "--data", str(good), "--validation-data", str(dev), "--labels", "neg,pos"],
                      capsys)
    assert line.startswith(f"error: {dev}, line 1 (id 'd1'): the label ('label') is missing") and "''" not in line
