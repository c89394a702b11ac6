"""The layers both models are built from, CS231n style: `out, cache = x_forward(...)` and
`grads = x_backward(dout, cache)`. f in the paper is the ReLU everywhere.

    affine, relu, dropout        the non-recurrent layers (dropout: Sec. 3.3)
    embedding                    x_t = W_w 1_t, Eq. 2
    rnn                          h_t = f(a_t + W h_{t-1} + b), Eq. 4-5 and Eq. 14, either direction
    lstm                         the LSTM the generator may use in Eq. 14's place
    log_softmax, softmax_loss    y_t = softmax(W_oh h_t + b_o) and its log-likelihood, Eq. 15

Shapes: N rows (sentences), T time steps, D inputs, H hidden units, V words.
"""
import numpy

from vsa_np.backend import scatter_add, xp


def affine_forward(x, W, b):
    """out = x W + b.   x: (..., D)  W: (D, M)  b: (M,)  ->  out: (..., M)"""
    return x @ W + b, (x, W)


def affine_backward(dout, cache):
    """dout: (..., M) -> dx (..., D), dW (D, M), db (M,)."""
    x, W = cache
    D, M = W.shape
    dW = x.reshape(-1, D).T @ dout.reshape(-1, M)      # all leading axes in one product
    return dout @ W.T, dW, dout.reshape(-1, M).sum(axis=0)


def relu_forward(x):
    """out = max(0, x), the paper's f."""
    out = xp.maximum(x, 0)
    return out, out


def relu_backward(dout, cache):
    return dout * (cache > 0)


def dropout_forward(x, p, train, rng=None):
    """Inverted dropout: zero each unit with probability p and scale the rest by 1 / (1 - p), so
    the test-time pass is the identity. rng: an `xp` Generator (`backend.rng(seed)`)."""
    if not train or p == 0:
        return x, None
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    keep = (rng.random(x.shape, dtype=x.dtype) >= p).astype(x.dtype)
    keep *= 1 / (1 - p)
    return x * keep, keep


def dropout_backward(dout, cache):
    return dout if cache is None else dout * cache


def embedding_forward(idx, W):
    """Eq. 2, x_t = W_w 1_t: a row lookup.   idx: (...) int in [0, V)  W: (V, E) -> (..., E)"""
    return W[idx], (idx, W.shape)


def embedding_backward(dout, cache):
    """dout: (..., E) -> dW (V, E). A word seen twice gets the sum of its gradients."""
    idx, shape = cache
    dW = xp.zeros(shape, dtype=dout.dtype)
    scatter_add(dW, idx.reshape(-1), dout.reshape(-1, shape[1]))
    return dW


def rnn_step_forward(a, prev_h, Wh, b):
    """One step of Eq. 4 / 5 / 14, h = f(a + prev_h Wh + b).   a, prev_h: (N, H)  Wh: (H, H)"""
    h = xp.maximum(a + prev_h @ Wh + b, 0)
    return h, (prev_h, Wh, h)


def rnn_step_backward(dh, cache):
    """dh: (N, H) -> da (N, H), dprev_h (N, H), dWh (H, H), db (H,)."""
    prev_h, Wh, h = cache
    dz = dh * (h > 0)
    return dz, dz @ Wh.T, prev_h.T @ dz, dz.sum(axis=0)


def _alive(lengths, N, T):
    """How many rows are still inside their sentence at each step (rows sorted longest first)."""
    if lengths is None:
        return [N] * T
    if (numpy.diff(lengths) > 0).any():
        raise ValueError("rnn_forward: rows must be sorted longest first")
    return [int((lengths > t).sum()) for t in range(T)]


def rnn_forward(a, Wh, b, lengths=None, reverse=False):
    """The recurrence over a whole batch, h_t = f(a_t + W h_{t-1} + b), h_0 = 0 (Eq. 4), or
    right to left with h_{T+1} = 0 (Eq. 5, `reverse`).

    a: (N, T, H) projected inputs   Wh: (H, H)   b: (H,)
    lengths: (N,) host ints, non-increasing (rows sorted longest first), or None (all T steps)
    -> h: (N, T, H), zero outside each sentence

    With rows sorted by length, step t works on the first n_t rows only (the sentences still
    going), as PyTorch's packed sequences do: no work and no mask for the padding.
    """
    N, T, H = a.shape
    alive = _alive(lengths, N, T)
    h = xp.zeros_like(a)
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        n, prev = alive[t], t + 1 if reverse else t - 1
        z = a[:n, t] + b
        if 0 <= prev < T:
            z += h[:n, prev] @ Wh                  # Eq. 4 / 5: a row past its end holds h = 0
        h[:n, t] = xp.maximum(z, 0)
    return h, (h, Wh, alive, reverse)


def rnn_backward(dh, cache):
    """Backpropagation through time.   dh: (N, T, H) -> da (N, T, H), dWh (H, H), db (H,)."""
    h, Wh, alive, reverse = cache
    N, T, H = h.shape
    da, dWh = xp.zeros_like(dh), xp.zeros_like(Wh)
    carry = xp.zeros((N, H), dtype=dh.dtype)       # the gradient from the next step's input
    for t in (range(T) if reverse else range(T - 1, -1, -1)):
        n, prev = alive[t], t + 1 if reverse else t - 1
        dz = (dh[:n, t] + carry[:n]) * (h[:n, t] > 0)
        da[:n, t] = dz
        if 0 <= prev < T:
            dWh += h[:n, prev].T @ dz              # dWh = sum_t h_prev^T dz_t
            carry[:n] = dz @ Wh.T
            carry[n:] = 0
    return da, dWh, da.reshape(-1, H).sum(axis=0)


