"""Image-sentence scores from word-region dot products, Eq. 7 and Eq. 8 (Sec. 3.1.3).

    (8)  S_kl = sum_{t in g_l} max_{i in g_k} v_i . s_t           each word takes its best region
    (7)  S_kl = sum_{t in g_l} sum_{i in g_k} max(0, v_i . s_t)   DeFrag, for comparison

How it is computed, for N images of R regions and L sentences with W words in all (packed):

1. every word against every region of every image, ONE matrix product:
   Q = s (W, M) x v^T (M, N*R)  ->  (W, N*R), viewed as (W, N, R);
2. padded regions (region_mask False) get -inf, so they never win the max of Eq. 8 and add
   max(0, -inf) = 0 to Eq. 7, and no gradient reaches them;
3. reduce over the R regions of each image: the max (remembering its position) or the sum of
   the positive parts -> m (W, N), the score of word w for image n;
4. sum over the words of each sentence: S = m^T (N, W) x G (W, L) with G the 0/1 word-to-
   sentence matrix, one small matrix product.

Backward: dm[w, n] = dS[n, seg[w]]; the gradient of the max goes to the arg-max region only,
written into Q's own buffer (Q is not needed once the forward pass has its max, so no second
array the size of the score tensor is made); then dv = dQ^T s and ds = dQ v are two large
matrix products. The backward pass overwrites the cache's Q: call it once per forward pass.
"""
from __future__ import annotations

import numpy

from vsa_np.alignment.packing import segment_matrix
from vsa_np.backend import to_host, xp

KINDS = ("eq8", "eq7")


def score_forward(v, region_mask, s, seg, n_sent: int, kind: str = "eq8"):
    """v: (N, R, M) region vectors   region_mask: (N, R) bool or None (all valid; host or
    device)   s: (W, M) packed word vectors   seg: (W,) int sentence of each word, in [0, L)
    n_sent: L   kind: "eq8" or "eq7"   ->   S: (N, L), cache."""
    if kind not in KINDS:
        raise ValueError(f"score kind must be one of {KINDS}, got {kind!r}")
    N, R, M = v.shape
    W = s.shape[0]
    v2 = v.reshape(N * R, M)
    Q = s @ v2.T                                    # (W, N*R): all v_i . s_t of the batch
    if region_mask is not None:
        dead = numpy.flatnonzero(~numpy.asarray(to_host(region_mask), dtype=bool).ravel())
        if dead.size:
            Q[:, xp.asarray(dead)] = -xp.inf
    if kind == "eq8":
        # flat positions of each (word, image)'s best region in Q: the only entries with gradient
        best = Q.reshape(W, N, R).argmax(axis=2).ravel() + xp.arange(W * N) * R
        m = Q.reshape(-1)[best].reshape(W, N)       # Eq. 8: max over the regions of image n
    else:
        best = None
        xp.maximum(Q, 0, out=Q)                     # (Q > 0 is all backward needs)
        m = Q.reshape(W, N, R).sum(axis=2)          # Eq. 7: sum of positive parts
    G = segment_matrix(seg, n_sent, Q.dtype)
    S = m.T @ G                                     # Eq. 7 / Eq. 8: sum over each sentence's words
    return S, (v2, s, Q, best, seg, (N, R, M))


def score_backward(dS, cache):
    """dS: (N, L) -> dv (N, R, M), ds (W, M). Consumes the cache (Q is overwritten)."""
    v2, s, Q, best, seg, (N, R, M) = cache
    W = s.shape[0]
    dm = dS.T[seg]                                  # (W, N): each word gets its sentence's dS
    if best is not None:                            # Eq. 8: the arg-max region only
        Q.fill(0)
        Q.reshape(-1)[best] = dm.reshape(-1)
    else:                                           # Eq. 7: every region with v_i . s_t > 0
        Q3 = Q.reshape(W, N, R)
        xp.multiply(Q3 > 0, dm[:, :, None], out=Q3)
    dv = Q.T @ s                                    # (N*R, M)
    ds = Q @ v2                                     # (W, M)
    return dv.reshape(N, R, M), ds


def score_matrix(v, region_mask, s, seg, n_sent: int, kind: str = "eq8",
                 max_entries: int = 1 << 24):
    """Forward only, for evaluation: the (N, L) scores of many images against many sentences.

    The (W, N*R) product is done in blocks of images and sentences of at most `max_entries`
    entries (64 MB in float32), so 1000 images x 5000 sentences fit in memory.
    seg must be non-decreasing (packed sentences), which makes each sentence block a contiguous
    run of words.
    """
    N, R, _ = v.shape
    seg_h = numpy.asarray(to_host(seg))
    starts = numpy.searchsorted(seg_h, numpy.arange(n_sent + 1))  # word range of each sentence
    S = xp.empty((N, n_sent), dtype=v.dtype)
    mask = None if region_mask is None else numpy.asarray(to_host(region_mask), dtype=bool)
    n_img = max(1, min(N, max_entries // max(1, R * min(len(seg_h), 4096))))
    for i0 in range(0, N, n_img):
        i1 = min(N, i0 + n_img)
        words_per_block = max(1, max_entries // ((i1 - i0) * R))
        l0 = 0
        while l0 < n_sent:
            # as many whole sentences as fit (at least one)
            l1 = max(l0 + 1, int(numpy.searchsorted(starts, starts[l0] + words_per_block,
                                                    side="right")) - 1)
            l1 = min(l1, n_sent)
            w0, w1 = int(starts[l0]), int(starts[l1])
            S[i0:i1, l0:l1], _ = score_forward(v[i0:i1], None if mask is None else mask[i0:i1],
                                               s[w0:w1], seg[w0:w1] - l0, l1 - l0, kind)
            l0 = l1
    return S
