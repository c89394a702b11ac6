"""The run folder of a training run, and where the run stands in it: `last` and `best`
checkpoints, a JSON log of the loss curve and the evaluations, exact resume, a lock against a
second run in the same folder, a NaN/inf stop and progress bars. (The options both training
commands share and the learning-rate trials are in `tuning.py`.)

Folder: `last.npz/.json` (parameters, optimiser state, meta with the config and `train_state`),
`best.npz/.json` (the best so far by `best_key`), `log.json` ({"train": [{step, epoch, loss}],
"eval": [{step, epoch, time, metrics...}]}). Resume is exact: an epoch's batches are a function
of (seed, epoch), the position in it is saved, and dropout is drawn from (seed, step).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from tqdm.auto import tqdm

try:
    import fcntl                     # POSIX; on Windows run folders are not locked
except ImportError:                  # pragma: no cover
    fcntl = None

from vsa_np.backend import to_device, to_float
from vsa_np.checkpoint import (load_checkpoint, load_meta, named, require_float,
                               save_checkpoint, split_buffers)
from vsa_np.data.vocab import Vocab
from vsa_np.config import config_changes, config_from_dict
from vsa_np.errors import DataError, TrainingError, UserError
from vsa_np.feature_norm import saved_map
from vsa_np.paths import output_folder
from vsa_np.safe_read import field as json_field
from vsa_np.safe_read import load_json


def progress(iterable=None, total=None, desc=None, quiet=None, **kwargs):
    """A tqdm bar on stderr, silent when `quiet` or (quiet=None) when stderr is not a terminal."""
    if quiet is None:
        quiet = not sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, disable=quiet, dynamic_ncols=True,
                file=sys.stderr, **kwargs)


def check_finite(loss, step: int, last_checkpoint=None) -> float:
    """The loss as a Python float, or a TrainingError when it is NaN or inf."""
    value = to_float(loss)
    if not math.isfinite(value):
        kept = (f"the last good checkpoint is {last_checkpoint}" if last_checkpoint
                else "no checkpoint had been written yet")
        raise TrainingError(f"loss is {value} at step {step}; stopped ({kept}). "
                            f"Try a smaller learning rate or stronger clipping.")
    return value


def resume_point(out) -> Path:
    """The stem of the newest complete checkpoint in run folder `out`: `last`, or `best` when
    `last` is missing or unreadable (a run killed during its first save of `last`), or newer.
    A `best` has no optimiser state, so a run resumed from it restarts the optimiser's."""
    out = Path(out)
    found = []
    for rank, name in enumerate(("best", "last")):        # on equal steps, last wins
        try:
            meta = load_meta(out / name)
        except DataError:
            continue
        state = meta.get("train_state")
        if isinstance(state, dict) and isinstance(state.get("step"), int):
            found.append((state["step"], rank, out / name))
    if not found:
        raise DataError(f"{out}: no checkpoint to resume from (last.npz and best.npz are "
                        f"missing or unreadable)")
    return max(found)[2]


def resume_config(out, config_cls):
    """The config saved in the run's newest checkpoint (the base for command-line overrides on
    --resume)."""
    path = resume_point(out)
    return config_from_dict(config_cls, load_meta(path).get("config", {}), source=f"{path}.npz")


def fingerprint(vocab) -> str:
    """12 hex digits of a hash of a vocabulary's words and counts: the data a run learned from."""
    return hashlib.sha256(json.dumps(vocab.to_json(), sort_keys=True).encode()).hexdigest()[:12]


def check_same_data(out, vocab, data) -> None:
    """DataError unless `vocab`, built from `data`, is the one the run in `out` was trained on:
    --resume continues a run on its own data, never on other words under its embeddings."""
    stem = resume_point(out)
    saved = Vocab.from_json(load_meta(stem).get("vocab") or {})
    if fingerprint(saved) != fingerprint(vocab):
        raise DataError(f"{data}: its vocabulary (fingerprint {fingerprint(vocab)}, {len(vocab)} "
                        f"words) is not the one the run in {out} was trained on (fingerprint "
                        f"{fingerprint(saved)}, {len(saved)} words, {stem}.npz); --resume "
                        f"continues a run on the data it was trained on")


def check_log_path(out) -> Path:
    """The checked output folder; DataError when its log.json is there but not a file (the run
    writes its log there)."""
    out = output_folder(out, "--out")
    if os.path.lexists(out / "log.json") and not (out / "log.json").is_file():
        raise DataError(f"{out / 'log.json'}: is not a file (a folder?); the run writes its "
                        f"log there: move it away")
    return out


