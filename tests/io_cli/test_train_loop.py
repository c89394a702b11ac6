"""The one training loop (`vsa_np.core.train.train`) and its run folder (`vsa_np.rundir`) on a
toy quadratic model that keeps the models' contract: exact resume, NaN stop, best checkpoint."""
import dataclasses
import json

import numpy as np
import pytest

from vsa_np.backend import rng, to_device, to_host, xp
from vsa_np.checkpoint import load_checkpoint
from vsa_np.config import config_from_args
from vsa_np.errors import DataError, TrainingError, UserError
from vsa_np.core.train import SGDMomentum, epoch_order, step_seed
from vsa_np.core.train import train as train_loop
from vsa_np.rundir import RunDir, check_finite, progress, resume_config


@dataclasses.dataclass
class ToyConfig:
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-3
    grad_clip: float = 5.0
    epochs: int = 3
    batch_size: int = 4
    eval_every: int = 5
    seed: int = 0
    hidden: int = 3


class Quadratic:
    """loss = 0.5/B * sum_i ||mask_i * (W x_i + b - y_i)||^2 over a batch of row indices, with a
    random "dropout" mask drawn from `rng` (in-step randomness must resume exactly too).
    `crash_after` training calls, it raises KeyboardInterrupt (a killed process); at training
    step `nan_step` its loss is NaN."""

    def __init__(self, cfg, X, Y, crash_after=None, nan_step=None):
        self.X, self.Y = X, Y
        g = np.random.default_rng(cfg.seed)
        self.params = {"W": to_device(g.standard_normal((cfg.hidden, X.shape[1])), np.float32),
                       "b": to_device(np.zeros(cfg.hidden), np.float32)}
        self.training, self.rng, self.calls = False, rng(0), 0
        self.crash_after, self.nan_step, self.run = crash_after, nan_step, None

    def loss(self, idx):
        if self.training:
            if self.calls == self.crash_after:
                raise KeyboardInterrupt
            self.calls += 1
        x, y = to_device(self.X[idx]), to_device(self.Y[idx])
        mask = (self.rng.random(y.shape) > 0.2).astype(np.float32)
        r = (x @ self.params["W"].T + self.params["b"] - y) * mask
        n = len(idx)
        loss = 0.5 * xp.sum(r * r) / n
        if self.training and self.run.step + 1 == self.nan_step:
            loss = loss * np.float32("nan")
        return loss, {"W": r.T @ x / n, "b": r.sum(axis=0) / n}


def data(n=22, d=4, h=3):
    g = np.random.default_rng(123)
    X = g.standard_normal((n, d)).astype(np.float32)
    Y = (X @ g.standard_normal((d, h)) + 0.1 * g.standard_normal((n, h))).astype(np.float32)
    return X, Y


def train(out, cfg, resume=False, stop_after=None, nan_step=None):
    """The toy model trained by the library's loop. stop_after=k simulates a crash
    (KeyboardInterrupt) after k optimiser steps of this process."""
    X, Y = data(h=cfg.hidden)
    model = Quadratic(cfg, X, Y, stop_after, nan_step)
    opt = SGDMomentum(cfg.lr, cfg.momentum)
    run = model.run = RunDir(out, cfg, resume=resume, meta={"vocab": ["<end>", "x"]},
                             best_key="neg_loss", quiet=True)
    run.restore(model.params, opt)
    B, n_batches = cfg.batch_size, len(X) // cfg.batch_size

    def epoch_batches(epoch):
        order = epoch_order(len(X), cfg.seed, epoch)
        return n_batches, (order[b * B:(b + 1) * B] for b in range(n_batches))

    def validate(model):
        model.rng = rng(0)
        return {"neg_loss": -float(to_host(model.loss(np.arange(len(X)))[0]))}

    train_loop(model, opt, cfg, run, epoch_batches, validate, eval_every=cfg.eval_every)
    run.close()
    return {k: to_host(v) for k, v in model.params.items()}, run


