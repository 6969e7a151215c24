# make book | make test | make lab | make sync | make clean
# Each target bootstraps .venv first. TORCH picks the torch build: the default is the
# CPU wheel this machine and CI carry; a GPU user runs e.g. `make book TORCH=torch`
# after pointing pip at the CUDA wheel index of their choice.
PYTHON ?= python3
TORCH  ?= torch==2.13.0
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BOOK   := $(VENV)/bin/jupyter-book build . --builder html -W -n --keep-going

.PHONY: book test unit nbval site lab sync clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[book,test]"
	touch $@

/usr/bin/chromium:
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

book: $(STAMP)
	$(BOOK)
	@echo "book: $(CURDIR)/_build/html/index.html"

unit: $(STAMP)
	$(PY) -m pytest tests --ignore=tests/site

nbval: $(STAMP)
	$(PY) -m pytest --nbval --nbval-current-env notebooks

site: $(STAMP) /usr/bin/chromium
	$(PY) -m pytest tests/site

test: unit nbval book site

lab: $(STAMP)
	$(PY) -m pip install -q jupyterlab
	$(VENV)/bin/jupyter lab notebooks

# Re-pair every notebook and refresh the nbval reference outputs of the .ipynb files.
sync: $(STAMP)
	$(PY) tools/sync_notebooks.py

clean:
	rm -rf _build .model_store
