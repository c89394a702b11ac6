"""Layers: gradient checks (float64), forward values against naive loops, masks and edge cases."""
import numpy as np
import pytest

import vsa_np.core.conv as C
import vsa_np.core.layers as L
from gradcheck.checks.layers import LAYER_CHECKS
from gradcheck.registry import CHECKS, run_checks
from vsa_np.backend import rng, to_host, xp


def host(a):
    return np.asarray(to_host(a))


@pytest.mark.parametrize("name", LAYER_CHECKS)
def test_layer_gradient(name):
    rows = run_checks([name])
    assert rows, name
    for r in rows:
        assert r.status in ("PASS", "TINY"), r
        assert r.max_rel_error < 1e-7, r


def test_every_layer_has_a_check():
    run_checks(LAYER_CHECKS)  # loads the module
    assert set(LAYER_CHECKS) <= set(CHECKS)


# ---------------------------------------------------------------- forward values, naive loops

def test_affine_matches_loop():
    g = np.random.default_rng(0)
    x, W, b = g.standard_normal((2, 3, 4)), g.standard_normal((4, 5)), g.standard_normal(5)
    out = host(L.affine_forward(xp.asarray(x), xp.asarray(W), xp.asarray(b))[0])
    for n in range(2):
        for t in range(3):
            for m in range(5):
                assert out[n, t, m] == pytest.approx(sum(x[n, t, d] * W[d, m] for d in range(4))
                                                     + b[m])


def test_relu_forward_backward_values():
    x = xp.asarray([[-2.0, 0.5], [3.0, -0.1]])
    out, cache = L.relu_forward(x)
    assert host(out).tolist() == [[0.0, 0.5], [3.0, 0.0]]
    assert host(L.relu_backward(xp.ones_like(x), cache)).tolist() == [[0, 1], [1, 0]]


def test_dropout_modes_and_seeding():
    x = xp.ones((200, 100))
    out, _ = L.dropout_forward(x, 0.4, train=False)
    assert out is x  # test mode: identity, no rescaling (inverted dropout)
    a, _ = L.dropout_forward(x, 0.4, True, rng(3))
    b, _ = L.dropout_forward(x, 0.4, True, rng(3))
    assert np.array_equal(host(a), host(b))  # same seed, same mask
    a = host(a)
    np.testing.assert_allclose(np.unique(a), [0.0, 1 / 0.6])
    assert abs((a == 0).mean() - 0.4) < 0.02      # drop rate
    assert abs(a.mean() - 1.0) < 0.03             # expectation preserved
    with pytest.raises(ValueError):
        L.dropout_forward(x, 1.0, True, rng(0))


def test_embedding_forward_and_repeated_index_backward():
    W = xp.asarray(np.arange(12.0).reshape(4, 3))
    idx = xp.asarray([[1, 1, 3], [0, 1, 2]])
    out, cache = L.embedding_forward(idx, W)
    assert host(out)[0, 2].tolist() == [9.0, 10.0, 11.0]
    dout = np.random.default_rng(1).standard_normal((2, 3, 3))
    dW = host(L.embedding_backward(xp.asarray(dout), cache))
    expect = np.zeros((4, 3))
    for n in range(2):
        for t in range(3):
            expect[host(idx)[n, t]] += dout[n, t]
    np.testing.assert_allclose(dW, expect)  # word 1 appears 3 times: all three gradients summed


def naive_rnn(a, Wh, b, lengths, reverse):
    """Eq. 4 / Eq. 5 written out per sentence over its valid words only."""
    N, T, H = a.shape
    out = np.zeros((N, T, H))
    for n in range(N):
        prev = np.zeros(H)
        ts = range(lengths[n] - 1, -1, -1) if reverse else range(lengths[n])
        for t in ts:
            prev = np.maximum(0, a[n, t] + prev @ Wh + b)
            out[n, t] = prev
    return out


@pytest.mark.parametrize("reverse", [False, True])
def test_rnn_matches_naive_and_is_zero_outside(reverse):
    g = np.random.default_rng(2)
    N, T, H = 4, 6, 5
    a, Wh, b = g.standard_normal((N, T, H)), 0.3 * g.standard_normal((H, H)), g.standard_normal(H)
    lengths = np.array([6, 3, 1, 0])
    h, cache = L.rnn_forward(xp.asarray(a), xp.asarray(Wh), xp.asarray(b), lengths, reverse)
    np.testing.assert_allclose(host(h), naive_rnn(a, Wh, b, lengths, reverse), rtol=1e-12,
                               atol=1e-12)
    da, _, _ = L.rnn_backward(xp.asarray(g.standard_normal((N, T, H))), cache)
    outside = np.arange(T)[None] >= lengths[:, None]
    assert np.all(host(da)[outside] == 0)          # padding gets no gradient


def test_rnn_batch_of_one_and_length_one():
    g = np.random.default_rng(4)
    a, Wh, b = g.standard_normal((1, 1, 3)), g.standard_normal((3, 3)), g.standard_normal(3)
    h = host(L.rnn_forward(xp.asarray(a), xp.asarray(Wh), xp.asarray(b))[0])
    np.testing.assert_allclose(h[0, 0], np.maximum(0, a[0, 0] + b))  # h_0 = 0: no recurrence


def test_rnn_step_equals_the_sequence():
    g = np.random.default_rng(5)
    a, Wh, b = g.standard_normal((2, 3, 4)), 0.3 * g.standard_normal((4, 4)), g.standard_normal(4)
    h = host(L.rnn_forward(*map(xp.asarray, (a, Wh, b)))[0])
    prev = xp.zeros((2, 4))
    for t in range(3):
        prev, _ = L.rnn_step_forward(xp.asarray(a[:, t]), prev, xp.asarray(Wh), xp.asarray(b))
        np.testing.assert_allclose(host(prev), h[:, t], rtol=1e-12)


