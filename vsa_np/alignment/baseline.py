"""The linear baseline of image-sentence retrieval: the best of a small family of linear models
from a sentence's bag of words to its image's CNN feature, fitted on the training split and
chosen on the validation split. A model that does not beat it on the same split has not learned
anything a linear map of word counts could not.

The family (every member a few dense solves on the host; Hodosh et al. 2013 used KCCA):

    words     binary, counts or tf-idf bag of words b (V,), each row scaled to unit length
    image     the feature x as it is, its square root (non-negative features: the Hellinger
              map of histograms), its logarithm (class probabilities) or its signed square
              root sign(x) sqrt(|x|) (features with negative entries: power normalisation)
    ridge     W = (B^T B + lambda I)^-1 B^T Y        S[k, l] = cos(y_k, b_l W)
    CCA       the top k canonical directions of B and Y, regularised by r (Hotelling 1936;
              Hardoon et al. 2004):  A (V, k), C (D, k), each scaled by the correlations^p
              S[k, l] = cos(y_k C, b_l A)

with Y the training images' features, centred and scaled to unit mean variance. Every member of
the grid is scored on validation by the sum of the six R@K (the trainers' checkpoint criterion),
so the baseline gets a tuning budget like the one a user gives the model, and the winner is
named with its settings (which members win where: docs/benchmarks.md, issue 22).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy
import scipy.linalg

from vsa_np.data import Vocab
from vsa_np.data.features import feature_rows
from vsa_np.feature_norm import feature_maps, unit_rows
from vsa_np.alignment.retrieval import retrieval_metrics, rsum

LAMBDAS = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
CCA_REGS = (1e-2, 1e-1)              # r, relative to the largest eigenvalue
CCA_DIMS = (64, 128)                 # k
CCA_POWERS = (1, 4)                  # p
TEXT_KINDS = ("binary", "counts", "tf-idf")
ADVICE = (" (on a few hundred real pictures the model can stay below the baseline's CCA "
          "members: README, 'Measured: the real development set')")


def word_counts(token_lists, vocab: Vocab) -> numpy.ndarray:
    """(S, V) float64 word counts of each sentence (out-of-vocabulary words dropped)."""
    ids = [vocab.encode(tokens) for tokens in token_lists]
    rows = numpy.repeat(numpy.arange(len(ids)), [len(i) for i in ids])
    C = numpy.zeros((len(ids), len(vocab)))
    numpy.add.at(C, (rows, numpy.concatenate(ids or [[]]).astype(numpy.int64)), 1.0)
    return C


def bag_of_words(token_lists, vocab: Vocab, kind: str = "counts", idf=None) -> numpy.ndarray:
    """(S, V) bags of words of `kind` (binary, counts, tf-idf with the training `idf`), each row
    of unit length (an empty row stays 0)."""
    return bags(word_counts(token_lists, vocab), kind, idf)


def bags(C: numpy.ndarray, kind: str, idf=None) -> numpy.ndarray:
    """The bags of words of `kind` from word counts C (S, V), each row of unit length."""
    B = {"binary": lambda: (C > 0).astype(numpy.float64), "counts": lambda: C,
         "tf-idf": lambda: C * idf}[kind]()
    return unit_rows(B)


def _svd(M):
    """The thin SVD of M; LAPACK's slower gesvd where the default gesdd does not converge (it
    can fail on rank-deficient inputs such as features z-scored with constant dimensions)."""
    try:
        return numpy.linalg.svd(M, full_matrices=False)
    except numpy.linalg.LinAlgError:
        return scipy.linalg.svd(M, full_matrices=False, lapack_driver="gesvd")


def _inverse_sqrt(eig, reg: float) -> numpy.ndarray:
    """(C + r lam_max I)^(-1/2) from eig = (lam, U) of a covariance C."""
    lam, U = eig
    lam = numpy.maximum(lam, 0.0)
    return (U / numpy.sqrt(lam + reg * max(float(lam.max()), 1e-30))) @ U.T


class _Side:
    """One side's training rows X (n, d) and what the fits reuse: the eigendecomposition of
    X^T X (ridge), the mean and the covariance's (CCA), and its regularised inverse square roots."""

    def __init__(self, X):
        self.X, self.mean = X, X.mean(axis=0)
        self._cov, self._gram, self._white = None, None, {}

    @property
    def eig_gram(self):
        if self._gram is None:
            self._gram = numpy.linalg.eigh(self.X.T @ self.X)
        return self._gram

    def whiten(self, r: float) -> numpy.ndarray:
        """(C + r lam_max I)^(-1/2), C the covariance of the rows."""
        if r not in self._white:
            if self._cov is None:
                Xc = self.X - self.mean
                self._cov = numpy.linalg.eigh(Xc.T @ Xc / len(Xc))
            self._white[r] = _inverse_sqrt(self._cov, r)
        return self._white[r]


