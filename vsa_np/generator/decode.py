"""Decoding captions from the multimodal RNN (Sec. 3.2, "Test time"): greedy, sampling with a
temperature, and beam search (beam size 7 by default, the paper's choice).

All three run batched over images: one matrix product per time step for all images (and all
beams), no per-image Python loop inside a step.

What a caption is. The START token 0 is fed first; words are emitted until END (also 0) or until
`max_len` words, after which END is forced. So every caption is a complete sentence
w_1 .. w_k END with 0 <= k <= max_len, and its reported log probability is exactly

    log p(w_1 .. w_k, END | image) = sum_t log y_t[w_t] + log y_{k+1}[END]     (Eq. 15)

which is what teacher forcing (`CaptionModel.log_probs`) recomputes. Sampling reports this same
(temperature 1) log probability, whatever temperature drew the words.

Beam search keeps, for every image, the K best partial captions as K rows of one (N*K, H) state.
Each step scores all K*V one-word extensions of an image at once and keeps the K best with one
top-k (argpartition) over the flattened (N, K*V) candidate scores. A finished caption stays in
the beam as one candidate with its score unchanged (its row of log probabilities is 0 for END
and -inf elsewhere), so finished and unfinished captions compete on equal terms without any
per-image bookkeeping. An image leaves the batch (its rows are dropped) once all K of its
captions have finished. Beam search is a heuristic: its best caption is usually, not provably,
at least as likely as the greedy one; with K at least the number of possible captions it is
exhaustive (the tests compare it with brute-force enumeration).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy

from vsa_np.backend import to_device, to_host, xp
from vsa_np.generator.model import log_softmax_rows

END = 0


@dataclass
class Captions:
    """Decoded captions of N images, best first: `tokens[i][j]` the word indices of the j-th
    caption of image i (END not included), `logprob[i][j]` its log probability."""
    tokens: list
    logprob: list

    def best(self) -> tuple[list, numpy.ndarray]:
        """(the best caption of every image, their log probabilities as an (N,) array)."""
        return [t[0] for t in self.tokens], numpy.array([lp[0] for lp in self.logprob])


def _chunks(N: int, size: int | None):
    size = N if not size else size
    return [slice(i, min(i + size, N)) for i in range(0, N, size)]


def _first_step(model, feats, table):
    """h_1 and log y_1 for every image: START as the input, b_v added (Eq. 14, t = 1)."""
    a = table[END] + model.image_bias(feats)
    return _step(model, a, xp.zeros_like(a))


def _step(model, a, prev_h):
    h, scores = model.step(a, prev_h)
    return h, log_softmax_rows(scores)


def _one_path(model, feats, max_len: int, pick):
    """Greedy or sampled decoding: `pick(logp) -> (N,) word indices`. -> Captions (1 each)."""
    table = model.input_table()
    N = feats.shape[0]
    words = xp.zeros((N, max_len + 1), dtype=xp.int64)
    total = xp.zeros(N, dtype=table.dtype)
    done = xp.zeros(N, dtype=bool)
    h, logp = _first_step(model, feats, table)
    for t in range(max_len + 1):
        w = pick(logp) if t < max_len else xp.full(N, END, dtype=xp.int64)  # END forced
        w = xp.where(done, END, w)
        total += xp.where(done, 0, logp[xp.arange(N), w])
        words[:, t] = w
        done |= w == END
        if t == max_len or bool(done.all()):
            break
        h, logp = _step(model, table[w], h)
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


def greedy(model, feats, max_len: int = 20, chunk: int | None = 1000) -> Captions:
    """The most likely word at every step. feats: (N, D) -> Captions with one caption each."""
    parts = [_one_path(model, feats[s], max_len, lambda lp: xp.argmax(lp, axis=1))
             for s in _chunks(feats.shape[0], chunk)]
    return _concat(parts)


def sample(model, feats, temperature: float = 1.0, max_len: int = 20, seed: int = 0,
           chunk: int | None = 1000) -> Captions:
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
                chunk: int | None = 1000) -> Captions:
    """The `n_best` (<= beam) most likely captions the beam finds for every image.
    feats: (N, D); images are processed `chunk` at a time to bound memory ((chunk*beam, V))."""
    if beam < 1 or not 1 <= n_best <= beam:
        raise ValueError(f"need beam >= 1 and 1 <= n_best <= beam, got beam={beam}, "
                         f"n_best={n_best}")
    return _concat([_beam_chunk(model, feats[s], beam, max_len, n_best)
                    for s in _chunks(feats.shape[0], chunk)])


def _top_k(cand, k_new: int, V: int):
    """Indices (A, k_new) of the k_new largest entries of every row of cand (A, k*V), best
    first. Costs one comparison pass over cand instead of a selection over it: every image's
    k_new best candidates are at least tau, the k_new-th largest of its k row maxima (those k_new
    rows each hold a candidate >= tau), so only the few candidates >= tau need sorting."""
    A, kV = cand.shape
    k = kV // V
    if k < k_new:                           # first steps (or a vocabulary smaller than the beam)
        top = xp.argpartition(cand, kV - k_new, axis=1)[:, kV - k_new:]
        order = xp.argsort(-xp.take_along_axis(cand, top, axis=1), axis=1)
        return xp.take_along_axis(top, order, axis=1)
    row_max = cand.reshape(A, k, V).max(axis=2)
    tau = xp.partition(row_max, k - k_new, axis=1)[:, k - k_new]
    flat = xp.flatnonzero(cand >= tau[:, None])   # (1-D nonzero is several times faster)
    order = xp.lexsort(xp.stack([-cand.reshape(-1)[flat], flat // kV]))  # by image, best first
    flat = flat[order]
    img, pos = flat // kV, flat % kV
    rank = xp.arange(len(img)) - xp.searchsorted(img, xp.arange(A))[img]
    keep = rank < k_new
    top = xp.empty((A, k_new), dtype=pos.dtype)
    top[img[keep], rank[keep]] = pos[keep]
    return top


def _beam_chunk(model, feats, K: int, max_len: int, n_best: int) -> Captions:
    table = model.input_table()
    V = table.shape[0]
    N = feats.shape[0]
    out_words = numpy.zeros((N, n_best, max_len + 1), dtype=numpy.int64)
    out_lp = numpy.full((N, n_best), -numpy.inf)

    # State of the A active images, k hypotheses each (k = 1 before the first step):
    #   img (A,) their indices; score (A, k); words (A, k, t); done (A, k); h, a (A*k, H)
    img = numpy.arange(N)
    score = xp.zeros((N, 1), dtype=table.dtype)
    words = xp.zeros((N, 1, 0), dtype=xp.int64)
    done = xp.zeros((N, 1), dtype=bool)
    a = table[END] + model.image_bias(feats)     # the input term at t = 1 (Eq. 14)
    h = xp.zeros_like(a)
    stay = xp.where(xp.arange(V) == END, 0, -xp.inf).astype(table.dtype)
    for t in range(max_len + 1):
        A, k = score.shape
        # One step for the unfinished rows only. A finished caption continues only with END,
        # at no cost (its row of log probabilities is `stay`): it competes unchanged.
        flat_done = done.reshape(-1)
        if not bool(flat_done.any()):           # all rows live: no gather, no (A*k, V) copy
            h, logp = _step(model, a, h)
        else:
            live = xp.flatnonzero(~flat_done)
            h_live, logp_live = _step(model, a[live], h[live])
            h[live] = h_live
            logp = xp.empty((A * k, V), dtype=table.dtype)
            logp[flat_done] = stay
            logp[live] = logp_live
        logp = logp.reshape(A, k, V)
        if t == max_len:                        # the last step: END is forced
            logp[:, :, 1:] = -xp.inf
        logp += score[:, :, None]               # candidate scores, in place
        k_new = min(K, k * V)
        top = _top_k(logp.reshape(A, k * V), k_new, V)
        score = xp.take_along_axis(logp.reshape(A, k * V), top, axis=1)
        parent, w = top // V, top % V
        rows = xp.arange(A)[:, None]
        words = xp.concatenate([words[rows, parent], w[:, :, None]], axis=2)
        done = done[rows, parent] | (w == END)
        h = h.reshape(A, k, -1)[rows, parent]   # (A, k_new, H) until the rows are dropped

        # An image is decided once its n_best best captions have finished: the others can only
        # lose probability, so they never overtake them (the result equals running on).
        finished = to_host(done[:, :n_best].all(axis=1)) | (t == max_len)
        if finished.any():                      # write these images out and drop their rows
            f = numpy.flatnonzero(finished)
            fd = to_device(f)
            n = min(n_best, k_new)
            out_words[img[f], :n, :t + 1] = to_host(words[fd, :n])
            out_lp[img[f], :n] = to_host(score[fd, :n])
            keep = to_device(numpy.flatnonzero(~finished))
            img, score, words, done, h = (img[~finished], score[keep], words[keep], done[keep],
                                          h[keep])
        if len(img) == 0:
            break
        h = h.reshape(-1, h.shape[-1])
        a = table[words[:, :, -1].reshape(-1)]
    return _captions(out_words, out_lp)
