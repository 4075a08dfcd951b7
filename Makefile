# The two commands of the README:
#   make book   set up .venv from requirements.txt and build the book (chapters executed at book scale)
#   make test   set up .venv and run the whole test suite (no network needed)
# and, for coursework and Colab:
#   make student  the same book with the exercise solutions hidden, in _build/student/_build/html
#   make notebooks  the chapters as notebooks for Jupyter and Colab, in book/*.ipynb
#   make assignments  the student notebooks (assignments/student/, committed for Colab) and the
#                 grading bundles with the hidden tests (_build/assignments/), with otter-grader
#   make grade ASSIGNMENT=agave SUBMISSIONS=folder   scores of every notebook in folder, as a CSV
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
SCALE  ?= book
PYTEST_ARGS ?= -n 2

.PHONY: setup book student notebooks assignments grade test benchmarks clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	touch $@

# jupyter-cache keys an executed chapter on its code, not on COMPANION_SCALE, so each scale
# keeps its own cache: book scale builds into _build/html, another into _build/scale-SCALE/.
BOOK_OUT = $(if $(filter book,$(SCALE)),.,_build/scale-$(SCALE))

book: setup
	COMPANION_SCALE=$(SCALE) $(BIN)/jupyter-book build . --path-output $(BOOK_OUT)
	@echo "The book is in $(BOOK_OUT)/_build/html/index.html"

student: setup
	COMPANION_SCALE=$(SCALE) $(BIN)/python tools/edition_config.py student _build/student_config.yml
	COMPANION_SCALE=$(SCALE) $(BIN)/jupyter-book build . --config _build/student_config.yml --path-output _build/student
	@echo "The student edition is in _build/student/_build/html/index.html"

assignments: setup
	$(BIN)/python tools/assignments.py build

# TIMEOUT: seconds per notebook (an endless loop is stopped and scored 0); JOBS: notebooks at once
TIMEOUT ?= 60
JOBS    ?= 2
grade: setup
	@test -n "$(ASSIGNMENT)" -a -n "$(SUBMISSIONS)" || { echo "usage: make grade ASSIGNMENT=<name> SUBMISSIONS=<folder of .ipynb>"; exit 2; }
	@test -f _build/assignments/$(ASSIGNMENT)/autograder.zip || $(MAKE) assignments
	$(BIN)/python tools/assignments.py grade $(ASSIGNMENT) $(SUBMISSIONS) --timeout $(TIMEOUT) --jobs $(JOBS)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

benchmarks: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf _build figures

# The chapters as notebooks for Jupyter and Colab (book/<chapter>.ipynb, committed; the
# Colab buttons and the README's links open them), built from the .md by Sphinx without
# executing anything: see tools/build_notebooks.py.
notebooks: setup
	$(BIN)/python tools/build_notebooks.py
