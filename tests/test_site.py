"""The course site (``make site``, ``modlayers/course/site.py``) builds offline with warnings as errors.

The whole site is built once (about a minute of CPU): the build passes, every lesson has its Binder and Colab
buttons for this repository, every ``docs/*.md`` page is in the navigation, the API reference carries the
docstrings, and each lesson shows the outputs of its executed copy or says it has none. Two tiny books prove
that the build fails on a broken link to a page or to a heading. The staging rules (links, the table of
contents, which executed copy is used) are tested on their own, in milliseconds.
"""

import re
import shutil
import tomllib
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("jupyter_book", reason="the site's builder is the `site` extra: pip install -e '.[site]'")
from modlayers.course import site  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
OWNER_NAME = REPOSITORY.removeprefix("https://github.com/")
DOCS_PAGES = sorted((ROOT / "docs").glob("*.md"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The real site, staged and built into a temporary folder: (staging report, build result, html folder)."""
    folder = tmp_path_factory.mktemp("site")
    report = site.stage(folder / "src")
    result = site.build(folder / "src", folder)
    return report, result, folder / "_build" / "html"


def output(result) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)


def test_the_site_builds_offline_without_a_warning(built):
    _, result, html = built
    problems = [line for line in output(result).splitlines() if "WARNING" in line or "ERROR" in line]
    assert result.returncode == 0 and not problems, "\n".join(problems) or output(result)[-3000:]
    assert (html / "index.html").is_file() and (html / "README.html").is_file()
    if site.without_network_prefix():
        assert Path(result.args[0]).name == "unshare", "the build must run without network where it can"


@pytest.mark.parametrize("lesson", site.lessons(), ids=lambda p: p.name)
def test_every_lesson_page_has_binder_and_colab_buttons_for_this_repository(built, lesson):
    page = (built[2] / "notebooks" / lesson.with_suffix(".html").name).read_text(encoding="utf-8")
    path = f"notebooks/{lesson.name}"
    assert f"https://colab.research.google.com/github/{OWNER_NAME}/blob/main/{path}" in page
    assert f"https://mybinder.org/v2/gh/{OWNER_NAME}/main?urlpath=lab/tree/{path}" in page


@pytest.mark.parametrize("lesson", site.lessons(), ids=lambda p: p.name)
def test_a_lesson_shows_its_executed_outputs_or_says_it_has_none(built, lesson):
    report, _, html = built
    page = (html / "notebooks" / lesson.with_suffix(".html").name).read_text(encoding="utf-8")
    if lesson.name in report["with outputs"]:
        assert 'class="cell_output' in page and "shown without its outputs" not in page
    else:
        assert lesson.name in report["without outputs"]
        assert "shown without its outputs" in page and 'class="cell_output' not in page


@pytest.mark.parametrize("page", DOCS_PAGES, ids=lambda p: p.name)
def test_every_docs_page_is_built_and_in_the_navigation(built, page):
    html = built[2]
    assert (html / "docs" / page.with_suffix(".html").name).is_file()
    assert f'href="docs/{page.stem}.html"' in (html / "README.html").read_text(encoding="utf-8")


def test_the_data_sheet_and_the_benchmark_tables_are_pages(built):
    navigation = (built[2] / "README.html").read_text(encoding="utf-8")
    for page in ("data/README.html", "benchmarks/README.html", "notebooks/assignments/README.html"):
        assert f'href="{page}"' in navigation


def test_the_api_reference_is_generated_from_the_docstrings(built):
    from modlayers import pooling

    page = (built[2] / "docs" / "generated" / "modlayers.pooling.html").read_text(encoding="utf-8")
    first_line = pooling.last_non_pad_index.__doc__.strip().splitlines()[0]  # "Index of the rightmost token ..."
    assert "last_non_pad_index" in page
    assert first_line.split("``")[0].strip() in page


def tiny_book(folder: Path, links: str) -> Path:
    """A two-page book with the site's own configuration; the second page holds ``links``."""
    src = folder / "src"
    (src / "docs").mkdir(parents=True)
    (src / "_config.yml").write_text((ROOT / "docs" / "_config.yml").read_text().replace("REPOSITORY", REPOSITORY))
    (src / "_toc.yml").write_text("format: jb-book\nroot: README\nchapters:\n  - file: docs/page\n")
    (src / "README.md").write_text("# Home\n\nSee [the page](docs/page.md) and [its heading](docs/page.md#a-heading).\n")
    (src / "docs" / "page.md").write_text(f"# Page\n\n## A heading\n\n{links}\n")
    return src


def test_a_book_whose_links_all_resolve_builds(tmp_path):
    src = tiny_book(tmp_path, "Back [home](../README.md), [this heading](#a-heading).")
    result = site.build(src, tmp_path)
    assert result.returncode == 0, output(result)[-3000:]


@pytest.mark.parametrize("link, named", [("[gone](no_such_page.md)", "no_such_page"),
                                         ("[gone](../README.md#no-such-heading)", "no-such-heading")])
def test_a_broken_internal_link_fails_the_build_and_is_named(tmp_path, link, named):
    result = site.build(tiny_book(tmp_path, f"Back [home](../README.md), then {link}."), tmp_path)
    assert result.returncode != 0
    assert named in output(result), output(result)[-3000:]


def test_a_link_to_a_file_the_site_does_not_show_points_at_github_and_the_others_stay(tmp_path):
    page = ROOT / "docs" / "setup.md"
    staged = {p.resolve() for p in site.pages()}
    text = ("[test](../tests/test_site.py) [folder](../modlayers/lessons/memory) [page](using.md#x) "
            "[missing](../no_such_file.py) [web](https://example.org/a.md)\n```\n[code](../tests/test_site.py)\n```")
    rewritten = site.rewrite_links(text, page, staged, tmp_path)
    assert f"[test]({REPOSITORY}/blob/main/tests/test_site.py)" in rewritten
    assert f"[folder]({REPOSITORY}/tree/main/modlayers/lessons/memory)" in rewritten
    assert "[page](using.md#x)" in rewritten  # a site page: Sphinx checks it
    assert "[missing](../no_such_file.py)" in rewritten  # broken: left for Sphinx to report
    assert "[web](https://example.org/a.md)" in rewritten
    assert "[code](../tests/test_site.py)" in rewritten  # code is never rewritten


def test_the_table_of_contents_adds_every_page_and_lesson_it_does_not_name():
    listed = {"format": "jb-book", "root": "README", "parts": [
        {"caption": "Lessons", "chapters": [{"file": "notebooks/01_a"}]},
        {"caption": "Guides", "chapters": [{"file": "docs/setup", "sections": [{"file": "docs/deep"}]}]}]}
    toc = site.table_of_contents(listed, ["docs/deep", "docs/new_topic", "docs/setup"],
                                 ["notebooks/01_a", "notebooks/06_new"])
    assert toc["parts"][0]["chapters"] == [{"file": "notebooks/01_a"}, {"file": "notebooks/06_new"}]
    assert toc["parts"][1]["chapters"][1:] == [{"file": "docs/new_topic"}]
    assert listed["parts"][1]["chapters"] == [{"file": "docs/setup", "sections": [{"file": "docs/deep"}]}]
    listed["parts"][0]["chapters"].append({"file": "notebooks/assignments/README"})
    toc = site.table_of_contents(listed, [], ["notebooks/01_a", "notebooks/06_new", "notebooks/07_newer"])
    assert [c["file"] for c in toc["parts"][0]["chapters"]] == [
        "notebooks/01_a", "notebooks/06_new", "notebooks/07_newer", "notebooks/assignments/README"]
    with pytest.raises(ValueError, match="no part captioned 'Guides'"):
        site.table_of_contents({"parts": [{"caption": "Lessons", "chapters": []}]}, ["docs/x"], [])


def test_the_repositorys_toc_names_only_pages_that_exist():
    import yaml

    toc = yaml.safe_load((ROOT / "docs" / "_toc.yml").read_text())
    named = [entry["file"] for part in toc["parts"] for entry in part["chapters"]]
    for name in named:
        assert any((ROOT / f"{name}{suffix}").is_file() for suffix in (".md", ".ipynb")), name


def test_an_executed_copy_is_used_only_while_the_notebook_keeps_the_cells_it_ran(tmp_path):
    lesson = tmp_path / "01_lesson.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Lesson"),
                                         nbformat.v4.new_code_cell("print(6 * 7)")])
    nbformat.write(nb, lesson)
    run = nbformat.from_dict(nb)
    run.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="42\n")]
    run.cells.append(nbformat.v4.new_code_cell("print('the runner measures')"))  # appended by the runner
    site.save_executed(run, lesson, tmp_path / "executed")
    copy = site.executed_copy(lesson, tmp_path / "executed")
    assert [c.source for c in copy.cells] == ["# Lesson", "print(6 * 7)"]
    assert copy.cells[1].outputs[0].text == "42\n"
    nb.cells[1].source = "print(6 * 8)"
    nbformat.write(nb, lesson)
    assert site.executed_copy(lesson, tmp_path / "executed") is None
    assert site.executed_copy(tmp_path / "02_never_run.ipynb", tmp_path / "executed") is None
    edited_run = nbformat.from_dict(run)
    edited_run.cells[1].source = "print('not the lesson')"  # a run whose cells were changed before running
    site.save_executed(edited_run, lesson, tmp_path / "executed")
    assert site.executed_copy(lesson, tmp_path / "executed") is None


