"""Question answering baselines: what rules that never learn to read already get.

A reader's exact match means little on its own. These rules use what a reader could exploit without
understanding the context:

- ``"first sentence"``: answer with the context's first sentence (a span, but almost never the answer);
- ``"random span"``: one to three consecutive words of the context, chosen at random (seeded);
- ``"first of kind"``: guess the *kind* of answer from the question's words ("where" -> a town, "when"
  -> a year, "employs" -> an organisation, "instrument" -> an instrument, ...) and answer with the first
  value of that kind in the context;
- ``"overlap sentence"``: among the sentences that hold a value of that kind, take the one sharing most
  words with the question (the person's name, "born", "moved"), and answer with its first value of that
  kind.

The values of each kind come from the training answers (:func:`answer_lexicon`), years from a pattern.
The data is written so that the rules stay low (``tests/test_data.py`` asserts <= 0.30 exact match on
the validation split): every fact sentence holds a second value of the answer's kind, and questions
often paraphrase their sentence.

Example:
    >>> from modlayers.lessons.data import load_qa
    >>> scores = qa_baselines(load_qa("train"), load_qa("validation"))
    >>> sorted(scores)
    ['first of kind', 'first sentence', 'overlap sentence', 'random span']
    >>> all(0 <= s["exact_match"] <= 0.3 for s in scores.values())
    True
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from modlayers.metrics import squad_scores

__all__ = [
    "ANSWER_KINDS",
    "answer_kind",
    "answer_lexicon",
    "kind_values",
    "first_sentence",
    "random_span",
    "first_of_kind",
    "overlap_sentence",
    "qa_baselines",
]

# (kind, words in the question that announce it), checked in this order: "Where does X work?" asks
# for an organisation before "where" can claim a town.
ANSWER_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("organisation", ("work?", "employ", "company", "organisation")),
    ("job", ("job", "profession", "living", "work as")),
    ("pet name", ("name of", "called")),
    ("animal", ("animal", "pet")),
    ("instrument", ("instrument",)),
    ("food", ("dish", "food")),
    ("year", ("when", "year")),
    ("town", ("where", "town", "birthplace")),
)
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_STOP_WORDS = frozenset("a an the of in to at is was does did do what which where when who for and from".split())


def _check_records(name: str, records) -> None:
    if isinstance(records, dict) or not isinstance(records, Sequence):
        raise TypeError(f"{name} must be a list of QA records (load_qa(...)), got {type(records).__name__}.")
    for i, record in enumerate(records):
        missing = {"question", "context"} - set(record)
        if missing:
            raise ValueError(f"{name}[{i}] has no {sorted(missing)}; pass records from modlayers.lessons.data.load_qa.")


def answer_kind(question: str) -> str | None:
    """The kind of answer a question asks for, from its words; ``None`` when no rule matches.

    Example:
        >>> answer_kind("Where does Mira work?"), answer_kind("When was Mira born?")
        ('organisation', 'year')
    """
    lowered = question.lower()
    for kind, cues in ANSWER_KINDS:
        if any(cue in lowered for cue in cues):
            return kind
    return None


def answer_lexicon(train_records: Sequence[dict]) -> dict[str, set[str]]:
    """The training answers grouped by the kind their question asks for: ``{kind: {answer text, ...}}``.

    Raises:
        ValueError: a record without ``question`` / ``answer_text``.

    Example:
        >>> answer_lexicon([{"question": "Where was Ada born?", "context": "", "answer_text": "Osterby"}])
        {'town': {'Osterby'}}
    """
    _check_records("train_records", train_records)
    lexicon: dict[str, set[str]] = {}
    for i, record in enumerate(train_records):
        if "answer_text" not in record:
            raise ValueError(f"train_records[{i}] has no 'answer_text'; the lexicon is built from training answers.")
        kind = answer_kind(record["question"])
        if kind is not None:
            lexicon.setdefault(kind, set()).add(record["answer_text"])
    return lexicon


def kind_values(text: str, kind: str | None, lexicon: dict[str, set[str]]) -> list[tuple[int, str]]:
    """Every value of ``kind`` in ``text`` as ``(character start, value)``, in reading order.

    Years match a four-digit pattern; other kinds match the lexicon's values as whole words, the longest
    first (so "Port Aldine Bank" is one organisation, not the town "Port Aldine").

    Example:
        >>> kind_values("Ada moved to Osterby in 1999.", "year", {})
        [(24, '1999')]
    """
    if kind is None:
        return []
    if kind == "year":
        return [(m.start(), m.group()) for m in _YEAR.finditer(text)]
    found: list[tuple[int, str]] = []
    taken = [False] * len(text)
    for value in sorted(lexicon.get(kind, ()), key=len, reverse=True):
        for m in re.finditer(rf"\b{re.escape(value)}\b", text):
            if not any(taken[m.start() : m.end()]):
                found.append((m.start(), value))
                taken[m.start() : m.end()] = [True] * (m.end() - m.start())
    return sorted(found)


def first_sentence(question: str, context: str) -> str:
    """The context's first sentence.

    Example:
        >>> first_sentence("Who?", "Ada sings. Bo reads.")
        'Ada sings.'
    """
    return _SENTENCE_END.split(context.strip(), maxsplit=1)[0]


def random_span(question: str, context: str, rng: random.Random, max_words: int = 3) -> str:
    """One to ``max_words`` consecutive words of the context, drawn with ``rng``.

    Example:
        >>> random_span("Who?", "Ada sings.", random.Random(0), max_words=1) in ("Ada", "sings")
        True
    """
    words = list(_WORD.finditer(context))
    if not words:
        return ""
    length = rng.randint(1, min(max_words, len(words)))
    start = rng.randrange(len(words) - length + 1)
    return context[words[start].start() : words[start + length - 1].end()]  # a slice of the context


def first_of_kind(question: str, context: str, lexicon: dict[str, set[str]]) -> str:
    """The first value of the question's answer kind in the context (``""`` when there is none).

    Example:
        >>> first_of_kind("When was Ada born?", "Bo came in 1990. Ada was born in 1970.", {})
        '1990'
    """
    values = kind_values(context, answer_kind(question), lexicon)
    return values[0][1] if values else ""


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP_WORDS}


def overlap_sentence(question: str, context: str, lexicon: dict[str, set[str]]) -> str:
    """The first value of the answer kind in the sentence that shares most content words with the question.

    Only sentences holding a value of that kind compete; ties go to the earlier sentence. Without a
    kind, or with no such sentence, the answer is ``""``.

    Example:
        >>> overlap_sentence("When was Ada born?", "Bo came in 1990. Ada was born in 1970.", {})
        '1970'
    """
    kind = answer_kind(question)
    asked = _content_words(question)
    best, best_overlap = "", -1
    for sentence in _SENTENCE_END.split(context.strip()):
        values = kind_values(sentence, kind, lexicon)
        overlap = len(asked & _content_words(sentence))
        if values and overlap > best_overlap:
            best, best_overlap = values[0][1], overlap
    return best


def qa_baselines(
    train_records: Sequence[dict], validation_records: Sequence[dict], *, seed: int = 0
) -> dict[str, dict[str, float]]:
    """SQuAD exact match and F1 of every baseline on ``validation_records``.

    Args:
        train_records: records with ``question`` and ``answer_text`` (the lexicon of values by kind).
        validation_records: records with ``question``, ``context`` and ``answer_text``.
        seed: the random span's seed.

    Returns:
        ``{baseline name: {"exact_match": float, "f1": float}}``, scores in ``[0, 1]``.

    Raises:
        TypeError: records that are not a list of dicts.
        ValueError: a record missing a field, or no validation records.
    """
    _check_records("validation_records", validation_records)
    lexicon = answer_lexicon(train_records)
    rng = random.Random(seed)
    rules = {
        "first sentence": lambda q, c: first_sentence(q, c),
        "random span": lambda q, c: random_span(q, c, rng),
        "first of kind": lambda q, c: first_of_kind(q, c, lexicon),
        "overlap sentence": lambda q, c: overlap_sentence(q, c, lexicon),
    }
    references = [r["answer_text"] for r in validation_records]
    return {
        name: squad_scores([rule(r["question"], r["context"]) for r in validation_records], references)
        for name, rule in rules.items()
    }
