# mabe — run `make help` for the targets.
PY_SYS ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
RAW    ?= data/raw
STORE  ?= data/store.zarr
RUN    ?= runs/demo
JOBS   ?= 2

.DEFAULT_GOAL := help
.PHONY: help setup demo synth build-store test test-fast docs bench lint clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PY_SYS) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: the CPU wheel; a bare `torch` would pull a multi-GB CUDA build. Pinned
	# again beside the project: otherwise pip's backtracking over boto3/botocore (s3fs, moto) swapped
	# it for torch 2.14.1 + CUDA (a fresh setup went from 70 s to 208 s)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[all,dev]' torch==2.13.0
	@touch $@

setup: $(VENV)/.installed ## create .venv and install the project (CPU torch)

synth: setup ## synthesise a small raw dataset in data/raw when it has none
	@if [ -f $(RAW)/train.csv ]; then echo "$(RAW)/train.csv exists — using it"; \
	else $(VENV)/bin/mabe-store synth --out $(RAW); fi

build-store: synth ## pivot every raw video into the Zarr store (incremental)
	$(VENV)/bin/mabe-store build --raw $(RAW) --out $(STORE) --jobs $(JOBS)

demo: build-store ## end to end: synth → store → verify → V5 → pair model → scored submission → Kaggle bundle
	$(VENV)/bin/mabe-store inspect --store $(STORE)
	$(VENV)/bin/mabe-store verify --store $(STORE) --raw $(RAW)
	$(VENV)/bin/mabe-store inspect --store $(STORE) $$($(PY) -c "from mabe_store import open_store as o; s=o('$(STORE)'); print(s.videos['video_id'][s.videos['labeled_actions'].sum(1).argmax()])") --plot runs/demo-video.png
	$(VENV)/bin/mabe-train run --config configs/demo.yaml data.data_dir=$(STORE) train.checkpoint_dir=runs train.run_name=demo --overwrite
	$(VENV)/bin/mabe-train evaluate runs/demo
	$(VENV)/bin/mabe-train run --config configs/pairs_demo.yaml data.data_dir=$(STORE) train.checkpoint_dir=runs train.run_name=pairs-demo --overwrite
	$(VENV)/bin/mabe-train evaluate runs/pairs-demo
	$(VENV)/bin/mabe-train predict --run runs/pairs-demo --store $(STORE) --split val --out runs/pairs-demo/val_submission.csv --solution-out runs/pairs-demo/val_solution.csv
	$(VENV)/bin/mabe-train score --solution runs/pairs-demo/val_solution.csv --submission runs/pairs-demo/val_submission.csv
	$(VENV)/bin/mabe-train predict --run runs/pairs-demo --store $(STORE) --split test --out runs/pairs-demo/submission.csv
	@echo "plots: runs/demo-video.png runs/demo/eval/*.png runs/pairs-demo/eval/*.png; Kaggle submission: runs/pairs-demo/submission.csv"
	$(VENV)/bin/mabe-train kaggle bundle --run runs/pairs-demo --out runs/bundle --overwrite
	@echo "Kaggle bundle: runs/bundle (kaggle datasets create -p runs/bundle; kaggle kernels push -p runs/bundle)"

test: setup ## run the test suite
	$(VENV)/bin/pytest

test-fast: setup ## the inner loop: every test not marked slow
	$(VENV)/bin/pytest -m "not slow"

docs: setup ## build the documentation site into build/site (warnings are errors)
	$(VENV)/bin/mkdocs build --strict --site-dir build/site

bench: setup ## benchmarks (not tests): store build, sampler, train steps, metric
	$(PY) bench/bench_store.py
	$(PY) bench/bench_train.py
	$(VENV)/bin/mabe-train bench --config configs/v5.yaml --steps 5
	$(VENV)/bin/mabe-train bench --config configs/v6.yaml --steps 3
	$(PY) bench/bench_metric.py

lint: setup ## ruff
	$(VENV)/bin/ruff check mabe_store mabe_train tests bench

clean: ## remove data/, runs/ (keeps .venv)
	rm -rf data runs
