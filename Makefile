# mabe — run `make help` for the targets.
PY_SYS ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
RAW    ?= data/raw
STORE  ?= data/store.zarr
RUN    ?= runs/demo
JOBS   ?= 2

.DEFAULT_GOAL := help
.PHONY: help setup demo synth build-store inspect verify test bench lint clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PY_SYS) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: the CPU wheel; a bare `torch` would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

setup: $(VENV)/.installed ## create .venv and install the project (CPU torch)

synth: setup ## synthesise a small raw dataset in data/raw when it has none
	@if [ -f $(RAW)/train.csv ]; then echo "$(RAW)/train.csv exists — using it"; \
	else $(VENV)/bin/mabe-store synth --out $(RAW); fi

build-store: synth ## pivot every raw video into the Zarr store (incremental)
	$(VENV)/bin/mabe-store build --raw $(RAW) --out $(STORE) --jobs $(JOBS)

demo: build-store ## end to end on the small default: synth → store → inspect → verify
	$(VENV)/bin/mabe-store inspect --store $(STORE)
	$(VENV)/bin/mabe-store verify --store $(STORE) --raw $(RAW)

test: setup ## run the test suite
	$(VENV)/bin/pytest

bench: setup ## benchmarks (not tests): store build vs pandas/pyarrow
	$(PY) bench/bench_store.py

lint: setup ## ruff
	$(VENV)/bin/ruff check mabe_store mabe_train tests bench

clean: ## remove data/, runs/ (keeps .venv)
	rm -rf data runs
