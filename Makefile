# ice_nb: `make demo` (install, data, main job), `make test` (sync check, notebook tests, docs, pytest), `make docs`, `make bench`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SOURCES = find ice_nb nbs README.md -type f -not -path '*/__pycache__/*' -not -path '*/.ipynb_checkpoints/*' | LC_ALL=C sort | xargs sha1sum

.PHONY: install install-dev data demo test check-sync readme nbtest docs browser postgres pytest bench clean

# The package (what `make demo` needs), then the dev tools that `make test` adds (nbdev, pytest, JupyterLab, Playwright).
$(BIN)/.ice_nb-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e .
	touch $@

$(BIN)/.ice_nb-dev-installed: $(BIN)/.ice_nb-installed
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/.ice_nb-installed
install-dev: $(BIN)/.ice_nb-dev-installed

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

# README.md is nbs/index.ipynb run and rendered: its figures are read from docs/bench/ when it is built.
readme: install-dev
	$(BIN)/python tools/docs.py readme

# nbs/ is the source: exporting and cleaning the notebooks and rebuilding the README must change nothing.
check-sync: install-dev
	@before="$$($(SOURCES))"; \
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean && $(BIN)/python tools/docs.py readme >/dev/null || exit 1; \
	after="$$($(SOURCES))"; \
	if [ "$$before" != "$$after" ]; then \
	  echo "nbdev-export / nbdev-clean / make readme changed these files: edit the notebooks, then run them and commit:"; \
	  diff <(echo "$$before") <(echo "$$after"); exit 1; fi; \
	echo "export and notebooks in sync"

# One process per notebook, two at a time with one thread each: pyplot's IPython hooks break when one process
# runs several notebooks, and two 2-thread processes on 2 cores run several times slower than two 1-thread ones.
nbtest: install-dev
	@nbs="$$(find nbs -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | LC_ALL=C sort)"; \
	test -n "$$nbs" || { echo "no notebooks under nbs/"; exit 1; }; \
	echo "$$nbs" | OMP_NUM_THREADS=1 xargs -P 2 -n 1 $(BIN)/nbdev-test --timing

# The documentation site in _docs/ (a page per notebook, with show_doc's API entries), then the check that
# every public name has its entry there.
docs: install-dev
	$(BIN)/python tools/docs.py site
	$(BIN)/python tools/docs.py check

# tests/test_browser.py drives JupyterLab with Playwright in Debian's Chromium (Playwright's own download
# is unreachable offline): install it where we can (root, apt-get), else say that the test will be skipped.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    { apt-get update -qq && apt-get install -y -qq chromium; } >/dev/null || \
	      echo "could not install Chromium with apt-get: the browser test will be skipped"; \
	  else echo "no Chromium and no root apt-get to install it: the browser test will be skipped"; fi; }

# tests/test_postgres.py runs tuning workers on a real PostgreSQL server, a throw-away cluster of its own on 127.0.0.1:
# install Debian's server where we can (root, apt-get), and stop the default cluster that the install may start.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    { apt-get update -qq && apt-get install -y -qq postgresql; } >/dev/null || \
	      echo "could not install PostgreSQL with apt-get: the PostgreSQL test will be skipped"; \
	    command -v pg_lsclusters >/dev/null && pg_lsclusters -h | while read -r version name rest; do \
	      pg_ctlcluster "$$version" "$$name" stop >/dev/null 2>&1; done; true; \
	  else echo "no PostgreSQL server and no root apt-get to install it: the PostgreSQL test will be skipped"; fi; }

# Two test processes at a time (pytest-xdist), one thread each, as the notebooks run: on 2 cores, half the wall time.
pytest: install-dev
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest tests/ -q -rs -n 2 --dist worksteal

test: check-sync data nbtest docs browser postgres pytest

# Every benchmark (about an hour on 2 cores): the side-by-side run with its ablation, whose files the README
# reads (docs/bench/quick-cpu.*, docs/images/bench-quick.png), then the scripts in bench/, each printing its ratios.
bench: data
	$(BIN)/ice-nb bench --quick --ablation --out runs/bench-quick
	cp runs/bench-quick/bench.json docs/bench/quick-cpu.json
	cp runs/bench-quick/bench.md docs/bench/quick-cpu.md
	cp runs/bench-quick/bench.png docs/images/bench-quick.png
	$(BIN)/python bench/decisions.py
	$(BIN)/python bench/train_loop.py --images 2560 --rounds 2
	$(BIN)/python bench/freeze.py
	$(BIN)/python bench/tune.py --trials 6 --sampler grid --finetune-images 0.25
	$(BIN)/python bench/allocation.py --seeds 0 1
	$(BIN)/python bench/distributed.py
	$(MAKE) --no-print-directory readme

clean:
	rm -rf $(VENV) build dist *.egg-info _docs _proc
