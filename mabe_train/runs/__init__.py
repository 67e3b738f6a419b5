"""The run layer: the `Run` protocol (protocol.py), the registry of kinds with `load_run` and
`train_run` (registry.py), every run-file name and the run.json writer (files.py), and the one
rule that blends several runs (blend.py)."""
