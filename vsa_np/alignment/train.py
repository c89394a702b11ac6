"""`vsa-np train-align`: training the alignment model (Sec. 3.3) on a dataset folder.

    cfg = AlignConfig(regions=True, epochs=15)
    summary = train_alignment("/tmp/shapes", "runs/align", cfg)

The loop is `vsa_np.core.train.train`; this module builds what it needs (data, vocabulary,
model, optimiser, run folder) and checks each validation: a collapsed run stops, a stalled one
is warned about, and the best checkpoint is compared with the linear baseline (baseline.py).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy

from vsa_np.alignment.baseline import (LinearBaseline, baseline_report, compare_line,
                                       retrieval_table)
from vsa_np.alignment.evaluate import chance_rsum, evaluate_retrieval
from vsa_np.alignment.word_vectors import load_word_vectors
from vsa_np.backend import to_device, to_host, xp
from vsa_np.config import check_common, require
from vsa_np.core.alignment import AlignmentModel
from vsa_np.core.train import SGDMomentum, train
from vsa_np.data import Vocab, encode_split, load_dataset, ranking_batches, ranking_order
from vsa_np.errors import DataError, TrainingError
from vsa_np.feature_norm import fit_on_split
from vsa_np.rundir import (RunDir, check_log_path, check_same_data, checkpoints_line,
                           open_trials, resume_config)
from vsa_np.tuning import add_trainer_arguments, search_lr, trainer_config

PAPER = {"paper": True}


@dataclass
class AlignConfig:
    """The paper's settings first (Sec. 3.1, 3.3), then the project's additions."""
    score: Literal["eq8", "eq7"] = field(default="eq8", metadata={**PAPER,
        "help": "image-sentence score: eq8 (each word its best region) or eq7 (DeFrag)"})
    regions: bool = field(default=False, metadata={**PAPER,
        "help": "use the region features (regions.npz; Sec. 3.1.1) instead of the whole image"})
    embed: int = field(default=1000, metadata={**PAPER, "help": "multimodal size h"})
    hidden: int = field(default=500, metadata={**PAPER, "help": "BRNN hidden size"})
    word_dim: int = field(default=300, metadata={**PAPER, "help": "word vector size"})
    word_threshold: int = field(default=5, metadata={**PAPER,
        "help": "keep training words seen at least this often"})
    word_vectors: str = field(default="", metadata={**PAPER,
        "help": "word2vec/GloVe text file to start the word vectors from (default: random)"})
    batch_size: int = field(default=100, metadata={**PAPER, "help": "pairs per batch"})
    lr: float = field(default=1e-3, metadata={**PAPER, "help": "learning rate"})
    momentum: float = field(default=0.9, metadata={**PAPER, "help": "SGD momentum"})
    weight_decay: float = field(default=1e-4, metadata={**PAPER, "help": "L2 weight decay"})
    grad_clip: float = field(default=5.0, metadata={**PAPER,
        "help": "elementwise gradient clip (0: off)"})
    dropout: float = field(default=0.5, metadata={**PAPER,
        "help": "dropout probability on the non-recurrent layers' inputs"})
    epochs: int = field(default=15, metadata={"help": "passes over the training sentences"})
    lr_grid: tuple[float, ...] = field(default=(), metadata={
        "help": "learning rates tried in short trials first, the best on validation wins "
                "(what --lr auto sets)"})
    wd_grid: tuple[float, ...] = field(default=(), metadata={
        "help": "weight decays tried with each rate of --lr-grid (what --lr auto sets: "
                "--weight-decay x 0.1, 1, 10)"})
    lr_trial_epochs: int = field(default=2, metadata={"help": "epochs of each trial"})
    start: Literal["auto", "random", "linear"] = field(default="auto", metadata={
        "help": "whole-image models: start at random, or from the linear baseline's best CCA "
                "member (warm_start), or auto: at random, and when that run loses to the "
                "linear baseline on validation, again from the baseline with --warm-lr and "
                "--warm-dropout, keeping the better (choose_start); region models always "
                "start at random"})
    warm_lr: float = field(default=3e-4, metadata={
        "help": "learning rate of start auto's run from the linear baseline (fine-tuning a "
                "start that already ranks; docs/benchmarks.md)"})
    warm_dropout: float = field(default=0.2, metadata={
        "help": "dropout of start auto's run from the linear baseline (0.5 washes out what "
                "the start holds)"})
    whiten: int = field(default=0, metadata={
        "help": "whiten this many principal directions of the CNN features (feature_norm.py)"})
    feature_map: Literal["baseline", "auto", "raw", "sqrt", "log", "ssqrt"] = field(
        default="baseline", metadata={
            "help": "read the features through this map first (feature_norm.py): baseline, "
                    "the map of the linear baseline's winner (chosen on validation; region "
                    "models: auto); auto, log for class probabilities and raw otherwise; or "
                    "raw, sqrt, log"})
    init_scale: float = field(default=0.3, metadata={
        "help": "std of the first scores, by rescaling W_m and W_d (0: the He scales)"})
    eval_every: int = field(default=0, metadata={
        "help": "validate every this many steps (0: every epoch)"})
    seed: int = field(default=0, metadata={"help": "seed of initialisation, batches, dropout"})

    def __post_init__(self):
        check_common(self)
        require(self.batch_size >= 2, "batch_size", "the ranking loss (Eq. 9) needs at least 2 "
                "pairs per batch")
        require(isinstance(self.embed, int) and self.embed >= 1, "embed",
                f"must be a whole number >= 1, got {self.embed!r}")
        require(self.init_scale >= 0 and math.isfinite(self.init_scale), "init_scale",
                f"must be >= 0, got {self.init_scale!r}")
        require(0 <= self.momentum < 1, "momentum", f"must be in [0, 1), got {self.momentum!r}")
        require(self.warm_lr > 0 and math.isfinite(self.warm_lr), "warm_lr",
                f"must be > 0, got {self.warm_lr!r}")
        require(0 <= self.warm_dropout < 1, "warm_dropout",
                f"must be in [0, 1), got {self.warm_dropout!r}")
        require(isinstance(self.eval_every, int) and self.eval_every >= 0, "eval_every",
                f"must be a whole number >= 0 (0: every epoch), got {self.eval_every!r}")


def build_model(cfg, vocab_size, image_dim, norm=None):
    return AlignmentModel(vocab_size, image_dim, word_dim=cfg.word_dim, hidden=cfg.hidden,
                          embed=cfg.embed, score=cfg.score, dropout=cfg.dropout, seed=cfg.seed,
                          norm=norm)


def fit_norm(ds, cfg, base=None):
    """The fixed feature map (feature_norm.py) on the training regions or images, each vector
    of unit length on average (SGD's steps then mean the same for every feature size). With
    feature_map "baseline" a whole-image model reads the features as the linear baseline's
    winner `base` reads them (chosen on validation): the input on which a linear map of the
    captions does best. The baseline scores whole images, so a region model reads "auto"."""
    feats, n_regions = (ds.region_feats, ds.n_regions) if cfg.regions else (ds.feats, None)
    name = cfg.feature_map
    if name == "baseline":           # the baseline reads whole images; region models: auto
        name = "auto" if cfg.regions else \
            (base or LinearBaseline(ds, threshold=cfg.word_threshold)).member.image
    return fit_on_split(feats, ds.split_indices("train"), n_regions, whiten=cfg.whiten,
                        seed=cfg.seed, sq_norm=1.0, feature_map=name)


def warm_start(model, base, k_max: int = 64, rest_gain: float = 0.1) -> str:
    """Start a whole-image model where the linear baseline's best CCA member is (issue 22).

    With one region, Eq. 8 is S = v . sum_t s_t; a CCA member scores cos(y C, (b - mean) A)
    (module `baseline`), image side C (D, k), word side A (V, k), b a unit-length bag of words.
    The paper's layers carry its projections exactly when, on 2k of their dimensions, the image
    side is [c, -c] and each word's s_t is [relu(a_w), relu(-a_w)], so that v . s_t = c . a_w:

        W_m[:, :2k] = [C, -C] g      g maps the model's feature map onto the baseline's
        W_w[w, :2k] = [a_w, -a_w]    W_e, W_d: identity (x 1/2: h^f + h^b = 2 e) on the 2k
        W_f, W_b: 0 on the 2k        dimensions and 0 between them and the others

    and S becomes y C . sum_t a_{w_t}: CCA's score without the cosine, without centring the words
    and with a repeated word counted each time. The other dimensions keep their random start
    (W_m scaled by `rest_gain`) and training (Eq. 9) goes on from there: the model starts from
    what the training captions already say about the pictures, not from noise. -> the member's
    description."""
    want = model.norm.map if model.norm is not None else "raw"
    ranked = sorted(zip(base.values, range(len(base.members))), reverse=True)
    member = next(base.members[i] for _, i in ranked
                  if base.members[i].model == "CCA" and base.members[i].image == want)
    P = {name: to_host(v).astype(numpy.float64) for name, v in model.params.items()}
    E, H, M = P["W_e"].shape[0], P["W_e"].shape[1], P["W_m"].shape[1]
    k = min(member.image_side.shape[1], k_max, E // 2, H // 2, M // 2)
    mean, scale = base._stats[member.image]
    C = member.image_side[:, :k] * (scale / float(model.norm.rest if model.norm else 1.0))
    A = member.text_side[:, :k]
    two = slice(0, 2 * k)
    P["W_m"] *= rest_gain
    P["W_m"][:, two], P["b_m"][:] = numpy.hstack([C, -C]), 0.0
    P["W_w"][1:, two] = numpy.hstack([A[1:], -A[1:]])
    for name, gain in (("W_e", 1.0), ("W_d", 0.5), ("W_f", 0.0), ("W_b", 0.0)):
        P[name][two, :], P[name][:, two] = 0.0, 0.0
        P[name][two, two] = gain * numpy.eye(2 * k)
    for name, value in P.items():
        model.params[name][...] = to_device(value, model.params[name].dtype)
    return f"{member.describe()}, its first {k} directions"


def scale_initial_scores(model, batch, target):
    """Rescale W_m, b_m and W_d, b_d of a fresh model so that its scores on `batch` have std
    `target` with v and s of one size; -> {"v", "s", "S"}: |v|, |s| and std(S) before.

    At the He scales a score sums T dot products of h-dimensional vectors: tens to hundreds
    against the margin of 1, and the ReLUs of Eq. 6 die in the first steps. Both scores are
    degree-1 homogeneous in v and in s, so W_m * a and W_d * c scale S by a c (as LSUV does)."""
    v = model.embed_regions(batch["regions"])
    s, seg = model.embed_sentences(batch["words"], batch["word_mask"])
    mask = batch.get("region_mask")
    S = model.scores(v, mask, s, seg, v.shape[0])
    valid = xp.ones(v.shape[:2], dtype=bool) if mask is None else to_device(mask)
    nv = float(xp.sqrt((v * v).sum(axis=-1)[valid].mean()))
    ns = float(xp.sqrt((s * s).sum(axis=-1).mean()))
    sd = float(S.std())
    if not (nv > 0 and ns > 0 and sd > 0) or not all(map(math.isfinite, (nv, ns, sd))):
        raise DataError("the initial scores are all equal or not finite: the features or the "
                        "sentences of the first batch carry nothing to rank by")
    n = (target * nv * ns / sd) ** 0.5
    for name, factor in (("W_m", n / nv), ("b_m", n / nv), ("W_d", n / ns), ("b_d", n / ns)):
        model.params[name] *= factor
    return {"v": nv, "s": ns, "S": sd}


def epoch_batches(ds, vocab, cfg, epoch):
    """(number of batches, the ranking batches of one epoch), a function of (seed, epoch)."""
    enc = encode_split(ds, vocab, "train")
    usable = numpy.flatnonzero(enc.lengths > 0)
    n = len(ranking_order(enc.img_idx[usable], cfg.batch_size,
                          numpy.random.default_rng([cfg.seed, epoch])))
    return n, ranking_batches(ds, vocab, "train", cfg.batch_size,
                              numpy.random.default_rng([cfg.seed, epoch]), regions=cfg.regions)


def train_alignment(data, out, cfg: AlignConfig, resume=False, quiet=None, log=print,
                    baseline=None) -> dict:
    """Train on the dataset folder `data` into the run folder `out`; returns a summary.
    `baseline`: a `LinearBaseline` already fitted on this data (else one is fitted here, for the
    warm start and for the summary)."""
    if cfg.start == "auto":
        if not (cfg.regions or resume):
            return choose_start(data, out, cfg, quiet, log, baseline)
        cfg = dataclasses.replace(cfg, start=resume_config(out, AlignConfig).start
                                  if resume else "random")
    ds, vocab = usable_data(data, cfg)
    if resume:
        check_same_data(out, vocab, data)
    trials = None
    if cfg.lr_grid and not resume:               # the paper cross-validates the rate
        lr, wd, trials = search_lr(train_alignment, data, out, cfg, higher_is_better=True, log=log)
        cfg = dataclasses.replace(cfg, lr=lr, weight_decay=wd)
    base = baseline
    if not cfg.regions and (cfg.feature_map == "baseline" or cfg.start == "linear"):
        base = base or LinearBaseline(ds, threshold=cfg.word_threshold)
    model = build_model(cfg, len(vocab), ds.feature_dim, norm=fit_norm(ds, cfg, base))
    if cfg.feature_map == "baseline" and not cfg.regions:
        log(f"features read through the {model.norm.map} map, the linear baseline's choice "
            f"({base.member.describe()})")
    if cfg.word_vectors and not resume:
        found = load_word_vectors(cfg.word_vectors, vocab, model.params["W_w"])
        log(f"word vectors: {found} of {len(vocab) - 1} words found in {cfg.word_vectors}")
    if cfg.start == "linear" and not cfg.regions and not resume:
        log("warm start from the linear baseline: " + warm_start(model, base))
    if cfg.init_scale > 0 and not resume:
        first = next(iter(epoch_batches(ds, vocab, cfg, 0)[1]))
        before = scale_initial_scores(model, first, cfg.init_scale)
        log(f"initial scores: std {before['S']:.3g} at the He scales, rescaled to "
            f"{cfg.init_scale:g} (|v| {before['v']:.3g}, |s| {before['s']:.3g})")
    opt = SGDMomentum(cfg.lr, cfg.momentum)
    meta = {"model": "alignment", "arch": model.arch, "vocab": vocab.to_json(),
            "data": str(data), "data_fingerprint": ds.fingerprint(),
            **({"lr_trials": trials} if trials else {})}
    run = RunDir(out, cfg, resume=resume, meta=meta, best_key="rsum", quiet=quiet,
                 buffers=model.norm.buffers())
    run.restore(model.params, opt)
    watch = Watch(run, len(ds.split_indices("val")), log)

    def validate(model):
        if not all(bool(xp.isfinite(p).all()) for p in model.params.values()):
            raise watch.diverged()
        metrics = evaluate_retrieval(model, ds, vocab, "val", cfg.regions,
                                     on_nonfinite=watch.diverged())
        watch.check(metrics)
        return metrics

    t0 = time.perf_counter()
    train(model, opt, cfg, run, lambda epoch: epoch_batches(ds, vocab, cfg, epoch), validate,
          eval_every=cfg.eval_every)
    run.close()
    best_val = run.best_eval()
    last = run.log["eval"][-1] if run.log["eval"] else None
    return {"steps": run.step, "seconds": round(time.perf_counter() - t0, 2),
            "train_time": round(run.elapsed(), 2), "best_rsum": run.best, "best_value": run.best,
            "lr": cfg.lr, "best_step": run.best_step,
            "last_val": last and {k: last[k] for k in ("annotation", "search", "rsum")},
            "best_val": best_val and {d: best_val[d] for d in ("annotation", "search", "rsum")},
            "baseline_val": baseline_report(ds, "val", cfg.word_threshold, base),
            "warnings": list(watch.warnings.values())}


def usable_data(data, cfg):
    """(dataset, vocabulary) of the dataset folder `data`, or the DataError that says why a run
    cannot train on it (no features, no word kept, no validation images)."""
    ds = load_dataset(data, regions=cfg.regions)
    ds.require_features()
    vocab = Vocab.build(ds.sentences_of("train")[1], threshold=cfg.word_threshold).require_words()
    if len(ds.split_indices("val")) == 0:
        raise DataError(f"{data}: no validation images (needed to pick the best checkpoint)")
    return ds, vocab


def choose_start(data, out, cfg, quiet, log, baseline=None) -> dict:
    """start "auto": train from random; when that run's best validation R@K sum is below the
    linear baseline's, train again from the baseline (warm_start) with `warm_lr` and
    `warm_dropout`, and keep the better of the two on validation. The paper's model learns
    more than a linear map where there is enough to learn (the synthetic feature families); on
    700 real pictures it learns less from noise than from what the captions already say
    (docs/benchmarks.md, issue 22). Both runs are trained in a hidden folder of `out` and only
    the one kept is moved into it (the first, if the second is interrupted). -> the kept run's
    summary, with "start": {"chosen", "best_rsum": {start: value}, "baseline_rsum"}."""
    check_log_path(out)
    ds, _ = usable_data(data, cfg)        # bad data: one line, before anything is written
    base = baseline or LinearBaseline(ds, threshold=cfg.word_threshold)
    tries = open_trials(out, ".starts-")     # locked until the kept run is in place
    out, trials = tries.out, tries.folder
    runs, chosen = {}, None
    try:
        runs["random"] = train_alignment(data, trials / "random",
                                         dataclasses.replace(cfg, start="random"),
                                         quiet=quiet, log=log, baseline=base)
        linear = runs["random"]["baseline_val"]["rsum"]
        if runs["random"]["best_rsum"] < linear:
            log(f"start auto: from random the best validation R@K sum is "
                f"{runs['random']['best_rsum']:.1f}, the linear baseline's {linear:.1f}; "
                f"training again from the baseline (lr {cfg.warm_lr:g}, dropout "
                f"{cfg.warm_dropout:g})")
            warm = dataclasses.replace(cfg, start="linear", lr=cfg.warm_lr,
                                       dropout=cfg.warm_dropout)
            try:
                runs["linear"] = train_alignment(data, trials / "linear", warm, quiet=quiet,
                                                 log=log, baseline=base)
            except TrainingError as e:
                log(f"start auto: the run from the baseline stopped ({e}); keeping the one "
                    f"from random")
        chosen = max(runs, key=lambda k: runs[k]["best_rsum"])
    finally:            # stopped during the second run: the finished first is kept, not lost
        keep = chosen or ("random" if runs else None)
        if keep:
            for f in sorted((trials / keep).iterdir()):
                if not f.name.startswith("."):
                    os.replace(f, out / f.name)
        shutil.rmtree(trials, ignore_errors=True)
        if keep:
            tries.lock.release()
        else:                        # nothing trained (bad input, interrupted): nothing left
            tries.abandon()
        if keep and not chosen:
            log(f"start auto: stopped during the run from the baseline; {out} holds the "
                f"finished run from random")
    if len(runs) > 1:
        log(f"start auto: kept the run from {chosen} (validation R@K sum "
            + ", ".join(f"{k} {v['best_rsum']:.1f}" for k, v in runs.items()) + ")")
    return {**runs[chosen], "start": {"chosen": chosen, "baseline_rsum": linear,
                                      "best_rsum": {k: v["best_rsum"] for k, v in runs.items()}}}


class Watch:
    """What each validation is checked for: a collapsed run stops (TrainingError, every score
    equal: the ReLUs are dead); recall at chance and a growing loss are warned about, once."""

    def __init__(self, run, n_val, log):
        self.run, self.n_val, self.log, self.warnings = run, n_val, log, {}

    def diverged(self):
        return TrainingError(f"the model diverged at step {self.run.step} (NaN/inf parameters or "
                             f"scores); stopped, {self.run.kept()}. Try a smaller learning rate "
                             f"or stronger clipping.")

    def check(self, metrics):
        run, epoch = self.run, self.run.epoch
        if metrics["score_std"] < 1e-6:
            raise TrainingError(
                f"the model collapsed at step {run.step}: every validation score is the same "
                f"(the ReLUs of Eq. 6 or of the regions are dead, the loss sits at 2(B-1) per "
                f"pair); stopped, {run.kept()}. Try a smaller --lr (or --lr auto), or "
                f"--init-scale 0.3 if you turned it off")
        if epoch < 1:
            return
        chance = chance_rsum(self.n_val)
        if metrics["rsum"] <= 2 * chance:
            self.warn("chance", f"warning: after {epoch + 1} epochs the validation recall is "
                      f"still at chance (R@K sum {metrics['rsum']:.1f}, chance about "
                      f"{chance:.1f}): the model is not learning; try --lr auto")
        before, now = (numpy.mean([r["loss"] for r in run.log["train"] if r["epoch"] == e])
                       for e in (epoch - 1, epoch))
        if now > 1.1 * before:
            self.warn("growing", f"warning: the training loss grew in epoch {epoch + 1} "
                      f"({before:.3g} -> {now:.3g} per pair): the learning rate is probably "
                      f"too large; try --lr auto")

    def warn(self, key, text):
        if key not in self.warnings:
            self.warnings[key] = text
            self.log(text)


def add_arguments(p) -> None:
    add_trainer_arguments(p, AlignConfig, "dataset folder (Flickr8K layout, e.g. a shapes "
                          "world from `vsa-np make-shapes`)")


def run(args) -> int:
    cfg, say = trainer_config(args, AlignConfig)
    summary = train_alignment(args.data, args.out, cfg, resume=args.resume,
                              quiet=True if args.quiet else None, log=say)
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    val = summary["last_val"] or {}
    say(f"{summary['steps']} steps in {summary['train_time']:.1f} s; best validation R@K sum "
        f"{summary['best_rsum']} at step {summary['best_step']}")
    for d in ("annotation", "search"):
        if d in val:
            m = val[d]
            say(f"last val {d:<10} R@1 {m['R@1']:.1f}  R@5 {m['R@5']:.1f}  "
                f"R@10 {m['R@10']:.1f}  med r {m['med_r']:g}")
    if summary["best_val"]:
        say("best checkpoint against the linear baseline, validation split:")
        say(retrieval_table({"model": summary["best_val"],
                             "linear": summary["baseline_val"]}))
        say(f"linear baseline: {summary['baseline_val']['chosen']} (the best of "
            f"{summary['baseline_val']['tried']}, chosen on val)")
        say(compare_line(summary["best_val"], summary["baseline_val"], tuned=bool(cfg.lr_grid)))
    say(checkpoints_line(args.out, f"vsa-np eval-align {args.out} {args.data}"))
    return 0
