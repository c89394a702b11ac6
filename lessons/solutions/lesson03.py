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
