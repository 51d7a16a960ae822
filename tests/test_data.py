"""Tests for modlayers/lessons/data.py and modlayers/lessons/datasets_generator.py: the shipped data is what the
generator writes, matches its datasheet, and is rich enough for the lessons built on it."""

import hashlib
import re
from collections import Counter

import pytest
import torch

import modlayers.lessons.data as data
from modlayers.lessons.baselines.tagging import LookupTagger
from modlayers.lessons import datasets_generator
from modlayers.lessons.data import (
    CLASSIFICATION_LABELS,
    ENTITY_TYPES,
    TAGGING_LABELS,
    data_dir,
    load_classification,
    load_qa,
    load_tagging,
    load_tokenizer,
)
from modlayers.metrics import bio_entities, entity_scores

CHECKSUM_ROW = re.compile(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", re.MULTILINE)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def shipped_files():
    root = data_dir()
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != "README.md")


def test_datasheet_checksums_match_every_data_file():
    readme = (data_dir() / "README.md").read_text(encoding="utf-8")
    listed = dict(CHECKSUM_ROW.findall(readme.split("## SHA-256 checksums")[-1]))  # not the pretrained model's table
    assert sorted(listed) == shipped_files(), "data/README.md must list a checksum for every data file"
    for relative, expected in listed.items():
        actual = hashlib.sha256((data_dir() / relative).read_bytes()).hexdigest()
        assert actual == expected, f"{relative} changed since the datasheet was written; regenerate the data"


def test_generator_rewrites_the_shipped_data_byte_for_byte(tmp_path):
    datasets_generator.write_all(tmp_path)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted(shipped_files() + ["README.md"])
    for relative in written:
        assert (tmp_path / relative).read_bytes() == (data_dir() / relative).read_bytes(), relative


def test_label_lists_agree_with_the_generator():
    assert CLASSIFICATION_LABELS == datasets_generator.CLASSIFICATION_LABELS
    assert ENTITY_TYPES == datasets_generator.ENTITY_TYPES
    assert TAGGING_LABELS == datasets_generator.TAGGING_LABELS


def test_classification_has_balanced_classes_and_disjoint_splits():
    train, validation = load_classification("train"), load_classification("validation")
    assert len(train) + len(validation) >= 600
    assert len(CLASSIFICATION_LABELS) >= 3
    for split in (train, validation):
        counts = Counter(r["label"] for r in split)
        assert sorted(counts) == list(range(len(CLASSIFICATION_LABELS)))
        assert max(counts.values()) == min(counts.values())
        assert all(CLASSIFICATION_LABELS[r["label"]] == r["label_name"] for r in split)
    assert not {r["text"] for r in train} & {r["text"] for r in validation}
    assert len({r["text"] for r in train}) == len(train)


def test_classification_is_not_one_template_per_class():
    first_words = Counter(r["text"].split()[0] for r in load_classification("train"))
    assert len(first_words) >= 30


def test_qa_answer_start_points_at_the_answer_text():
    records = load_qa("train") + load_qa("validation")
    assert len(records) >= 400
    for r in records:
        start = r["answer_start"]
        assert r["context"][start : start + len(r["answer_text"])] == r["answer_text"], r["id"]


# --- Question answering: long contexts, distractors, rules that stay low -------------------------------


@pytest.fixture(scope="module")
def bert_tokenizer():
    from modlayers.lessons.pretrained import load_pretrained_tokenizer

    return load_pretrained_tokenizer()


def test_qa_answers_beyond_token_128_are_common_for_the_notebooks_tokenizer(bert_tokenizer):
    records = load_qa("train") + load_qa("validation")
    long_pairs = answers_beyond_128 = 0
    for r in records:
        encoding = bert_tokenizer(r["question"], r["context"], return_offsets_mapping=True, verbose=False)
        if len(encoding["input_ids"]) > 128:
            long_pairs += 1
            context_tokens = [i for i, s in enumerate(encoding.sequence_ids()) if s == 1]
            first_answer_token = next(i for i in context_tokens if encoding["offset_mapping"][i][1] > r["answer_start"])
            answers_beyond_128 += first_answer_token >= 128
    assert long_pairs >= 0.5 * len(records)
    assert answers_beyond_128 >= 0.3 * len(records), f"only {answers_beyond_128} answers start after token 128"


def test_qa_contexts_hold_distractors_of_the_answers_kind():
    from modlayers.lessons.baselines.qa import answer_kind, answer_lexicon, kind_values

    train, validation = load_qa("train"), load_qa("validation")
    lexicon = answer_lexicon(train)
    counts = [len(kind_values(r["context"], answer_kind(r["question"]), lexicon)) for r in validation]
    assert all(answer_kind(r["question"]) is not None for r in validation)
    assert sum(n >= 3 for n in counts) >= 0.6 * len(validation), "most contexts need several values of the answer's kind"
    assert sum(n >= 2 for n in counts) >= 0.95 * len(validation)  # a value unseen in training may be missed


