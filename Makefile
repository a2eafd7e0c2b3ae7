# The two commands of the README:  make run  (the app)  and  make test  (the tests).
# Each creates or reuses the virtual environment .venv and installs what it needs.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.faceedit-installed

.PHONY: run test test-all bench install package package-tarball clean

run: $(STAMP)
	$(BIN)/faceedit

test: $(STAMP)
	$(BIN)/lint-imports
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m "not slow"

test-all: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/bench_pipeline.py

install: $(STAMP)

# The self-contained one-folder build (dist/faceedit; packaging/README.md), then its smoke
# check: --version, a headless edit and the window offscreen, run with no Python around.
package: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[package]'
	$(BIN)/pyinstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build/pyinstaller packaging/faceedit.spec
	sh packaging/smoke_check.sh dist/faceedit $(BIN)/python

# dist/faceedit-VERSION-linux-ARCH.tar.gz: the build with the per-user installer beside it.
package-tarball: package
	sh packaging/linux/make-tarball.sh dist/faceedit dist

# torch==2.13.0 first: on machines like ours that is the local CPU build, and the
# package's own "torch>=2.2" is then satisfied without pulling several GB of CUDA wheels.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
