"""Word embedding lookup, Eq. 2 of the paper: x_t = W_w 1_t.

Multiplying by a one-hot vector is a row lookup, so the forward pass is indexing and the
backward pass scatters the upstream gradient back onto the looked-up rows. A word that occurs
several times in a batch must receive the SUM of its gradients: that is what scatter_add does
(plain fancy-index assignment would keep only one of them).
"""
from vsa_np.backend import scatter_add, xp


def embedding_forward(idx, W):
    """idx: (N, T) int in [0, V)   W: (V, D)   ->   out: (N, T, D)."""
    return W[idx], (idx, W.shape)


def embedding_backward(dout, cache):
    """dout: (N, T, D) -> dW: (V, D). (The indices have no gradient.)"""
    idx, shape = cache
    dW = xp.zeros(shape, dtype=dout.dtype)
    scatter_add(dW, idx.reshape(-1), dout.reshape(-1, shape[1]))
    return dW
