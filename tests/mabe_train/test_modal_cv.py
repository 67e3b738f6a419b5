"""`mabe-train cv --remote modal`: one preemption-safe remote call per fold, run here through the
real Modal functions' `.local()` with Modal's client objects faked at the boundary (app.run,
Function.remote/.with_options/.starmap with Modal's retry policy, the Volume as a folder)."""

from __future__ import annotations

import json
import os
import shutil
import signal
from contextlib import nullcontext

import pytest

from tests.mabe_train.stores import pairs_debug_cfg

modal_app = pytest.importorskip("mabe_train.modal_app")
pytestmark = pytest.mark.filterwarnings("ignore:The .* function is executing locally")


class FakeFunction:
    """A deployed Modal Function as launch_cv uses it: `.remote` and `.starmap` run the real function's
    `.local()` with the Volume mounted at `vol`; a failed input is retried as `RETRIES` says."""

    def __init__(self, fn, calls: list, on_retry=lambda args: None, **mount):
        self.fn, self.calls, self.on_retry, self.mount, self.options = fn, calls, on_retry, mount, {}

    def with_options(self, **options):
        self.options = options
        return self

    def remote(self, *args):
        self.calls.append(args[1:])
        return self.fn.local(*args, **self.mount)

    def starmap(self, inputs):
        for args in inputs:
            for attempt in range(modal_app.RETRIES.max_retries + 1):
                self.calls.append(args[1])
                try:
                    yield self.fn.local(*args, **self.mount)
                    break
                except Exception:
                    if attempt == modal_app.RETRIES.max_retries:
                        raise
                    self.on_retry(args)


@pytest.fixture
def faked_modal(monkeypatch, tmp_path, pairs_run):
    """A Volume folder holding the pairs store, and the three cv functions faked around their .local()."""
    import torch

    import mabe_train.train as train_module
    root, _ = pairs_run
    vol, local = tmp_path / "vol", tmp_path / "local"
    shutil.copytree(root / "s.zarr", vol / "stores" / "s.zarr")
    monkeypatch.setenv("MODAL_TOKEN_ID", "a")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "b")
    monkeypatch.setattr(modal_app.modal, "enable_output", nullcontext)
    monkeypatch.setattr(modal_app.app, "run", lambda **_: nullcontext())
    seen = {"plan": [], "fold": [], "finish": [], "steps_at_retry": []}

    def on_retry(args):
        seen["steps_at_retry"].append(torch.load(vol / "runs" / "rcv" / "cv" / f"fold_{args[1]}" / "last.pt",
                                                 weights_only=True)["state"]["step"])
    at = {"vol": str(vol)}
    monkeypatch.setattr(modal_app, "cv_plan_remote", FakeFunction(modal_app.cv_plan_remote, seen["plan"],
                                                                  volume_root=at["vol"]))
    fold_fn = FakeFunction(modal_app.cv_fold_remote, seen["fold"], on_retry, volume_root=at["vol"],
                           local_dir=str(local))
    monkeypatch.setattr(modal_app, "cv_fold_remote", fold_fn)
    monkeypatch.setattr(modal_app, "cv_finish_remote", FakeFunction(modal_app.cv_finish_remote, seen["finish"],
                                                                    volume_root=at["vol"]))
    real_step, preempted = train_module.train_step, []

    def step_then_preempt_fold_1(task, model, opt, scaler, x, batch, device, cfg, step):
        loss = real_step(task, model, opt, scaler, x, batch, device, cfg, step)
        if cfg.train.run_name == "fold_1" and step == 2 and not preempted:
            preempted.append(step)
            os.kill(os.getpid(), signal.SIGTERM)  # Modal's notice before a preemption
        return loss
    monkeypatch.setattr(train_module, "train_step", step_then_preempt_fold_1)
    return root, vol, seen, fold_fn


def test_folds_run_in_parallel_calls_and_a_preempted_fold_resumes_on_retry(faked_modal):
    from mabe_train.run import load_checkpoint
    from mabe_train.runs.registry import load_run
    root, vol, seen, fold_fn = faked_modal
    cfg = pairs_debug_cfg(root, "rcv", "train.ckpt_every_steps=0")
    before = signal.getsignal(signal.SIGTERM)
    line = modal_app.launch_cv(cfg, 2, gpu="H100,A100-80GB")
    assert signal.getsignal(signal.SIGTERM) == before
    assert "finished cv rcv: 2 of 2 folds" in line and "mabe-train modal fetch rcv" in line
    assert fold_fn.options == {"gpu": ["H100", "A100-80GB"]}
    assert seen["fold"] == [0, 1, 1]  # fold 1 preempted once, then retried
    assert seen["steps_at_retry"] == [3]  # SIGTERM saved last.pt at the step it came (the config checkpoints never)
    run_dir = vol / "runs" / "rcv"
    assert load_checkpoint(run_dir / "cv" / "fold_1" / "last.pt")["state"]["step"] == 6
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["oof_videos"] == 7 and (run_dir / "thresholds.json").exists()
    run = load_run(run_dir, data_dir=root / "s.zarr")
    assert run.predict_probs([int(run.split["val"][0])])[0].probs.max() > 0
    # the same command again: the plan finds every fold done, no fold is called
    mtimes = {p: p.stat().st_mtime_ns for p in (run_dir / "cv").rglob("*") if p.is_file()}
    assert "0 of 2 folds" in modal_app.launch_cv(cfg, 2)
    assert seen["fold"] == [0, 1, 1] and len(seen["plan"]) == 2 and len(seen["finish"]) == 2
    assert {p: p.stat().st_mtime_ns for p in (run_dir / "cv").rglob("*") if p.is_file()} == mtimes


def test_cv_remote_refuses_what_it_cannot_run(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from mabe_train.cli import app
    monkeypatch.setenv("MODAL_TOKEN_ID", "a")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "b")
    for args, says in ((["--config", "configs/gbdt.yaml", "--remote", "modal"], "GBDT cv runs locally"),
                       (["--config", "configs/pairs_demo.yaml", "--remote", "modal", "--refit"], "without --refit"),
                       (["--config", "configs/pairs_demo.yaml", "--remote", "aws"], "only `--remote modal`")):
        r = CliRunner().invoke(app, ["cv", *args, f"train.checkpoint_dir={tmp_path}"])
        assert r.exit_code == 1 and says in r.output, r.output
