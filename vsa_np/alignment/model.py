"""The alignment model of Sec. 3.1: regions (Eq. 1) and words (BRNN, Eq. 2-6) embedded in one
h-dimensional space, image-sentence scores (Eq. 8, or Eq. 7 for comparison), and the
bidirectional ranking loss (Eq. 9).

    model = AlignmentModel(vocab_size=2538, image_dim=4096)
    loss, grads = model.loss(batch)          # a ranking batch (see vsa_np.data.batching)

`params` is one flat dict of named arrays; `grads` is keyed the same way, which is what lets the
gradient checker and the optimiser treat every model alike. Parameter names follow the paper:

    W_m (D, M), b_m        Eq. 1   region embedding               D CNN size, M = h
    W_w (V, E)             Eq. 2   word vectors                   V vocabulary, E word size
    W_e (E, H), b_e        Eq. 3   word -> BRNN input             H BRNN hidden size
    W_f (H, H), b_f        Eq. 4   forward recurrence
    W_b (H, H), b_b        Eq. 5   backward recurrence
    W_d (H, M), b_d        Eq. 6   BRNN -> multimodal space
"""
from __future__ import annotations


import numpy

from vsa_np.alignment.brnn import brnn_backward, brnn_forward
from vsa_np.alignment.packing import pack
from vsa_np.alignment.ranking_loss import ranking_loss
from vsa_np.alignment.region_embed import region_embed_backward, region_embed_forward
from vsa_np.alignment.score import KINDS, score_backward, score_forward, score_matrix
from vsa_np.backend import float_dtype, rng as make_rng, to_device, xp
from vsa_np.errors import DataError
from vsa_np.feature_norm import FeatureNorm
from vsa_np.trained import load_trained

ARCH_KEYS = ("vocab_size", "image_dim", "word_dim", "hidden", "embed", "score")


def init_params(vocab_size, image_dim, word_dim, hidden, embed, seed=0, dtype=None):
    """Random initial parameters. Weights into a ReLU get the He scale sqrt(2 / fan_in), the
    linear region map (Eq. 1) sqrt(1 / fan_in); the recurrent matrices start at half the He
    scale so the ReLU recurrence neither explodes nor dies over a 37-word sentence; word vectors
    start at 0.1 (trainable from random initialisation, as the paper notes works about as well
    as word2vec). Biases start at zero."""
    dtype = dtype or float_dtype()
    g = numpy.random.default_rng(seed)   # host generator: the same draws on CPU and GPU

    def randn(shape, std):
        return to_device(g.standard_normal(shape) * std, dtype)

    E, H, M = word_dim, hidden, embed
    p = {"W_m": randn((image_dim, M), (1.0 / image_dim) ** 0.5),
         "W_w": randn((vocab_size, E), 0.1),
         "W_e": randn((E, H), (2.0 / E) ** 0.5),
         "W_f": randn((H, H), 0.5 * (2.0 / H) ** 0.5),
         "W_b": randn((H, H), 0.5 * (2.0 / H) ** 0.5),
         "W_d": randn((H, M), (2.0 / H) ** 0.5)}
    for b, n in (("b_m", M), ("b_e", H), ("b_f", H), ("b_b", H), ("b_d", M)):
        p[b] = xp.zeros(n, dtype=dtype)
    return p


