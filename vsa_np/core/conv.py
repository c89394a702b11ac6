"""Convolution and pooling, forward and backward, for the CNN that plays the paper's VGG on the
shapes world (Sec. 3.1.1, CNN(I_b)). Channels-last, x (N, H, W, C), filters w (k, k, C, F):
im2col makes the convolution ONE product (N*Ho*Wo, k*k*C) @ (k*k*C, F), already (N, Ho, Wo, F).
"""
from vsa_np.backend import xp

as_strided = xp.lib.stride_tricks.as_strided


def _out_size(n: int, k: int, stride: int, pad: int) -> int:
    return (n + 2 * pad - k) // stride + 1


def conv_forward(x, w, b, stride: int = 1, pad: int = 0):
    """out[n, i, j, f] = b[f] + sum_{dy, dx, c} xpad[n, s*i + dy, s*j + dx, c] w[dy, dx, c, f].
    x: (N, H, W, C)  w: (k, k, C, F)  b: (F,) -> out: (N, Ho, Wo, F), Ho = (H + 2 pad - k) // s + 1
    """
    N, H, W, C = x.shape
    k, k2, C2, F = w.shape
    if k != k2 or C != C2:
        raise ValueError(f"conv_forward: x {x.shape} and w {w.shape} do not match "
                         "(w must be (k, k, C, F))")
    Ho, Wo = _out_size(H, k, stride, pad), _out_size(W, k, stride, pad)
    if Ho < 1 or Wo < 1:
        raise ValueError(f"conv_forward: a {k}x{k} filter does not fit in {H}x{W} (pad {pad})")
    xpad = xp.ascontiguousarray(xp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))) if pad
                                else x)
    cols = xp.empty((N, Ho, Wo, k, k * C), dtype=x.dtype)
    sN, sY, sX, sC = xpad.strides
    for dy in range(k):
        # im2col, one filter row at a time: a window's row is k*C consecutive numbers
        rows = as_strided(xpad[:, dy:], (N, Ho, Wo, k * C), (sN, stride * sY, stride * sX, sC))
        cols[:, :, :, dy] = rows
    out = cols.reshape(N * Ho * Wo, k * k * C) @ w.reshape(k * k * C, F) + b
    return out.reshape(N, Ho, Wo, F), (cols, x.shape, w, stride, pad)


def conv_backward(dout, cache, input_grad: bool = True):
    """dout: (N, Ho, Wo, F) -> dx (N, H, W, C), dw (k, k, C, F), db (F,). input_grad=False skips
    dx (None): the first layer's input is the picture."""
    cols, x_shape, w, stride, pad = cache
    N, H, W, C = x_shape
    k, F = w.shape[0], w.shape[3]
    Ho, Wo = dout.shape[1:3]
    d2 = dout.reshape(N * Ho * Wo, F)
    dw = (cols.reshape(N * Ho * Wo, k * k * C).T @ d2).reshape(w.shape)
    db = d2.sum(axis=0)
    if not input_grad:
        return None, dw, db
    dxpad = xp.zeros((N, H + 2 * pad, W + 2 * pad, C), dtype=dout.dtype)
    for dy in range(k):                        # col2im: the k*k copies added back
        for dx in range(k):
            # one filter tap at a time: a contiguous (N*Ho*Wo, C) product
            dxpad[:, dy:dy + stride * Ho:stride,
                  dx:dx + stride * Wo:stride] += (d2 @ w[dy, dx].T).reshape(N, Ho, Wo, C)
    dx_ = dxpad[:, pad:pad + H, pad:pad + W] if pad else dxpad
    return dx_, dw, db


def maxpool_forward(x, p: int = 2):
    """Max over non-overlapping p x p windows (a ragged edge is dropped, as VGG's pooling does).
    x: (N, H, W, C) -> out: (N, H // p, W // p, C), as p*p - 1 maxima of strided views of x."""
    N, H, W, C = x.shape
    Ho, Wo = H // p, W // p
    out = x[:, 0:Ho * p:p, 0:Wo * p:p].copy()
    for a in range(p):
        for b in range(p):
            if a or b:
                xp.maximum(out, x[:, a:Ho * p:p, b:Wo * p:p], out=out)
    return out, (x, out, p)


def maxpool_backward(dout, cache):
    """dout: (N, Ho, Wo, C) -> dx (N, H, W, C): to each window's first maximum."""
    x, out, p = cache
    Ho, Wo = out.shape[1:3]
    dx = xp.zeros(x.shape, dtype=dout.dtype)
    free = xp.ones(out.shape, dtype=bool)       # windows whose maximum is not yet found
    for a in range(p):
        for b in range(p):
            hit = (x[:, a:Ho * p:p, b:Wo * p:p] == out) & free
            dx[:, a:Ho * p:p, b:Wo * p:p] = dout * hit
            free &= ~hit
    return dx


def global_maxpool_forward(x):
    """The largest value of each channel over all positions.  x: (N, H, W, C) -> out: (N, C)"""
    N, H, W, C = x.shape
    flat = x.reshape(N, H * W, C)
    arg = flat.argmax(axis=1)                                          # (N, C)
    out = xp.take_along_axis(flat, arg[:, None, :], axis=1)[:, 0]
    return out, (arg, x.shape)


def global_maxpool_backward(dout, cache):
    """dout: (N, C) -> dx (N, H, W, C): the gradient goes to each channel's arg-max position."""
    arg, (N, H, W, C) = cache
    onehot = xp.arange(H * W)[None, :, None] == arg[:, None, :]       # (N, H*W, C)
    return (onehot * dout[:, None, :]).reshape(N, H, W, C)


def global_avgpool_forward(x):
    """The mean of each channel over all positions. x: (N, H, W, C) -> out: (N, C)."""
    return x.mean(axis=(1, 2)), x.shape


def global_avgpool_backward(dout, cache):
    """dout: (N, C) -> dx (N, H, W, C): every position gets dout / (H W)."""
    N, H, W, C = cache
    return xp.broadcast_to(dout[:, None, None, :] / (H * W), (N, H, W, C)).copy()
