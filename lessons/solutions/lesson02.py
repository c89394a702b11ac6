"""Lesson 02's exercises, worked."""
import numpy as np


def brnn_sentence(words, p):
    """Eq. 2-6 for one sentence of word indices (T,), row vectors: -> s (T, M)."""
    relu = lambda z: np.maximum(z, 0)  # noqa: E731
    x = p["W_w"][words]                                  # Eq. 2
    e = relu(x @ p["W_e"] + p["b_e"])                    # Eq. 3
    T, H = e.shape
    hf, hb = np.zeros((T, H)), np.zeros((T, H))
    for t in range(T):                                   # Eq. 4, left to right
        prev = hf[t - 1] if t > 0 else np.zeros(H)
        hf[t] = relu(e[t] + prev @ p["W_f"] + p["b_f"])
    for t in reversed(range(T)):                         # Eq. 5, right to left
        nxt = hb[t + 1] if t < T - 1 else np.zeros(H)
        hb[t] = relu(e[t] + nxt @ p["W_b"] + p["b_b"])
    return relu((hf + hb) @ p["W_d"] + p["b_d"])         # Eq. 6


def word_vector_grad(dx, words, V):
    """dW_w (V, E): each position's dx added onto its word's row (a word used twice gets both)."""
    dW = np.zeros((V, dx.shape[1]))
    np.add.at(dW, words, dx)
    return dW