class AlignmentModel:
    """The BRNN alignment model: `params`, `arch`, `loss(batch) -> (loss, grads)` with dropout
    (p = `dropout`) on while `training` is True (masks drawn from `rng`), and the pieces that
    retrieval and the MRF need (`embed_regions`, `embed_sentences`, `scores`). The same
    contract as `CaptionModel` (docs/contract.md)."""

    KIND, TRAINER = "alignment", "train-align"      # checkpoint meta "model"; its command

    def __init__(self, vocab_size: int, image_dim: int, word_dim: int = 300, hidden: int = 500,
                 embed: int = 1000, score: str = "eq8", dropout: float = 0.0, seed: int = 0,
                 dtype=None, params: dict | None = None, norm: FeatureNorm | None = None):
        if score not in KINDS:
            raise ValueError(f"score must be one of {KINDS}, got {score!r}")
        self.arch = dict(vocab_size=int(vocab_size), image_dim=int(image_dim),
                         word_dim=int(word_dim), hidden=int(hidden), embed=int(embed),
                         score=score)
        self.dtype = dtype or float_dtype()
        self.dropout = float(dropout)
        self.training = False
        self.rng = make_rng(seed + 1)  # dropout masks
        if params is None:
            params = init_params(vocab_size, image_dim, word_dim, hidden, embed, seed,
                                 self.dtype)
        self.params = {k: to_device(v, self.dtype) for k, v in params.items()}
        # the fixed feature normalisation before Eq. 1 (vsa_np.feature_norm); not trained
        self.norm = None if norm is None else norm.to(self.dtype)
        if self.norm is not None and self.norm.dim != image_dim:
            raise ValueError(f"the feature normalisation is for {self.norm.dim}-d features, the "
                             f"model reads {image_dim}-d ones")
        expected = init_shapes(**{k: self.arch[k] for k in ARCH_KEYS if k != "score"})
        got = {k: tuple(v.shape) for k, v in self.params.items()}
        if got != expected:
            raise ValueError(f"parameter shapes {got} do not match the architecture {expected}")

    @classmethod
    def from_params(cls, params: dict, arch: dict, dtype=None, norm=None) -> "AlignmentModel":
        """A model with the given (host or device) parameters; arch: a saved `model.arch`, norm
        the saved feature normalisation."""
        return cls(**arch, params=params, dtype=dtype, norm=norm)

    # ---- training ------------------------------------------------------------------------------
    def loss(self, batch):
        """batch: a ranking batch of B corresponding pairs -> (loss, grads).

        loss: 0-d array, the Eq. 9 cost per pair (C / B; see ranking_loss.py), left on the
        device (no synchronisation); grads: dict keyed like `params`.
        """
        P, drop, train = self.params, self.dropout, self.training
        regions = to_device(batch["regions"], self.dtype)
        words = to_device(batch["words"])
        B = regions.shape[0]
        if words.shape[0] != B:
            raise ValueError(f"batch has {B} images but {words.shape[0]} sentences")
        packed = pack(batch["word_mask"])
        v, c_v = region_embed_forward(regions, P["W_m"], P["b_m"], drop, train, self.rng,
                                      self.norm)
        s, c_s = brnn_forward(words, packed, P, drop, train, self.rng)
        S, c_S = score_forward(v, batch.get("region_mask"), s, packed.seg, B, self.arch["score"])
        loss, dS = ranking_loss(S)                                                   # Eq. 9
        dv, ds = score_backward(dS, c_S)
        grads = brnn_backward(ds, c_s)
        grads["W_m"], grads["b_m"] = region_embed_backward(dv, c_v)
        return loss, grads

    # ---- inference -----------------------------------------------------------------------------
    def embed_regions(self, regions):
        """regions: (N, R, D) CNN features -> v: (N, R, M) (Eq. 1, no dropout)."""
        v, _ = region_embed_forward(to_device(regions, self.dtype), self.params["W_m"],
                                    self.params["b_m"], norm=self.norm)
        return v

    def embed_sentences(self, words, word_mask):
        """words, word_mask: (L, T) -> (s (W, M) the packed word vectors of Eq. 6, seg (W,) the
        sentence of each word). No dropout."""
        packed = pack(word_mask)
        s, _ = brnn_forward(to_device(words), packed, self.params)
        return s, packed.seg

    def scores(self, v, region_mask, s, seg, n_sent: int, kind: str | None = None):
        """The (N, L) image-sentence scores (Eq. 8 or 7) of embedded regions and sentences."""
        return score_matrix(v, region_mask, s, seg, n_sent, kind or self.arch["score"])

    def word_region_scores(self, regions, words):
        """One image's regions (R, D) and one sentence's word indices (T,) -> (T, R): the
        v_i . s_t the MRF of Eq. 10-12 decodes."""
        v = self.embed_regions(regions[None])[0]
        s, _ = self.embed_sentences(numpy.asarray(words)[None],
                                    numpy.ones((1, len(words)), dtype=bool))
        return s @ v.T