@dataclasses.dataclass
class Trials:
    """The runs tried before the one a folder keeps, as `open_trials` opened them."""
    out: Path                  # the checked output folder, created if need be, and locked
    lock: "_FolderLock"
    folder: Path               # a fresh hidden folder inside `out` for the tries
    made: Path | None          # the outermost folder open_trials created (None: `out` existed)
    new_lock: bool             # whether open_trials created `out/.lock`

    def abandon(self) -> None:
        """No run was kept (the tries failed or were refused): release the lock and remove the
        folders open_trials created, when they hold nothing but the lock file, so that bad input
        leaves nothing behind."""
        ours = self.new_lock and all(f.name == ".lock" for f in self.out.iterdir())
        if ours:                     # unlinked while still held: no other run can hold it yet
            (self.out / ".lock").unlink(missing_ok=True)
        self.lock.release()
        if not ours or self.made is None:
            return
        folder = self.out
        while True:                          # `out`, then each parent created with it
            try:
                folder.rmdir()
            except OSError:
                return
            if folder == self.made:
                return
            folder = folder.parent


def open_trials(out, prefix: str) -> Trials:
    """For runs tried before the one a folder keeps (`--lr auto`'s trials, start auto's two
    starts): the checked folder `out`, created and locked (refused when it already holds a
    finished run), and a fresh hidden folder of ours inside it for the tries, which the caller
    removes however they end (and calls `abandon` when it keeps no run)."""
    out = output_folder(out, "--out")
    made = next((p for p in reversed([out, *out.parents]) if not p.exists()), None)
    out.mkdir(parents=True, exist_ok=True)
    new_lock = not os.path.lexists(out / ".lock")
    lock = _FolderLock(out)
    _refuse_a_finished_run(out, lock)
    return Trials(out, lock, Path(tempfile.mkdtemp(prefix=prefix, dir=out)), made, new_lock)


def _refuse_a_finished_run(out: Path, lock) -> None:
    """UserError (releasing `lock`) when `out` already holds checkpoints: a new run would
    overwrite them."""
    held = [n + ".npz" for n in ("last", "best") if (out / f"{n}.npz").exists()]
    if held:
        lock.release()
        raise UserError(f"{out} already holds a run ({', '.join(held)}): pass --resume to "
                        f"continue it, or choose another --out")