def _sigmoid(z):
    return 0.5 * (1 + xp.tanh(0.5 * z))            # no exponential to overflow


def _gates(z, H, out):
    """(N, 4H) pre-activations -> i, f, o, g (N, H), written into `out`."""
    out[:, :3 * H] = _sigmoid(z[:, :3 * H])
    out[:, 3 * H:] = xp.tanh(z[:, 3 * H:])
    return out[:, :H], out[:, H:2 * H], out[:, 2 * H:3 * H], out[:, 3 * H:]


def lstm_step_forward(a, prev_h, prev_c, Wh, b):
    """One LSTM step, gates [i | f | o | g] side by side:
        z = a + prev_h Wh + b;  c = f * prev_c + i * g;  h = o * tanh(c)
    a: (N, 4H)  prev_h, prev_c: (N, H)  Wh: (H, 4H)  b: (4H,) -> h, c (N, H), cache."""
    H = prev_h.shape[1]
    i, f, o, g = _gates(a + prev_h @ Wh + b, H, xp.empty_like(a))
    c = f * prev_c + i * g
    tc = xp.tanh(c)
    return o * tc, c, (prev_h, prev_c, Wh, i, f, o, g, tc)


def _lstm_dz(dh, dc, prev_c, i, f, o, g, tc, out):
    """The gradient on the step's pre-activation z (into `out`, (N, 4H)) and on c_{t-1}."""
    H = dh.shape[1]
    dc = dc + dh * o * (1 - tc * tc)
    out[:, :H] = dc * g * i * (1 - i)
    out[:, H:2 * H] = dc * prev_c * f * (1 - f)
    out[:, 2 * H:3 * H] = dh * tc * o * (1 - o)
    out[:, 3 * H:] = dc * i * (1 - g * g)
    return out, dc * f


def lstm_step_backward(dh, dc, cache):
    """dh, dc: (N, H) -> da (N, 4H), dprev_h, dprev_c (N, H), dWh (H, 4H), db (4H,)."""
    prev_h, prev_c, Wh, i, f, o, g, tc = cache
    dz = xp.empty((len(dh), Wh.shape[1]), dtype=dh.dtype)
    dz, dprev_c = _lstm_dz(dh, dc, prev_c, i, f, o, g, tc, dz)
    return dz, dz @ Wh.T, dprev_c, prev_h.T @ dz, dz.sum(axis=0)


def lstm_forward(a, Wh, b):
    """The LSTM over a whole sequence, h_0 = c_0 = 0.
    a: (N, T, 4H) projected inputs  Wh: (H, 4H)  b: (4H,) -> h: (N, T, H), cache"""
    N, T, G = a.shape
    H = G // 4
    h, c = xp.empty((N, T, H), dtype=a.dtype), xp.empty((N, T, H), dtype=a.dtype)
    gates = xp.empty_like(a)                       # every step's i, f, o, g, for backward
    prev_h, prev_c = xp.zeros((N, H), dtype=a.dtype), xp.zeros((N, H), dtype=a.dtype)
    for t in range(T):
        i, f, o, g = _gates(a[:, t] + prev_h @ Wh + b, H, gates[:, t])
        prev_c = f * prev_c + i * g
        prev_h = o * xp.tanh(prev_c)
        h[:, t], c[:, t] = prev_h, prev_c
    return h, (h, c, gates, Wh)


def lstm_backward(dh, cache):
    """dh: (N, T, H) -> da (N, T, 4H), dWh (H, 4H), db (4H,)."""
    h, c, gates, Wh = cache
    N, T, H = h.shape
    G = 4 * H
    da = xp.empty_like(gates)
    carry_h, carry_c = xp.zeros((N, H), dtype=dh.dtype), xp.zeros((N, H), dtype=dh.dtype)
    for t in range(T - 1, -1, -1):
        gt = gates[:, t]
        prev_c = c[:, t - 1] if t > 0 else xp.zeros_like(carry_c)
        dz, carry_c = _lstm_dz(dh[:, t] + carry_h, carry_c, prev_c, gt[:, :H], gt[:, H:2 * H],
                               gt[:, 2 * H:3 * H], gt[:, 3 * H:], xp.tanh(c[:, t]), da[:, t])
        carry_h = dz @ Wh.T
    prev = xp.zeros_like(h)
    prev[:, 1:] = h[:, :-1]
    dWh = prev.reshape(-1, H).T @ da.reshape(-1, G)
    return da, dWh, da.reshape(-1, G).sum(axis=0)


def log_softmax(x):
    """Numerically stable log softmax over the last axis, in place (x must be the caller's)."""
    x -= x.max(axis=-1, keepdims=True)
    x -= xp.log(xp.exp(x).sum(axis=-1, keepdims=True))
    return x


def softmax_loss(scores, y, n):
    """Eq. 15: the summed -log softmax(scores)[y] of M rows, divided by n (the batch size, so a
    long sentence weighs more than a short one, as in the paper's code).
    scores: (M, V), overwritten (it becomes dscores)  y: (M,) int -> loss (0-d), dscores (M, V)"""
    rows = xp.arange(scores.shape[0])
    scores -= scores.max(axis=1, keepdims=True)
    picked = scores[rows, y]
    xp.exp(scores, out=scores)
    z = scores.sum(axis=1, keepdims=True)
    loss = (xp.log(z[:, 0]) - picked).sum() / n
    scores *= 1 / (z * n)                          # softmax / n ...
    scores[rows, y] -= 1 / n                       # ... minus the one-hot / n
    return loss, scores
