"""What a student sees: every numbered notebook and one student assignment, run in JupyterLab in a real
browser (the system's Chromium, driven by Playwright).

For each notebook: open it, Run All, wait until the kernel is idle, then check the page and the saved
notebook: no error output (the assignment: only its "not written yet" messages), every widget drawn as
a widget (not "Error displaying widget" nor its text, ``VBox(...)``), a widget moved changes its
output, every figure drawn as an image. A quiz widget, clicked, shows why the answer is wrong or right. A screenshot of each goes to ``build/screenshots/``.

The notebooks run on a copy in a temporary folder (Run All then Save writes outputs into it), with a
server that has no ``MPLBACKEND``, as under ``make lab``. The server and its kernels are stopped however
the test ends, Ctrl-C and SIGTERM included (``tests/jupyterlab_process.py``, checked by
``tests/test_browser_cleanup.py``).

Needs Chromium at ``/usr/bin/chromium`` (Debian: ``apt-get install -y chromium``; ``.ci/run`` installs
it) or at ``$MODLAYERS_CHROMIUM``; Playwright is in the ``test`` extra (``playwright install`` is never
needed). Without Chromium the tests skip, saying so, unless ``MODLAYERS_REQUIRE_BROWSER=1`` (set by
``.ci/run``), which turns the skip into a failure.
"""

import json
import os
import re
import secrets
import shutil
import socket
import sys
import time
from pathlib import Path

import nbformat
import pytest
from jupyterlab_process import JupyterLabProcess

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ASSIGNMENT = ROOT / "notebooks" / "assignments" / "student" / "a1_pooling.ipynb"
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = os.environ.get("MODLAYERS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-quic", "--disable-sync"]
# Run All of one notebook: each runs in <= 120 s on an idle 2-core machine; a busy one stretches that.
NOTEBOOK_TIMEOUT_S = int(os.environ.get("MODLAYERS_BROWSER_TIMEOUT", "900"))
NOT_WRITTEN_YET = "not written yet"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

pytestmark = pytest.mark.notebook


def _why_no_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed: pip install -e '.[test]'"
    if not Path(CHROMIUM).is_file():
        return (f"no Chromium at {CHROMIUM}: install it (Debian/Ubuntu: apt-get install -y chromium) or point "
                "MODLAYERS_CHROMIUM at a Chromium binary")
    return None


