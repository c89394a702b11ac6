"""Shared pieces of the benchmarks (issue 7): device choice, timing, the matmul peak, FLOP counts,
memory, the paper-scale shapes and real Flickr8K caption lengths.

Import order matters: `parse_args` sets VSA_NP_DEVICE from `--device` BEFORE anything imports
`vsa_np` (the backend picks NumPy or CuPy once, at import). So a bench script does

    from bench import _common as C
    args = C.parse_args(__doc__, extra)      # sets VSA_NP_DEVICE, then vsa_np may be imported

Timings are medians of several repeats, each one closed by `backend.synchronize()` (a no-op on
the CPU; on a GPU it waits for the queued kernels, so the clock measures the work and not just
the launches).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy
from threadpoolctl import threadpool_info, threadpool_limits   # no vsa_np: safe before parse_args

ROOT = Path(__file__).resolve().parent.parent
FLICKR8K = ROOT.parent / "shared" / "data" / "flickr8k"

# Paper scale (Sec. 3.3 / 4): alignment h = 1000, BRNN hidden 500, 300-d words, 20 regions of
# 4096-d; generator hidden 512 (word size: CaptionModel's default); vocabulary 2,538 (Flickr8K,
# words seen >= 5 times + the shared START/END token); batch 100.
PAPER = dict(batch=100, vocab=2538, image_dim=4096, regions=20, word_dim=300, brnn_hidden=500,
             embed=1000, gen_hidden=512, gen_word_dim=256)
TINY = dict(batch=6, vocab=50, image_dim=32, regions=3, word_dim=8, brnn_hidden=10, embed=12,
            gen_hidden=10, gen_word_dim=8)

# Fallback when the Flickr8K captions are absent: the histogram of caption lengths (words kept by
# the threshold-5 vocabulary of the training split) of the 30,000 Flickr8K training sentences,
# as `caption_lengths()` computes it from dataset_flickr8k.json. _FALLBACK[i] = number of
# sentences of length LENGTH_MIN + i (`_FALLBACK` at the end of this file).
LENGTH_MIN = 1


def parse_args(doc: str, add=None, argv=None) -> argparse.Namespace:
    """Common options (--device, --json, --tiny, --repeats), plus those `add(parser)` adds.
    Sets VSA_NP_DEVICE, so call it before importing vsa_np."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=doc)
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                   help="cpu: NumPy; gpu: CuPy (fails with a clear message without a GPU)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--tiny", action="store_true",
                   help="tiny sizes, for the smoke test (the figures mean nothing)")
    p.add_argument("--repeats", type=int, default=7, help="timed repeats (median reported)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS threads (default: as NumPy starts, normally one per core)")
    if add is not None:
        add(p)
    args = p.parse_args(argv)
    os.environ["VSA_NP_DEVICE"] = args.device
    args.sizes = dict(TINY if args.tiny else PAPER)
    set_blas_threads(args.threads)
    return args


def import_backend():
    """vsa_np.backend, or exit 2 with the reason (e.g. --device gpu on a machine without one)."""
    try:
        from vsa_np import backend
    except Exception as e:   # BackendError, with the reason and what to do
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2)
    return backend


def blas_threads() -> int:
    """Threads NumPy's BLAS uses (asked from the library itself by threadpoolctl; else
    $OPENBLAS_NUM_THREADS or the CPU count)."""
    counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    if counts:
        return max(counts)
    return int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count() or 1))


def set_blas_threads(n: int | None) -> int:
    """Set NumPy's OpenBLAS thread count (None: leave it); -> the count in force.

    Why this matters here: OpenBLAS threads spin while they wait for each other. On a machine
    whose cores other processes also use, a small product ((100, 512) x (512, 512), as in every
    step of a recurrence) can take 50x longer with 2 threads than with 1, because each product
    waits for a descheduled thread. Benchmarks say which count they ran with."""
    if n is not None:
        threadpool_limits(n, user_api="blas")       # process-wide, for the rest of the run
        if blas_threads() != n:
            print("note: cannot set the BLAS thread count of this NumPy build", file=sys.stderr)
    return blas_threads()


def timeit(fn, repeats: int = 7, warmup: int = 1, sync=None) -> dict:
    """Run fn() warmup + repeats times; -> {"median_ms", "min_ms", "all_ms"} of the timed runs."""
    sync = sync or (lambda: None)
    for _ in range(warmup):
        fn()
        sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(times), "min_ms": min(times),
            "all_ms": [round(t, 2) for t in times]}


