"""The registry of gradient checks and the rows of its report.

A check is a function registered under a name that returns a list of `Row`s, one per parameter
it checks. `compare` builds a row for one array (a layer input or weight); `compare_model` builds
one row per parameter of a model that exposes `params` and `loss(batch) -> (loss, grads)`.

Status bands (printed per row):
    PASS   max relative error <= tol
    WARN   tol < error <= 100 * tol      (look at it; does not fail the run)
    FAIL   error > 100 * tol             (the run exits non-zero)
    TINY   both gradients are below 1e-8 everywhere checked: the relative error means nothing
    ERROR  the check itself raised an exception (the run exits non-zero)
Entries where both gradients are below 1e-8 are left out of the relative error (centered
differences leave noise of about 1e-11 where the true gradient is exactly zero).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from gradcheck.numeric import numerical_grad, numerical_grad_array, sample_indices
from vsa_np.backend import to_host

TINY = 1e-8
CHECKS: dict = {}


@dataclass
class Row:
    check: str
    param: str
    shape: tuple
    checked: int          # how many entries were compared
    max_rel_error: float
    max_abs_grad: float
    tol: float
    status: str

    def as_dict(self):
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d


def register(name: str):
    """Decorator: add a check function `() -> list[Row]` to the registry under `name`."""
    def deco(fn):
        if name in CHECKS and CHECKS[name] is not fn:
            raise ValueError(f"gradient check {name!r} registered twice")
        CHECKS[name] = fn
        return fn
    return deco


def status_of(err: float, scale: float, tol: float) -> str:
    if scale < TINY:
        return "TINY"
    if err <= tol:
        return "PASS"
    if err <= 100 * tol:
        return "WARN"
    return "FAIL"


def row_from(check, param, analytic, numeric, indices, tol) -> Row:
    a = np.asarray(to_host(analytic), dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    sel = tuple(np.array(indices).T) if len(indices) else None
    a_s, n_s = (a[sel], n[sel]) if sel is not None else (a.ravel()[:0], n.ravel()[:0])
    both = np.abs(a_s) + np.abs(n_s)
    keep = both >= TINY
    err = float(np.max(np.abs(a_s - n_s)[keep] / both[keep])) if keep.any() else 0.0
    scale = float(np.max(np.maximum(np.abs(a_s), np.abs(n_s)))) if a_s.size else 0.0
    return Row(check, param, tuple(a.shape), len(indices), err, scale, tol,
               status_of(err, scale, tol))


def compare(check, param, f, x, analytic, df=None, max_checks=None, tol=1e-7, h=1e-5, seed=0):
    """One row: `analytic` (the backward pass's gradient for x) against centered differences.

    f() -> scalar when df is None, else f() -> array and the gradient is of sum(f() * df).
    `max_checks` samples that many entries of a large x (all entries by default).
    """
    indices = (list(np.ndindex(*x.shape)) if max_checks is None
               else sample_indices(x.shape, max_checks, seed))
    if df is None:
        num = numerical_grad(f, x, indices, h)
    else:
        num = numerical_grad_array(f, x, df, indices, h)
    return row_from(check, param, analytic, num, indices, tol)


def compare_model(check, model, batch, tol=1e-6, max_checks=20, h=1e-5, seed=0):
    """One row per parameter of `model`: model.loss(batch) -> (loss, grads), grads keyed like
    model.params. The model must be deterministic here (dropout off, float64)."""
    _, grads = model.loss(batch)
    missing = set(model.params) ^ set(grads)
    if missing:
        raise KeyError(f"{check}: grads and params differ in keys {sorted(missing)}")
    rows = []
    for k, (name, p) in enumerate(sorted(model.params.items())):
        f = lambda: model.loss(batch)[0]  # noqa: E731
        rows.append(compare(check, name, f, p, grads[name], max_checks=max_checks, tol=tol,
                            h=h, seed=seed + k))
    return rows


def run_checks(only=None):
    """Run every registered check (or the names in `only`); return the list of rows."""
    from gradcheck.checks import load_all   # here: the check modules import this one
    load_all()
    names = list(CHECKS) if not only else list(only)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise KeyError(f"no gradient check named {', '.join(unknown)}; "
                       f"known: {', '.join(sorted(CHECKS))}")
    rows = []
    for name in names:
        try:
            rows.extend(CHECKS[name]())
        except Exception as e:  # a crashing check is a failed check, reported as a row
            rows.append(Row(name, f"<{type(e).__name__}>", (), 0, float("inf"), 0.0, 0.0,
                            "ERROR"))
            print(f"gradcheck: check {name!r} raised {type(e).__name__}: {e}")
    return rows
