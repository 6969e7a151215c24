# make book | make test | make portable | make lab | make sync | make lock | make clean
# Each target bootstraps .venv first, installing through requirements.lock (exact versions of
# every package; `make lock` regenerates it). TORCH picks the torch build: the default is the
# CPU wheel this machine and CI carry; a GPU user runs e.g. `make book TORCH=torch` after
# pointing pip at the CUDA wheel index of their choice (the lock holds torch's release, 2.13.0,
# which the CPU and CUDA builds of it both satisfy).
PYTHON ?= python3
TORCH  ?= torch==2.13.0
PIP    := pip==26.3
UV     := uv==0.13.9
VENV   := .venv
PY     := $(VENV)/bin/python
LOCK   := requirements.lock
STAMP  := $(VENV)/.installed
BOOK   := $(VENV)/bin/jupyter-book build . --builder html -W -n --keep-going
# One worker per core, each notebook whole on one worker; the model store makes a model asked
# for by two notebooks at once train once (the other waits).
NBVAL  := $(PY) -m pytest --nbval --nbval-current-env -n auto --dist loadfile notebooks
# Other CPU kernels and reduction orders than this machine's defaults (see `make portable`).
PORTABLE_SETTINGS := "ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1" "ATEN_CPU_CAPABILITY=avx2"

.PHONY: book test unit nbval site portable lab sync lock clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(PIP)"
	$(PY) -m pip install -q -c $(LOCK) "$(TORCH)"
	$(PY) -m pip install -q -c $(LOCK) -e ".[book,test]"
	touch $@

/usr/bin/chromium:
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

# Chapters execute one per core into the build's cache first; the build then reads them there.
book: $(STAMP)
	$(PY) tools/execute_book.py
	$(BOOK)
	@echo "book: $(CURDIR)/_build/html/index.html"

unit: $(STAMP)
	$(PY) -m pytest tests --ignore=tests/site

nbval: $(STAMP)
	$(NBVAL)

site: $(STAMP) /usr/bin/chromium
	$(PY) -m pytest tests/site

test: unit nbval book site

# The unit tests and every notebook again under each of PORTABLE_SETTINGS, each with an empty
# model store (so every model is retrained under that setting): bounds must hold on any CPU.
portable: $(STAMP)
	@for setting in $(PORTABLE_SETTINGS); do \
	  store=$$(mktemp -d); echo "== $$setting, model store $$store"; \
	  env $$setting BREATHING_MODEL_STORE=$$store $(PY) -m pytest -q tests --ignore=tests/site || exit 1; \
	  env $$setting BREATHING_MODEL_STORE=$$store $(NBVAL) -q || exit 1; \
	  rm -rf $$store; \
	done

# JupyterLab on notebooks/, with the repository's jupyter_server_config.py (JUPYTER_CONFIG_PATH): its
# save hook keeps plots, widget state and timings out of the tracked .ipynb. JupyterLab refuses to
# start as root unless told to: containers often run as root.
lab: $(STAMP)
	$(PY) -m pip install -q -c $(LOCK) -e ".[lab]"
	JUPYTER_CONFIG_PATH=$(CURDIR) $(VENV)/bin/jupyter lab notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# Re-pair every notebook and refresh the nbval reference outputs of the .ipynb files.
sync: $(STAMP)
	$(PY) tools/sync_notebooks.py

# Re-resolve every pin (after changing pyproject.toml's dependencies, or to upgrade).
lock: $(STAMP)
	$(PY) -m pip install -q "$(UV)"
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) tools/lock.py --torch $(subst torch==,,$(TORCH))

clean:
	rm -rf _build .model_store
