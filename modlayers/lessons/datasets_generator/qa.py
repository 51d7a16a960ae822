"""The question-answering examples (``qa/``): contexts about invented people, with distractors, most longer than 128 tokens."""

from __future__ import annotations

import random

from modlayers.lessons.datasets_generator.vocabulary import FIRST_NAMES, LAST_NAMES, TOWNS, VALIDATION_SHARE, _organisations


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
    from modlayers.lessons.baselines.qa import qa_baselines
    from modlayers.lessons.pretrained import load_pretrained_tokenizer

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
