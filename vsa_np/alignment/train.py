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

import itertools
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy

from vsa_np.alignment.model import AlignmentModel
from vsa_np.backend import rng as make_rng, xp
from vsa_np.errors import DataError, TrainingError, UserError
from vsa_np.optim import SGDMomentum, add_weight_decay, clip_elementwise
from vsa_np.train_loop import RunDir, step_seed


@dataclass
class AlignConfig:
    """Defaults: the paper's sizes (h = 1000, BRNN 500, 300-d words, batch 100, momentum 0.9,
    clipping at 5); learning rate, weight decay and dropout chosen on the shapes world. The CNN
    features are centred and their top 64 principal directions whitened before Eq. 1 (a fixed,
    invertible change of coordinates, whitening.py): without it SGD learns the dominant feature
    directions (colour) and hardly the weak ones (shape, size)."""
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
    lr: float = field(default=3e-4, metadata={"help": "learning rate (loss is per pair)"})
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum"})
    weight_decay: float = field(default=1e-4, metadata={"help": "L2 weight decay"})
    grad_clip: float = field(default=5.0, metadata={"help": "elementwise gradient clip"})
    center_features: bool = field(default=True, metadata={
        "help": "subtract the mean training CNN feature before Eq. 1 (conditioning; see "
                "region_embed.py); --no-center-features uses the raw features"})
    whiten: int = field(default=64, metadata={
        "help": "whiten the top this many principal directions of the centred CNN features "
                "before Eq. 1 (conditioning, see whitening.py; 0: off; needs centring)"})
    whiten_eps: float = field(default=1e-3, metadata={
        "help": "whitening regulariser, relative to the largest feature variance"})
    dropout: float = field(default=0.5, metadata={
        "help": "dropout probability on the non-recurrent layers' inputs"})
    eval_every: int = field(default=0, metadata={
        "help": "validate every this many steps (0: at the end of every epoch)"})
    seed: int = field(default=0, metadata={"help": "random seed (initialisation, batches, dropout)"})


def build_model(cfg: AlignConfig, vocab_size: int, image_dim: int, params=None,
                feature_mean=None, whitening=None):
    return AlignmentModel(vocab_size, image_dim, word_dim=cfg.word_dim, hidden=cfg.hidden,
                          embed=cfg.embed, score=cfg.score, dropout=cfg.dropout, seed=cfg.seed,
                          params=params, feature_mean=feature_mean, whitening=whitening)


def _train_features(ds, regions: bool):
    """(features, n_regions or None) of the dataset, as `feature_rows` takes them."""
    return (ds.region_feats, ds.n_regions) if regions else (ds.feats, None)


def feature_mean(ds, regions: bool) -> numpy.ndarray:
    """(D,) float64: the mean CNN feature over the training split's valid regions (or whole
    images)."""
    from vsa_np.data.features import mean_feature
    feats, n_regions = _train_features(ds, regions)
    return mean_feature(feats, ds.split_indices("train"), n_regions)


def feature_whitening(ds, regions: bool, mean, k: int, eps_rel: float, seed: int,
                      max_images: int = 4000) -> dict:
    """The whitening of whitening.py fitted on the centred features of (at most `max_images`,
    drawn with `seed`) training images."""
    from vsa_np.alignment.whitening import fit_whitening
    from vsa_np.data.features import feature_rows
    images = ds.split_indices("train")
    if len(images) > max_images:
        images = numpy.sort(numpy.random.default_rng([seed, 7]).choice(images, max_images,
                                                                       replace=False))
    feats, n_regions = _train_features(ds, regions)
    X = numpy.concatenate(list(feature_rows(feats, images, n_regions))) - mean
    return fit_whitening(X, k, eps_rel, seed=seed)


def train_step(model, opt, batch, cfg: AlignConfig, seed: int):
    """One update (Sec. 3.3): loss and gradients with dropout drawn from `seed`, elementwise
    clipping, weight decay, SGD with momentum. Returns the loss (a 0-d device array: no sync)."""
    model.training = True
    model.rng = make_rng(seed)
    loss, grads = model.loss(batch)
    clip_elementwise(grads, cfg.grad_clip)
    add_weight_decay(model.params, grads, cfg.weight_decay)
    opt.step(model.params, grads)
    return loss


