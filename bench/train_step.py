"""Time one training step of each model at the paper's scale (issue 7).

A step is what a trainer does per batch: forward, backward, elementwise clip at 5, weight decay,
update (SGD with momentum 0.9 for the alignment model, RMSprop for the generator, from
`vsa_np.core.train`). Float32. Shapes (bench/_common.py PAPER):

  alignment (Sec. 3.1): batch 100 image-sentence pairs, R = 20 regions of 4096-d (and R = 1, the
    whole image only), h = 1000, BRNN hidden 500, 300-d words, vocabulary 2,538, sentences with
    real Flickr8K training caption lengths (a fixed random draw of 100), no dropout; Eq. 1 on the
    raw features, and again (`align_R20_whiten64`) with the trainer's centring and whitening of
    64 directions before it (feature_norm.py), the step `vsa-np train-align --whiten 64` takes.
  generator (Sec. 3.2): batch 100, 4096-d image feature, hidden 512, 256-d words (CaptionModel's
    default), vocabulary 2,538, real caption lengths (+1 for END), dropout 0.5 (GenConfig's).

Printed: the median step time of --repeats steps, the FLOPs of the step counted from the shapes
(matrix products only, on valid words/steps only: padding the implementation may compute is
not counted), the achieved GFLOP/s, that rate as a fraction of the float32 GEMM rate measured in
the same run, and peak memory: the high-water mark of arrays allocated for one step including
the parameters, optimiser state and batch (tracemalloc, CPU; CuPy's pool on GPU), and the
process's peak RSS.

    python -m bench.train_step                 # human-readable
    python -m bench.train_step --json          # one JSON object
    python -m bench.train_step --device gpu    # CuPy (needs a CUDA GPU)
"""
from __future__ import annotations

import sys

import numpy

from bench import _common as C


def align_batch(sz: dict, R: int, lengths, seed: int = 0) -> dict:
    """A ranking batch (host arrays) of sz["batch"] pairs with the given sentence lengths."""
    g = numpy.random.default_rng(seed)
    B, D, V = sz["batch"], sz["image_dim"], sz["vocab"]
    T = int(lengths.max())
    mask = numpy.arange(T) < lengths[:, None]
    # CNN features are ReLU outputs: non-negative
    regions = numpy.abs(g.standard_normal((B, R, D), dtype=numpy.float32))
    return {"regions": regions, "region_mask": numpy.ones((B, R), dtype=bool),
            "words": numpy.where(mask, g.integers(1, V, size=(B, T)), 0),
            "word_mask": mask, "image_idx": numpy.arange(B), "sent_idx": numpy.arange(B)}


def caption_batch(sz: dict, lengths, seed: int = 0) -> dict:
    """A caption batch (host arrays): START + words as inputs, words + END as targets."""
    g = numpy.random.default_rng(seed)
    B, D, V = sz["batch"], sz["image_dim"], sz["vocab"]
    steps = lengths + 1
    T = int(steps.max())
    mask = numpy.arange(T) < steps[:, None]
    w = g.integers(1, V, size=(B, T))
    targets = numpy.where(numpy.arange(T) < lengths[:, None], w, 0)   # the words, then END
    inputs = numpy.zeros_like(targets)
    inputs[:, 1:] = targets[:, :-1]                                   # START, then the words
    return {"feats": numpy.abs(g.standard_normal((B, D), dtype=numpy.float32)),
            "inputs": inputs * mask, "targets": targets * mask, "mask": mask,
            "image_idx": numpy.arange(B)}


