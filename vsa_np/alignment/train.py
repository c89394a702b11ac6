"""Training the alignment model (Sec. 3.3): SGD with momentum 0.9 on mini-batches of 100
image-sentence pairs, weight decay, dropout on the non-recurrent layers, gradients clipped
elementwise at 5, and a periodic validation retrieval that keeps the best checkpoint by the sum
of the six R@K.

    cfg = AlignConfig(regions=True, epochs=15)
    summary = train_alignment("/tmp/shapes", "runs/align", cfg)

The run folder (vsa_np.train_loop.RunDir) holds last/best checkpoints (parameters + JSON with
the config, the vocabulary and the metrics), a JSON log of the loss curve, and resumes exactly.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy

from vsa_np.alignment.baseline import baseline_report
from vsa_np.alignment.evaluate import chance_rsum, evaluate_retrieval
from vsa_np.alignment.model import AlignmentModel, scale_initial_scores
from vsa_np.alignment.word_vectors import load_word_vectors
from vsa_np.backend import rng as make_rng, xp
from vsa_np.config import check_common, require
from vsa_np.data import Vocab, encode_split, load_dataset, ranking_batches, ranking_order
from vsa_np.errors import DataError, TrainingError
from vsa_np.feature_norm import fit_on_split
from vsa_np.optim import SGDMomentum, add_weight_decay, clip_elementwise
from vsa_np.train_loop import RunDir, search_lr, step_seed


@dataclass
class AlignConfig:
    """Defaults: the paper's sizes (h = 1000, BRNN 500, 300-d words, batch 100, momentum 0.9,
    clipping at 5). The CNN features are centred and scaled to unit length on average before
    Eq. 1, and the first scores rescaled to std 0.3 (feature_norm.py, model.scale_initial_scores):
    with that, the learning rate, weight decay and dropout below train on every feature family of
    `vsa_np.data.feature_families` (fc7-like, class probabilities and their logarithms, z-scored,
    L2-normalised, scaled by 1e-3 or 1e3) as well as on the shapes world. `--whiten 64` whitens
    the top principal directions too (the demo does, for the shapes world's region features)."""
    regions: bool = field(default=False, metadata={
        "help": "use the region features (regions.npz; Sec. 3.1.1) instead of the whole image"})
    score: Literal["eq8", "eq7"] = field(default="eq8", metadata={
        "help": "image-sentence score: eq8 (each word its best region) or eq7 (DeFrag)"})
    epochs: int = field(default=15, metadata={"help": "passes over the training sentences"})
    batch_size: int = field(default=100, metadata={"help": "image-sentence pairs per batch"})
    embed: int = field(default=1000, metadata={"help": "multimodal size h"})
    hidden: int = field(default=500, metadata={"help": "BRNN hidden size"})
    word_dim: int = field(default=300, metadata={"help": "word vector size"})
    word_threshold: int = field(default=5, metadata={
        "help": "keep training words seen at least this often"})
    word_vectors: str = field(default="", metadata={
        "help": "optional word2vec/GloVe text file to initialise the word vectors from"})
    lr: float = field(default=1e-3, metadata={
        "help": "learning rate (the loss is per pair, the features of unit length on average)"})
    lr_grid: tuple[float, ...] = field(default=(), metadata={
        "help": "learning rates to try in short trials before training, the best on validation "
                "wins (what --lr auto sets; empty: train with --lr)"})
    lr_trial_epochs: int = field(default=2, metadata={
        "help": "epochs of each learning-rate trial"})
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum"})
    weight_decay: float = field(default=1e-4, metadata={"help": "L2 weight decay"})
    grad_clip: float = field(default=5.0, metadata={"help": "elementwise gradient clip"})
    center_features: bool = field(default=True, metadata={
        "help": "subtract the mean training CNN feature before Eq. 1 (see feature_norm.py); "
                "--no-center-features only rescales the raw features"})
    whiten: int = field(default=0, metadata={
        "help": "whiten the top this many principal directions of the CNN features before "
                "Eq. 1 (see feature_norm.py); either way they are then scaled to unit length "
                "on average"})
    whiten_eps: float = field(default=1e-3, metadata={
        "help": "whitening regulariser, relative to the largest feature variance"})
    log_probs: Literal["auto", "log", "raw"] = field(default="auto", metadata={
        "help": "class-probability features (rows >= 0 summing to 1): 'log' takes their "
                "logarithm first (the logits, up to a constant, which a linear map can read; "
                "feature_norm.py), 'raw' does not; 'auto': 'log' when the training features "
                "are probabilities"})
    init_scale: float = field(default=0.3, metadata={
        "help": "std of the first scores on a training batch, set by rescaling the initial "
                "W_m and W_d (model.scale_initial_scores; 0: the plain He scales)"})
    dropout: float = field(default=0.5, metadata={
        "help": "dropout probability on the non-recurrent layers' inputs"})
    eval_every: int = field(default=0, metadata={
        "help": "validate every this many steps (0: at the end of every epoch)"})
    seed: int = field(default=0, metadata={"help": "random seed (initialisation, batches, dropout)"})

    def __post_init__(self):
        check_common(self)
        require(self.batch_size >= 2, "batch_size", "the ranking loss (Eq. 9) needs at least 2 "
                "pairs per batch")
        for name in ("embed",):
            require(isinstance(getattr(self, name), int) and getattr(self, name) >= 1, name,
                    f"must be a whole number >= 1, got {getattr(self, name)!r}")
        require(self.init_scale >= 0 and math.isfinite(self.init_scale), "init_scale",
                f"must be >= 0, got {self.init_scale!r}")


def build_model(cfg: AlignConfig, vocab_size: int, image_dim: int, params=None, norm=None):
    return AlignmentModel(vocab_size, image_dim, word_dim=cfg.word_dim, hidden=cfg.hidden,
                          embed=cfg.embed, score=cfg.score, dropout=cfg.dropout, seed=cfg.seed,
                          params=params, norm=norm)


def fit_norm(ds, cfg: AlignConfig):
    """The feature normalisation of feature_norm.py, fitted on the training split's regions
    (or whole images), deterministic for the seed (a resumed run refits the same map)."""
    feats, n_regions = (ds.region_feats, ds.n_regions) if cfg.regions else (ds.feats, None)
    return fit_on_split(feats, ds.split_indices("train"), n_regions, cfg.center_features,
                        cfg.whiten, cfg.whiten_eps, cfg.seed, sq_norm=1.0,
                        log_probs=cfg.log_probs)


def train_step(model, opt, batch, cfg: AlignConfig, seed: int, record=None):
    """One update (Sec. 3.3): loss and gradients with dropout drawn from `seed`, `record(loss)`
    (the run's step count and NaN stop, before anything changes), elementwise clipping, weight
    decay, SGD with momentum. Returns the loss (a 0-d device array: no sync without record)."""
    model.training, model.rng = True, make_rng(seed)
    loss, grads = model.loss(batch)
    if record is not None:
        record(loss)
    clip_elementwise(grads, cfg.grad_clip)
    add_weight_decay(model.params, grads, cfg.weight_decay)
    opt.step(model.params, grads)
    return loss


def _epoch_batches(ds, vocab, cfg, epoch):
    """(number of batches, generator of batches) of one epoch; a function of (seed, epoch)."""
    enc = encode_split(ds, vocab, "train")
    usable = numpy.flatnonzero(enc.lengths > 0)
    n = len(ranking_order(enc.img_idx[usable], cfg.batch_size, numpy.random.default_rng(
        [cfg.seed, epoch])))
    return n, ranking_batches(ds, vocab, "train", cfg.batch_size,
                              numpy.random.default_rng([cfg.seed, epoch]), regions=cfg.regions)


def train_alignment(data, out, cfg: AlignConfig, resume: bool = False, quiet=None,
                    log=print) -> dict:
    """Train on `data` (a dataset folder) into the run folder `out`; returns a summary dict
    (steps, seconds, best validation metrics)."""
    ds = load_dataset(data, regions=True if cfg.regions else False)
    ds.require_features()
    _, train_tokens, _ = ds.sentences_of("train")
    vocab = Vocab.build(train_tokens, threshold=cfg.word_threshold).require_words()
    if len(ds.split_indices("val")) == 0:
        raise DataError(f"{data}: no validation images (needed to pick the best checkpoint)")
    if cfg.lr_grid and not resume:
        lr, trials = search_lr(train_alignment, data, out, cfg, higher_is_better=True, log=log)
        cfg = dataclasses.replace(cfg, lr=lr)
    norm = fit_norm(ds, cfg)
    model = build_model(cfg, len(vocab), ds.feature_dim, norm=norm)
    if cfg.word_vectors and not resume:
        found = load_word_vectors(cfg.word_vectors, vocab, model.params["W_w"])
        log(f"word vectors: {found} of {len(vocab) - 1} words found in {cfg.word_vectors}")
    if cfg.init_scale > 0 and not resume:
        first = next(iter(_epoch_batches(ds, vocab, cfg, 0)[1]))
        before = scale_initial_scores(model, first, cfg.init_scale)
        log(f"initial scores: std {before['S']:.3g} at the He scales, rescaled to "
            f"{cfg.init_scale:g} (|v| {before['v']:.3g}, |s| {before['s']:.3g})")
    opt = SGDMomentum(cfg.lr, cfg.momentum)
    meta = {"model": "alignment", "arch": model.arch, "vocab": vocab.to_json(),
            "data": str(data)}
    if cfg.lr_grid and not resume:
        meta["lr_trials"] = trials
    run = RunDir(out, cfg, resume=resume, meta=meta, best_key="rsum", quiet=quiet,
                 buffers=norm.buffers())
    run.restore(model.params, opt)

    def validate():
        # an update can overflow although the loss before it was finite: never save that
        diverged = TrainingError(f"the model diverged at step {run.step} (NaN/inf parameters or "
                                 f"scores); stopped, {run.kept()}. Try a smaller learning rate "
                                 f"or stronger clipping.")
        if not all(bool(xp.isfinite(p).all()) for p in model.params.values()):
            raise diverged
        model.training = False
        return evaluate_retrieval(model, ds, vocab, "val", cfg.regions, on_nonfinite=diverged)

    t0 = time.perf_counter()
    metrics, warnings = None, {}
    n_val = len(ds.split_indices("val"))

    def check(metrics, epoch):
        """Stop a collapsed run (TrainingError); warn, once each, about a stalled one."""
        if metrics["score_std"] < 1e-6:   # the first scores have std init_scale ~ 0.3
            raise TrainingError(
                f"the model collapsed at step {run.step}: every validation score is the same "
                f"(the ReLUs of Eq. 6 or of the regions are dead, the loss sits at 2(B-1) per "
                f"pair); stopped, {run.kept()}. Try a smaller --lr (or --lr auto), or "
                f"--init-scale 0.3 if you turned it off")
        if epoch < 1:
            return
        if metrics["rsum"] <= 2 * chance_rsum(n_val) and "chance" not in warnings:
            warnings["chance"] = (
                f"warning: after {epoch + 1} epochs the validation recall is still at chance "
                f"(R@K sum {metrics['rsum']:.1f}, chance about {chance_rsum(n_val):.1f}): the "
                f"model is not learning; try --lr auto")
            log(warnings["chance"])
        before, now = (numpy.mean([r["loss"] for r in run.log["train"] if r["epoch"] == e])
                       for e in (epoch - 1, epoch))
        if now > 1.1 * before and "growing" not in warnings:
            warnings["growing"] = (
                f"warning: the training loss grew in epoch {epoch + 1} ({before:.3g} -> "
                f"{now:.3g} per pair): the learning rate is probably too large; try --lr auto")
            log(warnings["growing"])

    while run.epoch < cfg.epochs:
        n_batches, batches = _epoch_batches(ds, vocab, cfg, run.epoch)
        batches = itertools.islice(batches, run.batch, None)   # resume mid-epoch
        for (epoch, b), batch in zip(run.batches(run.epoch + 1, n_batches), batches):
            # the same dropout masks after a resume: the seed is a function of the step
            # NaN/inf: TrainingError from run.record before the update, last checkpoint kept
            train_step(model, opt, batch, cfg, step_seed(cfg.seed, run.step), record=run.record)
            if (cfg.eval_every and run.step % cfg.eval_every == 0) or b == n_batches - 1:
                metrics = validate()
                check(metrics, epoch)
                run.checkpoint(model.params, opt, metrics)
    run.close()
    best_val = run.best_eval()
    return {"steps": run.step, "seconds": round(time.perf_counter() - t0, 2),
            "train_time": round(run.elapsed(), 2), "best_rsum": run.best, "best_value": run.best,
            "lr": cfg.lr,
            "best_step": run.best_step, "last_val": metrics,
            "best_val": best_val and {d: best_val[d] for d in ("annotation", "search", "rsum")},
            "baseline_val": baseline_report(ds, "val", cfg.word_threshold),
            "warnings": list(warnings.values())}
