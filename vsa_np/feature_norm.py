"""The fixed normalisation of the CNN features that both models apply before their first layer
(Eq. 1 and Eq. 13). It is not in the paper: it is what lets one set of defaults train on
features of any scale and spectrum (VGG fc7, class probabilities, z-scored or L2-normalised
vectors, features in the thousands or the thousandths).

Why. SGD on a linear map x W learns each direction of x at a rate set by its variance, and the
first scores of a model are as large as its inputs. Raw features differ by six orders of
magnitude between families (lesson 04), so a learning rate and an initial scale that suit one
blow up or starve on another. Fitted once on the training features and saved in every
checkpoint, this map makes every run see features of the same size:

    x' = (x - mu) Z        mu the mean training feature (`center`); row vectors, as the code
                           writes every layer (x W, not the paper's W x)

    whiten = 0:  Z = I / sqrt(t)               t the mean variance per dimension: the features
                                               get unit variance on average
    whiten = k:  Z = U_k diag(1 / sqrt(lam_i + eps)) U_k^T + (I - U_k U_k^T) / sqrt(lam_k + eps)

with U_k (D, k) the top k principal directions of the centred training features and lam_1 >= ...
>= lam_k their variances, eps = eps_rel * lam_1. The top k directions get (about) unit variance,
so SGD learns a weak direction (shape, size on the shapes world) as fast as a strong one
(colour). Every other direction gets the gain of the k-th, the smallest of the top k: its
variance is below lam_k, so it comes out below 1. Directions the data hardly uses (classes a
classifier never predicts, dimensions that are always 0) are never amplified above the weakest
whitened one, and eps keeps the top k themselves from being blown up when they are nearly empty.

Last, one global gain can set the size of the result (`sq_norm`, the mean squared norm of the
normalised training features). The two trainers want different sizes because they use different
optimisers. The alignment model is trained by SGD (Sec. 3.3), where a step changes v = x' W_m by
-lr |x'|^2 dv: with unit variance per dimension, |x'|^2 = D and the image side moves D times
faster than with unit-length features. Measured on the 512-d fc7 family (`feature_families.py`):
with unit variance per dimension lr 6e-4 already trains worse than 3e-4 and lr 1e-3 collapses
the run within 4 epochs; with unit length, 1e-4, 3e-4 and 1e-3 all train, and better. So its
trainer asks for sq_norm = 1 (each feature vector of unit length on average), which makes a
learning rate mean the same for every D and every family. The generator is trained by
RMSprop, whose steps are relative to each weight's own gradient scale; it keeps unit variance
per dimension (sq_norm None), so that W_hi's 1/sqrt(D) start gives entries of b_v of variance 1.

Z is fixed and invertible, so a model on x' is the paper's model on x: for Eq. 1,
v = x' W_m + b_m = x (Z W_m) + (b_m - mu Z W_m), Eq. 1 with the matrix Z W_m and a shifted bias.
What changes is the coordinates SGD works in, and with them what dropout and weight decay act on:
dropout zeroes entries of x' (mixtures of the raw features once Z whitens), and the decay
|W_m|^2 = |Z^-1 (Z W_m)|^2 penalises the raw-coordinate matrix Z W_m unevenly, least along the
directions Z amplifies. Same model family, different training.

First the features can be read through a map (`map`: raw, sqrt, log or ssqrt; the trainers'
`--feature-map`):

- Class probabilities (every row non-negative, summing to 1) through their logarithm (what
  `auto` does for them, in both trainers). A softmax output p keeps the CNN's evidence in the
  ratios of its small entries: log p is the logits up to a constant per image, which a linear
  map can read, while p itself is one or two large entries and a thousand near-zero ones that
  any linear map of p ignores. Measured on the class-probability family
  (`tests/test_family_training.py`'s sizes, test split): the alignment model's R@10 went from
  48 / 47 to 97 / 99 (annotation / search), and the generator's CIDEr-D from 1.24 to 2.94. The
  floor is far below a float32 softmax's smallest outputs (a quarter of this family's entries
  are below 1e-8).
- Non-negative features (ReLU activations: fc7, pooled maps) can go through their square root,
  the Hellinger map, so that a few large activations do not swamp the many small ones. It is
  not better everywhere (it helps the alignment model on the fc7 family and hurts the
  generator on the shapes world: docs/benchmarks.md, issue 22), so the alignment trainer's
  default, `--feature-map baseline`, reads whole-image features through the map of the linear
  baseline's winner, chosen on validation (alignment/train.py, `fit_norm`); region models and
  the generator read through `auto`: log for class probabilities, raw otherwise.
- Signed features (z-scored, PCA-projected) can go through their signed square root,
  sign(x) sqrt(|x|), the power normalisation of Perronnin, Sanchez and Mensink (2010): it tames
  the heavy tails that z-scoring gives rare dimensions (figures: docs/benchmarks.md, issue 22).

The baselines choose among these maps on validation (`feature_maps`: raw always, sqrt and log
where they apply, ssqrt for features with negative entries). With a map the model is Eq. 1 /
Eq. 13 on the mapped features, no longer on x: a choice, like the rest of this map, that the
paper (which uses raw fc7) did not need.

Cost: x' = r x + ((x U_k) (d - r)) U_k^T with r the rest gain and d the k scales: two (rows, D) x
(D, k) products and a pass over the features, never a (D, D) matrix. The top k directions come
from a randomised subspace iteration (Halko, Martinsson and Tropp, 2011) on at most 4000 images'
features: a few (n, D) x (D, k + p) products instead of a (D, D) eigendecomposition. A fixed seed
makes the fit deterministic, so a resumed run refits the same map.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy

from vsa_np.backend import to_device, to_host, xp
from vsa_np.data.features import feature_rows
from vsa_np.errors import DataError

LOG_FLOOR = 1e-30     # log(max(p, floor)): a probability that underflowed to 0 stays finite


def is_probabilities(X, tol: float = 1e-3) -> bool:
    """True when every row of X (n, D) is non-negative and sums to 1 (softmax outputs)."""
    X = numpy.asarray(X)
    return bool(X.size) and float(X.min()) >= 0 and \
        bool(numpy.all(numpy.abs(X.sum(axis=1, dtype=numpy.float64) - 1.0) <= tol))


def unit_rows(X: numpy.ndarray) -> numpy.ndarray:
    """X (n, d) with each row divided by its length (a zero row stays 0): cosine scores."""
    norm = numpy.linalg.norm(X, axis=1, keepdims=True)
    return X / numpy.where(norm > 0, norm, 1.0)


MAPS = ("raw", "sqrt", "log", "ssqrt")


def choose_map(X, feature_map: str = "auto") -> str:
    """The map the trainers read features X (n, D) through: `feature_map` itself, or for "auto"
    log for class probabilities and raw otherwise."""
    if feature_map != "auto":
        return feature_map
    return "log" if is_probabilities(X) else "raw"


def apply_map(x, name: str):
    """x (any array of numpy or of the backend) read through map `name` (a fresh array)."""
    m = numpy if isinstance(x, numpy.ndarray) else xp
    if name == "log":
        return m.log(m.maximum(x, LOG_FLOOR))
    if name == "sqrt":
        return m.sqrt(m.maximum(x, 0))
    if name == "ssqrt":
        return m.sign(x) * m.sqrt(m.abs(x))
    return x * 1


def feature_maps(train_X: numpy.ndarray) -> dict:
    """{name: function} of the image feature maps that apply to these training features: raw,
    then sqrt (non-negative) or ssqrt (signed), and log (class probabilities)."""
    names = ["sqrt" if float(train_X.min()) >= 0 else "ssqrt"]
    if is_probabilities(train_X):
        names.append("log")
    return {"raw": lambda X: X, **{n: functools.partial(apply_map, name=n) for n in names}}


@dataclass
class FeatureNorm:
    """x' = rest * (y - mean) + (((y - mean) @ basis) * (scale - rest)) @ basis.T, with y the
    features read through `map`: x ("raw"), sqrt(max(x, 0)), log(max(x, LOG_FLOOR)) or
    sign(x) sqrt(|x|) ("ssqrt").

    mean: (D,) or None (no centring)   basis: (D, k) orthonormal columns   scale: (k,)
    rest: float   variance: (k,) the variances lam_i of the top k directions (for reports).
    """
    mean: object
    basis: object
    scale: object
    rest: float
    variance: object = None
    map: str = "raw"

    @property
    def log(self) -> bool:
        return self.map == "log"

    @property
    def dim(self) -> int:
        return int(self.basis.shape[0])

    @property
    def k(self) -> int:
        return int(self.basis.shape[1])

    def to(self, dtype) -> "FeatureNorm":
        """The same map with its arrays on the backend's device in `dtype`."""
        return FeatureNorm(None if self.mean is None else to_device(self.mean, dtype),
                           to_device(self.basis, dtype), to_device(self.scale, dtype),
                           float(self.rest), self.variance, self.map)

    def host(self) -> "FeatureNorm":
        """The same map as host float64 arrays (for checks that must not touch the device)."""
        def f64(a):
            return None if a is None else numpy.asarray(to_host(a), dtype=numpy.float64)
        return FeatureNorm(f64(self.mean), f64(self.basis), f64(self.scale), float(self.rest),
                           self.variance, self.map)

    def __call__(self, x):
        """x: (n, D) features (any array of this backend) -> x' (n, D), a fresh array."""
        x = apply_map(x, self.map)   # host arrays (checks) or the backend's (models); a copy
        if self.mean is not None:
            x -= self.mean
        if self.k:
            top = (x @ self.basis) * (self.scale - self.rest)   # (n, k): the top directions
            x *= self.rest
            x += top @ self.basis.T
        else:
            x *= self.rest
        return x

    def dense(self) -> numpy.ndarray:
        """The (D, D) matrix Z written out (host float64; for tests and lessons only)."""
        U = numpy.asarray(to_host(self.basis), dtype=numpy.float64)
        d = numpy.asarray(to_host(self.scale), dtype=numpy.float64)
        return self.rest * numpy.eye(self.dim) + (U * (d - self.rest)) @ U.T

    def buffers(self) -> dict:
        """The arrays to save in a checkpoint (`checkpoint.save_checkpoint(buffers=...)`)."""
        out = {"norm_basis": to_host(self.basis), "norm_scale": to_host(self.scale),
               "norm_rest": numpy.float64(self.rest)}
        if self.map != "raw":
            out[f"norm_{self.map}"] = numpy.float64(1.0)      # norm_log, norm_sqrt or norm_ssqrt
        if self.mean is not None:
            out["norm_mean"] = to_host(self.mean)
        return out

    @classmethod
    def from_buffers(cls, buffers: dict) -> "FeatureNorm | None":
        """The map saved by `buffers()`, or None when the checkpoint has none."""
        if "norm_basis" not in buffers:
            return None
        return cls(buffers.get("norm_mean"), buffers["norm_basis"], buffers["norm_scale"],
                   float(buffers["norm_rest"]), map=saved_map(buffers))


