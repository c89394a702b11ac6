"""Lesson 09's exercises, worked."""
import numpy as np


def conv_loops(x, w, b, stride, pad):
    """out[n, i, j, f] = b[f] + sum over the k x k x C window at (stride i, stride j) of the
    zero-padded x, times w[..., f]. x (N, H, W, C), w (k, k, C, F)."""
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    N, H, W, C = x.shape
    k, F = w.shape[0], w.shape[3]
    xpad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    Ho, Wo = (H + 2 * pad - k) // stride + 1, (W + 2 * pad - k) // stride + 1
    out = np.zeros((N, Ho, Wo, F))
    for i in range(Ho):
        for j in range(Wo):
            window = xpad[:, i * stride:i * stride + k, j * stride:j * stride + k]  # (N, k, k, C)
            out[:, i, j] = np.tensordot(window, w, axes=3) + b
    return out


def maxpool_backward(dout, x, p):
    """Each p x p window's gradient on its first largest entry (reading order)."""
    dout, x = np.asarray(dout), np.asarray(x)
    dx = np.zeros_like(x)
    N, Ho, Wo, C = dout.shape
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                for c in range(C):
                    win = x[n, i * p:(i + 1) * p, j * p:(j + 1) * p, c]
                    a, b = np.unravel_index(np.argmax(win), win.shape)
                    dx[n, i * p + a, j * p + b, c] = dout[n, i, j, c]
    return dx
