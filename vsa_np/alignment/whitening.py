"""Whitening the CNN features before Eq. 1: a fixed change of coordinates that lets SGD learn
the weak directions of the features as fast as the strong ones.

Why. CNN features have a very uneven spectrum. On the shapes world one principal direction
carries 62% of the variance of the centred region features, the top 16 carry 90%, and the
directions that tell a circle from a square are far down the list. Gradient descent on a linear
map learns each principal direction at a rate set by its variance, so with W_m trained on the
raw (centred) features the colours are learned in a few epochs and shape and size words hardly
at all: their scores stay near 0 and their arg-max region (Eq. 8) is the whole image, which is
wrong for the alignment of Sec. 3.1.4. (The dominant direction is also why learning rates
above 1e-4 collapsed: its gradient is hundreds of times larger than the rest.)

What. With the top k principal directions U_k (D, k) and variances lam_1 >= ... >= lam_k of the
centred training features, and eps = eps_rel * lam_1,

    x' = Z (x - mu),   Z = U_k diag(1 / sqrt(lam_i + eps)) U_k^T + (I - U_k U_k^T) / sqrt(t + eps)

with t the mean variance of the other D - k directions: the top k directions get (about) unit
variance, the rest, all of variance below lam_k, are scaled alike so that on average they do too;
eps keeps directions of almost no variance from being blown up (regularised ZCA whitening, exact
on the top k; on the shapes world t is 50 times smaller than eps, and for features with a flat
spectrum, random ones, Z is about the identity times a constant). Z is fixed and invertible, so

    v = W_m Z (x - mu) + b_m = (Z W_m) x + (b_m - (Z W_m)^T mu)

is still Eq. 1, with W_m' = Z W_m: the model family is the paper's, only the coordinates SGD
works in change. Cost: x' = r x + ((x U_k) (d - r)) U_k^T with r = 1/sqrt(t + eps) and d the k
scales, two (rows, D) x (D, k) products per step and a pass over the features, never a (D, D)
matrix (about 12% of a paper-scale step on two CPU cores, `bench/train_step.py`).

The top k directions come from a randomised subspace iteration (Halko, Martinsson and Tropp,
2011) on the features of at most 4000 training images (`train.feature_whitening`): a few
(n, D) x (D, k + p) products instead of the eigendecomposition of a (D, D) covariance. A fixed
seed makes it deterministic.
"""
from __future__ import annotations

import numpy

from vsa_np.backend import xp


def fit_whitening(X, k: int = 64, eps_rel: float = 1e-3, iters: int = 4, oversample: int = 16,
                  seed: int = 0) -> dict:
    """X: (n, D) centred training features (host) -> {"basis" (D, k), "scale" (k,), "rest"
    (float), "variance" (k,)}: x' = rest * x + ((x @ basis) * (scale - rest)) @ basis.T."""
    X = numpy.asarray(X, dtype=numpy.float64)
    n, D = X.shape
    if n < 2:
        raise ValueError(f"whitening needs at least 2 feature rows, got {n}")
    k = int(min(k, D, n - 1))
    g = numpy.random.default_rng([seed, 0xC0])
    Q = numpy.linalg.qr(X.T @ (X @ g.standard_normal((D, min(D, k + oversample)))))[0]
    for _ in range(iters):                    # subspace iteration on C = X^T X / n
        Q = numpy.linalg.qr(X.T @ (X @ Q))[0]
    XQ = X @ Q
    lam, V = numpy.linalg.eigh(XQ.T @ XQ / n)  # C restricted to the subspace
    lam, V = lam[::-1][:k], V[:, ::-1][:, :k]
    eps = eps_rel * max(float(lam[0]), 1e-12)
    total = float(numpy.einsum("ij,ij->", X, X)) / n          # trace of C: the whole variance
    tail = max(total - float(lam.sum()), 0.0) / max(D - k, 1)  # mean variance of the rest
    return {"basis": Q @ V, "scale": 1.0 / numpy.sqrt(numpy.maximum(lam, 0) + eps),
            "rest": float(1.0 / numpy.sqrt(tail + eps)), "variance": lam}


def whiten(x, basis, scale, rest: float):
    """x: (n, D) centred features (a fresh array: scaled in place) -> Z x, (n, D)."""
    top = (x @ basis) * (scale - rest)        # (n, k): the top directions' change of scale
    x *= rest
    x += top @ basis.T
    return x
