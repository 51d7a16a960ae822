"""Tests for modlayers/lessons/moved_names.py: the lessons' helpers' names from before they moved to
``modlayers.lessons`` import the same module objects, warn once naming the new import, and load old pickles."""

import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import modlayers
from modlayers.lessons import moved_names

LESSONS = Path(modlayers.__file__).resolve().parent / "lessons"


def test_every_module_of_the_lessons_answers_to_its_old_name_and_nothing_else_does():
    present = {p.stem for p in LESSONS.glob("*.py")} | {p.name for p in LESSONS.iterdir()
                                                        if p.is_dir() and p.name != "__pycache__"}
    assert moved_names.MOVED == present - {"__init__", "moved_names"}
    assert moved_names.new_name("modlayers.heads") is None and moved_names.new_name("modlayers") is None
    assert moved_names.new_name("modlayers.memory.policies") == "modlayers.lessons.memory.policies"


def test_an_old_name_is_the_same_module_object_with_its_own_spec():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import modlayers.memory.policies as old
        from modlayers.tiny_transformer import TinyTransformerConfig as OldConfig
    import modlayers.lessons.memory.policies as new
    from modlayers.lessons.tiny_transformer import TinyTransformerConfig

    assert old is new and OldConfig is TinyTransformerConfig
    assert new.__spec__.name == new.__name__ == "modlayers.lessons.memory.policies"  # reload and pickling see the file
    assert sys.modules["modlayers.memory.policies"] is new


def test_a_pickle_written_before_the_move_loads_the_class_of_the_new_module():
    from modlayers.lessons.tiny_transformer import TinyTransformerConfig

    old_pickle = b"cmodlayers.tiny_transformer\nTinyTransformerConfig\np0\n."  # protocol 0: a global by module name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        assert pickle.loads(old_pickle) is TinyTransformerConfig


def test_a_name_that_never_existed_is_still_not_found():
    with pytest.raises(ModuleNotFoundError, match="modlayers.no_such_lesson"):
        import modlayers.no_such_lesson  # noqa: F401
    with pytest.raises(ModuleNotFoundError, match="modlayers.memory.no_such_module"):
        import modlayers.memory.no_such_module  # noqa: F401


def test_an_attribute_that_never_existed_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'modlayers' has no attribute 'no_such_lesson'"):
        modlayers.no_such_lesson  # noqa: B018
    assert not hasattr(modlayers, "heads_v2")


def run_python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300,
                          cwd=Path(modlayers.__file__).resolve().parents[1])


def test_the_first_import_of_an_old_name_warns_once_at_the_import_line_naming_the_new_one():
    result = run_python("-W", "default::FutureWarning", "-c",
                        "import modlayers.pretrained\nimport modlayers.pretrained\nfrom modlayers.memory import policies")
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "FutureWarning" in line]
    assert warned == [
        "<string>:1: FutureWarning: modlayers.pretrained moved to modlayers.lessons.pretrained: import it from there "
        "(the old name goes in modlayers 1.0)",
        "<string>:3: FutureWarning: modlayers.memory moved to modlayers.lessons.memory: import it from there "
        "(the old name goes in modlayers 1.0)",
    ]


def test_an_old_name_as_an_attribute_of_the_package_warns_and_is_the_new_module():
    result = run_python("-W", "default::FutureWarning", "-c",
                        "import modlayers\nprint(modlayers.training is modlayers.lessons.training)")
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr
    assert ("<string>:2: FutureWarning: modlayers.training moved to modlayers.lessons.training: use that "
            "(the old name goes in modlayers 1.0)") in result.stderr


def test_python_dash_m_with_an_old_name_runs_the_new_module_and_says_the_new_command_once():
    result = run_python("-W", "default::FutureWarning", "-m", "modlayers.datasets_generator", "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: python -m modlayers.lessons.datasets_generator")
    assert [line for line in result.stderr.splitlines() if "FutureWarning" in line] == [
        "python -m modlayers.datasets_generator:1: FutureWarning: python -m modlayers.datasets_generator is now "
        "python -m modlayers.lessons.datasets_generator (the old name goes in modlayers 1.0)"], result.stderr
    module = run_python("-W", "ignore::FutureWarning", "-m", "modlayers.memory.scale_table", "2")
    assert module.returncode == 0 and "fsdp2 (W=2)" in module.stdout, module.stderr
