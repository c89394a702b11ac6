"""The one recurrence (Eq. 4-5) over sentences sorted by length against each sentence run alone:
the batch skips the padding and must change nothing, forward or backward, in either direction."""
import numpy as np
import pytest

from vsa_np.backend import to_host, xp
from vsa_np.core.layers import rnn_backward, rnn_forward


@pytest.mark.parametrize("reverse", [False, True])
def test_sorted_batch_equals_each_sentence_alone(reverse):
    g = np.random.default_rng(0)
    lengths = np.array([7, 7, 5, 3, 1, 0])           # ties, a single word, an empty row
    B, T, H = len(lengths), 8, 5
    a = g.standard_normal((B, T, H))
    Wh, b = g.standard_normal((H, H)) * 0.4, g.standard_normal(H) * 0.1
    dh = g.standard_normal((B, T, H))
    h, cache = rnn_forward(xp.asarray(a), xp.asarray(Wh), xp.asarray(b), lengths, reverse)
    da, dWh, db = map(to_host, rnn_backward(xp.asarray(dh), cache))
    h = to_host(h)
    dWh_ref, db_ref = np.zeros_like(Wh), np.zeros_like(b)
    for n, L in enumerate(lengths):
        assert not h[n, L:].any() and not da[n, L:].any()      # nothing outside the sentence
        if L == 0:
            continue
        h1, c1 = rnn_forward(xp.asarray(a[n:n + 1, :L]), xp.asarray(Wh), xp.asarray(b),
                             reverse=reverse)
        da1, dWh1, db1 = map(to_host, rnn_backward(xp.asarray(dh[n:n + 1, :L]), c1))
        np.testing.assert_allclose(h[n, :L], to_host(h1)[0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(da[n, :L], da1[0], rtol=1e-10, atol=1e-14)
        dWh_ref += dWh1
        db_ref += db1
    np.testing.assert_allclose(dWh, dWh_ref, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(db, db_ref, rtol=1e-10, atol=1e-14)


def test_one_sentence_by_hand():
    """h_t = max(0, a_t + h_{t-1} W + b) written out for a 3-word sentence."""
    g = np.random.default_rng(1)
    a, Wh, b = g.standard_normal((1, 3, 2)), g.standard_normal((2, 2)), g.standard_normal(2)
    h = to_host(rnn_forward(xp.asarray(a), xp.asarray(Wh), xp.asarray(b))[0])[0]
    prev = np.zeros(2)
    for t in range(3):
        prev = np.maximum(a[0, t] + prev @ Wh + b, 0)
        np.testing.assert_allclose(h[t], prev, rtol=1e-12)