@pytest.fixture(scope="module")
def browser_page():
    why = _why_no_browser()
    if why:
        if os.environ.get("MODLAYERS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"the browser test must run here (MODLAYERS_REQUIRE_BROWSER=1), but {why}")
        pytest.skip(f"browser test skipped: {why}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, browser_page):
    """JupyterLab on 127.0.0.1 with a token, serving a copy of notebooks/; yields (base URL, token, root).

    The server and its kernels are stopped however the module ends (tests/jupyterlab_process.py)."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    home = tmp_path_factory.mktemp("home")
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # Draw every cell (JupyterLab 4 draws only the cells in view by default), so all outputs can be checked.
    tracker = home / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(JUPYTER_RUNTIME_DIR=str(home / "runtime"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
               f"--LabApp.user_settings_dir={home / 'settings'}", f"--LabApp.workspaces_dir={home / 'workspaces'}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    base = f"http://127.0.0.1:{port}"
    # Stopped, kernels included, on any way out: the fixture's end, an error, Ctrl-C, SIGTERM, exit.
    try:
        with JupyterLabProcess.running(command, root, env, home / "server.log", base, token):
            yield base, token, root
    except RuntimeError as error:  # did not start: its log says why
        pytest.fail(str(error))


# ---------------------------------------------------------------- driving JupyterLab


def open_notebook(page, base: str, token: str, relative: str) -> None:
    page.goto(f"{base}/lab/tree/{relative}?token={token}&reset")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
    wait_for_kernel_idle(page, timeout_s=120)


def kernel_status(page) -> str:
    indicator = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator")
    if indicator.count():
        return indicator.first.get_attribute("data-status") or ""
    return ""


def wait_for_kernel_idle(page, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    idle_since = None
    while time.monotonic() < deadline:
        busy = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt", has_text="[*]").count()
        if kernel_status(page) == "idle" and busy == 0:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 2:
                return
        else:
            idle_since = None
        time.sleep(0.5)
    raise TimeoutError(f"the kernel was still busy after {timeout_s} s (status {kernel_status(page)!r})")


def run_menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{menu}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).first.click()


def run_all_and_save(page) -> float:
    start = time.monotonic()
    run_menu(page, "Run", "Run All Cells")
    time.sleep(2)  # let the first cells be queued before looking for an idle kernel
    wait_for_kernel_idle(page, NOTEBOOK_TIMEOUT_S)
    seconds = time.monotonic() - start
    run_menu(page, "File", "Save Notebook")
    page.wait_for_selector(".jp-NotebookPanel-tab:not(.jp-mod-dirty), .lm-TabBar-tab.jp-mod-current:not(.jp-mod-dirty)")
    time.sleep(1)
    return seconds


def rendered_outputs(page) -> list[dict]:
    """Every output area of the page: its MIME type and text (first 300 characters)."""
    return page.eval_on_selector_all(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output",
        "els => els.map(e => ({mime: e.getAttribute('data-mime-type') || '', text: (e.innerText || '').slice(0, 300), "
        "html: e.outerHTML.slice(0, 160)}))",
    )


def images(page) -> list[dict]:
    return page.eval_on_selector_all(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img",
        "els => els.map(e => ({width: e.naturalWidth, src: e.src.slice(-64)}))",
    )


def widget_roots(page):
    """One locator per top-level widget output."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell-outputArea > .jp-OutputArea-child > "
                        ".jp-OutputArea-output:has(> .jupyter-widgets)")


def move_widget(page, root) -> bool:
    """Change one control of the widget ``root`` the way a student would; return False if it has none."""
    toggles = root.locator("button.widget-toggle-button:not(.mod-active)")
    if toggles.count():
        toggles.first.click()
        return True
    handles = root.locator(".noUi-handle")
    if handles.count():
        handle = handles.first
        handle.scroll_into_view_if_needed()
        handle.focus()
        now, low = handle.get_attribute("aria-valuenow"), handle.get_attribute("aria-valuemin")
        handle.press("ArrowRight" if now == low else "ArrowLeft")
        return True
    radios = root.locator("input[type='radio']:not(:checked)")  # a quiz: pick an answer
    if radios.count():
        radios.first.click()
        return True
    boxes = root.locator("input[type='text']")
    if boxes.count():
        boxes.first.fill("Ada Lindqvist visited Marlow Bay in May 2020 .")
        boxes.first.press("Enter")
        return True
    return False


def widget_picture(root) -> str:
    """What the widget's output shows now: its images' sources and its text."""
    return root.evaluate("e => Array.from(e.querySelectorAll('.widget-output img')).map(i => i.src).join('|') "
                         "+ '#' + Array.from(e.querySelectorAll('.widget-output, .widget-html')).map(o => o.innerText)"
                         ".join('|')")


def try_widgets(page) -> tuple[int, int]:
    """Move each widget in turn; return (widgets moved, widgets whose output changed)."""
    roots = widget_roots(page)
    moved = changed = 0
    for index in range(roots.count()):
        root = roots.nth(index)
        root.scroll_into_view_if_needed()
        before = widget_picture(root)
        if not move_widget(page, root):
            continue
        moved += 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.5)
            after = widget_picture(root)
            if after != before and kernel_status(page) == "idle":
                changed += 1
                break
    return moved, changed


# ---------------------------------------------------------------- the checks


def saved_problems(path: Path, allowed_error: str | None) -> list[str]:
    """Error outputs and stray stderr in the saved notebook (cells tagged ``warning-expected`` may warn).

    Read from the saved file, not the page: the page does not show which cells carry the tag."""
    found = []
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        for out in cell.outputs:
            if out.output_type == "error":
                text = f"{out.ename}: {out.evalue}"
            elif out.output_type == "stream" and out.name == "stderr" and "warning-expected" not in tags:
                text = out.text
            else:
                continue
            if allowed_error is None or allowed_error not in text:
                found.append(f"cell {index}: {text[:300]}")
    return found


