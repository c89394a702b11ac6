"""Numerical gradients by centered differences (CS231n style).

    df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / 2h          error O(h^2)

`numerical_grad` differentiates a scalar function; `numerical_grad_array` differentiates an
array-valued f against an upstream gradient `df` (the gradient of sum(f(x) * df)), which checks
a layer's backward pass without building a scalar loss. Both perturb `x` in place and restore it,
so `f` must read `x` (a closure over the very array). Pass `indices` to check a sample of a large
parameter instead of every entry.
"""
from __future__ import annotations

import numpy as np

from vsa_np.backend import to_host, xp


def _iter_indices(x, indices):
    if indices is None:
        return list(np.ndindex(*x.shape))
    return [tuple(int(i) for i in ix) for ix in indices]


def sample_indices(shape, k: int, seed: int = 0):
    """Up to `k` distinct multi-indices into an array of `shape` (all of them when it is small)."""
    n = int(np.prod(shape))
    if n <= k:
        return list(np.ndindex(*shape))
    flat = np.random.default_rng(seed).choice(n, size=k, replace=False)
    return [tuple(int(i) for i in np.unravel_index(f, shape)) for f in sorted(flat)]


def numerical_grad(f, x, indices=None, h: float = 1e-5):
    """Gradient of the scalar f() with respect to x at `indices` (all by default).

    Returns a host array shaped like x, filled at the checked indices and zero elsewhere.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    for ix in _iter_indices(x, indices):
        old = x[ix].copy() if hasattr(x[ix], "copy") else x[ix]
        x[ix] = old + h
        fp = float(to_host(f()))
        x[ix] = old - h
        fm = float(to_host(f()))
        x[ix] = old
        grad[ix] = (fp - fm) / (2 * h)
    return grad


def numerical_grad_array(f, x, df, indices=None, h: float = 1e-5):
    """Gradient of sum(f() * df) with respect to x: checks a backward pass given upstream df."""
    grad = np.zeros(x.shape, dtype=np.float64)
    df = xp.asarray(df)
    for ix in _iter_indices(x, indices):
        old = x[ix].copy() if hasattr(x[ix], "copy") else x[ix]
        x[ix] = old + h
        pos = f().copy()
        x[ix] = old - h
        neg = f().copy()
        x[ix] = old
        grad[ix] = float(to_host(xp.sum((pos - neg) * df))) / (2 * h)
    return grad


def rel_error(a, n, indices=None) -> float:
    """max |a - n| / max(1e-8, |a| + |n|), over `indices` (all by default)."""
    a = np.asarray(to_host(a), dtype=np.float64)
    n = np.asarray(to_host(n), dtype=np.float64)
    if indices is not None:
        sel = tuple(np.array(list(indices)).T)
        a, n = a[sel], n[sel]
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n))))
