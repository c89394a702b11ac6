"""Lesson 05's exercises, worked."""
import numpy as np


def viterbi(S, beta):
    """argmax_a sum_j S[j, a_j] + beta * #{j : a_j = a_(j+1)} (Eq. 10-12) -> (a (N,), E)."""
    N, M = S.shape
    delta = S[0].copy()
    back = np.zeros((N, M), np.int64)
    for j in range(1, N):
        cand = delta[:, None] + beta * np.eye(M)        # [i', i]: from region i' to region i
        back[j] = cand.argmax(axis=0)
        delta = S[j] + cand.max(axis=0)
    a = np.zeros(N, np.int64)
    a[-1] = delta.argmax()
    for j in range(N - 1, 0, -1):                       # the walk back
        a[j - 1] = back[j, a[j]]
    return a, float(delta.max())


def mrf_energy(S, a, beta):
    """E(a) = sum_j S[j, a_j] (Eq. 11) + beta per pair of equal neighbours (Eq. 12)."""
    return float(S[np.arange(len(a)), a].sum() + beta * np.sum(a[1:] == a[:-1]))
