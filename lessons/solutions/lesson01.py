"""Lesson 01's exercises, worked."""


def affine_backward(dout, x, W):
    """out = x W + b with x (..., D), W (D, M): dx = dout W^T, dW = sum over rows x^T dout,
    db = sum over rows of dout."""
    D, M = W.shape
    dx = dout @ W.T
    dW = x.reshape(-1, D).T @ dout.reshape(-1, M)
    db = dout.reshape(-1, M).sum(axis=0)
    return dx, dW, db


def rnn_step_backward(dh, prev_h, Wh, h):
    """h = max(0, a + prev_h Wh + b): dz = dh * [h > 0]; then da = dz, dprev_h = dz Wh^T,
    dWh = prev_h^T dz, db = sum of dz over the batch."""
    dz = dh * (h > 0)
    return dz, dz @ Wh.T, prev_h.T @ dz, dz.sum(axis=0)
