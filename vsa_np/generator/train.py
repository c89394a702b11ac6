"""Training the multimodal RNN (Sec. 3.2-3.3): RMSprop with decay 0.999 (the paper's released
code), gradients clipped elementwise at 5, dropout on the non-recurrent layers, weight decay;
validation perplexity and caption metrics after every epoch, the best checkpoint kept by a chosen
validation metric, exact resume, atomic checkpoints and a stop on NaN (`vsa_np.train_loop`).

    cfg = GenConfig(epochs=20)
    summary = train_generator("data/shapes", "runs/gen", cfg)

Full images (one feature vector per image, the captions of the dataset) by default; with
`from_alignments` the model learns from the (region, snippet) pairs that the alignment model's
MRF infers on the training images (Sec. 4.3, `region_data.py`).
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Literal, Optional

import numpy as np

from vsa_np.backend import rng as make_rng
from vsa_np.checkpoint import load_meta
from vsa_np.config import check_common, require
from vsa_np.data import Vocab, caption_batch, encode_split, load_dataset
from vsa_np.errors import DataError
from vsa_np.feature_norm import fit_on_split
from vsa_np.generator.evaluate import (diversity_warning, evaluate_split,
                                       nearest_neighbour_report, perplexity, unigram_perplexity)
from vsa_np.generator.model import CaptionModel
from vsa_np.generator.region_data import region_training_data
from vsa_np.optim import RMSProp, add_weight_decay, clip_elementwise
from vsa_np.train_loop import RunDir, epoch_order, resume_point, search_lr, step_seed

BEST_KEYS = ("CIDEr-D", "BLEU-4", "perplexity")


@dataclass
class GenConfig:
    hidden: int = field(default=512, metadata={"help": "hidden size H (Sec. 3.2: 512)"})
    word_dim: int = field(default=256, metadata={"help": "word vector size E"})
    dropout: float = field(default=0.2, metadata={"help": "dropout on the non-recurrent layers"})
    center_features: bool = field(default=True, metadata={
        "help": "subtract the mean training feature before Eq. 13 (see feature_norm.py); "
                "--no-center-features only rescales the raw features"})
    whiten: int = field(default=0, metadata={
        "help": "whiten the top this many principal directions of the features before Eq. 13 "
                "(see feature_norm.py; 0: scale them to unit variance on average)"})
    whiten_eps: float = field(default=1e-3, metadata={
        "help": "whitening regulariser, relative to the largest feature variance"})
    log_probs: Literal["auto", "log", "raw"] = field(default="auto", metadata={
        "help": "class-probability features (rows >= 0 summing to 1): 'log' takes their "
                "logarithm first (the logits, up to a constant, which a linear map can read; "
                "feature_norm.py), 'raw' does not; 'auto': 'log' when the training features "
                "are probabilities"})
    relu_inputs: bool = field(default=False, metadata={
        "help": "pass b_v and W_hx x_t through the ReLU too (the paper's remark)"})
    image_every_step: bool = field(default=False, metadata={
        "help": "add b_v of Eq. 13 at every step of Eq. 14, not at t = 1 only (not the "
                "paper's choice; see generator/model.py)"})
    cell: Literal["rnn", "lstm"] = field(default="rnn", metadata={
        "help": "the recurrence: 'rnn', Eq. 14's ReLU RNN (the paper's), or 'lstm' in its "
                "place (Vinyals et al.'s choice, Sec. 4.2; see generator/model.py)"})
    lr: float = field(default=3e-4, metadata={
        "help": "RMSprop learning rate (1e-3 diverges early on shapes: the early RMSprop steps "
                "are large, its running average starts at 0)"})
    lr_grid: tuple[float, ...] = field(default=(), metadata={
        "help": "learning rates to try in short trials before training, the best on validation "
                "wins (what --lr auto sets; empty: train with --lr)"})
    lr_trial_epochs: int = field(default=2, metadata={
        "help": "epochs of each learning-rate trial"})
    decay: float = field(default=0.999, metadata={"help": "RMSprop decay"})
    grad_clip: float = field(default=5.0, metadata={"help": "elementwise gradient clip (<=0 off)"})
    weight_decay: float = field(default=1e-6, metadata={"help": "L2 weight decay of the matrices"})
    batch_size: int = field(default=100, metadata={"help": "sentences per batch"})
    epochs: int = field(default=30, metadata={"help": "passes over the training sentences"})
    word_threshold: int = field(default=5, metadata={"help": "keep words seen this often"})
    max_words: int = field(default=0, metadata={
        "help": "truncate training sentences to this many words (0: keep all)"})
    eval_beam: int = field(default=7, metadata={"help": "beam size of the validation captions"})
    max_len: int = field(default=40, metadata={"help": "longest caption decoded (words)"})
    eval_images: int = field(default=0, metadata={
        "help": "caption only the first N validation images each epoch (0: all)"})
    best: Literal["CIDEr-D", "BLEU-4", "perplexity"] = field(default="perplexity", metadata={
        "help": "validation metric that picks the best checkpoint (perplexity: every word of "
                "every validation sentence counts, so it is far less noisy than a caption "
                "metric on a few hundred images)"})
    patience: int = field(default=5, metadata={
        "help": "stop when the best validation value has not improved for this many epochs "
                "(0: train every epoch)"})
    meteor: bool = field(default=False, metadata={"help": "compute METEOR each epoch (Java)"})
    seed: int = field(default=0, metadata={"help": "seed of the initialisation, order, dropout"})
    from_alignments: Optional[str] = field(default=None, metadata={
        "help": "alignment checkpoint: train on its MRF (region, snippet) pairs (Sec. 4.3); "
                "'truth': on the pairs of the shapes world's alignments.json (an oracle)"})
    beta: float = field(default=0.0, metadata={
        "help": "MRF beta of Eq. 12 for --from-alignments (larger: longer snippets)"})

    def __post_init__(self):
        check_common(self)
        for name in ("eval_beam", "max_len"):
            require(isinstance(getattr(self, name), int) and getattr(self, name) >= 1, name,
                    f"must be a whole number >= 1, got {getattr(self, name)!r}")
        for name in ("patience", "max_words", "eval_images"):
            require(isinstance(getattr(self, name), int) and getattr(self, name) >= 0, name,
                    f"must be a whole number >= 0, got {getattr(self, name)!r}")
        require(self.decay > 0 and self.decay < 1, "decay", f"must be in (0, 1), got "
                f"{self.decay!r}")
        require(math.isfinite(self.beta), "beta", f"must be a number, got {self.beta!r}")
        require(not (self.cell == "lstm" and self.relu_inputs), "relu_inputs",
                "is a remark on Eq. 14's ReLU RNN; it does not go with --cell lstm")


def build_vocab(ds, threshold: int):
    return Vocab.build(ds.sentences_of("train")[1], threshold).require_words()


def training_data(ds, vocab, cfg: GenConfig):
    """(train pairs, validation function) for the config: full images, or region snippets."""
    max_words = cfg.max_words or None
    if cfg.from_alignments:
        return region_training_data(ds, vocab, cfg)
    train = (ds, encode_split(ds, vocab, "train", max_words))

    def validate(model):
        return evaluate_split(model, ds, vocab, "val", cfg.eval_beam, cfg.max_len, cfg.meteor,
                              cfg.eval_images)

    return train, validate


def train_step(model, opt, batch, cfg: GenConfig, seed: int, record=None):
    """One update: loss and gradients with dropout drawn from `seed`, `record(loss)` (the run's
    step count and NaN stop, before anything changes), elementwise clipping, weight decay,
    RMSprop. Returns the loss (a 0-d device array: no sync without record)."""
    model.training, model.rng = True, make_rng(seed)
    loss, grads = model.loss(batch)
    if record is not None:
        record(loss)
    clip_elementwise(grads, cfg.grad_clip)
    add_weight_decay(model.params, grads, cfg.weight_decay)
    opt.step(model.params, grads)
    return loss


def train_generator(data, out, cfg: GenConfig, resume: bool = False, quiet=None,
                    max_steps: int = 0, log=None) -> dict:
    """Train (or resume) in the run folder `out`; returns a summary dict (best validation value,
    steps, seconds, the last validation metrics). max_steps > 0 stops early (benchmarks, tests).
    `log` prints the warnings (default: stderr)."""
    log = log or (lambda *a: print(*a, file=sys.stderr))
    ds = load_dataset(data)
    ds.require_features()
    if resume:
        vocab = Vocab.from_json(load_meta(resume_point(out))["vocab"])
    else:
        vocab = build_vocab(ds, cfg.word_threshold)
    trials = None
    if cfg.lr_grid and not resume:
        if len(ds.split_indices("val")) == 0 and not cfg.from_alignments:
            raise DataError(f"{data}: --lr auto needs a validation split to choose by")
        lr, trials = search_lr(train_generator, data, out, cfg, cfg.best != "perplexity", log)
        cfg = dataclasses.replace(cfg, lr=lr)
    (source, enc), validate = training_data(ds, vocab, cfg)
    # the feature normalisation, fitted on the images (or regions) the model trains on
    norm = fit_on_split(source.feats, np.unique(enc.img_idx), None, cfg.center_features,
                        cfg.whiten, cfg.whiten_eps, cfg.seed, log_probs=cfg.log_probs)
    model = CaptionModel(len(vocab), ds.feature_dim, hidden=cfg.hidden, word_dim=cfg.word_dim,
                         dropout=cfg.dropout, relu_inputs=cfg.relu_inputs,
                         image_every_step=cfg.image_every_step, cell=cfg.cell,
                         word_counts=vocab.counts, seed=cfg.seed, norm=norm)
    opt = RMSProp(cfg.lr, decay=cfg.decay)
    run = RunDir(out, cfg, resume=resume, quiet=quiet, best_key=f"val/{cfg.best}",
                 higher_is_better=cfg.best != "perplexity",
                 meta={"model": "generator", "arch": model.arch, "vocab": vocab.to_json(),
                       "data": str(data), **({"lr_trials": trials} if trials else {})},
                 buffers=norm.buffers())
    resumed = run.restore(model.params, opt)
    start = None
    if not resumed and not cfg.from_alignments:
        # the number to expect before any training: about the unigram perplexity (the output
        # bias starts at the log word frequencies); far above it, the features are too large
        val_enc = encode_split(ds, vocab, "val")
        start = {"perplexity": perplexity(model, ds, val_enc)["perplexity"],
                 "unigram": unigram_perplexity(vocab, val_enc)}
        log(f"validation perplexity before training: {start['perplexity']:.2f} (unigram "
            f"model: {start['unigram']:.2f})")

    S, B = len(enc.lengths), cfg.batch_size
    n_batches = math.ceil(S / B)
    metrics, stopped, early = None, False, False
    for epoch, b in run.batches(cfg.epochs, n_batches):
        order = epoch_order(S, cfg.seed, epoch)          # the same order again after a resume
        batch = caption_batch(source, enc, order[b * B:(b + 1) * B])
        train_step(model, opt, batch, cfg, step_seed(cfg.seed, run.step), record=run.record)
        stopped = max_steps > 0 and run.step >= max_steps
        if b == n_batches - 1 or stopped:
            t0 = time.perf_counter()
            model.training = False                      # as the alignment trainer validates
            val = validate(model)
            val.pop("captions", None)
            val.pop("logprobs", None)
            metrics = {"val": val, "eval_seconds": round(time.perf_counter() - t0, 3),
                       "train_loss": float(np.mean([r["loss"] for r in run.log["train"]
                                                    if r["epoch"] == epoch]))}
            run.checkpoint(model.params, opt, metrics=metrics)
            if not run.quiet:
                _print_eval(run, epoch, cfg, metrics)
            early = cfg.patience > 0 and epoch - run.best_eval()["epoch"] >= cfg.patience
            if early:
                log(f"stopped early after epoch {epoch + 1}: the validation {cfg.best} has not "
                    f"improved for {cfg.patience} epochs (best at step {run.best_step})")
        if stopped or early:
            break
    run.close()
    baseline, warnings = None, []
    if not cfg.from_alignments:
        baseline = nearest_neighbour_report(ds, "val", cfg.meteor, cfg.eval_images)
        baseline.pop("captions")
        best = run.best_eval()
        warning = best and diversity_warning(best["val"]["diversity"], baseline["diversity"])
        if warning:                 # the best checkpoint's captions on the validation images
            log(f"best checkpoint, validation: {warning}")
            warnings.append(warning)
    return {"out": str(out), "steps": run.step, "epochs": run.epoch, "best": run.best,
            "best_key": run.best_key, "best_step": run.best_step, "best_value": run.best,
            "stopped_early": early, "lr": cfg.lr, "train_seconds": round(run.elapsed(), 2),
            "last": metrics, "vocab_size": len(vocab), "baseline_val": baseline, "start": start,
            "warnings": warnings}


def _print_eval(run, epoch, cfg, metrics):
    v = metrics["val"]
    line = (f"epoch {epoch + 1}/{cfg.epochs} step {run.step}: train loss "
            f"{metrics['train_loss']:.3f}, val perplexity {v['perplexity']:.3f}, "
            f"BLEU-4 {v['BLEU-4']:.3f}, CIDEr-D {v['CIDEr-D']:.3f}")
    print(line + (" (best)" if run.best_step == run.step else ""), file=sys.stderr)
