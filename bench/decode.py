"""Beam search throughput (issue 7): captions per second for 1000 images, beam 7, at most 20 words.

The generator is CaptionModel at hidden 512, 256-d words, vocabulary 2,538, 4096-d features,
randomly initialised with the output bias at the log frequencies of the Flickr8K training words.
Such a model (a unigram language model, in effect) finds the empty caption most likely, so beam
search would stop after one step. The default `--end worst` therefore also lowers END's bias
by 30 so that no beam ends before the 20-word limit: every image runs all 21 steps with all 7
beams alive, the most work beam search can do (an upper bound on the time of a trained model,
whose captions end after ~11 words). `--end logfreq` keeps the unigram bias (the lower bound).
Features are random non-negative 4096-d vectors. The figure printed is the median over
--repeats runs of `vsa_np.core.generator.beam_search` on all the images (one thread of Python;
the BLAS uses --threads, by default one per core).

    python -m bench.decode                    # 1000 images, beam 7
    python -m bench.decode --json --threads 1     # one BLAS thread
"""
from __future__ import annotations

import sys

import numpy

from bench import _common as C


def word_counts(V: int, tiny: bool):
    """Training word counts of Flickr8K for the output bias (Zipf-like fallback without data)."""
    path = C.FLICKR8K / "dataset_flickr8k.json"
    if not tiny and path.exists():
        import json
        from vsa_np.data import Vocab
        images = json.loads(path.read_text())["images"]
        toks = [s["tokens"] for im in images if im["split"] == "train" for s in im["sentences"]]
        vocab = Vocab.build(toks, threshold=5)
        if len(vocab) == V:
            counts = numpy.zeros(V)
            for t in toks:
                ids = vocab.encode(t)
                numpy.add.at(counts, ids, 1)
                counts[0] += 1                      # END after every sentence
            return counts, "flickr8k"
    ranks = numpy.arange(1, V + 1)
    counts = 30000 * 10.8 / ranks / (1 / ranks).sum()
    counts[0] = 30000                               # one END per sentence
    return counts, "zipf"


def beam_flops(sz: dict, images: int, beam: int, max_len: int) -> int:
    """Matrix-product FLOPs of beam search when no caption ends early (--end worst): the first
    step runs one row per image, the max_len after it `beam` rows per image, each an (H, H)
    recurrence and an (H, V) output layer; plus b_v (D, H) per image and the (V, E) x (E, H)
    input table once."""
    D, E, H, V = sz["image_dim"], sz["gen_word_dim"], sz["gen_hidden"], sz["vocab"]
    rows = images * (1 + beam * max_len)
    return 2 * rows * (H * H + H * V) + 2 * images * D * H + 2 * V * E * H


def main(argv=None) -> int:
    def add(p):
        p.add_argument("--images", type=int, default=1000)
        p.add_argument("--beam", type=int, default=7)
        p.add_argument("--max-len", type=int, default=20)
        p.add_argument("--end", choices=("worst", "logfreq"), default="worst",
                       help="worst: END made unlikely, every caption runs to --max-len")
    args = C.parse_args(__doc__, add, argv)
    if args.tiny:
        args.images, args.repeats = min(args.images, 20), min(args.repeats, 2)
    backend = C.import_backend()
    from vsa_np.core.generator import CaptionModel, beam_search
    sz = args.sizes
    counts, source = word_counts(sz["vocab"], args.tiny)
    model = CaptionModel(sz["vocab"], sz["image_dim"], hidden=sz["gen_hidden"],
                         word_dim=sz["gen_word_dim"], dropout=0.0, word_counts=counts,
                         seed=args.seed)
    if args.end == "worst":
        model.params["b_o"][0] -= 30.0
    g = numpy.random.default_rng(args.seed)
    feats = backend.to_device(numpy.abs(g.standard_normal((args.images, sz["image_dim"]),
                                                           dtype=numpy.float32)))
    result = {}

    def run():
        result["caps"] = beam_search(model, feats, beam=args.beam, max_len=args.max_len)

    t = C.timeit(run, repeats=args.repeats, warmup=1, sync=backend.synchronize)
    lengths = numpy.array([len(c) for c in result["caps"].best()[0]])
    sec = t["median_ms"] / 1e3
    out = {"device": backend.device_name, "machine": C.machine(), "images": args.images,
           "beam": args.beam, "max_len": args.max_len, "output_bias": source,
           "end": args.end,
           "seconds": round(sec, 3), "min_seconds": round(t["min_ms"] / 1e3, 3),
           "all_ms": t["all_ms"], "captions_per_s": round(args.images / sec, 1),
           "mean_caption_words": round(float(lengths.mean()), 2),
           "peak_rss_mb": round(C.peak_rss_mb(), 1)}
    lines = []
    if args.end == "worst":
        flops = beam_flops(sz, args.images, args.beam, args.max_len)
        peak = C.matmul_peak(backend.xp, backend.synchronize, n=256 if args.tiny else 2048)
        out.update(flops=flops, gflops=round(flops / sec / 1e9, 1),
                   matmul_peak_gflops=round(peak, 1), peak_fraction=round(flops / sec / 1e9 / peak, 3),
                   gemm_bound_seconds=round(flops / 1e9 / peak, 2))
        lines.append(f"{flops / 1e9:.0f} GFLOP of matrix products: {out['gflops']} GFLOP/s, "
                     f"{100 * out['peak_fraction']:.0f}% of the measured {peak:.1f} GFLOP/s GEMM "
                     f"peak; at that peak the products alone take {out['gemm_bound_seconds']} s")
    m = out["machine"]
    C.emit(out, args.json, [
        f"machine: {m['cpu']}, {m['cores']} cores, {m['blas']} ({m['blas_threads']} threads), "
        f"load average {m['loadavg']}; device {out['device']}",
        f"beam search, beam {args.beam}, max {args.max_len} words, {args.images} images: "
        f"{sec:.2f} s (median of {args.repeats}, min {out['min_seconds']:.2f} s) = "
        f"{out['captions_per_s']:.0f} captions/s; mean caption {out['mean_caption_words']:.1f} "
        f"words (output bias: {source}, --end {args.end})"] + lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