def test_staging_uses_a_current_executed_copy_and_marks_a_lesson_without_one(tmp_path):
    executed = tmp_path / "executed"
    first, second = site.lessons()[:2]
    run = nbformat.read(first, as_version=4)
    code = next(c for c in run.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="an output of the run\n")]
    site.save_executed(run, first, executed)
    report = site.stage(tmp_path / "src", executed)
    assert first.name in report["with outputs"] and second.name in report["without outputs"]
    staged_first = nbformat.read(tmp_path / "src" / "notebooks" / first.name, as_version=4)
    assert any(o.get("text") == "an output of the run\n" for c in staged_first.cells for o in c.get("outputs", []))
    staged_second = nbformat.read(tmp_path / "src" / "notebooks" / second.name, as_version=4)
    assert "shown without its outputs" in staged_second.cells[1].source
    shutil.rmtree(tmp_path / "src")


def test_the_readme_stays_a_first_page_and_points_to_the_site():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode("utf-8")) <= 8 * 1024, "README.md is a newcomer's first page: move reference to docs/"
    for needed in ("make lab", "make test", "make site", "docs/api.md", "docs/reference.md", "notebooks/"):
        assert needed in readme, needed


def _docstrings_of_every_module():
    """``(where, docstring)`` for each module of the package, its classes, functions and methods."""
    import importlib
    import inspect
    import pkgutil

    import modlayers

    for info in pkgutil.walk_packages(modlayers.__path__, "modlayers."):
        if info.name.endswith("__main__"):
            continue  # runs a command; its docstring is one line
        module = importlib.import_module(info.name)
        yield info.name, module.__doc__
        for name, obj in vars(module).items():
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == info.name:
                yield f"{info.name}.{name}", obj.__doc__
                if inspect.isclass(obj):
                    yield from ((f"{info.name}.{name}.{m}", f.__doc__) for m, f in vars(obj).items()
                                if inspect.isfunction(f))


