"""The lessons' helpers' old names: ``import modlayers.pretrained`` still works, and says where it went.

The lessons' helpers moved from ``modlayers.<name>`` to ``modlayers.lessons.<name>`` so that the package's file
list shows its three layers. A notebook, a script or a pickle written before the move still imports: the old
name is the *same module object* as the new one (no second copy, classes compare equal, pickles load), and the
first import warns with a ``FutureWarning`` that names the new import. ``python -m`` with an old name stops with
one line naming the new command.

How: a finder first in ``sys.meta_path`` (PEP 451) answers for ``modlayers.<old>`` and every name under it, so
the regular path finder never loads a file a second time under the old name.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = frozenset({
    "baselines", "command_line", "cpu_threads", "data", "data_sources", "data_tasks", "datasets_generator",
    "distributed", "doctor", "finetuning", "memory", "model_sources", "pipelines", "plots", "pretrained",
    "stated_figures", "tiny_transformer", "training", "widgets",
})


def new_name(old: str) -> str | None:
    """``"modlayers.lessons.memory.policies"`` for ``"modlayers.memory.policies"``; ``None`` for a name that did not move.

    Example:
        >>> new_name("modlayers.pretrained"), new_name("modlayers.heads")
        ('modlayers.lessons.pretrained', None)
    """
    parts = old.split(".")
    if len(parts) < 2 or parts[0] != "modlayers" or parts[1] not in MOVED:
        return None
    return ".".join(["modlayers", "lessons", *parts[1:]])


class MovedNamesFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``modlayers.<old>`` as the module ``modlayers.lessons.<old>``, with a ``FutureWarning``."""

    def find_spec(self, fullname, path=None, target=None):
        if new_name(fullname) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = new_name(spec.name)
        if spec.name.count(".") == 1:  # once per moved name, not again for each module under it
            warnings.warn(f"{spec.name} moved to {new}: import it from there (the old name goes in modlayers 1.0)",
                          FutureWarning, stacklevel=2)  # warnings skips importlib's frames: the import line
        module = importlib.import_module(new)
        spec.loader_state = module.__spec__  # importlib now sets __spec__ to the old name's; exec_module puts it back
        return module

    def exec_module(self, module):
        module.__spec__ = module.__spec__.loader_state

    def get_code(self, fullname):  # what `python -m modlayers.<old>` asks for
        raise ImportError(f"{fullname} moved to {new_name(fullname)}: run python -m {new_name(fullname)}")


def install() -> None:
    """Put the finder first in ``sys.meta_path`` (once; ``import modlayers`` calls this)."""
    if not any(isinstance(finder, MovedNamesFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedNamesFinder())