def check_page(page, saved: Path, *, allowed_error: str | None) -> dict:
    problems = saved_problems(saved, allowed_error)
    outputs = rendered_outputs(page)
    for out in outputs:
        text = out["text"]
        if "Error displaying widget" in text or re.match(r"^\s*(VBox|HBox|interactive|IntSlider|Output)\(", text):
            problems.append(f"a widget is shown as text, not drawn: {text[:120]!r}")
        if re.search(r"<Figure size [\d.]+x[\d.]+ with \d+ Axes>", text):
            problems.append(f"a figure is shown as text, not drawn: {text[:120]!r}")
    # Widget labels cut short ("row 0 len...") and text boxes narrower than their text.
    cut = page.eval_on_selector_all(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output .widget-label, "
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output input[type='text']",
        "els => els.filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)"
        ".map(e => e.value || e.innerText)",
    )
    problems += [f"widget text cut short: {text!r}" for text in cut]
    drawn = images(page)
    broken = [image for image in drawn if image["width"] == 0]
    if broken:
        problems.append(f"{len(broken)} figure(s) did not load as images")
    nb = nbformat.read(saved, as_version=4)
    saved_figures = sum("image/png" in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
                        for out in cell.outputs)
    saved_widgets = sum(WIDGET_MIME in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
                        for out in cell.outputs)
    if len(drawn) < saved_figures:
        problems.append(f"{saved_figures} figures in the notebook, {len(drawn)} drawn")
    rendered_widgets = widget_roots(page).count()
    if rendered_widgets < saved_widgets:
        problems.append(f"{saved_widgets} widgets in the notebook, {rendered_widgets} drawn")
    if problems:
        problems.append("outputs on the page: " + ", ".join(f"{o['mime'] or '?'} {o['text'][:40]!r} {o['html']!r}" for o in outputs))
    return {"problems": problems, "figures": len(drawn), "widgets": saved_widgets}


def run_in_browser(page, lab, notebook: Path, *, allowed_error: str | None = None) -> dict:
    base, token, root = lab
    relative = notebook.relative_to(ROOT).as_posix()
    open_notebook(page, base, token, relative)
    seconds = run_all_and_save(page)
    report = check_page(page, root / relative, allowed_error=allowed_error)
    moved, changed = try_widgets(page)
    report.update(seconds=seconds, widgets_moved=changed)
    if moved and not changed:
        report["problems"].append(f"moved each of the {moved} widgets: no output changed")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{notebook.stem}.png"))
    run_menu(page, "Kernel", "Shut Down Kernel")
    return report


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_jupyterlab_with_widgets_and_figures_drawn(browser_page, lab, notebook):
    report = run_in_browser(browser_page, lab, notebook)
    print(f"{notebook.name}: Run All {report['seconds']:.0f} s, {report['figures']} figures, "
          f"{report['widgets']} widgets, {report['widgets_moved']} moved")
    assert not report["problems"], "\n".join(report["problems"])
    assert report["figures"] > 0, f"{notebook.name} draws no figure"
    if report["widgets"]:
        assert report["widgets_moved"] >= 1


def test_student_assignment_runs_in_jupyterlab_with_only_not_written_yet_errors(browser_page, lab):
    report = run_in_browser(browser_page, lab, ASSIGNMENT, allowed_error=NOT_WRITTEN_YET)
    print(f"{ASSIGNMENT.name}: Run All {report['seconds']:.0f} s, {report['figures']} figures")
    assert not report["problems"], "\n".join(report["problems"])
    assert report["figures"] > 0


def test_a_quiz_renders_and_a_click_on_an_answer_shows_its_explanation(browser_page, lab):
    """The quiz widget in a real browser: the radio buttons are drawn, and clicking an option shows why it is
    wrong (then another, why it is right), as a student sees it after a walkthrough's section."""
    from modlayers.course.quizzes import quiz

    base, token, root = lab
    question = quiz("pooling", 2).questions[0]  # pooling/pad-is-eos
    wrong, right = (next(f"{letter}) {text}" for letter, (text, ok, _) in zip(question.letters, question.options) if ok is want)
                    for want in (False, True))
    nb = nbformat.v4.new_notebook(metadata=nbformat.read(NOTEBOOKS[0], as_version=4).metadata)  # its kernel
    nb.cells = [nbformat.v4.new_code_cell('from modlayers.course.quizzes import quiz\nquiz("pooling", 2)')]
    nbformat.write(nb, root / "notebooks" / "quiz_in_browser.ipynb")
    page = browser_page
    open_notebook(page, base, token, "notebooks/quiz_in_browser.ipynb")
    run_all_and_save(page)
    radios = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-radio-box label")
    assert radios.count() == sum(len(q.options) for q in quiz("pooling", 2).questions)
    radios.filter(has_text=wrong).first.click()
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-html-content :text('not quite')", timeout=30_000)
    radios.filter(has_text=right).first.click()
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-html-content :text('✓ right')", timeout=30_000)
    text = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output").first.inner_text()
    assert question.options[question.letters.index(right[0])][2][:40] in " ".join(text.split())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "quiz_in_browser.png"))
    run_menu(page, "Kernel", "Shut Down Kernel")