def test_qa_rule_baselines_stay_at_or_below_0_30_exact_match():
    from modlayers.lessons.baselines.qa import qa_baselines

    scores = qa_baselines(load_qa("train"), load_qa("validation"))
    assert set(scores) == {"first sentence", "random span", "first of kind", "overlap sentence"}
    for name, s in scores.items():
        assert s["exact_match"] <= 0.30, f"the {name!r} rule gets exact match {s['exact_match']:.3f} > 0.30"


def test_qa_rule_baselines_stay_low_on_other_seeds_too():
    """The limit is a property of the generator, not of one lucky seed."""
    import random

    from modlayers.lessons.baselines.qa import qa_baselines

    for seed in (1, 2):
        splits = datasets_generator.make_qa(random.Random(f"{seed}-qa"))
        scores = qa_baselines(splits["train"], splits["validation"])
        assert max(s["exact_match"] for s in scores.values()) <= 0.30, (seed, scores)


def test_tagging_tags_are_valid_bio_over_four_entity_types():
    records = load_tagging("train") + load_tagging("validation")
    assert len(records) >= 500
    seen_types = Counter()
    for r in records:
        assert len(r["words"]) == len(r["tags"]) > 0
        previous = "O"
        for tag in r["tags"]:
            assert tag in TAGGING_LABELS
            if tag.startswith("I-"):
                assert previous[2:] == tag[2:], f"{r['id']}: {tag} after {previous}"
            if tag.startswith("B-"):
                seen_types[tag[2:]] += 1
            previous = tag
    assert sorted(seen_types) == sorted(ENTITY_TYPES)
    assert min(seen_types.values()) >= 100


def test_tokenizer_has_bert_special_tokens_and_a_small_vocabulary(tokenizer):
    assert 600 <= len(tokenizer) <= 1500
    assert tokenizer.convert_tokens_to_ids(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]) == [0, 1, 2, 3, 4]
    assert (tokenizer.pad_token, tokenizer.cls_token, tokenizer.sep_token) == ("[PAD]", "[CLS]", "[SEP]")
    single = tokenizer("Rain in Osterby.")
    assert single["input_ids"][0] == tokenizer.cls_token_id and single["input_ids"][-1] == tokenizer.sep_token_id
    assert list(single) == ["input_ids", "attention_mask"]


def test_tokenizer_encodes_question_context_pairs_like_bert(tokenizer):
    pair = tokenizer("Where was Mira born?", "Mira was born in Osterby.", return_token_type_ids=True)
    tokens = pair.tokens()
    assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2 and tokens[-1] == "[SEP]"
    first_sep = tokens.index("[SEP]")
    assert pair["token_type_ids"] == [0] * (first_sep + 1) + [1] * (len(tokens) - first_sep - 1)
    assert pair.sequence_ids()[first_sep + 1 : -1] == [1] * (len(tokens) - first_sep - 2)


def test_tokenizer_offsets_map_tokens_back_to_the_text(tokenizer):
    text = "Mira Brennholt joined Kelmo Foods."
    encoding = tokenizer(text, return_offsets_mapping=True)
    pieces = [text[a:b] for a, b in encoding["offset_mapping"]]
    tokens = encoding.tokens()
    assert pieces[0] == pieces[-1] == ""  # [CLS] and [SEP] cover no text
    assert [t.removeprefix("##") for t in tokens[1:-1]] == pieces[1:-1]


def test_tokenizer_splits_a_good_share_of_words_so_labels_need_aligning(tokenizer):
    records = load_tagging("validation")
    words = [w for r in records for w in r["words"]]
    entity_words = [w for r in records for w, t in zip(r["words"], r["tags"]) if t != "O"]
    pieces = lambda w: len(tokenizer(w, add_special_tokens=False)["input_ids"])  # noqa: E731
    assert sum(pieces(w) > 1 for w in words) / len(words) >= 0.25
    assert sum(pieces(w) > 1 for w in entity_words) / len(entity_words) >= 0.25
    encoding = tokenizer(records[0]["words"], is_split_into_words=True)
    word_ids = encoding.word_ids()
    assert word_ids[0] is None and word_ids[-1] is None
    assert sorted(set(word_ids[1:-1])) == list(range(len(records[0]["words"])))


def test_tokenizer_pads_on_the_side_asked_for():
    right = load_tokenizer()(["a b c", "a"], padding=True, return_tensors="pt")
    left = load_tokenizer(padding_side="left")(["a b c", "a"], padding=True, return_tensors="pt")
    assert right["input_ids"][1, -1].item() == 0 and right["attention_mask"][1].tolist() == [1, 1, 1, 0, 0]
    assert left["input_ids"][1, 0].item() == 0 and left["attention_mask"][1].tolist() == [0, 0, 1, 1, 1]
    assert torch.equal(right["input_ids"][0], left["input_ids"][0])
    with pytest.raises(ValueError, match="padding_side"):
        load_tokenizer(padding_side="middle")