def saved_map(buffers: dict) -> str:
    """The map a checkpoint's buffers (`FeatureNorm.buffers`) read the features through."""
    return next((m for m in MAPS if buffers.get(f"norm_{m}", 0.0)), "raw")



def top_directions(X: numpy.ndarray, k: int, iters: int = 4, oversample: int = 16,
                   seed: int = 0) -> tuple[numpy.ndarray, numpy.ndarray]:
    """(U (D, k), lam (k,)): the top k principal directions of the centred rows X (n, D) and
    their variances, by randomised subspace iteration on C = X^T X / n."""
    n, D = X.shape
    g = numpy.random.default_rng([seed, 0xC0])
    Q = numpy.linalg.qr(X.T @ (X @ g.standard_normal((D, min(D, k + oversample)))))[0]
    for _ in range(iters):
        Q = numpy.linalg.qr(X.T @ (X @ Q))[0]
    XQ = X @ Q
    lam, V = numpy.linalg.eigh(XQ.T @ XQ / n)         # C restricted to the subspace
    return Q @ V[:, ::-1][:, :k], numpy.maximum(lam[::-1][:k], 0.0)


def fit_feature_norm(X, center: bool = True, whiten: int = 0, eps_rel: float = 1e-3,
                     seed: int = 0, sq_norm: float | None = None,
                     map: str = "raw") -> FeatureNorm:
    """Fit the map on training features X (n, D) (host; rows of images or regions).

    sq_norm: when given, a last global gain makes the mean squared norm of the normalised
    training features equal to it (the alignment trainer asks for 1; see `fit_on_split`).
    map: read X through one of MAPS first (see the module docstring)."""
    X = apply_map(numpy.asarray(X, dtype=numpy.float64), map)
    n, D = X.shape
    if n < 2:
        raise ValueError(f"fitting the feature normalisation needs at least 2 feature rows, "
                         f"got {n}")
    mean = X.mean(axis=0) if center else None
    if mean is not None:
        X = X - mean
    total = float(numpy.einsum("ij,ij->", X, X)) / n       # the summed variance (trace of C)
    tiny = 1e-30
    k = int(min(whiten, D, n - 1))
    if k <= 0:
        U, lam, scale = numpy.zeros((D, 0)), numpy.zeros(0), numpy.zeros(0)
        rest = 1.0 / numpy.sqrt(max(total / D, tiny))
    else:
        U, lam = top_directions(X, k, seed=seed)
        scale = 1.0 / numpy.sqrt(lam + max(eps_rel * float(lam[0]), tiny))
        rest = float(scale[-1])
    if sq_norm is not None:          # E |x'|^2 of the map so far, from the spectrum alone
        now = float((lam * scale ** 2).sum()) + max(total - float(lam.sum()), 0.0) * rest ** 2
        gain = numpy.sqrt(sq_norm / max(now, tiny))
        scale, rest = scale * gain, rest * gain
    return FeatureNorm(mean, U, scale, float(rest), lam, map)


