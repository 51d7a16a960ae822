"""Write the kit's small datasets and tokenizer into ``data/``, the same bytes on every run.

The notebooks train real (tiny) models, so they need data that a model has to *learn*: many sentence
templates, a few hundred invented names, towns and companies, and distractors (the same word in two
classes, two people in one context, towns in filler sentences). Everything is written for the kit from
the word lists below; no sentence is copied from an existing corpus.

Three datasets, each with a fixed train/validation split, stored as JSON Lines:

- ``classification/`` -- a short sentence and its topic (sports, cooking, weather, technology).
- ``qa/`` -- a context about invented people, a question, the answer text and its character offset.
- ``tagging/`` -- a sentence as words, with a BIO tag per word (PER, ORG, LOC, DATE).

and a WordPiece tokenizer trained on the training texts (``tokenizer/``), small enough that many words
split into several sub-words, which is what makes label alignment (notebook 03) necessary.

One module per dataset (:mod:`~modlayers.lessons.datasets_generator.classification`,
:mod:`~modlayers.lessons.datasets_generator.qa`, :mod:`~modlayers.lessons.datasets_generator.tagging`), the shared word lists
(:mod:`~modlayers.lessons.datasets_generator.vocabulary`), the tokenizer (:mod:`~modlayers.lessons.datasets_generator.wordpiece`)
and the datasheet (:mod:`~modlayers.lessons.datasets_generator.datasheet`); this module writes them all.

Regenerate with::

    python -m modlayers.lessons.datasets_generator            # writes ./data (run from the repository root)
    python -m modlayers.lessons.datasets_generator --out DIR  # somewhere else

Every random choice comes from a ``random.Random`` seeded from ``SEED`` (:mod:`~modlayers.lessons.datasets_generator.vocabulary`), and the files are written with fixed
formatting, so the output is byte-identical across runs and machines (``tests/test_data.py`` checks).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from pathlib import Path

# The names the notebooks, the tests and the data loader use, importable from here as before the split.
from modlayers.lessons.datasets_generator.classification import make_classification
from modlayers.lessons.datasets_generator.qa import make_qa
from modlayers.lessons.datasets_generator.tagging import make_tagging, unseen_entity_share
from modlayers.lessons.datasets_generator.vocabulary import (
    CLASSIFICATION_LABELS,
    ENTITY_TYPES,
    SEED,
    SPECIAL_TOKENS,
    TAGGING_LABELS,
    VALIDATION_SHARE,
    VOCAB_SIZE,
)
from modlayers.lessons.datasets_generator.wordpiece import (
    TOKENIZER_CONFIG,
    build_tokenizer,
    learn_wordpiece_vocab,
    training_texts,
    word_split_share,
)
from modlayers.lessons.datasets_generator.datasheet import _datasheet, _statistics

__all__ = [
    "CLASSIFICATION_LABELS", "ENTITY_TYPES", "SEED", "SPECIAL_TOKENS", "TAGGING_LABELS", "TOKENIZER_CONFIG",
    "VALIDATION_SHARE", "VOCAB_SIZE", "build_tokenizer", "generate", "learn_wordpiece_vocab", "main",
    "make_classification", "make_qa", "make_tagging", "training_texts", "unseen_entity_share", "word_split_share",
    "write_all",
]


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def generate(seed: int = SEED) -> dict[str, dict[str, list[dict]]]:
    """Build the three datasets in memory: {"classification"|"qa"|"tagging": {"train"|"validation": records}}."""
    return {
        "classification": make_classification(random.Random(f"{seed}-classification")),
        "qa": make_qa(random.Random(f"{seed}-qa")),
        "tagging": make_tagging(random.Random(f"{seed}-tagging")),
    }


def write_all(out: Path, seed: int = SEED) -> dict[str, str]:
    """Write datasets, tokenizer and the datasheet (README.md) under ``out``; return {path: sha256}."""
    out = Path(out)
    datasets = generate(seed)
    files: dict[str, str] = {}
    for name, splits in datasets.items():
        for split, records in splits.items():
            files[f"{name}/{split}.jsonl"] = _jsonl(records)
    tokenizer = build_tokenizer(training_texts(datasets))
    files["tokenizer/tokenizer.json"] = tokenizer.to_str(pretty=True) + "\n"
    files["tokenizer/tokenizer_config.json"] = json.dumps(TOKENIZER_CONFIG, indent=2) + "\n"

    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    checksums = {relative: hashlib.sha256(text.encode("utf-8")).hexdigest() for relative, text in files.items()}
    stats = _statistics(datasets, tokenizer)
    (out / "README.md").write_bytes(_datasheet(datasets, checksums, stats, seed).encode("utf-8"))
    return checksums


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m modlayers.lessons.datasets_generator",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data"), help="folder to write into (default: ./data)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    checksums = write_all(args.out, args.seed)
    for path, digest in checksums.items():
        print(f"{digest}  {args.out / path}")