def _epoch_batches(ds, vocab, cfg, epoch):
    """(number of batches, generator of batches) of one epoch; a function of (seed, epoch)."""
    from vsa_np.data import encode_split, ranking_batches, ranking_order
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
    from vsa_np.alignment.evaluate import evaluate_retrieval
    from vsa_np.alignment.word_vectors import load_word_vectors
    from vsa_np.data import Vocab, load_dataset

    ds = load_dataset(data, regions=True if cfg.regions else False)
    ds.require_features()
    _, train_tokens, _ = ds.sentences_of("train")
    vocab = Vocab.build(train_tokens, threshold=cfg.word_threshold)
    if len(ds.split_indices("val")) == 0:
        raise DataError(f"{data}: no validation images (needed to pick the best checkpoint)")
    mean = feature_mean(ds, cfg.regions) if cfg.center_features else None
    white = None
    if cfg.whiten > 0:
        if mean is None:
            raise UserError("--whiten needs centred features: drop --no-center-features or "
                            "pass --whiten 0")
        # deterministic (fixed seed), so a resumed run refits the same whitening
        white = feature_whitening(ds, cfg.regions, mean, cfg.whiten, cfg.whiten_eps, cfg.seed)
    model = build_model(cfg, len(vocab), ds.feature_dim, feature_mean=mean, whitening=white)
    if cfg.word_vectors and not resume:
        found = load_word_vectors(cfg.word_vectors, vocab, model.params["W_w"])
        log(f"word vectors: {found} of {len(vocab) - 1} words found in {cfg.word_vectors}")
    opt = SGDMomentum(cfg.lr, cfg.momentum)
    meta = {"model": "alignment", "arch": model.arch, "vocab": vocab.to_json(),
            "data": str(data), "feature_mean": None if mean is None else mean.tolist()}
    buffers = None
    if white is not None:
        meta["whiten_rest"] = white["rest"]
        meta["whiten_variance"] = white["variance"].tolist()
        buffers = {"whiten_basis": white["basis"], "whiten_scale": white["scale"]}
    run = RunDir(out, cfg, resume=resume, meta=meta, best_key="rsum", quiet=quiet,
                 buffers=buffers)
    run.restore(model.params, opt)

    def validate():
        # an update can overflow although the loss before it was finite: never save that
        diverged = TrainingError(f"the model diverged at step {run.step} (NaN/inf parameters or "
                                 f"scores); stopped, the last good checkpoint is kept in {out}. "
                                 f"Try a smaller learning rate or stronger clipping.")
        if not all(bool(xp.isfinite(p).all()) for p in model.params.values()):
            raise diverged
        model.training = False
        return evaluate_retrieval(model, ds, vocab, "val", cfg.regions, on_nonfinite=diverged)

    t0 = time.perf_counter()
    metrics = None
    while run.epoch < cfg.epochs:
        n_batches, batches = _epoch_batches(ds, vocab, cfg, run.epoch)
        batches = itertools.islice(batches, run.batch, None)   # resume mid-epoch
        for (epoch, b), batch in zip(run.batches(run.epoch + 1, n_batches), batches):
            # the same dropout masks after a resume: the seed is a function of the step
            loss = train_step(model, opt, batch, cfg, step_seed(cfg.seed, run.step))
            run.record(loss)                 # NaN/inf: TrainingError, last checkpoint kept
            if (cfg.eval_every and run.step % cfg.eval_every == 0) or b == n_batches - 1:
                metrics = validate()
                run.checkpoint(model.params, opt, metrics)
    run.close()
    return {"steps": run.step, "seconds": round(time.perf_counter() - t0, 2),
            "train_time": round(run.elapsed(), 2), "best_rsum": run.best,
            "best_step": run.best_step, "last_val": metrics}
