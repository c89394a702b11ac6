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


def brnn_sentence_backward(ds, words, p):
    """Eq. 2-6 backward for one sentence (row vectors): ds (T, M) the gradient on each s_t ->
    {name: gradient} for W_w, W_e, b_e, W_f, b_f, W_b, b_b, W_d, b_d. The forward pass is run
    again, keeping what the backward pass reads; then the lesson's derivation, line by line."""
    relu = lambda z: np.maximum(z, 0)  # noqa: E731
    x = p["W_w"][words]                                  # Eq. 2
    e = relu(x @ p["W_e"] + p["b_e"])                    # Eq. 3
    T, H = e.shape
    hf, hb = np.zeros((T, H)), np.zeros((T, H))
    for t in range(T):                                   # Eq. 4
        hf[t] = relu(e[t] + (hf[t - 1] if t else np.zeros(H)) @ p["W_f"] + p["b_f"])
    for t in reversed(range(T)):                         # Eq. 5
        hb[t] = relu(e[t] + (hb[t + 1] if t < T - 1 else np.zeros(H)) @ p["W_b"] + p["b_b"])
    u = hf + hb
    s = relu(u @ p["W_d"] + p["b_d"])                    # Eq. 6
    g = {}
    dz = ds * (s > 0)                                    # Eq. 6 backward
    g["W_d"], g["b_d"] = u.T @ dz, dz.sum(axis=0)
    du = dz @ p["W_d"].T                                 # to h^f_t and h^b_t alike
    dzf, carry = np.zeros((T, H)), np.zeros(H)
    for t in reversed(range(T)):                         # Eq. 4: h^f_t also fed h^f_{t+1}
        dzf[t] = (du[t] + carry) * (hf[t] > 0)
        carry = dzf[t] @ p["W_f"].T
    g["W_f"] = np.vstack([np.zeros((1, H)), hf[:-1]]).T @ dzf
    g["b_f"] = dzf.sum(axis=0)
    dzb, carry = np.zeros((T, H)), np.zeros(H)
    for t in range(T):                                   # Eq. 5: h^b_t also fed h^b_{t-1}
        dzb[t] = (du[t] + carry) * (hb[t] > 0)
        carry = dzb[t] @ p["W_b"].T
    g["W_b"] = np.vstack([hb[1:], np.zeros((1, H))]).T @ dzb
    g["b_b"] = dzb.sum(axis=0)
    da = (dzf + dzb) * (e > 0)                           # e_t fed both directions; Eq. 3
    g["W_e"], g["b_e"] = x.T @ da, da.sum(axis=0)
    g["W_w"] = np.zeros_like(p["W_w"])
    np.add.at(g["W_w"], words, da @ p["W_e"].T)          # Eq. 2: a repeated word gets both
    return g