def test_resume_matches_uninterrupted_run(tmp_path):
    cfg = ToyConfig(eval_every=3)      # checkpoints at steps 3, 5 (epoch end), 6, 9, 10, 12, 15
    full, run_full = train(tmp_path / "full", cfg)
    assert run_full.step == cfg.epochs * (22 // 4) == 15

    # crash at step 8 (last checkpoint at step 6: epoch 1, batch 1); resume; crash at step 14
    # (checkpoint at 12: epoch 2, batch 2); resume to the end
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "cut", cfg, stop_after=8)
    assert load_checkpoint(tmp_path / "cut" / "last")[1]["train_state"]["batch"] == 1
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "cut", cfg, resume=True, stop_after=8)
    assert load_checkpoint(tmp_path / "cut" / "last")[1]["train_state"]["step"] == 12
    resumed, run_cut = train(tmp_path / "cut", cfg, resume=True)

    assert run_cut.step == 15 and run_cut.epoch == cfg.epochs
    for k in full:
        np.testing.assert_array_equal(full[k], resumed[k])
    log_full = json.loads((tmp_path / "full" / "log.json").read_text())
    log_cut = json.loads((tmp_path / "cut" / "log.json").read_text())
    assert [r["step"] for r in log_cut["train"]] == list(range(1, 16))
    assert [r["loss"] for r in log_cut["train"]] == [r["loss"] for r in log_full["train"]]
    assert [r["neg_loss"] for r in log_cut["eval"]] == [r["neg_loss"] for r in log_full["eval"]]
    assert run_cut.best == run_full.best and run_cut.best_step == run_full.best_step
    # the loss went down, and the best checkpoint holds the parameters of the best evaluation
    losses = [r["loss"] for r in log_full["train"]]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    best_params, best_meta, best_optim = load_checkpoint(tmp_path / "cut" / "best")
    assert best_optim is None and best_meta["train_state"]["step"] == run_full.best_step
    assert best_meta["vocab"] == ["<end>", "x"] and best_meta["config"]["lr"] == cfg.lr
    best_eval = max(log_full["eval"], key=lambda r: r["neg_loss"])
    assert best_eval["step"] == run_full.best_step


def test_resume_without_restoring_state_would_differ(tmp_path):
    """The test above can fail: resuming with fresh optimiser state changes the result."""
    cfg = ToyConfig()
    full, _ = train(tmp_path / "full", cfg)
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "cut", cfg, stop_after=5)
    _, _, optim = load_checkpoint(tmp_path / "cut" / "last")
    assert optim is not None and "velocity/W" in optim
    last = tmp_path / "cut" / "last.npz"
    arrays = dict(np.load(last))
    arrays = {k: (np.zeros_like(v) if k.startswith("optim/velocity") else v)
              for k, v in arrays.items()}
    np.savez(last, **arrays)
    resumed, _ = train(tmp_path / "cut", cfg, resume=True)
    assert not np.array_equal(full["W"], resumed["W"])


def test_nan_loss_stops_and_keeps_last_checkpoint(tmp_path):
    cfg = ToyConfig()
    with pytest.raises(TrainingError, match=r"loss is nan at step 7.*last\.npz"):
        train(tmp_path / "run", cfg, nan_step=7)
    params, meta, optim = load_checkpoint(tmp_path / "run" / "last")
    assert meta["train_state"]["step"] == 5 and optim is not None
    assert all(np.isfinite(v).all() for v in params.values())
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert [r["step"] for r in log["train"]] == list(range(1, 7))
    # and training resumes from there
    _, run = train(tmp_path / "run", cfg, resume=True)
    assert run.step == 15
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert [r["step"] for r in log["train"]] == list(range(1, 16))   # step 6 logged once


def test_check_finite():
    assert check_finite(xp.asarray(1.5), 3) == 1.5
    with pytest.raises(TrainingError, match="inf at step 3.*no checkpoint"):
        check_finite(float("inf"), 3)


def test_run_folder_rules(tmp_path):
    cfg = ToyConfig()
    with pytest.raises(DataError, match=r"no checkpoint to resume from"):
        RunDir(tmp_path / "empty", cfg, resume=True)
    assert not (tmp_path / "empty").exists()
    train(tmp_path / "run", cfg)
    with pytest.raises(UserError, match="--resume"):
        RunDir(tmp_path / "run", cfg)
    # resume with a config the saved parameters do not fit
    wide = dataclasses.replace(cfg, hidden=5)
    run = RunDir(tmp_path / "run", wide, resume=True, quiet=True)
    assert run.changes == {"hidden": (3, 5)}
    model = Quadratic(wide, *data(h=5))
    with pytest.raises(DataError, match=r"last\.npz: W has shape \(3, 4\)"):
        run.restore(model.params)
    # resume_config gives the saved config as the base for command-line overrides
    base = resume_config(tmp_path / "run", ToyConfig)
    assert base == cfg
    import argparse
    assert config_from_args(ToyConfig, argparse.Namespace(lr=0.5), base=base).lr == 0.5


def test_progress_quiet_off_tty():
    assert progress(range(3)).disable            # pytest captures stderr: not a TTY
    assert progress(range(3), quiet=True).disable
    assert list(progress(range(3), quiet=True)) == [0, 1, 2]


def test_epoch_order_and_step_seed():
    assert sorted(epoch_order(10, 0, 1)) == list(range(10))
    np.testing.assert_array_equal(epoch_order(10, 0, 1), epoch_order(10, 0, 1))
    assert not np.array_equal(epoch_order(10, 0, 1), epoch_order(10, 0, 2))
    assert step_seed(0, 5) == step_seed(0, 5) != step_seed(0, 6)
