"""Decoding captions from the multimodal RNN (Sec. 3.2, "Test time"): greedy, sampling with a
temperature, and beam search (beam size 7 by default, the paper's choice). All three run batched
over images: one matrix product per time step for all images and beams, no per-image loop.

What a caption is. START (index 0) is fed first; words are emitted until END (also index 0) or
until `max_len` words, after which END is forced. So every caption is w_1 .. w_k END with
0 <= k <= max_len, and its reported log probability is exactly

    log p(w_1 .. w_k, END | image) = sum_t log y_t[w_t] + log y_{k+1}[END]     (Eq. 15)

which teacher forcing (`CaptionModel.log_probs`) recomputes. Sampling reports this same
(temperature 1) log probability, whatever temperature drew the words.

Beam search keeps the K best partial captions of every image as K rows of one (N*K, H) state
(`_BeamState`). One step (`_beam_chunk`): Eq. 14 for the unfinished rows; the K*V one-word
extensions of each image scored as logits plus a per-row offset, never writing out the log
softmax (`_extend`), block by block of rows; the K best kept by a threshold top-k (`_top_k`). A
finished caption stays in the beam with its score unchanged (log y = 0 for END, -inf elsewhere),
so finished and unfinished captions compete without per-image bookkeeping; an image leaves the
batch once its best captions have finished. Beam search is a heuristic: its best caption is
usually, not provably, at least as likely as the greedy one (the tests compare it with
brute-force enumeration where K covers every caption).

On the CPU the images are split over the cores, each share decoded in its own thread with a
one-thread BLAS (`vsa_np/blas_threads.py`), because half of every step is element-wise NumPy
work that runs on one core only. Measurements, and how the block sizes were chosen:
docs/benchmarks.md, "Beam search".
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy

from vsa_np import blas_threads
from vsa_np.backend import on_gpu, to_device, to_host, xp
from vsa_np.data.vocab import END
from vsa_np.layers import log_softmax


@dataclass
class Captions:
    """Decoded captions of N images, best first: `tokens[i][j]` the word indices of the j-th
    caption of image i (END not included), `logprob[i][j]` its log probability."""
    tokens: list
    logprob: list

    def best(self) -> tuple[list, numpy.ndarray]:
        """(the best caption of every image, their log probabilities as an (N,) array)."""
        return [t[0] for t in self.tokens], numpy.array([lp[0] for lp in self.logprob])


@dataclass
class _BeamState:
    """The A images still being decoded by `_beam_chunk`, k partial captions (rows) each."""
    img: numpy.ndarray      # (A,) host: their indices into the chunk
    score: object           # (A, k) log probability of each partial caption so far
    words: object           # (A, k, t) its words
    done: object            # (A, k) bool: it has emitted END
    h: object               # (A*k, H) its hidden state (A, k, H while rows are regathered)

    def keep(self, mask: numpy.ndarray) -> "_BeamState":
        """The images where the host bool array `mask` (A,) is True."""
        rows = to_device(numpy.flatnonzero(mask))
        return _BeamState(self.img[mask], self.score[rows], self.words[rows], self.done[rows],
                          self.h[rows])


# Images decoded together by default: bounds the (chunk * beam, V) logits of a step (7000 x 2538
# float32 is 71 MB at beam 7) while keeping the matrix products large.
CHUNK_IMAGES = 1000


def _chunks(N: int, size: int | None, start: int = 0):
    """Slices of at most `size` images covering start .. N."""
    size = (N - start) if not size else size
    return [slice(i, min(i + size, N)) for i in range(start, N, max(size, 1))]


def _first_step(model, bv, table):
    """h_1 and log y_1 for every image: START as the input, b_v added (Eq. 14, t = 1)."""
    a = model.step_input(table[END], bv, first=True)
    return _step(model, a, model.initial_state(a.shape[0]))


def _step(model, a, prev_h):
    h, scores = model.step(a, prev_h)
    return h, log_softmax(scores, inplace=True)


def _one_path(model, feats, max_len: int, pick):
    """Greedy or sampled decoding: `pick(logp) -> (N,) word indices`. -> Captions (1 each)."""
    table = model.input_table()
    N = feats.shape[0]
    words = xp.zeros((N, max_len + 1), dtype=xp.int64)
    total = xp.zeros(N, dtype=table.dtype)
    done = xp.zeros(N, dtype=bool)
    bv = model.image_bias(feats)
    h, logp = _first_step(model, bv, table)
    for t in range(max_len + 1):
        w = pick(logp) if t < max_len else xp.full(N, END, dtype=xp.int64)  # END forced
        w = xp.where(done, END, w)
        total += xp.where(done, 0, logp[xp.arange(N), w])
        words[:, t] = w
        done |= w == END
        if t == max_len or bool(done.all()):
            break
        h, logp = _step(model, model.step_input(table[w], bv, first=False), h)
    return _captions(to_host(words)[:, None, :], to_host(total)[:, None])


def _captions(words, logprob) -> Captions:
    """(N, n, L) word arrays (END-padded) and (N, n) log probs -> Captions, dropping the -inf
    entries (impossible captions, only when the vocabulary is smaller than the beam)."""
    tokens, lps = [], []
    for w_img, lp_img in zip(words, logprob):
        keep = numpy.isfinite(lp_img)
        tokens.append([_until_end(w) for w in w_img[keep]])
        lps.append([float(v) for v in lp_img[keep]])
    return Captions(tokens, lps)


def _until_end(w) -> list[int]:
    ends = numpy.flatnonzero(w == END)
    return [int(v) for v in (w[:ends[0]] if len(ends) else w)]


def greedy(model, feats, max_len: int = 20, chunk: int | None = CHUNK_IMAGES) -> Captions:
    """The most likely word at every step. feats: (N, D) -> Captions with one caption each."""
    parts = [_one_path(model, feats[s], max_len, lambda lp: xp.argmax(lp, axis=1))
             for s in _chunks(feats.shape[0], chunk)]
    return _concat(parts)


def sample(model, feats, temperature: float = 1.0, max_len: int = 20, seed: int = 0,
           chunk: int | None = CHUNK_IMAGES) -> Captions:
    """Words drawn from softmax(log y_t / temperature) (Gumbel-max: argmax of the tempered log
    probabilities plus Gumbel noise). Reported log probabilities are the model's own."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    g = xp.random.default_rng(seed)

    def pick(logp):
        gumbel = -xp.log(-xp.log(g.random(logp.shape, dtype=logp.dtype) + 1e-20) + 1e-20)
        return xp.argmax(logp / temperature + gumbel, axis=1)

    return _concat([_one_path(model, feats[s], max_len, pick)
                    for s in _chunks(feats.shape[0], chunk)])