def scale_initial_scores(model: AlignmentModel, batch, target: float) -> dict:
    """Rescale a freshly initialised model so that its scores on `batch` (a ranking batch of
    training pairs) have standard deviation `target`, with the region and word vectors of equal
    size. Returns {"v", "s", "S"}: the RMS norms of v and s and the std of S before.

    Why: the score of Eq. 8 sums, over the words, a dot product of two h-dimensional vectors, so
    at the He initial scales it is of order sqrt(h) * T (tens to hundreds) while the margin of
    Eq. 9 is 1. Every hinge is then far from its kink, the first gradients are huge, and the
    ReLUs of Eq. 6 die within a few steps: the run "collapses" to all-equal scores (loss 2(B-1)
    per pair). With scores of std ~0.3 the first loss is about 2(B-1) per pair, as for random
    embeddings, and every pair has a gradient.

    How: both scores are positively homogeneous of degree 1 in v and in s (a max, or a sum of
    positive parts, of dot products; b_m and b_d start at 0 so v and s scale with W_m and W_d), so
    multiplying W_m by a and W_d by c multiplies S by a * c. a and c are chosen so that v and s
    end with the same RMS norm n and S with std `target`: n^2 = target |v| |s| / std(S). The
    same kind of data-dependent start as LSUV (Mishkin and Matas, 2016) with one number per side;
    the model family is unchanged (Eq. 1-8 with other initial weights)."""
    v = model.embed_regions(batch["regions"])
    s, seg = model.embed_sentences(batch["words"], batch["word_mask"])
    B = v.shape[0]
    mask = batch.get("region_mask")
    S = model.scores(v, mask, s, seg, B)
    valid = xp.ones(v.shape[:2], dtype=bool) if mask is None else to_device(mask)
    nv = float(xp.sqrt((v * v).sum(axis=-1)[valid].mean()))
    ns = float(xp.sqrt((s * s).sum(axis=-1).mean()))
    sd = float(S.std())
    if not (nv > 0 and ns > 0 and sd > 0) or not all(map(numpy.isfinite, (nv, ns, sd))):
        raise DataError("the initial scores are all equal or not finite: the features or the "
                        "sentences of the first batch carry nothing to rank by")
    n = (target * nv * ns / sd) ** 0.5
    for name, factor in (("W_m", n / nv), ("b_m", n / nv), ("W_d", n / ns), ("b_d", n / ns)):
        model.params[name] *= factor
    return {"v": nv, "s": ns, "S": sd}


def load_alignment(path):
    """(model, vocab, meta) from an alignment checkpoint written by `train-align` (a run folder
    means its `best`); the same loader as the generator's (`vsa_np/trained.py`)."""
    return load_trained(path, AlignmentModel)


def check_data(model, meta: dict, ds, ckpt) -> None:
    """DataError unless dataset `ds` has what the alignment model of checkpoint `ckpt` reads:
    features of its dimension, and region features when it was trained on regions."""
    ds.require_features(int(model.params["W_m"].shape[0]), f"the alignment model {ckpt}")
    if meta.get("config", {}).get("regions") and ds.regions_file is None:
        raise DataError(f"{ds.root}: no region features ({ds.root / 'regions.npz'}), but the "
                        f"alignment model {ckpt} was trained on regions")


def init_shapes(vocab_size, image_dim, word_dim, hidden, embed) -> dict:
    """Parameter name -> shape, for an architecture."""
    E, H, M = word_dim, hidden, embed
    return {"W_m": (image_dim, M), "b_m": (M,), "W_w": (vocab_size, E), "W_e": (E, H),
            "b_e": (H,), "W_f": (H, H), "b_f": (H,), "W_b": (H, H), "b_b": (H,),
            "W_d": (H, M), "b_d": (M,)}
