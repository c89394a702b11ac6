"""The shapes world, part 3: a fixed convolutional network, written in NumPy, that plays the
role of the paper's VGG-16 / RCNN (Sec. 3.1.1, Eq. 1 and 13: "CNN(I_b)", the 4096-d fc7 of the
pixels inside box b).

    crop (S x S x 3, S = 64)
    -> conv 5x5, 3 -> 16, ReLU, max-pool 2             (64 -> 60 -> 30)
    -> conv 3x3, 16 -> 32, ReLU, max-pool 2            (30 -> 28 -> 14)
    -> [a] max-pool 2 again: a 7 x 7 x 32 map          where things are
       [b] conv 3x3, 32 -> 256, ReLU, global max-pool  what is there, wherever it is
    -> fully connected ([a], [b]) -> D (4096), ReLU    "fc7"

The filters are random (seeded, He-scaled) and never trained. Two stages of random convolution,
ReLU and pooling keep colour, shape and size of a region linearly readable (the tests fit a
linear probe), which is all the alignment model's W_m (Eq. 1) needs. The whole-image feature
that the generator gets (Eq. 13) must also say WHAT is in a picture of several small objects,
wherever they are; a 7 x 7 map alone reads that out poorly from a thousand pictures, so the head
adds branch [b], a wide random convolution max-pooled over all positions (the global pooling of
modern CNNs): a translation-invariant "is there something like this anywhere" code.

Each convolution is one matrix product over all windows of a chunk of crops (im2col), not a
loop over pixels.
"""
from __future__ import annotations

import numpy as np

INPUT_SIZE = 64
LAYERS = ((5, 16, 2), (3, 32, 2))   # (kernel, channels, pool) of the two conv-ReLU-pool stages
GRID_POOL = 2                        # branch [a]: extra max-pool of the last map
GLOBAL = (3, 256)                    # branch [b]: (kernel, channels), then global max


def pool_max(y: np.ndarray, p: int) -> np.ndarray:
    """Max-pool the last two axes of y (..., H, W) by p x p (edges that do not fill a window are
    dropped): first over rows, then over columns, with whole-slice maxima (fast in NumPy)."""
    if p == 1:
        return y
    H, W = y.shape[-2] // p * p, y.shape[-1] // p * p
    rows = y[..., :H, :W].reshape(*y.shape[:-2], H // p, p, W)
    m = rows[..., 0, :].copy()
    for i in range(1, p):
        np.maximum(m, rows[..., i, :], out=m)
    cols = m.reshape(*m.shape[:-1], W // p, p)
    out = cols[..., 0].copy()
    for i in range(1, p):
        np.maximum(out, cols[..., i], out=out)
    return out


def conv_relu(x: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """'Valid' k x k convolution and ReLU. x (C, M, H, W) -> (F, M, H-k+1, W-k+1); w (F, C*k*k).

    Channels come first so that im2col is k*k copies of long contiguous rows, and the whole
    convolution is ONE matrix product (F, C*k*k) @ (C*k*k, M*Ho*Wo)."""
    C, M, H, W = x.shape
    Ho, Wo = H - k + 1, W - k + 1
    cols = np.empty((C, k, k, M, Ho, Wo), dtype=np.float32)
    for dy in range(k):
        for dx in range(k):
            cols[:, dy, dx] = x[:, :, dy:dy + Ho, dx:dx + Wo]
    y = w @ cols.reshape(C * k * k, M * Ho * Wo)
    np.maximum(y, 0, out=y)
    return y.reshape(-1, M, Ho, Wo)


def _he(rng, fan_out: int, fan_in: int) -> np.ndarray:
    return (rng.standard_normal((fan_out, fan_in)) * np.sqrt(2.0 / fan_in)).astype(np.float32)


class RandomCNN:
    """`RandomCNN(feature_dim, seed)(crops)`: crops (M, S, S, 3) uint8 -> (M, D) float32."""

    def __init__(self, feature_dim: int = 4096, seed: int = 0, input_size: int = INPUT_SIZE):
        rng = np.random.default_rng([seed, 0x5EED])
        self.input_size, self.feature_dim = input_size, feature_dim
        self.convs, size, channels = [], input_size, 3
        for k, c, pool in LAYERS:
            self.convs.append((_he(rng, c, channels * k * k), k, pool))
            size, channels = (size - k + 1) // pool, c
        k, c = GLOBAL
        self.w_global = _he(rng, c, channels * k * k)
        n_grid = (size // GRID_POOL) ** 2 * channels
        # fc7 sees both branches; [b] is scaled so that both carry similar energy into fc7
        self.global_scale = np.float32(np.sqrt(n_grid / c))
        self.w_fc = _he(rng, feature_dim, n_grid + c).T.copy()     # (n_grid + c, D)

    def __call__(self, crops: np.ndarray, chunk: int = 64) -> np.ndarray:
        M, S = len(crops), self.input_size
        if crops.shape[1:] != (S, S, 3):
            raise ValueError(f"crops must be (M, {S}, {S}, 3), got {crops.shape}")
        out = np.empty((M, self.feature_dim), dtype=np.float32)
        for s in range(0, M, chunk):
            x = crops[s:s + chunk].transpose(3, 0, 1, 2).astype(np.float32) / 255.0 - 0.5
            for w, k, pool in self.convs:
                x = pool_max(conv_relu(x, w, k), pool)                    # (C, m, H, W)
            m = x.shape[1]
            grid = pool_max(x, GRID_POOL).transpose(1, 0, 2, 3).reshape(m, -1)
            glob = conv_relu(x, self.w_global, GLOBAL[0]).max(axis=(2, 3)).T  # (m, c)
            z = np.hstack([grid, self.global_scale * glob])
            np.maximum(z @ self.w_fc, 0, out=out[s:s + m])
        return out