def _concat(parts) -> Captions:
    return Captions(sum((p.tokens for p in parts), []), sum((p.logprob for p in parts), []))


def beam_search(model, feats, beam: int = 7, max_len: int = 20, n_best: int = 1,
                chunk: int | None = CHUNK_IMAGES, workers: int | None = None) -> Captions:
    """The `n_best` (<= beam) most likely captions the beam finds for every image.
    feats: (N, D); images are processed `chunk` at a time to bound memory ((chunk*beam, V)).

    workers: CPU threads, each decoding its own contiguous share of the images with a
    one-thread BLAS (`vsa_np.blas_threads`); None: one per core where NumPy's BLAS lets its
    thread count be set, else 1. Always 1 on a GPU. Images are decoded independently, so the
    split changes the speed only: the element-wise half of every step (log softmax, top-k)
    runs on all cores instead of one."""
    if beam < 1 or not 1 <= n_best <= beam:
        raise ValueError(f"need beam >= 1 and 1 <= n_best <= beam, got beam={beam}, "
                         f"n_best={n_best}")
    N = feats.shape[0]

    def decode(part: slice) -> list:
        return [_beam_chunk(model, feats[s], beam, max_len, n_best)
                for s in _chunks(part.stop, chunk, part.start)]

    n = _n_workers(workers, N)
    if n == 1:
        return _concat(decode(slice(0, N)))
    parts = [slice(N * i // n, N * (i + 1) // n) for i in range(n)]
    with blas_threads.limited(1), ThreadPoolExecutor(n) as pool:
        return _concat(sum(pool.map(decode, parts), []))


def _n_workers(workers: int | None, N: int) -> int:
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if on_gpu:                          # one stream of kernels: threads would only contend
        return 1
    if workers is None:
        workers = blas_threads.cores() if blas_threads.available() else 1
    return max(1, min(workers, N))


# Rows of logits scored together on the CPU: a (BLOCK_ROWS, V) block and its exp stay in cache
# while the block is reduced, instead of streaming a (N*K, V) array through memory ten times.
# 1024 (146 images at beam 7) was the fastest of 256 / 1024 / 2048 / all (docs/benchmarks.md).
BLOCK_ROWS = 1024

# The top-k threshold is lowered by this much, relative to the size of the numbers compared (see
# `_top_k`): about 8 float32 ulps (float32 epsilon is 1.2e-7), more than the rounding of the two
# additions it guards, so no candidate is lost; in float64 it only lets a few more near-ties in.
TOP_K_MARGIN = 1e-6


def _top_k(s, off, row_max, k: int, k_new: int):
    """The k_new best candidates of every image, where image i's candidates are the k*V entries
    of its k rows of s (A*k, V) plus each row's offset off (A*k,): cand = s + off[:, None],
    never formed. row_max (A*k,): the maximum of each row of s.
    -> (positions (A, k_new) into the image's k*V candidates, best first; their values).

    One comparison pass over s instead of a selection over it: every image's k_new best
    candidates are at least tau, the k_new-th largest of its k row maxima (row_max + off: those
    k_new rows each hold a candidate >= tau), so only the few entries of s above tau - off need
    sorting.

    Why the margin: the test `s >= tau - off` equals `s + off >= tau` in exact arithmetic, but
    tau was computed as row_max + off and each side rounds (to float32 on the default path), so
    a candidate equal to tau could fail the test by an ulp and an image end up with fewer than
    k_new candidates. Lowering the threshold by TOP_K_MARGIN * (|thr| + |off| + 1) makes the
    selected set a superset; the extra near-ties are sorted and ranked out with the rest."""
    rows, V = s.shape
    A = rows // k
    if k < k_new:                           # first step (or a vocabulary smaller than the beam)
        cand = (s + off[:, None]).reshape(A, k * V)
        top = xp.argpartition(cand, k * V - k_new, axis=1)[:, k * V - k_new:]
        order = xp.argsort(-xp.take_along_axis(cand, top, axis=1), axis=1)
        top = xp.take_along_axis(top, order, axis=1)
        return top, xp.take_along_axis(cand, top, axis=1)
    tau = xp.partition((row_max + off).reshape(A, k), k - k_new, axis=1)[:, k - k_new]
    thr = xp.repeat(tau, k) - off
    thr -= TOP_K_MARGIN * (xp.abs(thr) + xp.abs(off) + 1)
    flat = xp.flatnonzero(s >= thr[:, None])    # (1-D nonzero is several times faster)
    vals = s.reshape(-1)[flat] + off[flat // V]
    order = xp.lexsort(xp.stack([-vals, flat // (k * V)]))     # by image, best first
    flat, vals = flat[order], vals[order]
    img, pos = flat // (k * V), flat % (k * V)
    rank = xp.arange(len(img)) - xp.searchsorted(img, xp.arange(A))[img]
    keep = rank < k_new
    top = xp.empty((A, k_new), dtype=pos.dtype)
    best = xp.empty((A, k_new), dtype=s.dtype)
    top[img[keep], rank[keep]] = pos[keep]
    best[img[keep], rank[keep]] = vals[keep]
    return top, best


def _extend(model, h, score, done, k_new: int, last: bool):
    """The k_new best one-word extensions of each image's k partial captions.

    h: (A*k, H) states after this step's Eq. 14; score: (A, k) log probabilities so far; done:
    (A*k,) bool, finished captions (they may only continue with END, at no cost); last: END is
    forced. -> (positions (A, k_new) into each image's k*V extensions, their scores (A, k_new)).

    The extension (row r, word w) scores score[r] + log y[w] = s[r, w] + off[r], with s the logits
    of Eq. 15 and off[r] = score[r] - logsumexp(s[r]): the log softmax is never written out. Rows
    are scored a block of whole images at a time (all at once on a GPU).
    """
    A, k = score.shape
    W = model.params["W_oh"]
    V = W.shape[1]
    per = A if on_gpu else max(1, BLOCK_ROWS // k)      # images per block
    tops, bests = [], []
    for i0 in range(0, A, per):
        r0, r1 = i0 * k, min(A, i0 + per) * k
        d = done[r0:r1]
        if bool(d.any()):                   # finished rows: log y = 0 at END, -inf elsewhere
            s = xp.full((r1 - r0, V), -xp.inf, dtype=W.dtype)
            s[d, END] = 0
            live = xp.flatnonzero(~d)
            s[live] = model.logits(h[r0:r1][live])
        else:
            s = model.logits(h[r0:r1])
        m = s.max(axis=1)
        e = s - m[:, None]
        xp.exp(e, out=e)
        off = score.reshape(-1)[r0:r1] - m - xp.log(e.sum(axis=1))    # Eq. 15: log softmax
        if last:                            # only END: k candidates per image
            cand = (s[:, END] + off).reshape(-1, k)
            top = xp.argsort(-cand, axis=1)[:, :min(k_new, k)]
            tops.append(top * V + END)
            bests.append(xp.take_along_axis(cand, top, axis=1))
        else:
            top, best = _top_k(s, off, m, k, k_new)
            tops.append(top)
            bests.append(best)
    if len(tops) == 1:
        return tops[0], bests[0]
    return xp.concatenate(tops), xp.concatenate(bests)


def _beam_chunk(model, feats, K: int, max_len: int, n_best: int) -> Captions:
    """Beam search of width K over the images feats (N, D) -> their n_best captions.

    The state holds the A images still being decoded, k partial captions (rows) each; k = 1
    before the first step, K after it. One step t:
      1. Eq. 14: h = f(a + W_hh h + b_h) for the unfinished rows, a = W_hx x the input term
         (a row of `model.input_table()`, plus b_v at t = 1); a finished row keeps its h: it
         will only be extended by END, at no cost.
      2. `_extend`: of each image's k*V one-word extensions, the K best (score + log y_t[w],
         Eq. 15), as positions parent * V + w into the image's k rows and V words.
      3. Every row becomes its parent's caption plus w (words, done and h gathered by parent).
      4. Images whose n_best best captions have all finished are written out and dropped: the
         unfinished ones can only lose probability, so the result equals running on.
      5. The next input x of every row is the embedding of its last word.
    At t = max_len only END is allowed, so every image finishes."""
    table = model.input_table()
    V = table.shape[0]
    N = feats.shape[0]
    out_words = numpy.zeros((N, n_best, max_len + 1), dtype=numpy.int64)
    out_lp = numpy.full((N, n_best), -numpy.inf)

    bv = model.image_bias(feats)
    a = model.step_input(table[END], bv, first=True)  # the input term at t = 1 (Eq. 14)
    # k = 1 row per image before the first step, K after it
    b = _BeamState(img=numpy.arange(N), score=xp.zeros((N, 1), dtype=table.dtype),
                   words=xp.zeros((N, 1, 0), dtype=xp.int64), done=xp.zeros((N, 1), dtype=bool),
                   h=model.initial_state(N))
    for t in range(max_len + 1):
        A, k = b.score.shape
        # 1. Eq. 14 for the unfinished rows only: a finished caption continues only with END,
        # at no cost, so it competes unchanged.
        flat_done = b.done.reshape(-1)
        if not bool(flat_done.any()):           # all rows live: no gather
            b.h = model.hidden_step(a, b.h)
        else:
            live = xp.flatnonzero(~flat_done)
            b.h[live] = model.hidden_step(a[live], b.h[live])
        # 2. the K best extensions of every image
        top, b.score = _extend(model, b.h, b.score, flat_done, min(K, k * V), last=t == max_len)
        k_new = top.shape[1]
        # 3. every row becomes its parent's caption plus the word w
        parent, w = top // V, top % V
        rows = xp.arange(A)[:, None]
        b.words = xp.concatenate([b.words[rows, parent], w[:, :, None]], axis=2)
        b.done = b.done[rows, parent] | (w == END)
        b.h = b.h.reshape(A, k, -1)[rows, parent]   # (A, k_new, H) until the rows are dropped

        # 4. an image is decided once its n_best best captions have finished: the others can
        # only lose probability, so they never overtake them (the result equals running on)
        finished = to_host(b.done[:, :n_best].all(axis=1)) | (t == max_len)
        if finished.any():                      # write these images out and drop their rows
            f = numpy.flatnonzero(finished)
            fd = to_device(f)
            n = min(n_best, k_new)
            out_words[b.img[f], :n, :t + 1] = to_host(b.words[fd, :n])
            out_lp[b.img[f], :n] = to_host(b.score[fd, :n])
            b = b.keep(~finished)
        if len(b.img) == 0:
            break
        # 5. the next input: each row's last word
        b.h = b.h.reshape(-1, b.h.shape[-1])
        a = table[b.words[:, :, -1].reshape(-1)]
        if model.image_every_step:              # each row's image's b_v again (the option)
            k_rows = b.words.shape[1]
            a = model.step_input(a, xp.repeat(bv[to_device(b.img)], k_rows, axis=0), first=False)
    return _captions(out_words, out_lp)
