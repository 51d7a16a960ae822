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