def align_flops(sz: dict, R: int, lengths, whiten: int = 0) -> int:
    """Matrix-product FLOPs of one alignment step (forward + backward), from the shapes."""
    B, D, M, E, H = sz["batch"], sz["image_dim"], sz["embed"], sz["word_dim"], sz["brnn_hidden"]
    W = int(lengths.sum())
    n0 = len(lengths)                 # rows without a previous state, per direction
    BR = B * R
    fwd = (2 * 2 * BR * D * whiten    # the whitening of feature_norm.py: (x U_k) ..., ... U_k^T
           + 2 * BR * D * M           # Eq. 1
           + 2 * W * E * H            # Eq. 3
           + 2 * 2 * (W - n0) * H * H  # Eq. 4, 5
           + 2 * W * H * M            # Eq. 6
           + 2 * W * BR * M           # Eq. 8: every word against every region
           + 2 * B * W * B)           # sum over each sentence's words
    bwd = (2 * BR * D * M             # dW_m (no gradient for the CNN features)
           + 2 * 2 * W * BR * M       # dv, ds
           + 2 * 2 * W * H * M        # dW_d, dh
           + 2 * (2 * (W - n0) * H * H + 2 * W * H * H)  # per direction: carry, dW_f / dW_b
           + 2 * 2 * W * E * H)       # dW_e, dx
    return fwd + bwd


def gen_flops(sz: dict, lengths) -> int:
    """Matrix-product FLOPs of one generator step (valid steps only), from the shapes."""
    N, D, E, H, V = sz["batch"], sz["image_dim"], sz["gen_word_dim"], sz["gen_hidden"], sz["vocab"]
    M = int((lengths + 1).sum())      # valid (sentence, step) rows: the words and END
    fwd = 2 * N * D * H + 2 * M * E * H + 2 * (M - N) * H * H + 2 * M * H * V
    bwd = 2 * 2 * M * H * V + 2 * ((M - N) * H * H + M * H * H) + 2 * N * D * H + 2 * 2 * M * E * H
    return fwd + bwd


def make_align(sz: dict, R: int, lengths, seed: int = 0, whiten: int = 0):
    """(step function, model) of the alignment model on a fixed batch. whiten > 0: with the
    trainer's centring and a whitening of that many directions (a random orthonormal basis:
    the cost is what is measured), as `vsa-np train-align` runs it."""
    from vsa_np.core.alignment import AlignmentModel
    from vsa_np.core.train import SGDMomentum, add_weight_decay, clip_elementwise
    from vsa_np.feature_norm import FeatureNorm
    kw = {}
    if whiten:
        g = numpy.random.default_rng(seed)
        D = sz["image_dim"]
        whiten = min(whiten, D)
        kw = {"norm": FeatureNorm(numpy.abs(g.standard_normal(D)),
                                  numpy.linalg.qr(g.standard_normal((D, whiten)))[0],
                                  1 + g.random(whiten), 2.0)}
    model = AlignmentModel(sz["vocab"], sz["image_dim"], word_dim=sz["word_dim"],
                           hidden=sz["brnn_hidden"], embed=sz["embed"], seed=seed, **kw)
    opt = SGDMomentum(1e-4, momentum=0.9)
    batch = align_batch(sz, R, lengths, seed)

    def step():
        loss, grads = model.loss(batch)
        clip_elementwise(grads, 5.0)
        add_weight_decay(model.params, grads, 1e-4)
        opt.step(model.params, grads)
        return loss
    return step, model


def make_gen(sz: dict, lengths, seed: int = 0):
    """(step function, model) of the generator on a fixed batch (dropout on, as in training)."""
    from vsa_np.backend import rng
    from vsa_np.core.generator import CaptionModel
    from vsa_np.core.train import RMSProp, add_weight_decay, clip_elementwise
    model = CaptionModel(sz["vocab"], sz["image_dim"], hidden=sz["gen_hidden"],
                         word_dim=sz["gen_word_dim"], dropout=0.5, seed=seed)
    opt = RMSProp(1e-3, decay=0.999)
    batch = caption_batch(sz, lengths, seed)
    model.training, model.rng = True, rng(seed)

    def step():
        loss, grads = model.loss(batch)
        clip_elementwise(grads, 5.0)
        add_weight_decay(model.params, grads, 1e-6)
        opt.step(model.params, grads)
        return loss
    return step, model


def traced_step_peak(make) -> float:
    """Peak MB of arrays alive during one step, the model, optimiser state and batch included."""
    import tracemalloc
    tracemalloc.start()
    try:
        step, _ = make()
        step()                              # creates the optimiser state
        return C.traced_peak_mb(step)
    finally:
        tracemalloc.stop()


