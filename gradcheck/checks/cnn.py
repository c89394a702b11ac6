"""Gradient check of the shapes world's trained CNN (`vsa_np.data.trained_cnn`, the stand-in for
the paper's VGG, Sec. 3.1.1): every parameter of a tiny copy of it, float64, through the
logistic loss of its labels.

Kinks. ReLUs, 2 x 2 max pools and the global max pool: a centered difference across any of them
is wrong. `clearance` recomputes the network's layers and returns the distance to the nearest
kink (the smallest |ReLU input|, and the smallest gap between the largest and the second largest
value of a pooling window); the check uses the first random draw clear by more than 1e-3 (the
perturbation is 1e-5)."""
import numpy as np

import vsa_np.core.conv as L
from gradcheck.registry import compare_model, register
from vsa_np.backend import to_device, to_host, xp
from vsa_np.data.trained_cnn import LABELS, ShapesCNN

CLEAR = 1e-3


def _gap(windows):
    """Smallest (largest - second largest) over the last axis."""
    s = np.sort(windows, axis=-1)
    return float((s[..., -1] - s[..., -2]).min())


def clearance(net, x) -> float:
    """Distance of the network's forward pass on x (N, S, S, 3) to its nearest kink."""
    p, n, gaps = net.params, len(net.channels), []
    for k in range(1, n + 1):
        z, _ = L.conv_forward(x, p[f"w{k}"], p[f"b{k}"], 1, 1)
        gaps.append(float(xp.abs(z).min()))
        a = to_host(xp.maximum(z, 0))
        N, H, W, C = a.shape
        if k < n:
            w = (a[:, :H // 2 * 2, :W // 2 * 2].reshape(N, H // 2, 2, W // 2, 2, C)
                 .transpose(0, 1, 3, 5, 2, 4).reshape(N, H // 2, W // 2, C, 4))
            x = to_device(w.max(axis=-1))
        else:
            w = a.reshape(N, H * W, C).transpose(0, 2, 1)
            x = to_device(w.max(axis=-1))
        live = w.max(axis=-1) > 0            # an all-zero window passes no gradient: no kink
        if live.any():
            gaps.append(_gap(w[live]))
    h = x @ p["W7"] + p["b7"]
    gaps.append(float(xp.abs(h).min()))
    return min(gaps)


@register("shapes_cnn")
def check_shapes_cnn():
    for seed in range(0, 1000, 7):
        net = ShapesCNN(feature_dim=5, seed=seed, dtype=np.float64, channels=(2, 3, 3, 4))
        g = np.random.default_rng(seed)
        for name, v in net.params.items():          # biases off zero: no unit starts dead
            if name.startswith("b"):
                net.params[name] = to_device(g.uniform(0.05, 0.2, v.shape))
        x = to_device(g.standard_normal((2, 16, 16, 3)))
        if clearance(net, x) > CLEAR:
            break
    y = to_device((g.random((2, len(LABELS))) < 0.3).astype(np.float64))
    return compare_model("shapes_cnn", net, (x, y), tol=1e-6, max_checks=15)