def test_auto_tokenizer_loads_the_same_tokenizer_from_the_folder(tokenizer):
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(str(data_dir() / "tokenizer"))
    text = "Where did Tove Quist move to in 1999?"
    assert auto(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert auto.pad_token_id == tokenizer.pad_token_id == 0


def test_unknown_split_is_refused_with_the_valid_names():
    with pytest.raises(ValueError, match="'train', 'validation'"):
        load_classification("test")


def test_missing_data_folder_says_to_clone_the_repository(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "DATA_DIR", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="git clone"):
        load_tagging()
    with pytest.raises(FileNotFoundError, match="git clone"):
        load_tokenizer()


def test_wordpiece_vocab_merges_the_most_frequent_pair_first_and_stops_below_min_frequency():
    vocab = datasets_generator.learn_wordpiece_vocab(["ab ab ab", "abc"], vocab_size=100, min_frequency=2)
    # (a, ##b) occurs 4 times and becomes "ab"; (ab, ##c) occurs once, below min_frequency.
    assert vocab == datasets_generator.SPECIAL_TOKENS + ["##b", "##c", "a", "ab"]


def test_wordpiece_vocab_breaks_ties_alphabetically_and_respects_the_size():
    vocab = datasets_generator.learn_wordpiece_vocab(["zw xy"], vocab_size=100, min_frequency=1)
    assert vocab[5:] == ["##w", "##y", "x", "z", "xy", "zw"]
    assert len(datasets_generator.learn_wordpiece_vocab(["zw xy"], vocab_size=10, min_frequency=1)) == 10


def test_docstring_examples_run_as_written():
    import doctest

    result = doctest.testmod(data, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 6 and result.failed == 0


# --- classification: the topic is decided by the sentence's structure, not by which words occur --------


@pytest.fixture(scope="module")
def classification_baseline_scores():
    from modlayers.lessons.baselines.classification import classification_baselines

    return classification_baselines(load_classification("train"), load_classification("validation"))


def test_classification_bag_of_words_baselines_stay_at_or_below_80_percent(classification_baseline_scores):
    scores = classification_baseline_scores
    assert scores["majority class"] == 0.25
    assert scores["naive Bayes (bag of words)"] <= 0.80, scores
    assert scores["logistic regression (bag of words)"] <= 0.80, scores
    assert min(scores["naive Bayes (bag of words)"], scores["logistic regression (bag of words)"]) >= 0.40, (
        "the bag of words should still beat chance: one sentence in four has a single topic"
    )


def test_classification_sentences_often_name_two_topics_and_decide_late():
    records = load_classification("validation")
    late = ("really about", "the real topic was", "kept talking about was", "this one is about", "it is about", "made the news but")
    assert sum(any(cue in r["text"] for cue in late) for r in records) / len(records) >= 0.3


# --- tagging: most validation names are new, so remembering names is not enough -----------------------


def test_tagging_validation_entities_are_mostly_unseen_in_training():
    train_entities = {
        tuple(r["words"][e.start : e.end + 1]) for r in load_tagging("train") for e in bio_entities(r["tags"])
    }
    validation = [
        tuple(r["words"][e.start : e.end + 1]) for r in load_tagging("validation") for e in bio_entities(r["tags"])
    ]
    unseen = sum(entity not in train_entities for entity in validation) / len(validation)
    assert unseen >= 0.6, f"only {unseen:.0%} of validation entities are unseen in training"


def test_tagging_word_lookup_baseline_stays_at_most_half_entity_f1():
    train, validation = load_tagging("train"), load_tagging("validation")
    predicted = LookupTagger(train).predict([r["words"] for r in validation])
    f1 = entity_scores([r["tags"] for r in validation], predicted)["f1"]
    assert f1 <= 0.50, f"a word -> tag lookup table gets entity F1 {f1:.3f} on validation (limit 0.50)"
    assert f1 > 0.05, "the lookup baseline should still find the dates and the few seen names"


def test_tagging_entity_words_split_into_sub_words_with_the_pretrained_tokenizer():
    tokenizer = pytest.importorskip("modlayers.lessons.pretrained").load_pretrained_tokenizer()
    words = [w for r in load_tagging("validation") for w, t in zip(r["words"], r["tags"]) if t != "O"]
    split = sum(len(tokenizer.tokenize(w)) > 1 for w in words) / len(words)
    assert split >= 0.5, f"only {split:.0%} of entity words are cut into sub-words by bert-base-uncased"


def test_importing_the_generators_main_module_writes_nothing(monkeypatch):
    """Sphinx's autosummary imports every module; ``python -m modlayers.lessons.datasets_generator`` alone writes data."""
    import importlib
    import sys

    import modlayers.lessons.datasets_generator as generator

    def write(*args, **kwargs):
        raise AssertionError("importing modlayers.lessons.datasets_generator.__main__ ran the generator")

    monkeypatch.setattr(generator, "main", write)
    monkeypatch.delitem(sys.modules, "modlayers.lessons.datasets_generator.__main__", raising=False)
    importlib.import_module("modlayers.lessons.datasets_generator.__main__")
