"""Masked temporal softmax cross-entropy, Eq. 15: y_t = softmax(W_oh h_t + b_o), and the loss
is the negative log probability of the target word at every valid time step.

As in CS231n, the loss is summed over valid positions and divided by the batch size N (not by
the number of words): a long sentence weighs more than a short one, as in the paper's released
code, which maximises the log probability of whole sentences. Padding positions contribute
nothing, to the loss or to the gradient.
"""
from vsa_np.backend import xp


def log_softmax(x):
    """Numerically stable log softmax over the last axis."""
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def temporal_softmax_loss(x, y, mask):
    """x: (N, T, V) scores   y: (N, T) int targets in [0, V)   mask: (N, T) bool
    -> loss (0-d array), dx (N, T, V)
    """
    N, T, V = x.shape
    logp = log_softmax(x.reshape(N * T, V))
    y_flat = y.reshape(N * T)
    m = mask.reshape(N * T).astype(x.dtype)
    rows = xp.arange(N * T)
    loss = -(logp[rows, y_flat] * m).sum() / N  # Eq. 15, summed over valid t
    dx = xp.exp(logp)  # softmax probabilities
    dx[rows, y_flat] -= 1
    dx *= (m / N)[:, None]
    return loss, dx.reshape(N, T, V)
