"""The tagged sentences (``tagging/``): BIO tags for PER, ORG, LOC and DATE, most validation names unseen in training."""

from __future__ import annotations

import random

from modlayers.lessons.datasets_generator.vocabulary import MONTHS, ORG_SUFFIXES, VALIDATION_SHARE, WEEKDAYS
from modlayers.metrics import bio_entities


# Words separated by spaces; {PER}, {ORG}, {LOC}, {DATE_IN} ("in March 2019") and {DATE_ON}
# ("on 3 March 2019") are entity slots. Capitalised non-entity words ("Shares", "Doctors") and
# organisations named after towns are the distractors.
TAGGING_TEMPLATES = [
    "{PER} joined {ORG} in {DATE_IN} .",
    "On {DATE_ON} , {PER} flew from {LOC} to {LOC} .",
    "{ORG} opened a new office in {LOC} .",
    "The mayor of {LOC} met {PER} on {DATE_ON} .",
    "{PER} and {PER} founded {ORG} in {DATE_IN} .",
    "According to {PER} , {ORG} will hire fifty people .",
    "Shares of {ORG} fell sharply on {DATE_ON} .",
    "{PER} grew up near {LOC} and later studied in {LOC} .",
    "Heavy snow closed the roads around {LOC} .",
    "The festival in {LOC} starts on {DATE_ON} .",
    "{PER} , a spokesperson for {ORG} , declined to comment .",
    "Engineers from {ORG} visited {LOC} last week .",
    "{PER} will give a talk at {ORG} on {DATE_ON} .",
    "Nobody expected the storm to last so long .",
    "The museum reopened after a long repair .",
    "{PER} sold the bakery to {PER} in {DATE_IN} .",
    "Trains between {LOC} and {LOC} were cancelled on {DATE_ON} .",
    "{ORG} and {ORG} signed a deal in {LOC} .",
    "Born in {LOC} , {PER} moved to {LOC} as a child .",
    "The report by {ORG} was published on {DATE_ON} .",
    "{PER} thanked the volunteers of {ORG} .",
    "In {DATE_IN} , the bridge at {LOC} was finally finished .",
    "{PER} met the team from {ORG} at the harbour in {LOC} .",
    "Last night {PER} won the chess final in {LOC} .",
    "Tickets for the concert by {PER} sold out within an hour .",
    "{ORG} moved its headquarters from {LOC} to {LOC} on {DATE_ON} .",
    "Doctors at {ORG} treated {PER} for a broken arm .",
    "The new library in {LOC} is named after {PER} .",
    "Visitors to {LOC} can take the ferry run by {ORG} .",
    "Since {DATE_IN} , {PER} has led the research group at {ORG} .",
    "Prices in {LOC} rose again in {DATE_IN} .",
    "Volunteers planted trees along the river all afternoon .",
    "{PER} called {PER} from the station in {LOC} .",
    "Analysts at {ORG} expect a quiet winter .",
]


# Entity names are made up from syllables, so that the validation split can hold names the training
# split never shows: a tagger must read the context and the shape of a name, not remember it.
NAME_ONSETS = ["b", "br", "d", "dr", "f", "g", "gr", "h", "j", "k", "kl", "l", "m", "n", "p", "r", "s", "sk",
               "st", "t", "th", "v", "w", "z", ""]
NAME_VOWELS = ["a", "e", "i", "o", "u", "a", "e", "o", "ei", "ou"]
NAME_CODAS = ["", "", "", "n", "r", "l", "s", "m", "nd", "k"]
SURNAME_ENDINGS = ["", "", "son", "ova", "ski", "holt", "er", "ez", "ani", "berg", "ik", "etti"]
TOWN_ENDINGS = ["by", "holm", "wick", "stead", "haven", "moor", "ford", "vik", "dale", "mouth", "field", "ton"]
TOWN_FORMS = ["{}", "{}", "{}", "{}", "Port {}", "{} Bay", "{} Falls", "{} Vale"]
ORG_NOUNS = ["Foods", "Rail", "Labs", "Systems", "Analytics", "Press", "Energy", "Clinic", "Air", "Robotics",
             "Mutual", "Freight", "Software", "Builders", "Health", "Studios"]
TAGGING_POOL_SIZES = {"first": 320, "last": 320, "town": 220, "org": 160}
TAGGING_HELD_OUT_SHARE = 0.3   # of each name pool: names only the validation split uses
TAGGING_SEEN_IN_VALIDATION = 0.15  # chance that a validation entity takes a training name instead


def _syllable(rng: random.Random) -> str:
    return rng.choice(NAME_ONSETS) + rng.choice(NAME_VOWELS) + rng.choice(NAME_CODAS)


