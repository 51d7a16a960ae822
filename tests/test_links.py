"""The repository's address is written once, in pyproject.toml's [project.urls]; every Binder and Colab
link, every notebook's badge and every set-up cell's `git clone` use that address."""

import re
import tomllib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
OWNER_NAME = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+)", REPOSITORY).group(1)
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted(
    (ROOT / "notebooks" / "assignments").glob("*/*.ipynb"))
TEXT_FILES = [ROOT / "README.md", ROOT / "notebooks" / "assignments" / "README.md", *sorted((ROOT / "docs").glob("*")),
              *sorted((ROOT / "modlayers").rglob("*.py"))]

# Any address of a GitHub repository, as a clone URL, a Colab link or a Binder link; group 1 is owner/name.
ANY_REPOSITORY = re.compile(
    r"(?:colab\.research\.google\.com/github/|mybinder\.org/v2/gh/|github\.com/)([\w.-]+/[\w.-]+?)(?:\.git)?(?=[/\s)\"'?#]|$)")
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/main/([\w./-]+\.ipynb)")
BINDER_LINK = re.compile(r"https://mybinder\.org/v2/gh/([\w.-]+/[\w.-]+)/main\?urlpath=lab/tree/([\w./-]+\.ipynb)")


def test_repository_address_is_a_github_repository():
    assert OWNER_NAME.count("/") == 1


def test_readme_has_binder_and_colab_badges_for_this_repository_and_an_existing_notebook():
    readme = (ROOT / "README.md").read_text()
    for pattern in (COLAB_LINK, BINDER_LINK):
        links = pattern.findall(readme)
        assert links, f"README.md has no link matching {pattern.pattern}"
        for owner_name, path in links:
            assert owner_name == OWNER_NAME
            assert (ROOT / path).is_file(), f"README links to {path}, which does not exist"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(ROOT / "notebooks")) for p in NOTEBOOKS])
def test_notebook_badge_opens_this_notebook_and_set_up_cell_clones_this_repository(path):
    nb = nbformat.read(path, as_version=4)
    badges = COLAB_LINK.findall(nb.cells[0].source)
    # An instructor's solution carries the badge of the student version nbgrader generates from it.
    opens = path.relative_to(ROOT).as_posix().replace("assignments/solutions/", "assignments/student/")
    assert badges == [(OWNER_NAME, opens)], f"{path.name}: badge {badges}"
    setup = next(c.source for c in nb.cells if c.cell_type == "code")
    clones = re.findall(r"git clone [^\n]*?(https://github\.com/\S+)", setup)
    assert [c.removesuffix(".git") for c in clones] == [REPOSITORY], f"{path.name}: set-up cell clones {clones}"


@pytest.mark.parametrize("path", NOTEBOOKS + TEXT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_other_repository_address_is_written_anywhere(path):
    if path.suffix == ".ipynb":
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    else:
        text = path.read_text(encoding="utf-8")
    others = {m for m in ANY_REPOSITORY.findall(text) if m != OWNER_NAME}
    # Links to other projects' code (transformers, torch) are fine; only this kit's address must agree.
    others = {m for m in others if m.split("/")[1].lower() == "modlayers" or m.split("/")[0].lower() == "modlayers"}
    assert not others, f"{path.name} names the kit's repository as {sorted(others)}; pyproject.toml says {OWNER_NAME}"
