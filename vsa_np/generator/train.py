"""`vsa-np train-gen`: training the multimodal RNN (Sec. 3.2-3.3) on a dataset folder.

    cfg = GenConfig(epochs=20)
    summary = train_generator("data/shapes", "runs/gen", cfg)

The loop is `vsa_np.core.train.train` (RMSprop, clipping at 5, dropout, weight decay); after
every epoch the validation perplexity and captions, the best checkpoint by `best`, and a stop
after `patience` epochs without progress. Full images by default; with `from_alignments`, the
(region, snippet) pairs that an alignment model's MRF infers (Sec. 4.3, `region_data.py`).
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Literal, Optional

import numpy as np

from vsa_np.config import MAX_LEN, check_common, require
from vsa_np.core.generator import CaptionModel
from vsa_np.core.train import RMSProp, epoch_order, train
from vsa_np.data import Vocab, caption_batch, encode_split, load_dataset
from vsa_np.errors import DataError
from vsa_np.feature_norm import fit_on_split
from vsa_np.generator.evaluate import (diversity_warning, evaluate_split,
                                       nearest_neighbour_report, perplexity, unigram_perplexity)
from vsa_np.generator.region_data import region_training_data
from vsa_np.rundir import RunDir, check_same_data, checkpoints_line
from vsa_np.tuning import add_trainer_arguments, search_lr, trainer_config

PAPER = {"paper": True}
BEST_KEYS = ("CIDEr-D", "BLEU-4", "perplexity")


@dataclass
class GenConfig:
    """The paper's settings first (Sec. 3.2, 3.3, 4.3), then the project's additions."""
    hidden: int = field(default=512, metadata={**PAPER, "help": "hidden size H"})
    word_dim: int = field(default=256, metadata={**PAPER, "help": "word vector size E"})
    batch_size: int = field(default=100, metadata={**PAPER, "help": "sentences per batch"})
    lr: float = field(default=3e-4, metadata={**PAPER, "help": "RMSprop learning rate"})
    decay: float = field(default=0.999, metadata={**PAPER, "help": "RMSprop decay"})
    grad_clip: float = field(default=5.0, metadata={**PAPER,
        "help": "elementwise gradient clip (0: off)"})
    weight_decay: float = field(default=1e-6, metadata={**PAPER,
        "help": "L2 weight decay of the matrices"})
    dropout: float = field(default=0.2, metadata={**PAPER,
        "help": "dropout on the non-recurrent layers"})
    word_threshold: int = field(default=5, metadata={**PAPER, "help": "keep words seen this often"})
    eval_beam: int = field(default=7, metadata={**PAPER, "help": "beam size of the captions"})
    from_alignments: Optional[str] = field(default=None, metadata={**PAPER,
        "help": "alignment checkpoint: train on its MRF (region, snippet) pairs (Sec. 4.3); "
                "'truth': on the shapes world's true pairs (an oracle)"})
    beta: float = field(default=0.0, metadata={**PAPER, "min": 0,
        "help": "MRF beta of Eq. 12 for --from-alignments (larger: longer snippets)"})
    cell: Literal["rnn", "lstm"] = field(default="lstm", metadata={
        "help": "'lstm' in place of Eq. 14's ReLU RNN, or 'rnn', the paper's (docs/"
                "benchmarks.md, issue 22: the RNN ignores the picture on real captions)"})
    image_every_step: bool = field(default=True, metadata={
        "help": "add b_v at every step of Eq. 14, not at t = 1 only (the paper's)"})
    whiten: int = field(default=0, metadata={
        "help": "whiten this many principal directions of the features (feature_norm.py)"})
    feature_map: Literal["auto", "raw", "sqrt", "log", "ssqrt"] = field(default="auto", metadata={
        "help": "read the features through this map first (feature_norm.py); auto: log for "
                "class probabilities, raw otherwise"})
    lr_grid: tuple[float, ...] = field(default=(), metadata={
        "help": "learning rates tried in short trials first, the best on validation wins "
                "(what --lr auto sets)"})
    wd_grid: tuple[float, ...] = field(default=(), metadata={
        "help": "weight decays tried with each rate of --lr-grid (what --lr auto sets: "
                "--weight-decay x 0.1, 1, 10)"})
    lr_trial_epochs: int = field(default=2, metadata={"help": "epochs of each trial"})
    epochs: int = field(default=30, metadata={"help": "passes over the training sentences"})
    max_words: int = field(default=0, metadata={
        "help": "truncate training sentences to this many words (0: keep all)"})
    max_len: int = field(default=40, metadata={"help": "longest caption decoded (words)"})
    eval_images: int = field(default=0, metadata={
        "help": "caption only the first N validation images each epoch (0: all)"})
    best: Literal["CIDEr-D", "BLEU-4", "perplexity"] = field(default="perplexity", metadata={
        "help": "validation metric that picks the best checkpoint"})
    patience: int = field(default=5, metadata={
        "help": "stop after this many epochs without a better validation value (0: never)"})
    meteor: bool = field(default=False, metadata={"help": "compute METEOR each epoch (Java)"})
    seed: int = field(default=0, metadata={"help": "seed of initialisation, order, dropout"})

    def __post_init__(self):
        check_common(self)
        for name in ("eval_beam", "max_len"):
            require(isinstance(getattr(self, name), int) and getattr(self, name) >= 1, name,
                    f"must be a whole number >= 1, got {getattr(self, name)!r}")
        require(self.max_len <= MAX_LEN, "max_len", f"must be <= {MAX_LEN}, got {self.max_len}")
        for name in ("patience", "max_words", "eval_images"):
            require(isinstance(getattr(self, name), int) and getattr(self, name) >= 0, name,
                    f"must be a whole number >= 0, got {getattr(self, name)!r}")
        require(0 < self.decay < 1, "decay", f"must be in (0, 1), got {self.decay!r}")
        require(math.isfinite(self.beta), "beta", f"must be a number, got {self.beta!r}")


def build_vocab(ds, threshold: int):
    return Vocab.build(ds.sentences_of("train")[1], threshold).require_words()


def training_data(ds, vocab, cfg: GenConfig):
    """(train pairs, validation function) for the config: full images, or region snippets."""
    if cfg.from_alignments:
        return region_training_data(ds, vocab, cfg)

    def validate(model):
        return evaluate_split(model, ds, vocab, "val", cfg.eval_beam, cfg.max_len, cfg.meteor,
                              cfg.eval_images)
    return (ds, encode_split(ds, vocab, "train", cfg.max_words or None)), validate


def build_model(cfg, vocab, image_dim, norm=None):
    return CaptionModel(len(vocab), image_dim, hidden=cfg.hidden, word_dim=cfg.word_dim,
                        dropout=cfg.dropout, image_every_step=cfg.image_every_step,
                        cell=cfg.cell, word_counts=vocab.counts, seed=cfg.seed, norm=norm)


def train_generator(data, out, cfg: GenConfig, resume=False, quiet=None, max_steps=0,
                    log=None) -> dict:
    """Train (or resume) in the run folder `out`; returns a summary. max_steps > 0 stops early
    (benchmarks, tests). `log` prints the warnings (default: stderr)."""
    log = log or (lambda *a: print(*a, file=sys.stderr))
    ds = load_dataset(data)
    ds.require_features()
    vocab = build_vocab(ds, cfg.word_threshold)
    if resume:
        check_same_data(out, vocab, data)
    trials = None
    if cfg.lr_grid and not resume:
        if len(ds.split_indices("val")) == 0 and not cfg.from_alignments:
            raise DataError(f"{data}: --lr auto needs a validation split to choose by")
        lr, wd, trials = search_lr(train_generator, data, out, cfg, cfg.best != "perplexity", log)
        cfg = dataclasses.replace(cfg, lr=lr, weight_decay=wd)
    (source, enc), validate = training_data(ds, vocab, cfg)
    norm = fit_on_split(source.feats, np.unique(enc.img_idx), whiten=cfg.whiten, seed=cfg.seed,
                        feature_map=cfg.feature_map)      # on the images (regions) it trains on
    model = build_model(cfg, vocab, ds.feature_dim, norm)
    opt = RMSProp(cfg.lr, decay=cfg.decay)
    run = RunDir(out, cfg, resume=resume, quiet=quiet, best_key=f"val/{cfg.best}",
                 higher_is_better=cfg.best != "perplexity",
                 meta={"model": "generator", "arch": model.arch, "vocab": vocab.to_json(),
                       "data": str(data), "data_fingerprint": ds.fingerprint(),
                       **({"lr_trials": trials} if trials else {})},
                 buffers=norm.buffers())
    start = None
    if not run.restore(model.params, opt) and not cfg.from_alignments:
        val_enc = encode_split(ds, vocab, "val")   # before training: about the unigram model's
        start = {"perplexity": perplexity(model, ds, val_enc)["perplexity"],
                 "unigram": unigram_perplexity(vocab, val_enc)}
        log(f"validation perplexity before training: {start['perplexity']:.2f} (unigram "
            f"model: {start['unigram']:.2f})")
    S, B = len(enc.lengths), cfg.batch_size
    n_batches = math.ceil(S / B)

    def epoch_batches(epoch):
        order = epoch_order(S, cfg.seed, epoch)
        return n_batches, (caption_batch(source, enc, order[i:i + B]) for i in range(0, S, B))

    def evaluate(model):
        t0 = time.perf_counter()
        val = validate(model)
        val.pop("captions", None)
        val.pop("logprobs", None)
        losses = [r["loss"] for r in run.log["train"] if r["epoch"] == run.epoch]
        return {"val": val, "eval_seconds": round(time.perf_counter() - t0, 3),
                "train_loss": float(np.mean(losses))}

    early = False

    def stop(run):
        nonlocal early
        if not run.quiet:
            _print_eval(run, cfg)
        if max_steps and run.step >= max_steps:
            return True
        if cfg.patience and run.epoch - run.best_eval()["epoch"] >= cfg.patience:
            log(f"stopped early after epoch {run.epoch + 1}: the validation {cfg.best} has not "
                f"improved for {cfg.patience} epochs (best at step {run.best_step})")
            early = True
            return True
        return False

    train(model, opt, cfg, run, epoch_batches, evaluate, eval_every=max_steps, stop=stop)
    run.close()
    baseline, warnings = None, []
    if not cfg.from_alignments:
        baseline = nearest_neighbour_report(ds, "val", cfg.meteor, cfg.eval_images)
        baseline.pop("captions")
        best = run.best_eval()
        warning = best and diversity_warning(best["val"]["diversity"], baseline["diversity"])
        if warning:
            log(f"best checkpoint, validation: {warning}")
            warnings.append(warning)
    last = run.log["eval"][-1] if run.log["eval"] else None
    return {"out": str(out), "steps": run.step, "epochs": run.epoch, "best": run.best,
            "best_key": run.best_key, "best_step": run.best_step, "best_value": run.best,
            "stopped_early": early, "lr": cfg.lr,
            "train_seconds": round(run.elapsed(), 2), "last": last and
            {k: last[k] for k in ("val", "eval_seconds", "train_loss")}, "vocab_size": len(vocab),
            "baseline_val": baseline, "start": start, "warnings": warnings}


def _print_eval(run, cfg):
    e = run.log["eval"][-1]
    v = e["val"]
    line = (f"epoch {e['epoch'] + 1}/{cfg.epochs} step {run.step}: train loss "
            f"{e['train_loss']:.3f}, val perplexity {v['perplexity']:.3f}, "
            f"BLEU-4 {v['BLEU-4']:.3f}, CIDEr-D {v['CIDEr-D']:.3f}")
    print(line + (" (best)" if run.best_step == run.step else ""), file=sys.stderr)


def add_arguments(p) -> None:
    add_trainer_arguments(p, GenConfig, "dataset folder with features (Flickr8K layout, e.g. "
                          "a shapes world from `vsa-np make-shapes`)")


def run(args) -> int:
    cfg, say = trainer_config(args, GenConfig)
    summary = train_generator(args.data, args.out, cfg, resume=args.resume,
                              quiet=True if args.quiet else None)
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    val = (summary["last"] or {}).get("val", {})
    say(f"{summary['steps']} steps in {summary['train_seconds']:.1f} s; best {summary['best_key']}"
        f" {summary['best']} at step {summary['best_step']}")
    if val:
        say("last validation: " + ", ".join(f"{k} {val[k]:.4f}" for k in
                                           ("perplexity", "BLEU-4", "CIDEr-D") if k in val))
    base = summary.get("baseline_val")
    if val and base and "diversity" in val:
        say(f"nearest-neighbour captions on validation: BLEU-4 {base['BLEU-4']:.4f}, CIDEr-D "
            f"{base['CIDEr-D']:.4f}, {100 * base['diversity']['distinct']:.0f}% distinct; the "
            f"last model: {100 * val['diversity']['distinct']:.0f}% distinct "
            f"(vsa-np eval-gen compares the best checkpoint on the test split)")
    say(checkpoints_line(args.out, f"vsa-np eval-gen {args.out}/best {args.data}"))
    return 0
