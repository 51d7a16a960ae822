"""The instructor's secret behind the hidden tests' random inputs.

The hidden tests compare the learner's function with the kit's on random inputs. Those inputs come
from the kit's public generators (``random_padded_batches(seed, count)``, ...), so whoever knows a seed
can rebuild them; the seeds therefore never appear in a notebook or in this repository. They are derived
from a secret that only the instructor holds, given in one of two ways (the first found wins):

1. the environment variable ``MODLAYERS_HIDDEN_SEED`` (any text, e.g. ``export MODLAYERS_HIDDEN_SEED=$(openssl
   rand -hex 16)``);
2. a file outside the repository, ``~/.config/modlayers/hidden_seed`` by default (or the path in
   ``MODLAYERS_HIDDEN_SEED_FILE``, or ``grade --seed-file PATH``), whose first line is the secret.

``grade`` reads it before it grades anything and passes it on to the notebooks it runs (as the
environment variable); without it, it stops with :class:`HiddenSeedMissing` saying how to set one.
Each hidden test then asks :func:`hidden_seed` for its own seed, a hash of the secret and the test's
name, so two tests never share inputs and changing the secret changes them all.

Example:
    >>> import os
    >>> os.environ["MODLAYERS_HIDDEN_SEED"] = "a secret"
    >>> hidden_seed("a1_pooling/last_non_pad_index") == hidden_seed("a1_pooling/last_non_pad_index")
    True
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

SEED_VARIABLE = "MODLAYERS_HIDDEN_SEED"
SEED_FILE_VARIABLE = "MODLAYERS_HIDDEN_SEED_FILE"
DEFAULT_SEED_FILE = Path("~/.config/modlayers/hidden_seed")

HOW_TO_SET = (
    f"Set the instructor's secret for the hidden tests: export {SEED_VARIABLE}=<any text only you know>, or "
    f"write it on the first line of {DEFAULT_SEED_FILE} (or of a file named by --seed-file or {SEED_FILE_VARIABLE}), "
    "outside the repository. Keep it the same for the whole course, and private: whoever knows it can rebuild "
    "the hidden inputs."
)


class HiddenSeedMissing(RuntimeError):
    """No instructor secret was given; the message says how to give one."""


def read_instructor_secret(seed_file: Path | str | None = None) -> str:
    """The instructor's secret: ``$MODLAYERS_HIDDEN_SEED``, else the first line of the seed file.

    Args:
        seed_file: the file to read (``grade --seed-file``); by default ``$MODLAYERS_HIDDEN_SEED_FILE`` or
            ``~/.config/modlayers/hidden_seed``. When given, it is read even if the variable is set.

    Raises:
        HiddenSeedMissing: no secret found. The message names the file that was looked for and says what
            each other source holds (the variable set or not, the file variable set or not).
    """
    variable = os.environ.get(SEED_VARIABLE)
    if seed_file is None:
        if variable and variable.strip():
            return variable.strip()
        file_variable = os.environ.get(SEED_FILE_VARIABLE)
        path = Path(file_variable or DEFAULT_SEED_FILE).expanduser()
        named_by = f"and the seed file named by {SEED_FILE_VARIABLE}, {path}," if file_variable else (
            f"{SEED_FILE_VARIABLE} is not set, and the default seed file {path}")
        state = f"no instructor secret: {SEED_VARIABLE} is {'set but empty' if variable is not None else 'not set'}, "
        return _first_line(path, state + named_by, HOW_TO_SET)
    path = Path(seed_file).expanduser()
    if variable and variable.strip():
        others = (f"({SEED_VARIABLE} is set, but a seed file named by --seed-file is read instead of it: correct the "
                  f"path, or leave --seed-file out to use {SEED_VARIABLE}.)")
    else:
        others = f"{SEED_VARIABLE} is not set either. {HOW_TO_SET}"
    return _first_line(path, f"the seed file named by --seed-file, {path},", others)


def _first_line(path: Path, what: str, then: str) -> str:
    """The first line of the seed file ``path``, or :class:`HiddenSeedMissing`: ``what`` + why + ``then``."""
    if path.is_dir():
        raise HiddenSeedMissing(f"{what} is a folder, not a file: name the file that holds the secret. {then}")
    if not path.exists():
        raise HiddenSeedMissing(f"{what} does not exist. {then}")
    try:
        lines = path.read_text().strip().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise HiddenSeedMissing(f"{what} cannot be read ({error}). {then}") from None
    if not lines or not lines[0].strip():
        raise HiddenSeedMissing(f"{what} is empty: write the secret on its first line. {then}")
    return lines[0].strip()


def hidden_seed(test_name: str) -> int:
    """The seed of one hidden test: a hash of the instructor's secret and ``test_name``, in [0, 2**31).

    Raises:
        HiddenSeedMissing: no secret is set (outside grading, e.g. a learner running hidden tests).
    """
    secret = read_instructor_secret()
    digest = hashlib.sha256(f"{secret}\n{test_name}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31