def _invented_word(rng: random.Random, syllables: int, ending: str = "") -> str:
    return ("".join(_syllable(rng) for _ in range(syllables)) + ending).capitalize()


def _tagging_name_pools(rng: random.Random) -> dict[str, dict[str, list[str]]]:
    """{"train"|"validation": {"first"|"last"|"town"|"org": names}}: disjoint pools of invented names."""
    makers = {
        "first": lambda: _invented_word(rng, 2),
        "last": lambda: _invented_word(rng, rng.choice([2, 2, 3]), rng.choice(SURNAME_ENDINGS)),
        "town": lambda: rng.choice(TOWN_FORMS).format(_invented_word(rng, rng.choice([1, 2]), rng.choice(TOWN_ENDINGS))),
        "org": lambda: _invented_word(rng, 2) + rng.choice(["", "", " " + rng.choice(ORG_NOUNS)]),
    }
    used: set[str] = set()
    pools: dict[str, dict[str, list[str]]] = {"train": {}, "validation": {}}
    for kind, size in TAGGING_POOL_SIZES.items():
        names: list[str] = []
        while len(names) < size:
            name = makers[kind]()
            if len(name) >= 3 and not set(name.split()) & used:  # no word shared between two names
                used.update(name.split())
                names.append(name)
        held_out = round(size * TAGGING_HELD_OUT_SHARE)
        pools["validation"][kind], pools["train"][kind] = names[:held_out], names[held_out:]
    return pools


def _entity_words(kind: str, rng: random.Random, names: dict[str, list[str]]) -> tuple[list[str], str]:
    """Words of one random entity of ``kind`` (names drawn from ``names``) and its entity type."""
    if kind == "PER":
        first, last = rng.choice(names["first"]), rng.choice(names["last"])
        roll = rng.random()
        return ([first, last] if roll < 0.7 else [first] if roll < 0.85 else [last]), "PER"
    if kind == "ORG":
        if rng.random() < 0.25:  # "Osterby Bank": an organisation named after a town
            return [*rng.choice(names["town"]).split(), rng.choice(ORG_SUFFIXES)], "ORG"
        return rng.choice(names["org"]).split(), "ORG"
    if kind == "LOC":
        return rng.choice(names["town"]).split(), "LOC"
    day, month, year = str(rng.randint(1, 28)), rng.choice(MONTHS), str(rng.randint(1990, 2025))
    if kind == "DATE_IN":
        return rng.choice([[year], [month, year], [month]]), "DATE"
    return rng.choice([[day, month, year], [day, month], [rng.choice(WEEKDAYS)], [month, day]]), "DATE"


def _tagging_example(rng: random.Random, pools: dict[str, dict[str, list[str]]], validation: bool) -> dict:
    template = rng.choice(TAGGING_TEMPLATES)
    words: list[str] = []
    tags: list[str] = []
    for token in template.split():
        if token.startswith("{") and token.endswith("}"):
            held_out = validation and rng.random() >= TAGGING_SEEN_IN_VALIDATION
            entity, kind = _entity_words(token[1:-1], rng, pools["validation" if held_out else "train"])
            words += entity
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(entity) - 1)
        else:
            words.append(token)
            tags.append("O")
    return {"words": words, "tags": tags}


def make_tagging(rng: random.Random, n: int = 1000) -> dict[str, list[dict]]:
    """Return {"train": [...], "validation": [...]} of {"id", "words", "tags"} records (no duplicates).

    Names come from pools of invented names; the validation split draws most of its names from a
    held-out part of each pool (``TAGGING_HELD_OUT_SHARE``), so most validation entities are unseen in
    training and a tagger that memorises names fails on them.
    """
    pools = _tagging_name_pools(rng)
    n_validation = round(n * VALIDATION_SHARE)
    records, seen = [], set()
    while len(records) < n:
        record = _tagging_example(rng, pools, validation=len(records) < n_validation)
        key = " ".join(record["words"])
        if key not in seen:
            seen.add(key)
            records.append(record)
    return {
        "train": [{"id": f"tag-train-{i:04d}", **r} for i, r in enumerate(records[n_validation:])],
        "validation": [{"id": f"tag-valid-{i:04d}", **r} for i, r in enumerate(records[:n_validation])],
    }


def unseen_entity_share(datasets) -> float:
    """Share of validation entities (tagging) whose words never appear as an entity in training."""
    def entities(records):
        return [tuple(r["words"][e.start : e.end + 1]) for r in records for e in bio_entities(r["tags"])]

    train_entities = set(entities(datasets["tagging"]["train"]))
    validation = entities(datasets["tagging"]["validation"])
    return sum(e not in train_entities for e in validation) / len(validation)