def test_softmax_loss_matches_loop():
    g = np.random.default_rng(6)
    M, V = 5, 6
    x, y = g.standard_normal((M, V)), g.integers(0, V, M)
    loss, dx = L.softmax_loss(xp.asarray(x.copy()), xp.asarray(y), 3)   # it overwrites
    ref = -sum(np.log(np.exp(x[m, y[m]]) / np.exp(x[m]).sum()) for m in range(M))
    assert float(host(loss)) == pytest.approx(ref / 3, rel=1e-12)
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    p[np.arange(M), y] -= 1
    np.testing.assert_allclose(host(dx), p / 3, rtol=1e-10)
    big = xp.asarray(np.full((1, 3), 1e4))          # a huge score does not overflow
    assert np.isfinite(float(host(L.softmax_loss(big, xp.zeros(1, int), 1)[0])))


# ---------------------------------------------------------------- convolution and pooling

def _conv_naive(x, w, b, stride, pad):
    N, H, W, C = x.shape
    k, F = w.shape[0], w.shape[3]
    xpad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    Ho, Wo = (H + 2 * pad - k) // stride + 1, (W + 2 * pad - k) // stride + 1
    out = np.zeros((N, Ho, Wo, F))
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                for f in range(F):
                    win = xpad[n, i * stride:i * stride + k, j * stride:j * stride + k]
                    out[n, i, j, f] = (win * w[..., f]).sum() + b[f]
    return out


@pytest.mark.parametrize("stride,pad,k", [(1, 0, 3), (1, 1, 3), (2, 2, 5), (3, 1, 2)])
def test_conv_matches_naive_loop(stride, pad, k):
    g = np.random.default_rng(stride * 10 + pad)
    x, w, b = g.standard_normal((2, 7, 8, 3)), g.standard_normal((k, k, 3, 4)), g.standard_normal(4)
    out, cache = C.conv_forward(xp.asarray(x), xp.asarray(w), xp.asarray(b), stride, pad)
    np.testing.assert_allclose(host(out), _conv_naive(x, w, b, stride, pad), atol=1e-12)
    # backward against the naive forward's exact linearity: d<out, dout>/dx, one entry by hand
    dout = g.standard_normal(out.shape)
    dx, dw, db = (host(a) for a in C.conv_backward(xp.asarray(dout), cache))
    e = np.zeros_like(x)
    e[1, 3, 4, 2] = 1.0
    lin = (_conv_naive(e, w, np.zeros(4), stride, pad) * dout).sum()
    assert dx[1, 3, 4, 2] == pytest.approx(lin, abs=1e-12)
    assert db == pytest.approx(dout.sum(axis=(0, 1, 2)))
    assert dx.shape == x.shape and dw.shape == w.shape


def test_conv_rejects_mismatched_filters():
    with pytest.raises(ValueError, match="do not match"):
        C.conv_forward(xp.zeros((1, 4, 4, 3)), xp.zeros((3, 3, 2, 5)), xp.zeros(5))


def test_maxpool_matches_naive_loop_and_routes_to_first_max():
    g = np.random.default_rng(1)
    x = g.standard_normal((2, 5, 6, 3))            # 5 rows: the last one is dropped
    out, cache = C.maxpool_forward(xp.asarray(x), 2)
    ref = np.array([[[[x[n, 2 * i:2 * i + 2, 2 * j:2 * j + 2, c].max() for c in range(3)]
                      for j in range(3)] for i in range(2)] for n in range(2)])
    np.testing.assert_array_equal(host(out), ref)
    dx = host(C.maxpool_backward(xp.ones(out.shape), cache))
    assert dx.sum() == out.size and (dx[:, 4] == 0).all()
    tie = xp.zeros((1, 2, 2, 1))                   # four equal values: only the first gets it
    _, c = C.maxpool_forward(tie, 2)
    assert host(C.maxpool_backward(xp.ones((1, 1, 1, 1)), c))[0, :, :, 0].tolist() == [[1, 0],
                                                                                        [0, 0]]


def test_global_pools_match_loops():
    g = np.random.default_rng(2)
    x = g.standard_normal((2, 3, 4, 5))
    mx, cmax = C.global_maxpool_forward(xp.asarray(x))
    av, cavg = C.global_avgpool_forward(xp.asarray(x))
    for n in range(2):
        for c in range(5):
            assert host(mx)[n, c] == x[n, :, :, c].max()
            assert host(av)[n, c] == pytest.approx(x[n, :, :, c].mean())
    dmax = host(C.global_maxpool_backward(xp.ones((2, 5)), cmax))
    assert (dmax.sum(axis=(1, 2)) == 1).all() and dmax[x == x.max(axis=(1, 2), keepdims=True)].all()
    davg = host(C.global_avgpool_backward(xp.ones((2, 5)), cavg))
    np.testing.assert_allclose(davg, 1 / 12)


def test_conv_backward_without_input_gradient():
    g = np.random.default_rng(3)
    x, w, b = (xp.asarray(g.standard_normal(s)) for s in ((2, 5, 5, 3), (3, 3, 3, 2), (2,)))
    out, cache = C.conv_forward(x, w, b, 1, 1)
    dout = xp.asarray(g.standard_normal(out.shape))
    full, skip = C.conv_backward(dout, cache), C.conv_backward(dout, cache, input_grad=False)
    assert skip[0] is None
    np.testing.assert_array_equal(host(full[1]), host(skip[1]))
