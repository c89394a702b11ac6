"""The linear baseline of image-sentence retrieval: ridge regression from a sentence's bag of
words to its image's feature, the classic Flickr8K baseline family (Hodosh et al. 2013 used
KCCA; ridge to the image side is the simplest member). A model that does not beat it on the same
split has not learned anything a linear map of word counts could not.

    fit:    Y = B W,  W = (B^T B + lambda I)^-1 B^T Y
            B (S, V) the training sentences' word counts, each row scaled to unit length,
            Y (S, D) their images' features (log p for class probabilities, as the models
            read them), centred and scaled to unit mean variance
    score:  S[k, l] = cos(y_k, b_l W)     image k against sentence l

lambda is chosen on the validation split from a grid, by the sum of the six R@K (the trainers'
checkpoint criterion), so the baseline gets the same tuning budget a user gives the model.
Everything is a few dense solves on the host: no GPU, about a second on Flickr8K.
"""
from __future__ import annotations

import numpy

from vsa_np.data import Vocab
from vsa_np.data.features import feature_rows
from vsa_np.feature_norm import as_baseline_sees_it
from vsa_np.alignment.retrieval import retrieval_metrics, rsum

LAMBDAS = (0.1, 1.0, 10.0, 100.0)


def bag_of_words(token_lists, vocab: Vocab) -> numpy.ndarray:
    """(S, V) float64 word counts of each sentence (out-of-vocabulary words dropped), each row
    divided by its norm (an empty row stays 0)."""
    ids = [vocab.encode(tokens) for tokens in token_lists]
    rows = numpy.repeat(numpy.arange(len(ids)), [len(i) for i in ids])
    B = numpy.zeros((len(ids), len(vocab)))
    numpy.add.at(B, (rows, numpy.concatenate(ids or [[]]).astype(numpy.int64)), 1.0)
    return _unit_rows(B)


def _unit_rows(X: numpy.ndarray) -> numpy.ndarray:
    norm = numpy.linalg.norm(X, axis=1, keepdims=True)
    return X / numpy.where(norm > 0, norm, 1.0)


class RidgeBaseline:
    """Bag of words -> image feature by ridge regression; `fit` on train (lambda on val),
    `metrics(split)` the retrieval metrics on a split, as `evaluate_retrieval` gives them."""

    def __init__(self, ds, threshold: int = 5, lambdas=LAMBDAS):
        ds.require_features()
        self.ds = ds
        self.vocab = Vocab.build(ds.sentences_of("train")[1], threshold=threshold)
        self._train_feats = None
        X, B, sent_to_image = self._split("train")
        self._train_feats = X                   # probabilities are read in log space
        X = as_baseline_sees_it(X, X)
        self.mean = X.mean(axis=0)
        self.scale = 1.0 / max(float(numpy.sqrt(((X - self.mean) ** 2).mean())), 1e-30)
        Y = (X[sent_to_image] - self.mean) * self.scale
        self._gram, self._cross = B.T @ B, B.T @ Y
        self.table = {}
        if len(ds.split_indices("val")) > 0 and len(lambdas) > 1:
            for lam in lambdas:
                self.W = self._solve(lam)
                self.table[lam] = rsum(self.metrics("val"))
            self.lam = max(self.table, key=self.table.get)
        else:
            self.lam = lambdas[len(lambdas) // 2]
        self.W = self._solve(self.lam)

    def _split(self, split: str):
        """(X (N, D) the raw features of the split's images, B (L, V) its sentences' bags of
        words, sent_to_image (L,) the row of X of each sentence)."""
        images = self.ds.split_indices(split)
        img, tokens, _ = self.ds.sentences_of(split)
        position = numpy.full(len(self.ds.images), -1)
        position[images] = numpy.arange(len(images))
        X = numpy.concatenate(list(feature_rows(self.ds.feats, images)))
        if self._train_feats is not None:
            X = as_baseline_sees_it(X, self._train_feats)
        return X, bag_of_words(tokens, self.vocab), position[img]

    def _solve(self, lam: float) -> numpy.ndarray:
        V = self._gram.shape[0]
        return numpy.linalg.solve(self._gram + lam * numpy.eye(V), self._cross)

    def scores(self, split: str):
        """-> (S (N, L) cosine scores, sent_to_image (L,)) for every image and sentence of split."""
        X, B, sent_to_image = self._split(split)
        return _unit_rows((X - self.mean) * self.scale) @ _unit_rows(B @ self.W).T, sent_to_image

    def metrics(self, split: str) -> dict:
        """{"annotation": {R@1, R@5, R@10, med_r}, "search": {...}, "rsum"} on `split`."""
        S, sent_to_image = self.scores(split)
        out = retrieval_metrics(S, sent_to_image)
        out["rsum"] = rsum(out)
        return out


def baseline_report(ds, split: str, threshold: int = 5) -> dict:
    """The baseline's retrieval metrics on `split` (fitted on train, lambda chosen on val), with
    the lambda and what it was fitted on: what `eval-align` and the trainer print beside the
    model."""
    base = RidgeBaseline(ds, threshold=threshold)
    return {**base.metrics(split), "lambda": base.lam, "fitted_on": "train",
            "features": "whole image"}


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


def compare_line(model: dict, base: dict) -> str:
    """One sentence: how the model's R@10 compares with the baseline's, in both directions."""
    won = beats(model, base)
    parts = [f"{d} R@10 {model[d]['R@10']:.1f} vs {base[d]['R@10']:.1f}" for d in won]
    if all(won.values()):
        verdict = "the model beats the bag-of-words baseline in both directions"
    elif any(won.values()):
        verdict = ("the model beats the bag-of-words baseline in one direction only: "
                   "train longer, or try --lr auto")
    else:
        verdict = ("the model does NOT beat the bag-of-words baseline: it has learned less "
                   "than a linear map of word counts; train longer, or try --lr auto")
    return f"{verdict} ({'; '.join(parts)})"
