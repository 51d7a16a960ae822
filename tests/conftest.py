"""The suite's set-up: modlayers is imported before any test module imports torch, so torch's OpenMP threads
wait passively (``modlayers.lessons.cpu_threads``) in the test process too, as they do in the notebooks and the CLIs."""

import modlayers  # noqa: F401