def fit_on_split(feats, images, n_regions=None, center: bool = True, whiten: int = 0,
                 eps_rel: float = 1e-3, seed: int = 0, max_images: int = 4000,
                 sq_norm: float | None = None, feature_map: str = "auto") -> FeatureNorm:
    """Fit the map on the features of `images` (the training split): feats (N, D) one vector per
    image, or (N, R, D) regions with n_regions (N,). At most `max_images` images, drawn with
    `seed`, so the fit stays a few seconds on MSCOCO. feature_map: one of MAPS or
    "auto" (`choose_map`)."""
    images = numpy.asarray(images)
    if len(images) > max_images:
        images = numpy.sort(numpy.random.default_rng([seed, 7]).choice(images, max_images,
                                                                       replace=False))
    X = numpy.concatenate(list(feature_rows(feats, images, n_regions)))
    return fit_feature_norm(X, center, whiten, eps_rel, seed, sq_norm,
                            choose_map(X, feature_map))


def check_scale(norm: FeatureNorm | None, X, where, limit: float = 1e3) -> None:
    """DataError when features X (n, D) are far outside the range of the features the map was
    fitted on: after normalisation their root-mean-square entry should be about 1 (the
    generator's unit variance per dimension); above `limit` (features scaled by 1e30, say, or
    computed by another network) every softmax saturates and every caption is the same."""
    if norm is None:
        return
    rows = numpy.asarray(to_host(X[:256]), dtype=numpy.float64)
    rms = float(numpy.sqrt(numpy.mean(norm.host()(rows) ** 2)))
    if not rms <= limit:
        raise DataError(f"{where}: after the model's feature normalisation these features are "
                        f"{rms:.3g} times the size of its training features; were they "
                        f"computed (and scaled) the way the training features were?")
