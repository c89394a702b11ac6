"""Gradient checks for every layer in `vsa_np.core.layers` and `vsa_np.core.conv` (float64, centered differences).

Inputs are drawn away from kinks: ReLU inputs are pushed at least 0.1 away from zero, and the
recurrent checks assert that no valid pre-activation lies within 1e-3 of the ReLU's kink (the
perturbation is 1e-5). Each check returns one row per input or parameter.
"""
import numpy as np

import vsa_np.core.conv as C
import vsa_np.core.layers as L
from gradcheck.registry import compare, register
from vsa_np.backend import rng as make_rng
from vsa_np.backend import xp


def _randn(g, *shape, scale=1.0):
    return g.standard_normal(shape) * scale


def _away_from_zero(g, *shape, margin=0.1):
    x = g.standard_normal(shape)
    return xp.where(x >= 0, x + margin, x - margin)


def _clear_of_kink(a, h, Wh, b, lengths, reverse, margin=1e-3):
    """Recompute every valid pre-activation z_t = a_t + h_prev Wh + b: is |z_t| > margin?"""
    N, T, H = h.shape
    for t in range(T):
        prev = t + 1 if reverse else t - 1
        z = a[:, t] + (h[:, prev] @ Wh if 0 <= prev < T else 0) + b
        valid = xp.asarray(np.asarray(lengths) > t)
        if valid.any() and float(xp.abs(z[valid]).min()) < margin:
            return False
    return True


def _rows(check, f, inputs, grads, df=None, tol=1e-7):
    return [compare(check, name, f, x, g, df=df, tol=tol)
            for (name, x), g in zip(inputs.items(), grads)]


def _check_affine(name, seed, x_shape, M):
    g = make_rng(seed)
    x, W, b = _randn(g, *x_shape), _randn(g, x_shape[-1], M), _randn(g, M)
    out, cache = L.affine_forward(x, W, b)
    dout = _randn(g, *out.shape)
    f = lambda: L.affine_forward(x, W, b)[0]  # noqa: E731
    return _rows(name, f, {"x": x, "W": W, "b": b}, L.affine_backward(dout, cache), dout)


@register("affine")
def check_affine():
    return _check_affine("affine", 1, (4, 5), 3)


@register("affine_3d")
def check_affine_3d():
    """The time-distributed case: one W for every (n, t)."""
    return _check_affine("affine_3d", 2, (3, 4, 5), 6)


@register("relu")
def check_relu():
    g = make_rng(3)
    x = _away_from_zero(g, 4, 6)
    out, cache = L.relu_forward(x)
    dout = _randn(g, *out.shape)
    f = lambda: L.relu_forward(x)[0]  # noqa: E731
    return [compare("relu", "x", f, x, L.relu_backward(dout, cache), df=dout)]


@register("dropout")
def check_dropout():
    g = make_rng(4)
    x = _randn(g, 5, 7)
    f = lambda: L.dropout_forward(x, 0.3, True, make_rng(99))[0]  # noqa: E731  same mask each call
    out, cache = L.dropout_forward(x, 0.3, True, make_rng(99))
    dout = _randn(g, *out.shape)
    return [compare("dropout", "x", f, x, L.dropout_backward(dout, cache), df=dout)]


@register("embedding")
def check_embedding():
    g = make_rng(5)
    W = _randn(g, 6, 4)
    idx = xp.asarray([[0, 3, 3, 1], [5, 3, 0, 0]])  # repeated indices on purpose
    out, cache = L.embedding_forward(idx, W)
    dout = _randn(g, *out.shape)
    f = lambda: L.embedding_forward(idx, W)[0]  # noqa: E731
    return [compare("embedding", "W", f, W, L.embedding_backward(dout, cache), df=dout)]


def _rnn_inputs(seed, N, T, H):
    g = make_rng(seed)
    a = _randn(g, N, T, H)
    Wh, b = _randn(g, H, H, scale=0.3), _randn(g, H, scale=0.1)
    return g, a, Wh, b


@register("rnn_step")
def check_rnn_step():
    g, a, Wh, b = _rnn_inputs(6, 4, 1, 5)
    a, prev_h = a[:, 0], xp.abs(_randn(g, 4, 5))
    out, cache = L.rnn_step_forward(a, prev_h, Wh, b)
    dout = _randn(g, *out.shape)
    f = lambda: L.rnn_step_forward(a, prev_h, Wh, b)[0]  # noqa: E731
    return _rows("rnn_step", f, {"a": a, "prev_h": prev_h, "Wh": Wh, "b": b},
                 L.rnn_step_backward(dout, cache), dout)


def _check_rnn(name, reverse, seed):
    lengths = np.array([5, 3, 1, 0])  # sorted longest first: full, padded, length 1, empty
    for seed in range(seed, seed + 1000, 100):  # the first draw clear of every kink
        g, a, Wh, b = _rnn_inputs(seed, 4, 5, 6)
        out, cache = L.rnn_forward(a, Wh, b, lengths, reverse=reverse)
        if _clear_of_kink(a, out, Wh, b, lengths, reverse):
            break
    dout = _randn(g, *out.shape)
    f = lambda: L.rnn_forward(a, Wh, b, lengths, reverse=reverse)[0]  # noqa: E731
    return _rows(name, f, {"a": a, "Wh": Wh, "b": b}, L.rnn_backward(dout, cache), dout)


