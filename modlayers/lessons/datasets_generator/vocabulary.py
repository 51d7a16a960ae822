"""What every dataset draws from: the seed, the labels, and the invented people, towns, organisations and dates."""

from __future__ import annotations


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
