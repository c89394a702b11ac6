"""Masked temporal softmax cross-entropy, Eq. 15: y_t = softmax(W_oh h_t + b_o), and the loss
is the negative log probability of the target word at every valid time step.

As in CS231n, the loss is summed over valid positions and divided by the batch size N (not by
the number of words): a long sentence weighs more than a short one, as in the paper's released
code, which maximises the log probability of whole sentences. Padding positions contribute
nothing, to the loss or to the gradient.
"""
from vsa_np.backend import xp


def log_softmax(x, inplace: bool = False):
    """Numerically stable log softmax over the last axis. inplace: overwrite x (a fresh array
    the caller owns), which saves an array the size of x (decoding's (N*K, V) logits)."""
    if inplace:
        x -= x.max(axis=-1, keepdims=True)
    else:
        x = x - x.max(axis=-1, keepdims=True)
    x -= xp.log(xp.exp(x).sum(axis=-1, keepdims=True))
    return x


def softmax_loss_rows(scores, y, n: int):
    """Eq. 15 on M rows (the valid time steps only): the summed negative log probability of the
    targets divided by n, and its gradient. What the generator trains with.

    scores: (M, V), overwritten (it becomes dscores)   y: (M,) int   n: the batch size N
    -> loss (0-d), dscores (M, V)
    """
    M = scores.shape[0]
    rows = xp.arange(M)
    scores -= scores.max(axis=1, keepdims=True)
    picked = scores[rows, y]                       # shifted score of each target
    xp.exp(scores, out=scores)
    z = scores.sum(axis=1, keepdims=True)
    loss = (xp.log(z[:, 0]) - picked).sum() / n    # Eq. 15: -log y_t[target]
    scores *= 1 / (z * n)                          # softmax / n ...
    scores[rows, y] -= 1 / n                       # ... minus the one-hot / n
    return loss, scores


def temporal_softmax_loss(x, y, mask):
    """x: (N, T, V) scores   y: (N, T) int targets in [0, V)   mask: (N, T) bool
    -> loss (0-d array), dx (N, T, V), zero on the padding

    `softmax_loss_rows` on the valid (n, t) rows, scattered back to (N, T, V).
    """
    N, T, V = x.shape
    rows = xp.flatnonzero(mask.reshape(N * T))
    loss, d = softmax_loss_rows(x.reshape(N * T, V)[rows], y.reshape(N * T)[rows], N)
    dx = xp.zeros((N * T, V), dtype=d.dtype)
    dx[rows] = d
    return loss, dx.reshape(N, T, V)