@register("rnn_forward_dir")
def check_rnn_fwd():
    return _check_rnn("rnn_forward_dir", False, 7)


@register("rnn_backward_dir")
def check_rnn_bwd():
    return _check_rnn("rnn_backward_dir", True, 8)


@register("lstm_step")
def check_lstm_step():
    g = make_rng(21)
    N, H = 3, 4
    a, prev_h, prev_c = _randn(g, N, 4 * H), _randn(g, N, H), _randn(g, N, H)
    Wh, b = _randn(g, H, 4 * H, scale=0.5), _randn(g, 4 * H, scale=0.1)
    h, c, cache = L.lstm_step_forward(a, prev_h, prev_c, Wh, b)
    dh, dc = _randn(g, N, H), _randn(g, N, H)
    f = lambda: xp.concatenate(L.lstm_step_forward(a, prev_h, prev_c, Wh, b)[:2], axis=1)  # noqa: E731
    return _rows("lstm_step", f, {"a": a, "prev_h": prev_h, "prev_c": prev_c, "Wh": Wh, "b": b},
                 L.lstm_step_backward(dh, dc, cache), xp.concatenate([dh, dc], axis=1))


@register("lstm")
def check_lstm():
    g = make_rng(22)
    N, T, H = 3, 5, 4
    a = _randn(g, N, T, 4 * H)
    Wh, b = _randn(g, H, 4 * H, scale=0.5), _randn(g, 4 * H, scale=0.1)
    out, cache = L.lstm_forward(a, Wh, b)
    dout = _randn(g, *out.shape)
    f = lambda: L.lstm_forward(a, Wh, b)[0]  # noqa: E731
    return _rows("lstm", f, {"a": a, "Wh": Wh, "b": b}, L.lstm_backward(dout, cache), dout)


@register("softmax_loss")
def check_softmax_loss():
    g = make_rng(11)
    M, V = 6, 7
    x = _randn(g, M, V)
    y = xp.asarray(np.random.default_rng(11).integers(0, V, M))
    _, dx = L.softmax_loss(x.copy(), y, 3)
    f = lambda: L.softmax_loss(x.copy(), y, 3)[0]  # noqa: E731  (it overwrites its input)
    return [compare("softmax_loss", "x", f, x, dx)]


def _distinct(g, *shape, gap=0.01):
    """Values at least `gap` apart (a shuffled ramp plus a little noise): no two entries of a
    pooling window tie, so a perturbation of 1e-5 never moves the arg-max (away from kinks)."""
    n = int(np.prod(shape))
    ramp = (np.random.default_rng(int(g.integers(2**31))).permutation(n) - n / 2) * 3 * gap
    return xp.asarray(ramp.reshape(shape) + np.random.default_rng(n).uniform(-gap, gap, shape))


def _check_conv(name, seed, x_shape, k, F, stride, pad):
    g = make_rng(seed)
    x, w, b = _randn(g, *x_shape), _randn(g, k, k, x_shape[-1], F), _randn(g, F)
    out, cache = C.conv_forward(x, w, b, stride, pad)
    dout = _randn(g, *out.shape)
    f = lambda: C.conv_forward(x, w, b, stride, pad)[0]  # noqa: E731
    return _rows(name, f, {"x": x, "w": w, "b": b}, C.conv_backward(dout, cache), dout)


@register("conv")
def check_conv():
    """3 x 3, stride 1, padding 1 (the size-keeping convolution of VGG)."""
    return _check_conv("conv", 12, (2, 5, 6, 3), 3, 4, 1, 1)


@register("conv_stride")
def check_conv_stride():
    """5 x 5, stride 2, padding 2, on an odd size (windows that skip pixels and padding)."""
    return _check_conv("conv_stride", 13, (2, 7, 9, 2), 5, 3, 2, 2)


@register("maxpool")
def check_maxpool():
    g = make_rng(14)
    x = _distinct(g, 2, 5, 4, 3)          # an odd height: the last row is dropped
    out, cache = C.maxpool_forward(x, 2)
    dout = _randn(g, *out.shape)
    f = lambda: C.maxpool_forward(x, 2)[0]  # noqa: E731
    return [compare("maxpool", "x", f, x, C.maxpool_backward(dout, cache), df=dout)]


@register("global_maxpool")
def check_global_maxpool():
    g = make_rng(15)
    x = _distinct(g, 2, 3, 4, 5)
    out, cache = C.global_maxpool_forward(x)
    dout = _randn(g, *out.shape)
    f = lambda: C.global_maxpool_forward(x)[0]  # noqa: E731
    return [compare("global_maxpool", "x", f, x, C.global_maxpool_backward(dout, cache),
                    df=dout)]


@register("global_avgpool")
def check_global_avgpool():
    g = make_rng(16)
    x = _randn(g, 2, 3, 4, 5)
    out, cache = C.global_avgpool_forward(x)
    dout = _randn(g, *out.shape)
    f = lambda: C.global_avgpool_forward(x)[0]  # noqa: E731
    return [compare("global_avgpool", "x", f, x, C.global_avgpool_backward(dout, cache),
                    df=dout)]


# The names registered above, in order (the tests iterate over them).
LAYER_CHECKS = ["affine", "affine_3d", "relu", "dropout", "embedding", "rnn_step",
                "rnn_forward_dir", "rnn_backward_dir", "lstm_step", "lstm", "softmax_loss", "conv", "conv_stride", "maxpool", "global_maxpool",
                "global_avgpool"]
