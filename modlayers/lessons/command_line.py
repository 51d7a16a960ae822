"""What every ``python -m modlayers`` command shares: its arguments checked before any work, one-line errors.

A command parses its arguments with :class:`CommandParser` and the argument types below, so a bad value
stops it before it loads data, builds a model, trains or measures: one line on stderr that names the
argument, what was given and what is accepted, and exit status 2 (argparse's status for a usage error)::

    $ python -m modlayers train --layers 0
    error: argument --layers: must be at least 1 (a whole number), got 0 (options: python -m modlayers train --help)

    $ python -m modlayers memory --json missing/rows.json
    error: argument --json: the folder missing does not exist; create it first (mkdir -p missing) or write
    the file somewhere else, got 'missing/rows.json' (...)

An output file is checked when the command starts, not when it writes at the end: a missing folder must
not cost the minutes of training or measuring before it. Errors found later (bad data, a damaged
pretrained file) go through :func:`fail`, which prints them on one line too.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

USAGE_ERROR = 2  # the exit status of a command given arguments or files it cannot use


class CommandParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line, ``error: ...``, and exit status 2.

    Example:
        >>> parser = CommandParser(prog="python -m modlayers example")
        >>> _ = parser.add_argument("--layers", type=positive_int, default=2)
        >>> parser.parse_args(["--layers", "3"]).layers
        3
    """

    def error(self, message: str):
        self.exit(USAGE_ERROR, f"error: {one_line(message)} (options: {self.prog} --help)\n")


def one_line(message: object) -> str:
    """A message on one line: newlines and runs of spaces become one space."""
    return " ".join(str(message).split())


def fail(message: object, status: int = USAGE_ERROR) -> int:
    """Print ``error: <message>`` on one line to stderr; return the exit status for the command to return."""
    print(f"error: {one_line(message)}", file=sys.stderr)
    return status


def _number(text: str, kind: type, accepted: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {accepted}, got {text!r}") from None


def positive_int(text: str) -> int:
    """A whole number >= 1 (layers, sizes, steps, batch sizes)."""
    value = _number(text, int, "at least 1 (a whole number)")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (a whole number), got {value}")
    return value


def non_negative_int(text: str) -> int:
    """A whole number >= 0 (repeats, where 0 means none)."""
    value = _number(text, int, "at least 0 (a whole number)")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0 (a whole number), got {value}")
    return value


def positive_float(text: str) -> float:
    """A number > 0 (learning rates, seconds)."""
    value = _number(text, float, "a number > 0")
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def probability(text: str) -> float:
    """A dropout probability in [0, 1)."""
    value = _number(text, float, "a number in [0, 1)")
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text}")
    return value


def output_file(text: str) -> Path:
    """A file the command will write: its folder exists and is writable, and it is not itself a folder.

    Example:
        >>> output_file("no/such/folder/rows.json")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: the folder no/such/folder does not exist; create it first (mkdir -p no/such/folder) or write the file somewhere else, got 'no/such/folder/rows.json'
    """
    path = Path(text).expanduser()
    folder = path.parent
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"is a folder; give the name of a file inside it, got {text!r}")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(
            f"the folder {folder} does not exist; create it first (mkdir -p {folder}) or write the file somewhere "
            f"else, got {text!r}"
        )
    if not os.access(folder, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write into the folder {folder} (permission denied), got {text!r}")
    return path


def input_file(text: str) -> Path:
    """A file the command will read: it exists, is a file and is readable."""
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file, got {text!r}")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"is not a file, got {text!r}")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"cannot be read (permission denied), got {text!r}")
    return path


def existing_folder(text: str) -> Path:
    """A folder the command will read from: it exists."""
    path = Path(text).expanduser()
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "no such folder"
        raise argparse.ArgumentTypeError(f"{what}, got {text!r}")
    return path
