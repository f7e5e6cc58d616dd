# Two commands a new user needs: `make benchmark` and `make test`.
# Both create the virtual environment on first use; every pip call goes through
# constraints.txt, which pins the CPU build of torch.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.installed

# Debian's Chromium, for the headless-browser test of the HTML report, and exiftool,
# the reference reader of the GPS parity test.
CHROMIUM := /usr/bin/chromium
EXIFTOOL := /usr/bin/exiftool
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

# Where `make benchmark` writes its run (ignored by git: the checkout stays clean);
# `make record` copies it into benchmarks/results/ and the README's table.
RUN := results/im2gps237

.PHONY: benchmark record test lint venv clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -c constraints.txt torch==2.13.0
	$(PIP) install -c constraints.txt -e '.[all]'
	touch $(STAMP)

benchmark: $(STAMP)
	$(PY) -m im2gps benchmark --out $(RUN)
	@echo "results in $(RUN)/ (not tracked); 'make record' copies them into benchmarks/results/ and the README"

record: $(STAMP)
	@test -f $(RUN)/results.json || { echo "no run in $(RUN)/: run 'make benchmark' first"; exit 2; }
	mkdir -p benchmarks/results/im2gps237
	cp -r $(RUN)/. benchmarks/results/im2gps237/
	$(PY) benchmarks/update_readme.py benchmarks/results/im2gps237

$(CHROMIUM):
	@echo "installing Debian's chromium for the headless-browser tests of the HTML report (about 300 MB)"
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

$(EXIFTOOL):
	@echo "installing Debian's exiftool (libimage-exiftool-perl) for the GPS parity test"
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libimage-exiftool-perl

test: $(STAMP) $(CHROMIUM) $(EXIFTOOL)
	$(PY) -m ruff check .
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) .cache build *.egg-info results
