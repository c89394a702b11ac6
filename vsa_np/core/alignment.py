"""The alignment model of Sec. 3.1: image regions (Eq. 1) and the words of a sentence (the
bidirectional RNN, Eq. 2-6) embedded in one h-dimensional space, image-sentence scores from
their dot products (Eq. 8, or Eq. 7), and the bidirectional ranking loss (Eq. 9).

    model = AlignmentModel(vocab_size=2538, image_dim=4096)
    loss, grads = model.loss(batch)        # a ranking batch of B (image, sentence) pairs

Parameters, named as in the paper (D CNN size, V words, E word size, H BRNN size, M = h):

    W_m (D, M), b_m    Eq. 1  region embedding        W_f (H, H), b_f   Eq. 4  forward RNN
    W_w (V, E)         Eq. 2  word vectors            W_b (H, H), b_b   Eq. 5  backward RNN
    W_e (E, H), b_e    Eq. 3  word -> BRNN input      W_d (H, M), b_d   Eq. 6  -> the space
"""
from typing import NamedTuple

import numpy

from vsa_np.backend import float_dtype, rng as make_rng, to_device, to_host, xp
from vsa_np.core.layers import (affine_backward, affine_forward, dropout_backward,
                                dropout_forward, embedding_backward, embedding_forward,
                                relu_backward, relu_forward, rnn_backward, rnn_forward)

SCORES = ("eq8", "eq7")


def param_shapes(vocab_size, image_dim, word_dim, hidden, embed):
    """Parameter name -> shape (the table of the module docstring)."""
    E, H, M = word_dim, hidden, embed
    return {"W_m": (image_dim, M), "W_w": (vocab_size, E), "W_e": (E, H), "W_f": (H, H),
            "W_b": (H, H), "W_d": (H, M), "b_m": (M,), "b_e": (H,), "b_f": (H,), "b_b": (H,),
            "b_d": (M,)}


def init_params(vocab_size, image_dim, word_dim, hidden, embed, seed=0, dtype=None):
    """He scales into a ReLU, 1 / sqrt(fan_in) into Eq. 1, half the He scale for the recurrences
    (h neither explodes nor dies over a sentence), 0.1 for the word vectors, zero biases."""
    g = numpy.random.default_rng(seed)
    shapes = param_shapes(vocab_size, image_dim, word_dim, hidden, embed)
    std = {"W_m": (1 / image_dim) ** 0.5, "W_w": 0.1, "W_e": (2 / word_dim) ** 0.5,
           "W_f": 0.5 * (2 / hidden) ** 0.5, "W_b": 0.5 * (2 / hidden) ** 0.5,
           "W_d": (2 / hidden) ** 0.5}
    p = {k: g.standard_normal(shapes[k]) * s for k, s in std.items()}
    p.update({k: numpy.zeros(shape) for k, shape in shapes.items() if k.startswith("b_")})
    return {k: to_device(v, dtype or float_dtype()) for k, v in p.items()}


def region_embed_forward(regions, W, b, p_drop=0.0, train=False, rng=None, norm=None):
    """Eq. 1, v = W_m CNN(I_b) + b_m, with dropout on the features (Sec. 3.3).
    regions: (N, R, D)  W: (D, M)  b: (M,)  norm: the fixed feature map (feature_norm.py) or
    None  ->  v: (N, R, M), cache"""
    N, R, D = regions.shape
    x = regions.reshape(N * R, D)
    if norm is not None:
        x = norm(x)
    x, _ = dropout_forward(x, p_drop, train, rng)
    v = x @ W + b                                                                   # Eq. 1
    return v.reshape(N, R, -1), x


def region_embed_backward(dv, cache):
    """dv: (N, R, M) -> dW (D, M), db (M,). The CNN features are inputs: no gradient for them."""
    x = cache
    dv = dv.reshape(x.shape[0], -1)
    return x.T @ dv, dv.sum(axis=0)


def sentence_lengths(word_mask):
    """(B,) lengths of a left-aligned (B, T) word mask."""
    m = numpy.asarray(to_host(word_mask), dtype=bool)
    lengths = m.sum(axis=1)
    if (m != (numpy.arange(m.shape[1]) < lengths[:, None])).any():
        raise ValueError("word_mask must be left-aligned: padding only at the end of each row")
    return lengths


