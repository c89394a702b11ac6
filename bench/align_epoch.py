"""One epoch of alignment-model training at the paper's scale, on the CPU or GPU (run by hand).

Flickr8K's 30,000 real training captions (../shared/data/flickr8k/), its 2,538-word vocabulary,
random 4096-d region features (20 regions per image; the real RCNN features are not shipped),
h = 1000, BRNN hidden 500, 300-d words, batch 100: the trainer's own `train_step` (forward,
backward, clipping, weight decay, SGD momentum). Times `--steps` steps (default 20) and
estimates the epoch (300 steps) from their mean, or runs the whole epoch with `--steps 0`.
Also prints the FLOPs of a step counted from its matrix shapes, the rate achieved, and that
rate as a fraction of the machine's matrix-multiply peak measured in the same run.

    OPENBLAS_NUM_THREADS=2 python bench/align_epoch.py [--steps N] [--regions R] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "flickr8k"
POOL = 256   # distinct random region-feature sets, indexed by image (a memory bound)


def step_flops(B, R, D, W, n_first, E, H, M) -> float:
    """Multiply-adds x 2 of the matrix products of one step (forward and backward).

    W: words in the batch; n_first: sentences with at least one word (the rows of the
    recurrence's first step, the only ones without a previous state)."""
    region = 2 * B * R * D * M * 2                      # Eq. 1 forward + dW_m (no dx)
    score = 2 * W * B * R * M * 3                       # Q = s v^T; dv = dQ^T s; ds = dQ v
    words = 2 * W * E * H * 3 + 2 * W * H * M * 3       # Eq. 3 and Eq. 6: forward, dW, dx
    with_prev = W - n_first                             # rows that read a previous state
    rnn = 2 * (2 * with_prev * H * H * 2 + 2 * W * H * H)   # 2 directions: fwd, dh_prev, dW
    return float(region + score + words + rnn)


def gemm_peak(xp, synchronize, reps=5) -> float:
    """GFLOP/s of the largest matrix product of the step, (2000 x 4096) x (4096 x 1000),
    float32: the best of `reps` after a warm-up."""
    g = np.random.default_rng(0)
    a = xp.asarray(g.standard_normal((2000, 4096), dtype=np.float32))
    b = xp.asarray(g.standard_normal((4096, 1000), dtype=np.float32))
    a @ b
    synchronize()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * 2000 * 4096 * 1000 / best / 1e9


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="Flickr8K folder")
    p.add_argument("--steps", type=int, default=20, help="steps to time (0: the whole epoch)")
    p.add_argument("--regions", type=int, default=20, help="regions per image (1: whole image)")
    p.add_argument("--score", choices=["eq8", "eq7"], default="eq8")
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    sys.path.insert(0, str(REPO))
    from vsa_np.alignment.train import AlignConfig, build_model
    from vsa_np.backend import device_name, synchronize, xp
    from vsa_np.core.train import SGDMomentum, train_step
    from vsa_np.data import Vocab, encode_split, load_dataset, ranking_order
    from vsa_np.feature_norm import fit_feature_norm

    ds = load_dataset(args.data, regions=False, features=False)
    vocab = Vocab.build(ds.sentences_of("train")[1], 5)
    enc = encode_split(ds, vocab, "train")
    usable = np.flatnonzero(enc.lengths > 0)
    cfg = AlignConfig(regions=args.regions > 1, score=args.score, dropout=args.dropout)
    B, R, D = cfg.batch_size, args.regions, 4096
    g = np.random.default_rng(0)
    pool = np.maximum(g.standard_normal((POOL, R, D), dtype=np.float32), 0)   # fc7-like >= 0
    # the trainer's feature normalisation, fitted on (part of) the pool
    norm = fit_feature_norm(pool.reshape(-1, D)[:4096], whiten=cfg.whiten, seed=cfg.seed,
                            sq_norm=1.0)
    model = build_model(cfg, len(vocab), D, norm=norm)
    opt = SGDMomentum(cfg.lr, cfg.momentum)
    order = ranking_order(enc.img_idx[usable], B, g)
    n_epoch = len(order)
    n = n_epoch if args.steps <= 0 else min(args.steps, n_epoch)

    def batch(k):
        s = usable[order[k]]
        T = int(enc.lengths[s].max())
        return {"regions": pool[enc.img_idx[s] % POOL], "region_mask": np.ones((len(s), R), bool),
                "words": enc.words[s, :T], "word_mask": np.arange(T) < enc.lengths[s][:, None]}

    peak = gemm_peak(xp, synchronize)
    train_step(model, opt, batch(n_epoch - 1), cfg, seed=0)   # warm-up (allocations, BLAS)
    synchronize()
    times, flops, losses = [], [], []
    t_all = time.perf_counter()
    for k in range(n):
        b = batch(k)
        W = int(b["word_mask"].sum())
        n_first = int(b["word_mask"].any(axis=1).sum())
        t = time.perf_counter()
        losses.append(train_step(model, opt, b, cfg, seed=k + 1))
        synchronize()
        times.append(time.perf_counter() - t)
        flops.append(step_flops(len(b["words"]), R, D, W, n_first, cfg.word_dim, cfg.hidden,
                                cfg.embed))
    wall = time.perf_counter() - t_all
    times, flops = np.array(times), np.array(flops)
    rate = flops.sum() / times.sum() / 1e9
    out = {"device": device_name, "threads": os.environ.get("OPENBLAS_NUM_THREADS"),
           "sentences": int(len(usable)), "vocab": len(vocab), "regions": R, "embed": cfg.embed,
           "hidden": cfg.hidden, "word_dim": cfg.word_dim, "batch": B, "score": cfg.score,
           "dropout": cfg.dropout, "steps_timed": n, "steps_per_epoch": n_epoch,
           "step_ms_median": round(1000 * float(np.median(times)), 1),
           "step_ms_mean": round(1000 * float(times.mean()), 1),
           "epoch_s": round(wall, 1) if n == n_epoch else None,
           "epoch_s_estimate": round(float(times.mean()) * n_epoch + (wall - times.sum())
                                     * n_epoch / n, 1),
           "gflop_per_step": round(float(flops.mean()) / 1e9, 2),
           "gflops": round(rate, 1), "gemm_peak_gflops": round(peak, 1),
           "fraction_of_peak": round(rate / peak, 3),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
           "loss_first": round(float(losses[0]), 3), "loss_last": round(float(losses[-1]), 3)}
    print(json.dumps(out) if args.json else "\n".join(f"{k:<18} {v}" for k, v in out.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
