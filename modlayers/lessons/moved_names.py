"""The lessons' helpers' old names: ``import modlayers.pretrained`` still works, and says where it went.

The lessons' helpers moved from ``modlayers.<name>`` to ``modlayers.lessons.<name>`` so that the package's file
list shows its three layers. A notebook, a script or a pickle written before the move still imports: the old
name is the *same module object* as the new one (no second copy, classes compare equal, pickles load), and the
first import warns with a ``FutureWarning`` that names the new import. ``import modlayers; modlayers.training``
works the same way (the package's ``__getattr__``), and ``python -m modlayers.<old>`` runs the new module after one
``FutureWarning`` naming the new command.

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


def _run_by_python_dash_m() -> bool:
    """Whether runpy (``python -m``) is importing: it imports the package of the module it then runs."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename in ("<frozen runpy>", getattr(sys.modules.get("runpy"), "__file__", None)):
            return True
        frame = frame.f_back
    return False


class MovedNamesFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``modlayers.<old>`` as the module ``modlayers.lessons.<old>``, with a ``FutureWarning``."""

    def find_spec(self, fullname, path=None, target=None):
        new = new_name(fullname)
        real = importlib.util.find_spec(new) if new is not None else None
        if real is None:  # not a moved name, or one that never existed: the usual ModuleNotFoundError
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=real.origin,
                                               is_package=real.submodule_search_locations is not None)

    def create_module(self, spec):
        new = new_name(spec.name)
        # once per moved name, not again for each module under it; `python -m` says it once itself (get_code)
        if spec.name.count(".") == 1 and not _run_by_python_dash_m():
            warnings.warn(f"{spec.name} moved to {new}: import it from there (the old name goes in modlayers 1.0)",
                          FutureWarning, stacklevel=2)  # warnings skips importlib's frames: the import line
        module = importlib.import_module(new)
        spec.loader_state = module.__spec__  # importlib now sets __spec__ to the old name's; exec_module puts it back
        return module

    def exec_module(self, module):
        module.__spec__ = module.__spec__.loader_state

    def get_code(self, fullname):
        """The new module's code, for ``python -m modlayers.<old>`` (runpy asks for it), with a ``FutureWarning``."""
        new = new_name(fullname)
        old_command, new_command = (name.removesuffix(".__main__") for name in (fullname, new))
        warnings.warn_explicit(f"python -m {old_command} is now python -m {new_command} (the old name goes in "
                               "modlayers 1.0)", FutureWarning, filename=f"python -m {old_command}", lineno=1)
        return importlib.util.find_spec(new).loader.get_code(new)


def moved_attribute(name: str):
    """``modlayers.<old>`` as an attribute (``import modlayers; modlayers.training``), with a ``FutureWarning``.

    ``modlayers/__init__.py``'s ``__getattr__`` (PEP 562) calls this for a name the package does not have.

    Raises:
        AttributeError: ``name`` is no name that moved.
    """
    if name not in MOVED:
        raise AttributeError(f"module 'modlayers' has no attribute {name!r}")
    warnings.warn(f"modlayers.{name} moved to modlayers.lessons.{name}: use that (the old name goes in modlayers 1.0)",
                  FutureWarning, stacklevel=3)  # past this function and the package's __getattr__: the user's line
    return importlib.import_module(f"modlayers.lessons.{name}")


def install() -> None:
    """Put the finder first in ``sys.meta_path`` (once; ``import modlayers`` calls this)."""
    if not any(isinstance(finder, MovedNamesFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedNamesFinder())
