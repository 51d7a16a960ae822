"""The package reads as three layers (README's "Layout"): the library, what mirrors transformers'
``modeling_layers.py``, at the top of ``modlayers/``; the lessons' helpers in ``modlayers/lessons/``; the course in
``modlayers/course/``. A module imports only from its own layer or the ones above it, so an engineer can take the
library without the lessons, and the lessons without the course. The lessons' names from before the move still
import (``modlayers/lessons/moved_names.py``).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "modlayers"
LIBRARY = {"checkpointing", "reentrant_warnings", "offloading", "heads", "head_checkpoints", "pooling", "losses",
           "base_model", "spans", "label_alignment", "metrics"}
LESSONS = {"lessons"}
COURSE = {"course"}
ENTRY_POINTS = {"__init__", "__main__"}  # `import modlayers` and `python -m modlayers` reach every layer
LAYER_NAMES = ("the library", "the lessons' helpers", "the course")


def layer(module: str) -> int | None:
    """0, 1 or 2 for a ``modlayers.x...`` module name; ``None`` for the package itself and its entry points."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in ENTRY_POINTS:
        return None
    return 0 if parts[1] in LIBRARY else 1 if parts[1] in LESSONS else 2 if parts[1] in COURSE else None


def imported_modules(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.startswith("modlayers"):
            found += [node.module] if node.module != "modlayers" else [f"modlayers.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("modlayers.")]
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def test_the_file_list_of_the_package_is_its_three_layers():
    present = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir()
                                                        if p.is_dir() and p.name != "__pycache__"}
    assert present == LIBRARY | LESSONS | COURSE | ENTRY_POINTS, (
        f"modlayers/ holds {sorted(present - (LIBRARY | LESSONS | COURSE | ENTRY_POINTS))} besides its three layers "
        f"and lacks {sorted((LIBRARY | LESSONS | COURSE | ENTRY_POINTS) - present)}: a lessons' helper goes in "
        "modlayers/lessons/, a part of the course in modlayers/course/, a building block of the library at the top "
        "(and in LIBRARY here and the README's Layout)")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_a_module_imports_nothing_from_a_layer_below_its_own(path):
    own = layer(module_name(path))
    if own is None:
        pytest.skip("the package's entry points reach every layer")
    below = [m for m in imported_modules(path) if (layer(m) or 0) > own]
    assert not below, (f"{module_name(path)} ({LAYER_NAMES[own]}) imports {below}, which belong to a layer below it: "
                       "move the shared code up, or the module down")


def test_the_check_sees_an_import_that_crosses_layers(tmp_path):
    lesson_in_library = tmp_path / "heads.py"
    lesson_in_library.write_text("from modlayers.lessons.plots import plot_loss_curve\nimport modlayers.course.grading\n")
    assert [layer(m) for m in imported_modules(lesson_in_library)] == [1, 2]
    assert layer("modlayers.heads") == 0