def test_every_docstring_is_valid_restructuredtext_as_the_api_reference_reads_it():
    """The API reference renders each docstring (Google style, through napoleon) with warnings as errors: a
    table whose cell outgrows its column or a literal left open fails the whole site. Found here in seconds,
    named by the object, instead of after a minute of building."""
    import inspect
    import io

    import docutils.core
    from docutils import nodes
    from docutils.parsers.rst import roles
    from sphinx.ext.napoleon import Config
    from sphinx.ext.napoleon.docstring import GoogleDocstring

    def sphinx_role(name, rawtext, text, lineno, inliner, options=None, content=None):
        return [nodes.literal(rawtext, text)], []  # Sphinx's cross-reference roles, which plain docutils lacks

    for role in ("func", "class", "mod", "meth", "attr", "data", "obj", "exc", "doc", "ref"):
        roles.register_local_role(role, sphinx_role)
    config = Config(napoleon_use_param=True, napoleon_use_rtype=True)
    problems = []
    for where, doc in _docstrings_of_every_module():
        if not doc:
            continue
        stream = io.StringIO()
        docutils.core.publish_doctree(str(GoogleDocstring(inspect.cleandoc(doc), config)), settings_overrides={
            "report_level": 2, "halt_level": 5, "warning_stream": stream})
        problems += [f"{where}: {line}" for line in stream.getvalue().splitlines()
                     if ("WARNING" in line or "ERROR" in line) and "Unknown directive" not in line]
    assert not problems, "\n".join(problems)
