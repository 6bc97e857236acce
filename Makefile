# ice_nb: `make demo` (install, data, main job) and `make test` (sync check, notebook tests, pytest).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SOURCES = find ice_nb nbs -type f -not -path '*/__pycache__/*' -not -path '*/.ipynb_checkpoints/*' | LC_ALL=C sort | xargs sha1sum

.PHONY: install data demo test check-sync nbtest pytest bench clean

$(BIN)/.ice_nb-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/.ice_nb-installed

# Fashion-MNIST: a local copy, Debian's dataset-fashion-mnist, or torchvision's download;
# offline without Debian's package installed, install it (root, apt-get) and try again.
data: install
	$(BIN)/ice-nb data fashion_mnist || { \
	  command -v apt-get >/dev/null && \
	  { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; } >/dev/null && \
	  $(BIN)/ice-nb data fashion_mnist; }

demo:
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory install data || exit 1; \
	echo "set-up (venv, install, data): $$(( $$(date +%s) - start )) s"; \
	$(BIN)/ice-nb demo

# nbs/ is the source: exporting and cleaning the notebooks must change nothing.
check-sync: install
	@before="$$($(SOURCES))"; \
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean || exit 1; \
	after="$$($(SOURCES))"; \
	if [ "$$before" != "$$after" ]; then \
	  echo "nbdev-export / nbdev-clean changed these files: edit the notebooks, then run both and commit:"; \
	  diff <(echo "$$before") <(echo "$$after"); exit 1; fi; \
	echo "export and notebooks in sync"

nbtest: install
	@test -n "$$(find nbs -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*')" || { echo "no notebooks under nbs/"; exit 1; }
	$(BIN)/nbdev-test --timing

pytest: install
	$(BIN)/python -m pytest tests/ -q

test: check-sync nbtest pytest

bench: data
	$(BIN)/python bench/train_loop.py

clean:
	rm -rf $(VENV) build dist *.egg-info
