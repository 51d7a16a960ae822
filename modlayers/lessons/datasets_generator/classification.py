"""The topic sentences (``classification/``): most name two topics, and word order decides which one it is about."""

from __future__ import annotations

import random

from modlayers.lessons.datasets_generator.vocabulary import CLASSIFICATION_LABELS, FIRST_NAMES, TOWNS, VALIDATION_SHARE, WEEKDAYS


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
