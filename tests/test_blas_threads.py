"""vsa_np.blas_threads: reading and limiting NumPy's BLAS thread count."""
import threading

import numpy as np
import pytest

from vsa_np import blas_threads


def test_cores_and_count_are_positive():
    assert blas_threads.cores() >= 1
    assert blas_threads.get() >= 1


@pytest.mark.skipif(not blas_threads.available(),
                    reason="this NumPy's BLAS does not expose its thread count (not OpenBLAS)")
def test_limited_sets_and_restores_the_count():
    before = blas_threads.get()
    with blas_threads.limited(1):
        assert blas_threads.get() == 1
        with blas_threads.limited(1):               # re-entrant
            assert blas_threads.get() == 1
        a = np.random.default_rng(0).standard_normal((300, 300))
        np.testing.assert_allclose(a @ a.T, (a @ a.T).T, atol=1e-9)   # BLAS still works
    assert blas_threads.get() == before
    with pytest.raises(KeyError):
        with blas_threads.limited(1):
            raise KeyError("inside")
    assert blas_threads.get() == before


@pytest.mark.skipif(not blas_threads.available(),
                    reason="this NumPy's BLAS does not expose its thread count (not OpenBLAS)")
def test_products_from_two_threads_at_once_are_right():
    """With one BLAS thread, products may run from two Python threads at the same time (the
    way beam search uses it): each gets its own exact result."""
    g = np.random.default_rng(1)
    mats = [g.standard_normal((400, 300)).astype(np.float32) for _ in range(2)]
    got = [None, None]

    def run(i):
        for _ in range(5):
            got[i] = mats[i] @ mats[i].T

    with blas_threads.limited(1):
        want = [m @ m.T for m in mats]              # one at a time, same thread count
        ts = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        [t.start() for t in ts]
        [t.join() for t in ts]
    for g_, w in zip(got, want):
        np.testing.assert_array_equal(g_, w)
