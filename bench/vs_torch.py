"""vsa-np against the same two models written in PyTorch (issue 7): one training step each, timed
in the same run on the same inputs, printed as the ratio vsa-np / PyTorch (below 1: vsa-np is
faster).

PyTorch is a benchmark-only dependency (nothing in `vsa_np/` imports it). Install a CPU build:

    pip install torch==2.13.0          # (--index-url .../whl/cpu elsewhere for the small build)

Without it this script prints a message and exits 0.

The PyTorch models are the paper's equations in a few lines of eager PyTorch with autograd,
float32, the same shapes, batch, initial parameters, clip (5), weight decay and optimiser as
bench/train_step.py, and the same number of threads (torch.set_num_threads = NumPy's BLAS
threads). They follow the same algorithm as vsa-np where PyTorch has no layer for it:
- alignment: the BRNN's two ReLU recurrences (Eq. 4-5) share the input e_t and have no input
  matrix of their own, which `torch.nn.RNN` cannot express, so they are written as a loop over
  the time steps of the packed (time-major, longest first) sentences: step t works on the
  sentences still going, as vsa-np's `rnn_forward` on its sentences sorted longest first; scores
  Eq. 8 as one (W, B*R) product and a max; the loss Eq. 9.
- generator: Eq. 13-15 with the recurrence as a loop over time steps over the padded batch (what
  `torch.nn.RNN` computes too), the output layer and the loss on the valid steps only; dropout
  0.5 on the feature, the word vectors and the states on their way out.

    python -m bench.vs_torch                  # both models, paper scale
    python -m bench.vs_torch --json --threads 1
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy

from bench import _common as C
from bench.train_step import align_batch, caption_batch, make_align, make_gen


class Packed(NamedTuple):
    """Where the W valid words of a left-aligned (B, T) batch are (host arrays).

    flat:  (W,) sentence-major: positions in the flattened (B*T) padded layout
    seg:   (W,) sentence-major: the sentence of each word, non-decreasing
    tm:    (W,) time-major row r holds sentence-major word tm[r]
    steps: [(offset, n_t)] per time step: the time-major rows of step t (longest sentences first)
    """
    flat: numpy.ndarray
    seg: numpy.ndarray
    tm: numpy.ndarray
    steps: list


def pack(word_mask) -> Packed:
    """The time-major packing PyTorch's loop walks through (sentences sorted longest first)."""
    m = numpy.asarray(word_mask, dtype=bool)
    B, T = m.shape
    lengths = m.sum(axis=1)
    flat = numpy.flatnonzero(m.ravel())
    starts = numpy.cumsum(lengths) - lengths          # sentence-major start of each sentence
    by_length = numpy.argsort(-lengths, kind="stable")
    tm, steps, offset = [], [], 0
    for t in range(int(lengths.max(initial=0))):
        alive = by_length[:int((lengths > t).sum())]
        tm.append(starts[alive] + t)
        steps.append((offset, len(alive)))
        offset += len(alive)
    tm = numpy.concatenate(tm) if tm else numpy.zeros(0, dtype=numpy.int64)
    return Packed(flat, flat // T, tm, steps)


def torch_align_step(torch, model, batch, opt, wd=1e-4):
    """A training step of the alignment model in eager PyTorch; model: dict of leaf tensors."""
    P = model
    p = pack(batch["word_mask"])
    regions = torch.from_numpy(batch["regions"])
    B, R, D = regions.shape
    ids = torch.from_numpy(batch["words"].reshape(-1)[p.flat][p.tm])
    tm = torch.from_numpy(p.tm)

    def step():
        v = regions.reshape(B * R, D) @ P["W_m"] + P["b_m"]                  # Eq. 1
        e = torch.relu(P["W_w"][ids] @ P["W_e"] + P["b_e"])                  # Eq. 2-3
        hs = []
        for W, b, rev in ((P["W_f"], P["b_f"], False), (P["W_b"], P["b_b"], True)):
            h = [None] * len(p.steps)
            for t in (range(len(p.steps) - 1, -1, -1) if rev else range(len(p.steps))):
                o, n = p.steps[t]
                z = e[o:o + n] + b
                if not rev and t > 0:
                    z = z + h[t - 1][:n] @ W                                 # Eq. 4
                elif rev and t + 1 < len(p.steps):
                    pn = p.steps[t + 1][1]
                    z = torch.cat([z[:pn] + h[t + 1] @ W, z[pn:]])           # Eq. 5
                h[t] = torch.relu(z)
            hs.append(torch.cat(h))
        s_tm = torch.relu((hs[0] + hs[1]) @ P["W_d"] + P["b_d"])              # Eq. 6
        s = torch.empty_like(s_tm).index_copy(0, tm, s_tm)                   # sentence-major
        m = (s @ v.T).reshape(-1, B, R).amax(dim=2)                          # Eq. 8
        S = torch.zeros(B, B).index_add(1, torch.from_numpy(p.seg), m.T)
        diag = S.diagonal()
        off = 1 - torch.eye(B)
        loss = ((torch.relu(S - diag[:, None] + 1) * off).sum()
                + (torch.relu(S - diag[None, :] + 1) * off).sum()) / B       # Eq. 9
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _clip_decay(torch, P, wd)
        opt.step()
        return loss
    return step


def torch_gen_step(torch, P, batch, opt, p_drop=0.5, wd=1e-6):
    """A training step of the generator in eager PyTorch; P: dict of leaf tensors."""
    F = torch.nn.functional
    feats = torch.from_numpy(batch["feats"])
    inputs = torch.from_numpy(batch["inputs"])
    mask = torch.from_numpy(batch["mask"])
    N, T = inputs.shape
    rows = torch.from_numpy(numpy.flatnonzero(batch["mask"].reshape(-1)))
    targets = torch.from_numpy(batch["targets"]).reshape(-1)[rows]

    def step():
        bv = F.dropout(feats, p_drop) @ P["W_hi"]                            # Eq. 13
        a = F.dropout(P["W_w"][inputs], p_drop) @ P["W_hx"]                  # W_hx x_t
        h, hs = torch.zeros(N, P["W_hh"].shape[0]), []
        for t in range(T):
            h = torch.relu(a[:, t] + (bv if t == 0 else 0) + h @ P["W_hh"] + P["b_h"])  # Eq. 14
            hs.append(h)
        hv = F.dropout(torch.stack(hs, 1).reshape(N * T, -1)[rows], p_drop)
        scores = hv @ P["W_oh"] + P["b_o"]                                   # Eq. 15
        loss = F.cross_entropy(scores, targets, reduction="sum") / N
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _clip_decay(torch, P, wd)
        opt.step()
        return loss
    del mask
    return step


def _clip_decay(torch, P, wd):
    """Elementwise clip at 5, then L2 decay on the matrices, as vsa_np.core.train."""
    with torch.no_grad():
        for p in P.values():
            p.grad.clamp_(-5.0, 5.0)
            if p.ndim >= 2:
                p.grad.add_(p, alpha=wd)


def leaves(torch, params):
    """vsa-np's (host float32) parameters as PyTorch leaf tensors: the same starting point."""
    return {k: torch.tensor(numpy.asarray(v), requires_grad=True) for k, v in params.items()}


def main(argv=None) -> int:
    args = C.parse_args(__doc__, argv=argv)
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed; skipping the comparison. Install it with "
              "`pip install torch==2.13.0` (CPU build) to run bench/vs_torch.py.")
        return 0
    if args.device == "gpu":
        print("error: vs_torch compares CPU builds only (use bench/train_step.py --device gpu)",
              file=sys.stderr)
        return 2
    backend = C.import_backend()
    threads = C.blas_threads()
    torch.set_num_threads(threads)
    sz = args.sizes
    lengths, V, source = C.caption_lengths(quiet=args.json, recorded=args.tiny)
    if args.tiny:
        lengths = numpy.minimum(lengths, 5)
    else:
        sz["vocab"] = V
    L = C.draw_lengths(lengths, sz["batch"], args.seed)
    out = {"machine": C.machine(), "torch": torch.__version__, "torch_threads":
           torch.get_num_threads(), "lengths": source}
    lines = []
    for name in ("align_R20", "align_R1", "gen"):
        if name == "gen":
            ours, model = make_gen(sz, L, args.seed)
            P = leaves(torch, model.params)
            theirs = torch_gen_step(torch, P, caption_batch(sz, L, args.seed),
                                    torch.optim.RMSprop(P.values(), lr=1e-3, alpha=0.999))
        else:
            R = sz["regions"] if name == "align_R20" else 1
            ours, model = make_align(sz, R, L, args.seed)
            P = leaves(torch, model.params)
            theirs = torch_align_step(torch, P, align_batch(sz, R, L, args.seed),
                                      torch.optim.SGD(P.values(), lr=1e-4, momentum=0.9))
        # interleave the two so that a change of machine load hits both alike
        a, b = [], []
        for _ in range(max(1, args.repeats // 2)):
            a.append(C.timeit(ours, repeats=2, warmup=1, sync=backend.synchronize)["median_ms"])
            b.append(C.timeit(theirs, repeats=2, warmup=1)["median_ms"])
        ta, tb = float(numpy.median(a)), float(numpy.median(b))
        # the load of this machine drifts over seconds: the ratio of each back-to-back pair
        # is steadier than the ratio of the two medians; both are reported, and the minima
        paired = float(numpy.median(numpy.array(a) / numpy.array(b)))
        out[name] = {"vsa_np_ms": round(ta, 2), "torch_ms": round(tb, 2),
                     "ratio": round(ta / tb, 3), "paired_ratio": round(paired, 3),
                     "min_ratio": round(min(a) / min(b), 3), "pairs": len(a)}
        lines.append(f"{name:10s} vsa-np {ta:9.1f} ms   PyTorch {tb:9.1f} ms   "
                     f"ratio vsa-np / PyTorch {ta / tb:5.2f} (median of the {len(a)} "
                     f"back-to-back pairs {paired:4.2f}, of the minima {min(a) / min(b):4.2f})")
    m = out["machine"]
    lines.insert(0, f"machine: {m['cpu']}, {m['cores']} cores, {m['blas']}; {threads} threads "
                    f"(NumPy BLAS and torch.set_num_threads), PyTorch {torch.__version__}, "
                    f"load average {m['loadavg']}")
    C.emit(out, args.json, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