def main(argv=None) -> int:
    args = C.parse_args(__doc__, argv=argv)
    backend = C.import_backend()
    xp, sync, sz = backend.xp, backend.synchronize, args.sizes
    lengths, V, source = C.caption_lengths(quiet=args.json, recorded=args.tiny)
    if args.tiny:
        lengths = numpy.minimum(lengths, 5)
    sz["vocab"] = V if not args.tiny else sz["vocab"]
    L = C.draw_lengths(lengths, sz["batch"], args.seed)
    cases = {"align_R20": (lambda: make_align(sz, sz["regions"], L, args.seed),
                           align_flops(sz, sz["regions"], L)),
             "align_R20_whiten64": (lambda: make_align(sz, sz["regions"], L, args.seed, 64),
                                    align_flops(sz, sz["regions"], L,
                                                min(64, sz["image_dim"]))),
             "align_R1": (lambda: make_align(sz, 1, L, args.seed), align_flops(sz, 1, L)),
             "gen": (lambda: make_gen(sz, L, args.seed), gen_flops(sz, L))}
    peak = C.matmul_peak(xp, sync, n=256 if args.tiny else 2048)
    out = {"device": backend.device_name, "machine": C.machine(), "lengths": source,
           "words_in_batch": int(L.sum()), "mean_length": float(L.mean()),
           "matmul_peak_gflops": round(peak, 1), "sizes": sz}
    mem = {}
    for name, (make, flops) in cases.items():
        step, _ = make()
        t = C.timeit(step, repeats=args.repeats, warmup=2, sync=sync)
        rate = flops / (t["median_ms"] * 1e-3) / 1e9
        out[name] = {"step_ms": round(t["median_ms"], 2), "min_ms": round(t["min_ms"], 2),
                     "all_ms": t["all_ms"], "flops_per_step": int(flops),
                     "gflop_per_step": round(flops / 1e9, 3),
                     "gflops": round(rate, 1), "peak_fraction": round(rate / peak, 3)}
        del step
        mem[name] = (C.gpu_pool_peak_mb(xp) if backend.on_gpu else traced_step_peak(make))
        out[name]["peak_mem_mb"] = round(mem[name], 3)
    # the peak again after the steps: if the machine's load changed, the fractions use the best
    peak2 = C.matmul_peak(xp, sync, n=256 if args.tiny else 2048)
    out["matmul_peak_runs_gflops"] = [round(peak, 1), round(peak2, 1)]
    if peak2 > peak:
        out["matmul_peak_gflops"] = round(peak2, 1)
        for name in cases:
            out[name]["peak_fraction"] = round(out[name]["gflops"] / peak2, 3)
    out.update(align_step_ms_R20=out["align_R20"]["step_ms"],
               align_step_ms_R20_whiten64=out["align_R20_whiten64"]["step_ms"],
               align_step_ms_R1=out["align_R1"]["step_ms"], gen_step_ms=out["gen"]["step_ms"],
               peak_mem_mb=round(max(mem.values()), 3), peak_rss_mb=round(C.peak_rss_mb(), 1))
    m = out["machine"]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores, {m['blas']} ({m['blas_threads']} "
             f"threads), load average {m['loadavg']}; device {out['device']}",
             f"caption lengths: {source}; batch of {sz['batch']}: {out['words_in_batch']} words "
             f"(mean {out['mean_length']:.1f}, max {int(L.max())})",
             f"float32 matmul peak (2048^3 GEMM, best of before/after the steps): "
             f"{out['matmul_peak_gflops']:.1f} GFLOP/s {out['matmul_peak_runs_gflops']}"]
    for name in cases:
        r = out[name]
        lines.append(f"{name:18s} {r['step_ms']:9.1f} ms/step (min {r['min_ms']:.1f})  "
                     f"{r['gflop_per_step']:7.2f} GFLOP  {r['gflops']:6.1f} GFLOP/s  "
                     f"{100 * r['peak_fraction']:5.1f}% of peak  peak mem {r['peak_mem_mb']:.0f} MB")
    lines.append(f"process peak RSS: {out['peak_rss_mb']:.0f} MB")
    C.emit(out, args.json, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
