"""The course site: the lessons with their outputs, the guides, the API reference, built offline.

``make site`` (``python -m modlayers.course.site``) builds a Jupyter Book 1.x site in three steps:

1. **Stage** (:func:`stage`): copy what the site shows into ``build/site/src`` *at the same paths as in the
   repository*: ``README.md`` (the home page), ``docs/*.md`` (the guides and the reference), the numbered
   lessons ``notebooks/NN_*.ipynb``, ``notebooks/assignments/README.md``, the data sheet ``data/README.md`` and
   the benchmark tables ``benchmarks/README.md``. So every relative link that works on GitHub works on the site,
   and Binder / Colab buttons open the right file. A link to a repository file the site does not show (a test,
   a module's source) becomes a link to that file on GitHub; a link to a file that exists nowhere stays as
   written, so the build fails on it.
2. **Lessons with outputs, never executed by the build**: each lesson is staged from its executed copy in
   ``build/executed/`` when that copy's cells are the committed notebook's cells (:func:`executed_copy`);
   ``tests/test_notebooks.py`` writes those copies when a notebook passes (:func:`save_executed`), and
   ``make site-execute`` (``--execute``) runs the lessons whose copy is missing or stale. A lesson without a
   current copy is shown without outputs, under a note that says so and how to refresh it.
3. **Build** (:func:`build`): ``jupyter-book build`` with warnings as errors, so a broken link to a page or
   heading, a page missing from the table of contents, or a docstring Sphinx cannot read fails the build.

The table of contents is ``docs/_toc.yml``; every ``docs/*.md`` page and numbered notebook it does not name is
added when staged (:func:`table_of_contents`), so a new page needs no extra line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
BUILD = ROOT / "build" / "site"
EXECUTED = ROOT / "build" / "executed"
PAGES_OUTSIDE_DOCS = ("README.md", "data/README.md", "benchmarks/README.md", "notebooks/assignments/README.md")
GUIDES_CAPTION = "Guides"
LESSONS_CAPTION = "Lessons"
SOURCES_KEY = "modlayers_cell_sources_sha256"  # in an executed copy's metadata: the cells it ran

# [text](target) and ![alt](target), not inside code; group 1: the target up to an optional #anchor.
MARKDOWN_LINK = re.compile(r"(!?\[[^\]\n]*\]\()([^)\s#]+)((?:#[^)\s]*)?\))")


def repository_url() -> str:
    """The repository's address, written once in pyproject.toml's ``[project.urls]``."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def lessons() -> list[Path]:
    """The numbered notebooks, in order."""
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def pages() -> list[Path]:
    """Every Markdown page the site shows, as repository paths."""
    return [ROOT / p for p in PAGES_OUTSIDE_DOCS if (ROOT / p).is_file()] + sorted((ROOT / "docs").glob("*.md"))


def cell_sources_digest(nb: nbformat.NotebookNode) -> str:
    """SHA-256 of every cell's type and source: equal digests mean an executed copy ran these very cells."""
    text = json.dumps([[c.cell_type, c.source] for c in nb.cells])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def save_executed(executed: nbformat.NotebookNode, source: Path, folder: Path = EXECUTED) -> Path:
    """Keep ``executed`` (a run of the notebook at ``source``) as the site's copy of that lesson.

    Cells the runner appended after the notebook's own (measurements) are dropped; the copy records the
    digest of the cells it ran, so :func:`executed_copy` uses it only while the committed notebook has the same
    cells (a run of edited cells is never shown as the lesson's).
    """
    committed = nbformat.read(source, as_version=4)
    copy = nbformat.from_dict(json.loads(json.dumps(executed)))
    copy.cells = copy.cells[: len(committed.cells)]
    copy.metadata[SOURCES_KEY] = cell_sources_digest(copy)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    partial = target.with_suffix(".partial")
    nbformat.write(copy, partial)
    os.replace(partial, target)  # whole or not at all, for a site build staging at the same moment
    return target


def executed_copy(source: Path, folder: Path = EXECUTED) -> nbformat.NotebookNode | None:
    """The executed copy of the lesson at ``source`` if it ran the cells committed now, else None."""
    path = folder / source.name
    if not path.is_file():
        return None
    copy = nbformat.read(path, as_version=4)
    committed = nbformat.read(source, as_version=4)
    if copy.metadata.get(SOURCES_KEY) != cell_sources_digest(committed):
        return None
    return copy


def without_outputs_note(source: Path) -> nbformat.NotebookNode:
    """A markdown cell saying this lesson is shown without outputs, and how to render them."""
    return nbformat.v4.new_markdown_cell(
        ":::{note}\nThis lesson is shown without its outputs: no executed copy of "
        f"`notebooks/{source.name}` matching its current cells was found when the site was built. "
        "Run `make site-execute` (or the notebook tests) and build again, or open the lesson on Binder or Colab "
        "with the buttons above.\n:::")


def table_of_contents(listed: dict, docs_pages: list[str], lesson_pages: list[str]) -> dict:
    """``docs/_toc.yml`` with every page it does not name added: lessons to "Lessons" (after the lessons it
    names, before any other page there, such as the assignments), pages to "Guides".

    ``docs_pages`` and ``lesson_pages`` are repository paths without suffix (``docs/setup``).
    """
    toc = json.loads(json.dumps(listed))
    named = set()

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                named.add(entry["file"])
            walk(entry.get("sections", []))

    for part in toc["parts"]:
        walk(part["chapters"])
    captions = {part["caption"]: part for part in toc["parts"]}
    for caption, found in ((LESSONS_CAPTION, lesson_pages), (GUIDES_CAPTION, docs_pages)):
        missing = [page for page in found if page not in named]
        if missing and caption not in captions:
            raise ValueError(f"docs/_toc.yml has no part captioned {caption!r} to add {missing} to; add one.")
        chapters = captions.get(caption, {}).get("chapters", [])
        for page in missing:
            if caption == LESSONS_CAPTION:  # a new lesson goes after the lessons listed, before other pages
                at = max((i + 1 for i, entry in enumerate(chapters) if entry.get("file") in found), default=0)
                chapters.insert(at, {"file": page})
            else:
                chapters.append({"file": page})
    return toc