def _sorted_layout(rows, slot, B, T):
    """(W, H) word rows -> (B, T, H) sentences sorted by length, zero padded, stored time-major."""
    out = xp.zeros((T * B, rows.shape[1]), dtype=rows.dtype)
    out[slot] = rows
    return out.reshape(T, B, -1).transpose(1, 0, 2)


class BrnnCache(NamedTuple):
    """What `brnn_backward` needs: where each word sits in the sorted layout, each layer's cache."""
    slot: object        # (W,) each word's row in the time-major layout of the sorted sentences
    shape: tuple        # (B, T)
    embed: tuple        # Eq. 2
    drop_x: object
    affine_e: tuple     # Eq. 3
    relu_e: object      # e, the output of Eq. 3
    forward: tuple      # Eq. 4: (h^f, ...), h^f (B, T, H) in the sorted layout
    backward: tuple     # Eq. 5: (h^b, ...)
    drop_h: object
    affine_d: tuple     # Eq. 6
    relu_s: object


def brnn_forward(words, lengths, params, p_drop=0.0, train=False, rng=None):
    """Eq. 2-6: words (B, T) int, left-aligned, lengths (B,) host ints -> s (W, M) the vectors
    of the W words, sentence after sentence, seg (W,) the sentence of each, cache. Eq. 2, 3 and 6
    are one product over the W words; the recurrences run on the sentences sorted by length."""
    B, T = words.shape
    flat = numpy.flatnonzero(numpy.arange(T) < lengths[:, None])      # (W,) the words
    order = numpy.argsort(-lengths, kind="stable")
    rank = numpy.argsort(order)
    # each word's place among the sorted sentences, time-major: a step's rows are contiguous
    slot = to_device((flat % T) * B + rank[flat // T])
    ids = to_device(words).reshape(-1)[to_device(flat)]
    x, c_emb = embedding_forward(ids, params["W_w"])                                # Eq. 2
    x, c_dx = dropout_forward(x, p_drop, train, rng)
    e, c_e = affine_forward(x, params["W_e"], params["b_e"])
    e, c_re = relu_forward(e)                                                       # Eq. 3
    e_sorted = _sorted_layout(e, slot, B, T)
    hf, c_f = rnn_forward(e_sorted, params["W_f"], params["b_f"], lengths[order])    # Eq. 4
    hb, c_b = rnn_forward(e_sorted, params["W_b"], params["b_b"], lengths[order], True)  # Eq. 5
    hsum = (hf + hb).transpose(1, 0, 2).reshape(T * B, -1)[slot]
    hsum, c_dh = dropout_forward(hsum, p_drop, train, rng)
    z, c_d = affine_forward(hsum, params["W_d"], params["b_d"])
    s, c_rs = relu_forward(z)                                                       # Eq. 6
    return s, to_device(flat // T), BrnnCache(slot, (B, T), c_emb, c_dx, c_e, c_re, c_f, c_b,
                                              c_dh, c_d, c_rs)


def brnn_backward(ds, cache):
    """ds: (W, M) -> grads of W_w, W_e, b_e, W_f, b_f, W_b, b_b, W_d, b_d (a dict)."""
    c, g = cache, {}
    (B, T), slot = c.shape, c.slot
    dz = relu_backward(ds, c.relu_s)                                                # Eq. 6
    dh, g["W_d"], g["b_d"] = affine_backward(dz, c.affine_d)
    dh_sorted = _sorted_layout(dropout_backward(dh, c.drop_h), slot, B, T)  # to h^f and h^b
    de_f, g["W_f"], g["b_f"] = rnn_backward(dh_sorted, c.forward)                   # Eq. 4
    de_b, g["W_b"], g["b_b"] = rnn_backward(dh_sorted, c.backward)                  # Eq. 5
    de = (de_f + de_b).transpose(1, 0, 2).reshape(T * B, -1)[slot]   # e_t feeds both
    dx, g["W_e"], g["b_e"] = affine_backward(relu_backward(de, c.relu_e), c.affine_e)  # Eq. 3
    g["W_w"] = embedding_backward(dropout_backward(dx, c.drop_x), c.embed)          # Eq. 2
    return g


def score_forward(v, region_mask, s, seg, n_sent, kind="eq8"):
    """Image-sentence scores of N images and L sentences:
        Eq. 8: S_kl = sum_{t in g_l} max_{i in g_k} v_i . s_t      each word its best region
        Eq. 7: S_kl = sum_{t in g_l} sum_{i in g_k} max(0, v_i . s_t)
    v: (N, R, M)  region_mask: (N, R) bool or None  s: (W, M)  seg: (W,) in [0, L)
    -> S: (N, L), cache (whose Q buffer `score_backward` reuses)"""
    N, R, M = v.shape
    W = s.shape[0]
    v2 = v.reshape(N * R, M)
    Q = s @ v2.T                                   # (W, N*R): every v_i . s_t, one product
    if region_mask is not None:                    # padded regions never win, add nothing
        dead = numpy.flatnonzero(~numpy.asarray(to_host(region_mask), dtype=bool).ravel())
        if dead.size:
            Q[:, to_device(dead)] = -xp.inf
    if kind == "eq8":
        best = Q.reshape(W, N, R).argmax(axis=2).ravel() + xp.arange(W * N) * R
        m = Q.reshape(-1)[best].reshape(W, N)                                       # Eq. 8
    else:
        best = None
        xp.maximum(Q, 0, out=Q)
        m = Q.reshape(W, N, R).sum(axis=2)                                          # Eq. 7
    G = (seg[:, None] == xp.arange(n_sent)[None, :]).astype(Q.dtype)  # word -> its sentence
    return m.T @ G, (v2, s, Q, best, seg, (N, R, M))


def score_backward(dS, cache):
    """dS: (N, L) -> dv (N, R, M), ds (W, M). Overwrites the cache's Q: call once per forward."""
    v2, s, Q, best, seg, (N, R, M) = cache
    dm = dS.T[seg]                                 # (W, N): each word its sentence's dS
    if best is not None:                           # Eq. 8: the arg-max region only
        Q.fill(0)
        Q.reshape(-1)[best] = dm.reshape(-1)
    else:                                          # Eq. 7: every region with v_i . s_t > 0
        Q3 = Q.reshape(len(seg), N, R)
        xp.multiply(Q3 > 0, dm[:, :, None], out=Q3)
    return (Q.T @ s).reshape(N, R, M), Q @ v2


def ranking_loss(S, margin=1.0):
    """Eq. 9 over B true pairs on the diagonal of S (B, B), l != k:
        C = sum_k [sum_l max(0, S_kl - S_kk + 1) + sum_l max(0, S_lk - S_kk + 1)]
    -> C / B (per pair: the learning rate does not depend on B), dS (B, B)."""
    B = S.shape[0]
    diag = xp.diagonal(S)
    rows = xp.maximum(S - diag[:, None] + margin, 0)   # sentence l against image k's own
    cols = xp.maximum(S - diag[None, :] + margin, 0)   # image l against sentence k's own
    xp.fill_diagonal(rows, 0)
    xp.fill_diagonal(cols, 0)
    loss = (rows.sum() + cols.sum()) / B                                            # Eq. 9
    on_r, on_c = (rows > 0).astype(S.dtype), (cols > 0).astype(S.dtype)
    dS = on_r + on_c
    dS[xp.arange(B), xp.arange(B)] = -(on_r.sum(axis=1) + on_c.sum(axis=0))
    return loss, dS / B


class AlignmentModel:
    """`params`, `loss(batch) -> (loss, grads)` with dropout while `training` (masks from `rng`),
    and what retrieval and the MRF read. `norm`: the fixed feature map before Eq. 1."""

    KIND, TRAINER = "alignment", "train-align"

    def __init__(self, vocab_size, image_dim, word_dim=300, hidden=500, embed=1000, score="eq8",
                 dropout=0.0, seed=0, dtype=None, params=None, norm=None):
        if score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {score!r}")
        self.arch = dict(vocab_size=int(vocab_size), image_dim=int(image_dim),
                         word_dim=int(word_dim), hidden=int(hidden), embed=int(embed), score=score)
        self.dtype, self.dropout = dtype or float_dtype(), float(dropout)
        self.training, self.rng = False, make_rng(seed + 1)
        if params is None:
            params = init_params(vocab_size, image_dim, word_dim, hidden, embed, seed, self.dtype)
        got = {k: tuple(v.shape) for k, v in params.items()}
        if got != param_shapes(vocab_size, image_dim, word_dim, hidden, embed):
            raise ValueError(f"parameter shapes {got} do not fit the architecture {self.arch}")
        self.params = {k: to_device(v, self.dtype) for k, v in params.items()}
        self.norm = None if norm is None else norm.to(self.dtype)
        if self.norm is not None and self.norm.dim != image_dim:
            raise ValueError(f"the feature map is for {self.norm.dim}-d features, the model "
                             f"reads {image_dim}-d ones")

    @classmethod
    def from_params(cls, params, arch, dtype=None, norm=None):
        return cls(**arch, params=params, dtype=dtype, norm=norm)

    def loss(self, batch):
        """batch: "regions" (B, R, D), "region_mask" (B, R), "words" (B, T), "word_mask" (B, T)
        -> the Eq. 9 cost per pair (0-d, left on the device), grads keyed like `params`."""
        P, drop, train, rng = self.params, self.dropout, self.training, self.rng
        regions = to_device(batch["regions"], self.dtype)
        lengths = sentence_lengths(batch["word_mask"])
        v, c_v = region_embed_forward(regions, P["W_m"], P["b_m"], drop, train, rng, self.norm)
        s, seg, c_s = brnn_forward(batch["words"], lengths, P, drop, train, rng)
        S, c_S = score_forward(v, batch.get("region_mask"), s, seg, len(lengths),
                               self.arch["score"])                                  # Eq. 8
        loss, dS = ranking_loss(S)                                                  # Eq. 9
        dv, ds = score_backward(dS, c_S)
        grads = brnn_backward(ds, c_s)
        grads["W_m"], grads["b_m"] = region_embed_backward(dv, c_v)
        return loss, grads

    def embed_regions(self, regions):
        """regions: (N, R, D) -> v: (N, R, M), Eq. 1 without dropout."""
        v, _ = region_embed_forward(to_device(regions, self.dtype), self.params["W_m"],
                                    self.params["b_m"], norm=self.norm)
        return v

    def embed_sentences(self, words, word_mask):
        """words, word_mask: (L, T) -> s (W, M) the word vectors of Eq. 6, seg (W,) their
        sentences (non-decreasing). No dropout."""
        s, seg, _ = brnn_forward(words, sentence_lengths(word_mask), self.params)
        return s, seg

    def scores(self, v, region_mask, s, seg, n_sent, kind=None, max_entries=1 << 24):
        """The (N, L) scores of many images and sentences (Eq. 8 or 7) in blocks of at most
        `max_entries` products. seg must be non-decreasing."""
        kind = kind or self.arch["score"]
        N, R, _ = v.shape
        starts = numpy.searchsorted(numpy.asarray(to_host(seg)), numpy.arange(n_sent + 1))
        mask = None if region_mask is None else numpy.asarray(to_host(region_mask), dtype=bool)
        S = xp.empty((N, n_sent), dtype=v.dtype)
        n_img = max(1, min(N, max_entries // max(1, R * min(int(starts[-1]), 4096))))
        for i0 in range(0, N, n_img):
            i1 = min(N, i0 + n_img)
            words_per_block, l0 = max(1, max_entries // ((i1 - i0) * R)), 0
            while l0 < n_sent:                     # as many whole sentences as fit, at least one
                l1 = min(n_sent, max(l0 + 1, int(numpy.searchsorted(
                    starts, starts[l0] + words_per_block, side="right")) - 1))
                w0, w1 = int(starts[l0]), int(starts[l1])
                S[i0:i1, l0:l1], _ = score_forward(v[i0:i1], None if mask is None else
                                                   mask[i0:i1], s[w0:w1], seg[w0:w1] - l0,
                                                   l1 - l0, kind)
                l0 = l1
        return S

    def word_region_scores(self, regions, words):
        """regions (R, D) and words (T,) of one image and sentence -> the (T, R) v_i . s_t."""
        v = self.embed_regions(regions[None])[0]
        s, _ = self.embed_sentences(numpy.asarray(words)[None], numpy.ones((1, len(words)), bool))
        return s @ v.T