@dataclass
class Member:
    """One fitted member of the family: score(X, B) -> S (N images, L sentences)."""
    model: str            # "ridge" or "CCA"
    image: str            # the feature map's name
    words: str            # the bag-of-words kind
    setting: dict         # {"lambda"} or {"r", "k", "p"}
    image_side: object    # (D, k) projection of the centred, scaled features (ridge: None)
    text_side: object     # (V, k) projection of the bags of words (ridge: W (V, D))
    text_mean: object     # (V,) subtracted from the bags of words first (ridge: 0)

    def describe(self) -> str:
        s = ", ".join(f"{k} {v:g}" for k, v in self.setting.items())
        return f"{self.model} on {self.image} features, {self.words} words ({s})"


class LinearBaseline:
    """The best member of the family: fitted on train, chosen on val by the R@K sum.
    `metrics(split)` gives the retrieval metrics as `evaluate_retrieval` does; `members` and
    `values` hold every member tried and its validation R@K sum."""

    def __init__(self, ds, threshold: int = 5, models=("ridge", "CCA")):
        ds.require_features()
        self.ds, self.models = ds, models
        self.vocab = Vocab.build(ds.sentences_of("train")[1], threshold=threshold)
        self._cache, self._stats = {}, {}
        X, counts, img = self._split("train")
        self.maps = feature_maps(X)
        self.idf = numpy.log((1 + len(counts)) / (1 + (counts > 0).sum(axis=0))) + 1
        have_val = len(ds.split_indices("val")) > 0
        self.members, self.values = [], []
        sides = {name: self._image_side(name, self.maps[name](X), img) for name in self.maps}
        for words in TEXT_KINDS:
            text = _Side(bags(counts, words, self.idf))
            for image in self.maps:
                for member in self._fit(image, words, sides[image], text, full=have_val):
                    if member.model in models:
                        self.members.append(member)
                        self.values.append(rsum(self._metrics(member, "val")) if have_val
                                           else 0.0)
        self.member = self.members[int(numpy.argmax(self.values))]

    @property
    def table(self) -> list:
        """[(member description, validation R@K sum)] of every member tried."""
        return [(m.describe(), v) for m, v in zip(self.members, self.values)]

    def _split(self, split):
        """(X (N, D) the split's raw image features, C (L, V) its sentences' word counts, the
        row of X of each sentence), read once per split."""
        if split not in self._cache:
            images, tokens, s2i = self._sentences(split)
            self._cache[split] = (self._features(images), word_counts(tokens, self.vocab), s2i)
        return self._cache[split]

    def _sentences(self, split):
        """(the split's image indices, its sentences' tokens, each sentence's row among them)."""
        images = self.ds.split_indices(split)
        img, tokens, _ = self.ds.sentences_of(split)
        position = numpy.full(len(self.ds.images), -1)
        position[images] = numpy.arange(len(images))
        return images, tokens, position[img]

    def _features(self, images) -> numpy.ndarray:
        return numpy.concatenate(list(feature_rows(self.ds.feats, images))).astype(numpy.float64)

    def _image_side(self, image, X, img) -> "_Side":
        """The training sentences' image features under one map, centred and scaled to unit
        mean variance (the statistics kept for scoring other splits)."""
        mean = X.mean(axis=0)
        scale = 1.0 / max(float(numpy.sqrt(((X - mean) ** 2).mean())), 1e-30)
        self._stats[image] = (mean, scale)
        return _Side((X[img] - mean) * scale)

    def _fit(self, image, words, Y, B, full=True):
        """The members for one (feature map, bag-of-words kind): ridge for each lambda, CCA for
        each (r, k, p). Without a validation split: ridge at lambda 10 only."""
        lam_b, U_b = B.eig_gram
        rotated = U_b.T @ (B.X.T @ Y.X)                          # U^T B^T Y, B^T B = U lam U^T
        for lam in (LAMBDAS if full else (10.0,)):
            W = (U_b / (lam_b + lam)) @ rotated                 # (B^T B + lam I)^-1 B^T Y
            yield Member("ridge", image, words, {"lambda": lam}, None, W, 0.0)
        if not full or "CCA" not in self.models:
            return
        cxy = (B.X - B.mean).T @ Y.X / len(B.X)                  # Y is centred
        for r in CCA_REGS:
            Wb, Wy = B.whiten(r), Y.whiten(r)
            U, corr, Vt = _svd(Wb @ cxy @ Wy)
            top = min(max(CCA_DIMS), len(corr))
            image_dirs, text_dirs = Wy @ Vt[:top].T, Wb @ U[:, :top]   # every k is a prefix
            for k, p in itertools.product(CCA_DIMS, CCA_POWERS):
                k = min(k, top)
                w = corr[:k] ** p
                yield Member("CCA", image, words, {"r": r, "k": k, "p": p},
                             image_dirs[:, :k] * w, text_dirs[:, :k] * w, B.mean)

    def _standardise(self, image, X):
        mean, scale = self._stats[image]
        return (X - mean) * scale

    def _image_rows(self, split, image):
        """The split's image features under one map, standardised (once for every member)."""
        key = ("image", split, image)
        if key not in self._cache:
            self._cache[key] = self._standardise(image, self.maps[image](self._split(split)[0]))
        return self._cache[key]

    def _bags(self, split, words):
        """The split's bags of words of one kind (once for every member)."""
        key = ("words", split, words)
        if key not in self._cache:
            self._cache[key] = bags(self._split(split)[1], words, self.idf)
        return self._cache[key]

    def scores(self, split: str, member: Member | None = None):
        """-> (S (N, L) cosine scores, sent_to_image (L,)) for every image and sentence of split."""
        m = member or self.member
        Y, B = self._image_rows(split, m.image), self._bags(split, m.words)
        image_side = Y if m.image_side is None else Y @ m.image_side
        return unit_rows(image_side) @ unit_rows((B - m.text_mean) @ m.text_side).T, \
            self._split(split)[2]

    def _metrics(self, member, split):
        return retrieval_metrics(*self.scores(split, member))

    def metrics(self, split: str) -> dict:
        """{"annotation": {R@1, R@5, R@10, med_r}, "search": {...}, "rsum"} on `split`."""
        out = self._metrics(self.member, split)
        out["rsum"] = rsum(out)
        return out


