"""Lesson 03's exercises, worked."""
import numpy as np


def eq8_backward(dS, v, s, seg):
    """S_kl = sum_{t in l} max_i v_ki . s_t. v (N, R, M), s (W, M), seg (W,) the sentence of each
    word, dS (N, L) -> dv (N, R, M), ds (W, M): each (image, word) sends dS[k, seg[t]] to the
    word's best region of image k only."""
    N, R, _ = v.shape
    dv, ds = np.zeros_like(v), np.zeros_like(s)
    for k in range(N):
        dots = s @ v[k].T                          # (W, R)
        best = dots.argmax(axis=1)
        for t in range(len(s)):
            g = dS[k, seg[t]]
            dv[k, best[t]] += g * s[t]
            ds[t] += g * v[k, best[t]]
    return dv, ds


def ranking_loss_grad(S, margin=1.0):
    """Eq. 9 divided by B, and dS: every active hinge gives +1 on its mismatched entry and -1
    on the diagonal entry it compares with, all divided by B."""
    B = len(S)
    loss, dS = 0.0, np.zeros_like(S)
    for k in range(B):
        for l in range(B):
            if l == k:
                continue
            row = S[k, l] - S[k, k] + margin          # sentence l for image k
            col = S[l, k] - S[k, k] + margin          # image l for sentence k
            if row > 0:
                loss += row
                dS[k, l] += 1
                dS[k, k] -= 1
            if col > 0:
                loss += col
                dS[l, k] += 1
                dS[k, k] -= 1
    return loss / B, dS / B


def eq8_eq9(v, s, seg):
    """Eq. 8 scores of B images and B sentences, Eq. 9's loss per pair, and dv, ds, without a
    Python loop: v (B, R, M), s (W, M), seg (W,) the sentence of each word -> loss, dv, ds."""
    B, R, _ = v.shape
    Q = v @ s.T                                          # every v_ki . s_t: (B, R, W)
    best = Q.argmax(axis=1)                              # each word's best region, per image
    G = (seg[:, None] == np.arange(B)).astype(v.dtype)   # (W, B): word t is in sentence seg[t]
    S = np.take_along_axis(Q, best[:, None, :], axis=1)[:, 0] @ G           # Eq. 8: (B, B)
    d = np.diag(S)
    rows = np.maximum(S - d[:, None] + 1, 0)             # sentence l against image k's own
    cols = np.maximum(S - d[None, :] + 1, 0)             # image l against sentence k's own
    np.fill_diagonal(rows, 0)
    np.fill_diagonal(cols, 0)
    loss = (rows.sum() + cols.sum()) / B                                     # Eq. 9, per pair
    on_r, on_c = (rows > 0).astype(v.dtype), (cols > 0).astype(v.dtype)
    dS = on_r + on_c
    dS[np.arange(B), np.arange(B)] = -(on_r.sum(axis=1) + on_c.sum(axis=0))
    dS /= B
    dm = dS @ G.T                                        # (B, W): word t gets dS[k, seg[t]]
    dQ = (best[:, None, :] == np.arange(R)[None, :, None]) * dm[:, None, :]   # best region only
    dv = dQ @ s                                          # (B, R, M)
    ds = np.einsum("krw,krm->wm", dQ, v)                 # every image k, not only its own
    return loss, dv, ds