def link_target_outside_site(page: Path, target: str, staged: set[Path]) -> str | None:
    """Where a relative link from ``page`` must point instead: a GitHub address, or None to keep it."""
    if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
        return None  # an address (https:, mailto:) or an absolute path: not the repository's business
    resolved = (page.parent / target).resolve()
    if resolved in staged or not resolved.exists() or ROOT not in resolved.parents:
        return None  # a site page (checked by Sphinx), or a broken link (Sphinx reports it)
    kind = "tree" if resolved.is_dir() else "blob"
    return f"{repository_url()}/{kind}/main/{resolved.relative_to(ROOT).as_posix()}"


def rewrite_links(text: str, page: Path, staged: set[Path], copy_to: Path) -> str:
    """Point links to repository files the site does not show at GitHub; copy the images a page shows."""
    out, in_fence = [], False
    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        if not in_fence:
            def replace(match):
                opening, target, rest = match.groups()
                resolved = (page.parent / target).resolve()
                if opening.startswith("!") and resolved.is_file() and ROOT in resolved.parents:
                    image = copy_to / resolved.relative_to(ROOT)
                    image.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(resolved, image)
                    return match.group(0)
                elsewhere = link_target_outside_site(page, target, staged)
                return opening + elsewhere + rest if elsewhere else match.group(0)

            line = MARKDOWN_LINK.sub(replace, line)
        out.append(line)
    return "\n".join(out)


def stage(out: Path = BUILD / "src", executed: Path = EXECUTED) -> dict[str, list[str]]:
    """Copy the site's sources into ``out`` (emptied first); return which lessons have outputs and which not."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    markdown, notebooks = pages(), lessons()
    staged = {p.resolve() for p in markdown + notebooks}
    for page in markdown:
        target = out / page.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rewrite_links(page.read_text(encoding="utf-8"), page, staged, out), encoding="utf-8")
    report = {"with outputs": [], "without outputs": []}
    for lesson in notebooks:
        nb = executed_copy(lesson, executed)
        if nb is None:
            nb = nbformat.read(lesson, as_version=4)
            nb.cells.insert(1, without_outputs_note(lesson))
            report["without outputs"].append(lesson.name)
        else:
            report["with outputs"].append(lesson.name)
        # The set-up cells hold IPython syntax (`!git clone`, `%pip`): highlight them as IPython.
        nb.metadata.setdefault("language_info", {"name": "python"})["pygments_lexer"] = "ipython3"
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = rewrite_links(cell.source, lesson, staged, out)
        target = out / lesson.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
    config = (ROOT / "docs" / "_config.yml").read_text().replace("url: REPOSITORY", f"url: {repository_url()}")
    (out / "_config.yml").write_text(config)
    toc = table_of_contents(yaml.safe_load((ROOT / "docs" / "_toc.yml").read_text()),
                            [p.relative_to(ROOT).with_suffix("").as_posix() for p in markdown
                             if p.parent == ROOT / "docs"],
                            [p.relative_to(ROOT).with_suffix("").as_posix() for p in notebooks])
    (out / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    return report


def without_network_prefix() -> list[str]:
    """``unshare -rn`` where the system allows it: the command then runs with no network at all."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        return [unshare, "-rn"]
    return []


def build(src: Path = BUILD / "src", output: Path = BUILD) -> subprocess.CompletedProcess:
    """``jupyter-book build`` of the staged ``src`` into ``output/_build/html``, warnings as errors.

    Where the system allows it (Linux, ``unshare``) the build runs in a network namespace of its own, with no
    network: a build that tried to fetch anything would fail. ``result.args[0]`` is then ``unshare``.
    """
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [*without_network_prefix(), str(jupyter_book), "build", str(src), "--path-output", str(output),
               "--warningiserror", "--keep-going", "--all"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MPLBACKEND": "Agg"}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)


def execute_stale_lessons(executed: Path = EXECUTED, timeout: int = 600) -> list[str]:
    """Run every lesson whose executed copy is missing or stale (nbclient, a fresh kernel); return their names."""
    from nbclient import NotebookClient

    ran = []
    # The kernel chooses its own matplotlib backend (`%matplotlib inline`), as under `make lab`: a backend forced
    # by the environment (the Makefile's MPLBACKEND=Agg) would put the doctor's warning about it on the page.
    os.environ.pop("MPLBACKEND", None)
    for lesson in lessons():
        if executed_copy(lesson, executed) is not None:
            continue
        nb = nbformat.read(lesson, as_version=4)
        print(f"executing {lesson.name} ...", flush=True)
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(lesson.parent)}}).execute()
        save_executed(nb, lesson, executed)
        ran.append(lesson.name)
    return ran


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modlayers.course.site", description=__doc__.split("\n")[0])
    parser.add_argument("--execute", action="store_true",
                        help="first run the lessons whose executed copy is missing or stale (minutes each)")
    args = parser.parse_args(argv)
    if args.execute:
        execute_stale_lessons()
    report = stage()
    for name in report["without outputs"]:
        print(f"note: {name} is shown without outputs (no current executed copy): make site-execute renders them")
    result = build()
    print(result.stdout[-4000:], result.stderr[-4000:], sep="\n")
    if result.returncode == 0:
        print(f"site: {(BUILD / '_build' / 'html' / 'index.html').relative_to(ROOT)}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