def baseline_report(ds, split: str, threshold: int = 5, base=None) -> dict:
    """The baseline's retrieval metrics on `split` (fitted on train, chosen on val; `base`: one
    already fitted on `ds`), with the member that won and what it was fitted on: what
    `eval-align` and the trainer print beside the model."""
    base = base or LinearBaseline(ds, threshold=threshold)
    return {**base.metrics(split), "chosen": base.member.describe(), "tried": len(base.members),
            "fitted_on": "train", "features": "whole image"}


def retrieval_table(rows: dict) -> str:
    """Rows {name: metrics or None} as a text table: R@1/5/10 and median rank, both directions."""
    head = f"{'':<14}{'':<12}{'R@1':>7}{'R@5':>7}{'R@10':>7}{'med r':>7}"
    lines = [head]
    for name, m in rows.items():
        if m is None:
            continue
        for d in ("annotation", "search"):
            r = m[d]
            lines.append(f"{name if d == 'annotation' else '':<14}{d:<12}{r['R@1']:7.1f}"
                         f"{r['R@5']:7.1f}{r['R@10']:7.1f}{r['med_r']:7g}")
    return "\n".join(lines)


def beats(model: dict, base: dict) -> dict:
    """{direction: True/False}: does the model's R@10 beat the baseline's, per direction."""
    return {d: model[d]["R@10"] > base[d]["R@10"] for d in ("annotation", "search")}


def compare_line(model: dict, base: dict, difference: dict | None = None,
                 tuned: bool = False) -> str:
    """One sentence: how the model's R@10 compares with the baseline's, in both directions, and
    with `difference` (retrieval.recall_difference) whether the split can tell them apart.
    `tuned`: the run already chose its rate by --lr auto (not advised again)."""
    won = beats(model, base)
    advice = ("train longer" if tuned else "train longer, or try --lr auto") + ADVICE
    parts = []
    for d in won:
        part = f"{d} R@10 {model[d]['R@10']:.1f} vs {base[d]['R@10']:.1f}"
        if difference:
            c = difference[d]
            part += (f", difference {c['diff']:+.1f}, {difference['level']:g}% interval "
                     f"{c['low']:+.1f} to {c['high']:+.1f}")
        parts.append(part)
    if all(won.values()):
        verdict = "the model beats the linear baseline in both directions"
    elif any(won.values()):
        verdict = f"the model beats the linear baseline in one direction only: {advice}"
    else:
        verdict = ("the model does NOT beat the linear baseline: it has learned less than a "
                   f"linear map of word counts; {advice}")
    line = f"{verdict} ({'; '.join(parts)})"
    if difference:
        unsure = [d for d in won if difference[d]["low"] <= 0 <= difference[d]["high"]]
        if unsure:
            line += (f"; in {' and '.join(unsure)} the {difference['n_images']} images cannot "
                     f"tell the two apart (the interval holds 0)")
    return line
