# The course's two commands are `make lab` and `make test`; each sets itself up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.course-installed
PORT ?= 8888
HUB_PORT ?= 8000

.PHONY: help lab student-copies test install lint unit notebooks data data-check student browser browser-deps book book-deps bench mutants hub hub-deps clean

help:
	@echo "make lab    install (once) and open JupyterLab: notebooks/ (instructor) and student/ (your copies)"
	@echo "make test   install (once), lint, unit tests, execute every notebook, browser test"
	@echo "make data   regenerate the committed exports in data/ (byte-for-byte)"
	@echo "make student  write student versions of the notebooks to student/ (overwrites them)"
	@echo "make book   build the course as a static website in build/book/ (open index.html)"
	@echo "make bench  run the benchmarks in benchmarks/"
	@echo "make mutants  sampled mutation testing of metrics, crf, superpixels, upsampling, roi (slow; not in CI)"
	@echo "make hub    a demo classroom: JupyterHub + nbgrader on 127.0.0.1:$(HUB_PORT), one instructor, 3 students"

# Installs only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,hub]'
	touch $(STAMP)

install: $(STAMP)

lab: install data-check student-copies
	@echo "Opening JupyterLab at http://127.0.0.1:$(PORT)/lab (the full URL with its token is printed below):"
	@echo "  student/   your copies of the notebooks, exercises unsolved: work here"
	@echo "  notebooks/ the instructor versions, with solutions and outputs"
	$(BIN)/jupyter lab --ip=127.0.0.1 --port=$(PORT) --no-browser --notebook-dir=. \
		$$( [ "$$(id -u)" = 0 ] && echo --allow-root )

data-check: install
	$(BIN)/python -m course_lib.data.manifest --check

lint: install
	$(BIN)/ruff check course_lib tests benchmarks notebooks book hub

unit: install
	$(BIN)/python -m pytest -q -m "not browser" tests

notebooks: install
	$(BIN)/python -m pytest -q --nbval-lax notebooks -p no:cacheprovider

browser-deps:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "chromium could not be installed; the browser test will skip"

browser: install browser-deps
	$(BIN)/python -m pytest -q -m browser tests

test: install data-check lint book hub-deps unit notebooks browser

data: install
	$(BIN)/python -m course_lib.data.export --out data

# Adds to student/ the student version of each notebook it lacks, and never overwrites a file
# there, so a learner's work survives `make lab` (`make student` rewrites them all).
student-copies: install
	@tmp=$$(mktemp -d) && \
	if $(BIN)/python -m course_lib.grading student --out "$$tmp" >/dev/null; then \
		mkdir -p student; \
		for f in "$$tmp"/*; do [ -e "student/$${f##*/}" ] || cp "$$f" student/; done; \
	else echo "could not write the student versions (see above); notebooks/ still opens"; fi; \
	rm -rf "$$tmp"

student: install
	$(BIN)/python -m course_lib.grading student --out student

# ipywidgets' HTML manager for the book, unpacked from npm once into build/vendor/ (without
# npm the book still builds and shows each widget as a note).
book-deps: install
	@$(BIN)/python book/make_book.py vendor || echo "the book's widgets will be shown as notes"

# The course as a static website (student versions, executed outputs), offline: build/book/.
book: install book-deps
	$(BIN)/python book/make_book.py build --out build/book

bench: install
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

# configurable-http-proxy, pinned in hub/package-lock.json, into hub/node_modules/ (once);
# without npm the hub test skips and says why.
hub-deps:
	@[ -x hub/node_modules/.bin/configurable-http-proxy ] || (cd hub && npm ci --no-audit --no-fund --loglevel=error) || echo "configurable-http-proxy could not be installed (npm); make hub and the hub test need it"

# A demo classroom on 127.0.0.1 (hub/classroom.py): as root, system users demo-instructor and
# demo-student1..3; Ctrl-C stops it and removes them.
hub: install hub-deps
	$(BIN)/python hub/classroom.py demo --port $(HUB_PORT)

# Sampled mutation testing (tests/mutation.py): do the tests notice small bugs? Takes long.
mutants: install
	nice -n 10 $(BIN)/python tests/mutation.py $(MUTANTS_ARGS)

clean:
	rm -rf $(VENV) student artifacts .pytest_cache
