"""The set-up files agree with each other."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _requirements_by_name(requirements):
    parsed = {}
    for requirement in requirements:
        name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
        parsed[name.lower().replace("_", "-")] = requirement.replace(" ", "")
    return parsed


def test_binder_environment_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expected = _requirements_by_name(project["dependencies"] + project["optional-dependencies"]["lab"])
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    listed = _requirements_by_name(pip_section)
    # torch is the one conda package: conda-forge's CPU-only build, same version range
    conda_torch = next(d for d in environment["dependencies"] if isinstance(d, str) and d.startswith("pytorch-cpu"))
    listed["torch"] = conda_torch.replace("pytorch-cpu", "torch")
    assert listed == expected


def test_torch_stays_a_range_in_the_package_so_colab_keeps_its_own():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch = _requirements_by_name(project["dependencies"])["torch"]
    assert "==" not in torch and ">=" in torch


def test_requirements_accept_what_colab_has_installed():
    """Colab: torch 2.11, transformers 5.15, ipywidgets 7.7.1, matplotlib 3.10, Python 3.13."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    from packaging.requirements import Requirement

    colab = {"torch": "2.11.0", "transformers": "5.15.0", "ipywidgets": "7.7.1", "matplotlib": "3.10.0"}
    for requirement in map(Requirement, project["dependencies"]):
        if requirement.name in colab:
            assert requirement.specifier.contains(colab[requirement.name]), requirement
    assert Requirement(f"python{project['requires-python']}").specifier.contains("3.13")


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


def test_the_lab_extra_has_what_transformers_trainer_needs():
    """Trainer raises ImportError without accelerate: the README's Trainer example must run in the lab."""
    from packaging.requirements import Requirement
    from packaging.version import Version
    from transformers.dependency_versions_table import deps

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lab = {Requirement(r).name: Requirement(r) for r in project["optional-dependencies"]["lab"]}
    needed = Requirement(deps["accelerate"])  # transformers' own minimum
    assert "accelerate" in lab
    ours_min = min(Version(spec.version) for spec in lab["accelerate"].specifier if spec.operator == ">=")
    assert needed.specifier.contains(ours_min), (lab["accelerate"], needed)


def test_the_readme_trainer_example_runs(tmp_path):
    """The first example of "Use it in your own code" (docs/using.md) and its Trainer example, as a student runs
    them one after the other."""
    import subprocess
    import sys

    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "using.md").read_text(), flags=re.S)
    first = next(block for block in blocks if "class MyClassifier" in block)
    trainer = next(block for block in blocks if "Trainer(" in block)
    result = subprocess.run([sys.executable, "-c", first + trainer], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout.split()[-1]) > 0  # eval_loss printed