def matmul_peak(xp, sync, n: int = 2048, repeats: int = 7) -> float:
    """Measured float32 GEMM rate in GFLOP/s: the median time of an (n, n) x (n, n) product.
    The best the BLAS does on this machine, now (so under the same load as the step)."""
    g = numpy.random.default_rng(0)
    a = xp.asarray(g.standard_normal((n, n)), dtype=xp.float32)
    b = xp.asarray(g.standard_normal((n, n)), dtype=xp.float32)
    t = timeit(lambda: a @ b, repeats=repeats, warmup=2, sync=sync)
    return 2 * n ** 3 / (t["median_ms"] * 1e-3) / 1e9


def caption_lengths(seed: int = 0, quiet: bool = False, recorded: bool = False):
    """(lengths of the Flickr8K training captions after the vocabulary (threshold 5) drops rare
    words, vocabulary size). From /work/shared/data/flickr8k when present; else drawn from the
    recorded histogram `_FALLBACK` (with a message; without one when `recorded` asks for it)."""
    path = FLICKR8K / "dataset_flickr8k.json"
    if path.exists() and not recorded:
        from vsa_np.data import Vocab
        images = json.loads(path.read_text())["images"]
        toks = [s["tokens"] for im in images if im["split"] == "train" for s in im["sentences"]]
        vocab = Vocab.build(toks, threshold=5)
        lengths = numpy.array([len(vocab.encode(t)) for t in toks])
        return lengths[lengths > 0], len(vocab), "flickr8k"
    if not quiet and not recorded:
        print(f"note: {path} is absent; using the recorded Flickr8K length histogram",
              file=sys.stderr)
    hist = numpy.asarray(_FALLBACK, dtype=float)
    g = numpy.random.default_rng(seed)
    lengths = LENGTH_MIN + g.choice(len(hist), size=30000, p=hist / hist.sum())
    return lengths, PAPER["vocab"], "recorded histogram"


def draw_lengths(lengths, n: int, seed: int, max_len: int | None = None):
    """n lengths drawn (without replacement, fixed seed) from the real distribution."""
    g = numpy.random.default_rng(seed)
    out = g.choice(lengths, size=n, replace=False)
    return numpy.minimum(out, max_len) if max_len else out


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def traced_peak_mb(fn) -> float:
    """Peak of the memory allocated while fn() runs (NumPy reports its buffers to tracemalloc),
    in MB, counting what was alive when it started (parameters, optimiser state, batch) only if
    that was allocated after tracing began: call `tracemalloc.start()` before building them."""
    import tracemalloc
    tracemalloc.reset_peak()
    fn()
    return tracemalloc.get_traced_memory()[1] / 2 ** 20


def gpu_pool_peak_mb(xp) -> float | None:
    """CuPy: bytes held by the default memory pool (its high-water mark), in MB."""
    if xp.__name__ != "cupy":
        return None
    return xp.get_default_memory_pool().total_bytes() / 2 ** 20


def machine() -> dict:
    """The CPU model, the core count, the BLAS NumPy uses, the load average now."""
    model = platform.processor() or ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    blas = "unknown"
    try:
        cfg = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{cfg.get('name')} {cfg.get('version')}"
    except Exception:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "blas": blas, "blas_threads": blas_threads(),
            "numpy": numpy.__version__, "python": platform.python_version(),
            "loadavg": [round(x, 2) for x in os.getloadavg()]}


def emit(result: dict, as_json: bool, lines: list[str]) -> None:
    """Print the result: one JSON object with --json, else the human-readable lines."""
    if as_json:
        print(json.dumps(result))
    else:
        print("\n".join(lines))


# Filled from dataset_flickr8k.json by `python -m bench._common --histogram`.
_FALLBACK = [2, 34, 176, 420, 1018, 2057, 2699, 3073, 3381, 3306, 3130, 2666, 2178, 1751, 1245, 874,
             655, 439, 326, 180, 106, 95, 68, 45, 29, 15, 8, 11, 4, 4, 1, 2, 1, 0, 0, 1]

if __name__ == "__main__" and "--histogram" in sys.argv:
    L, _, _ = caption_lengths()
    print(numpy.bincount(L, minlength=L.max() + 1)[LENGTH_MIN:].tolist())
