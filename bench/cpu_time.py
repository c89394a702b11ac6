"""CPU time of the training steps and of beam search, for comparing two versions of the code on
a machine other processes share (wall time is not robust to that; the CPU time of a process
with one BLAS thread mostly is). Run it from the root of each version's checkout, alternately:

    python -m bench.cpu_time train 5                     # the four steps of bench/train_step.py
    python -m bench.cpu_time train 15 align_R1,gen       # some of them
    python -m bench.cpu_time decode 3                    # beam search, 300 images, beam 7

Prints one JSON line: the minimum and median CPU ms over the repeats (after one warm-up). The
steps are `make_align` / `make_gen` of bench/train_step.py at the paper's sizes; beam search is
bench/decode.py's model (END made unlikely, every caption runs to 20 words), one BLAS thread.
"""
import json
import sys
import time

import numpy

from bench import _common as C

C.set_blas_threads(1)

from bench.train_step import make_align, make_gen  # noqa: E402  (after the BLAS thread count)


def cpu_times(fn, reps: int, warm: int = 1) -> list:
    for _ in range(warm):
        fn()
    out = []
    for _ in range(reps):
        t0 = time.process_time()
        fn()
        out.append((time.process_time() - t0) * 1e3)
    return out


def summary(t) -> dict:
    return {"min_ms": round(min(t), 1), "median_ms": round(float(numpy.median(t)), 1)}


def main(argv) -> int:
    what, reps = argv[0], int(argv[1]) if len(argv) > 1 else 5
    only = argv[2].split(",") if len(argv) > 2 else None
    sz = dict(C.PAPER)
    lengths, sz["vocab"], _ = C.caption_lengths(quiet=True)
    L = C.draw_lengths(lengths, sz["batch"], 0)
    res = {}
    if what == "train":
        cases = {"align_R20": lambda: make_align(sz, sz["regions"], L, 0),
                 "align_R20_whiten64": lambda: make_align(sz, sz["regions"], L, 0, 64),
                 "align_R1": lambda: make_align(sz, 1, L, 0),
                 "gen": lambda: make_gen(sz, L, 0)}
        for name, make in cases.items():
            if only and name not in only:
                continue
            step, _ = make()
            res[name] = summary(cpu_times(lambda: float(step()), reps))
    else:
        from bench.decode import word_counts
        from vsa_np.backend import to_device
        from vsa_np.core.generator import CaptionModel, beam_search
        counts, _ = word_counts(sz["vocab"], False)
        model = CaptionModel(sz["vocab"], sz["image_dim"], hidden=sz["gen_hidden"],
                             word_dim=sz["gen_word_dim"], dropout=0.0, word_counts=counts, seed=0)
        model.params["b_o"][0] -= 30.0
        g = numpy.random.default_rng(0)
        feats = to_device(numpy.abs(g.standard_normal((300, sz["image_dim"]),
                                                      dtype=numpy.float32)))
        res["beam_300"] = summary(cpu_times(
            lambda: beam_search(model, feats, beam=7, max_len=20), reps))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