class _FolderLock:
    """An exclusive lock on a run folder for the life of a run (`out/.lock`, flock): a second
    run on the same folder, in another process, is refused instead of mixing its checkpoints
    with this one's. The kernel drops the lock when the process ends, however it ends, so a
    killed run never leaves a stale lock. Re-entrant within one process (a library user may
    resume in the same interpreter after a stopped run)."""

    held: dict = {}                  # resolved folder -> open lock file, for this process

    def __init__(self, folder: Path):
        self.key = folder.resolve()
        if self.key in self.held:
            self.file = self.held[self.key]
            return
        # never through a link: the lock file is ours, created here or left by an earlier run
        try:
            fd = os.open(folder / ".lock",
                         os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as e:
            raise UserError(f"{folder / '.lock'}: cannot open the run's lock file "
                            f"({e.strerror}; a link or a folder there?)") from None
        self.file = os.fdopen(fd, "r+", encoding="utf-8")
        try:
            if fcntl is not None:
                fcntl.flock(self.file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.seek(0)
            pid = self.file.read().strip() or "?"
            self.file.close()
            raise UserError(f"--out {folder}: another run is writing to this folder (process "
                            f"{pid}); wait for it to finish, or choose another --out") from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(str(os.getpid()))
        self.file.flush()
        self.held[self.key] = self.file

    def release(self) -> None:
        if self.held.get(self.key) is self.file:
            del self.held[self.key]
            self.file.close()        # closing the file drops the flock


def read_log(path: Path) -> dict:
    """log.json -> {"train": [...], "eval": [...]}, every entry an object with a whole `step`
    >= 0; DataError naming the file otherwise."""
    log = load_json(path, "training log")
    if not isinstance(log, dict):
        raise DataError(f"{path}: expected a JSON object with `train` and `eval` lists, found "
                        f"{type(log).__name__}")
    out = {}
    for part in ("train", "eval"):
        entries = log.get(part, [])
        if not isinstance(entries, list):
            raise DataError(f"{path}: `{part}` must be a list")
        for k, r in enumerate(entries):
            json_field(r, "step", int, f"{path}: {part} entry {k}", low=0)
        out[part] = entries
    return out


def _write_json_atomic(path: Path, obj) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".log-", suffix=".json.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise named(e, path) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _lookup(metrics: dict, key: str):
    """metrics["a/b"] -> metrics["a"]["b"]."""
    value = metrics
    for part in key.split("/"):
        value = value[part]
    return float(value)


class RunDir:
    """The output folder of one training run, and where the run stands in it.

    step: optimiser updates done; epoch: the current epoch; batch: batches done in it;
    best: the best value of metrics[best_key] so far (None before the first evaluation).
    """

    def __init__(self, out, config, resume: bool = False, meta: dict | None = None,
                 best_key: str | None = None, higher_is_better: bool = True, quiet=None,
                 buffers: dict | None = None):
        self.out = Path(out)
        self.config = config
        self.meta = dict(meta or {})
        self.buffers = buffers                      # fixed arrays saved with every checkpoint
        self.best_key, self.higher_is_better, self.quiet = best_key, higher_is_better, quiet
        self.step = self.epoch = self.batch = 0
        self.best = self.best_step = None
        self.train_time = 0.0                       # seconds, summed over resumed segments
        self.log = {"train": [], "eval": []}
        self.changes = {}                           # config fields changed on resume
        self._loaded = None                         # (params, optim_state) read on resume
        self._t0 = time.perf_counter()
        self._bar = None
        check_log_path(self.out)
        if resume:                                   # DataError, before anything is created
            resume_point(self.out)
            if self.log_path.is_file():
                read_log(self.log_path)
        self.out.mkdir(parents=True, exist_ok=True)
        self._lock = _FolderLock(self.out)          # held until close() or the process ends
        if resume:
            self._resume()
        else:
            _refuse_a_finished_run(self.out, self._lock)
        for stray in (*self.out.glob(".ckpt-*.tmp"), *self.out.glob(".log-*.json.tmp")):
            stray.unlink(missing_ok=True)            # saves a killed run never finished

    last_path = property(lambda self: self.out / "last")
    best_path = property(lambda self: self.out / "best")
    log_path = property(lambda self: self.out / "log.json")

    def _resume(self):
        try:
            self._resume_state()
        except BaseException:
            self._lock.release()
            raise

    def _resume_state(self):
        stem = resume_point(self.out)
        params, meta, optim = load_checkpoint(stem)
        require_float({**params, **(optim or {})}, stem)
        if stem != self.last_path:                 # said even with --quiet: state was lost
            print(f"resuming from {stem}.npz ({self.last_path}.npz is missing, unreadable or "
                  f"older); the optimiser's state starts afresh", file=sys.stderr)
        consts = split_buffers(params)              # the model's constants, not parameters
        if self.buffers is not None and saved_map(consts) != saved_map(self.buffers):
            raise DataError(f"{stem}.npz: the run read its features through the "
                            f"{saved_map(consts)} map, this config through the "
                            f"{saved_map(self.buffers)} map; pass --feature-map "
                            f"{saved_map(consts)} to continue it")
        state = meta.get("train_state")
        if not isinstance(state, dict):
            raise DataError(f"{stem}.npz: no train_state to resume from")
        self.step, self.epoch, self.batch = state["step"], state["epoch"], state["batch"]
        self.best, self.best_step = state.get("best"), state.get("best_step")
        self.train_time = state.get("train_time", 0.0)
        self._loaded = (params, optim, stem)
        saved = meta.get("config")
        if saved is not None:
            old = config_from_dict(type(self.config), saved, source=f"{stem}.npz")
            self.changes = config_changes(old, self.config)
            if self.changes and not self.quiet:
                print("resuming with changed config: " + ", ".join(
                    f"{k} {a!r} -> {b!r}" for k, (a, b) in self.changes.items()), file=sys.stderr)
        if self.log_path.is_file():
            # entries written after the checkpoint (before a crash) are redone by this run
            self.log = {part: [r for r in entries if r["step"] <= self.step]
                        for part, entries in read_log(self.log_path).items()}

    def restore(self, params: dict, opt=None) -> bool:
        """Copy the resumed parameters into `params` in place (and the optimiser state into
        `opt`); False, touching nothing, on a fresh run."""
        if self._loaded is None:
            return False
        loaded, optim, stem = self._loaded
        where = f"{stem}.npz"
        if set(loaded) != set(params):
            raise DataError(f"{where}: parameters {sorted(loaded)} do not match the model's "
                            f"{sorted(params)}")
        for name, p in params.items():
            if loaded[name].shape != p.shape:
                raise DataError(f"{where}: {name} has shape {loaded[name].shape}, the model "
                                f"(with this config) expects {p.shape}")
            p[...] = to_device(loaded[name], p.dtype)
        if opt is not None and optim is not None:
            try:
                opt.load_state_dict(optim)
            except (KeyError, ValueError) as e:
                raise DataError(f"{where}: {e}") from None
        self._loaded = None
        return True

    def remaining(self, batches, n_batches: int, desc: str = "epoch"):
        """Yield (b, batch) for the batches of the current epoch not yet done (a resumed run
        skips the first `self.batch`), with a progress bar; then move to the next epoch. The
        loop body must call `record` once per batch."""
        self._bar = progress(total=n_batches, initial=self.batch, quiet=self.quiet,
                             desc=f"{desc} {self.epoch + 1}/{self.config.epochs}")
        with self._bar:
            for b, batch in enumerate(batches):
                if b < self.batch:
                    continue
                yield b, batch
                if self.batch != b + 1:
                    raise RuntimeError("RunDir.remaining: call run.record(loss) once per batch")
        self._bar = None
        self.epoch, self.batch = self.epoch + 1, 0

    def record(self, loss, **extra) -> float:
        """Check the loss (TrainingError on NaN/inf, with the log written), log it, count the step;
        returns it as a float. The only way a step is counted: once per batch, after the loss
        and before the update (see the module docstring), so a bad step changes nothing."""
        try:
            value = check_finite(loss, self.step + 1, self._last_written())
        except TrainingError:
            self.write_log()
            raise
        self.step += 1
        self.batch += 1
        self.log["train"].append({"step": self.step, "epoch": self.epoch, "loss": value, **extra})
        if self._bar is not None:
            self._bar.update(1)
            if self.step % 10 == 0:
                self._bar.set_postfix(loss=f"{value:.4g}", refresh=False)
        return value

    def best_eval(self) -> dict | None:
        """The evaluation log entry of the best checkpoint so far (None before the first)."""
        return next((e for e in self.log["eval"] if e["step"] == self.best_step), None)

    def _last_written(self):
        p = self.last_path.with_suffix(".npz")
        return p if p.exists() else None

    def kept(self) -> str:
        """What a stopped run leaves behind, for its message."""
        last = self._last_written()
        return (f"the last good checkpoint is {last}" if last
                else "no checkpoint had been written yet")

    def elapsed(self) -> float:
        """Training seconds so far, including earlier segments of a resumed run."""
        return self.train_time + time.perf_counter() - self._t0

    def checkpoint(self, params: dict, opt=None, metrics: dict | None = None) -> bool:
        """Log `metrics` (if any), save `best` when metrics[best_key] improved, then `last` (with
        the optimiser state) and the log. Returns True when this was a new best."""
        improved = False
        if metrics is not None:
            self.log["eval"].append({"step": self.step, "epoch": self.epoch,
                                     "time": round(self.elapsed(), 3), **metrics})
            if self.best_key is not None:
                value = _lookup(metrics, self.best_key)
                improved = self.best is None or (value > self.best if self.higher_is_better
                                                 else value < self.best)
                if improved:
                    self.best, self.best_step = value, self.step
        meta = self._meta(metrics)
        if improved:
            save_checkpoint(self.best_path, params, meta, buffers=self.buffers)
        save_checkpoint(self.last_path, params, meta, opt.state_dict() if opt else None,
                        self.buffers)
        self.write_log()
        return improved

    def _meta(self, metrics):
        state = {"step": self.step, "epoch": self.epoch, "batch": self.batch, "best": self.best,
                 "best_step": self.best_step, "best_key": self.best_key,
                 "train_time": self.elapsed()}
        return {**self.meta, "config": dataclasses.asdict(self.config), "train_state": state,
                "metrics": metrics}

    def write_log(self) -> None:
        _write_json_atomic(self.log_path, self.log)

    def close(self) -> None:
        """Write the log one last time and release the folder (call at the end of training)."""
        self.write_log()
        self._lock.release()


def checkpoints_line(out, next_command: str) -> str:
    """What a trainer wrote (only what is there) and the command to run next."""
    written = [str(p) for p in (Path(out) / "best.npz", Path(out) / "last.npz") if p.is_file()]
    return f"checkpoints: {', '.join(written) or 'none written'}; next: {next_command}"
