"""An LSTM (Hochreiter & Schmidhuber 1997), the "more powerful but more complex sequence learner"
that Vinyals et al. use where the paper uses a plain RNN (Sec. 4.2, "Comparison to other work").
The generator offers it as an option (`cell="lstm"`, generator/model.py) beside Eq. 14's ReLU RNN.

One step, with a = the already-projected input (W_hx x_t, plus b_v where the image enters) and
the four gates side by side in one (N, 4H) pre-activation:

    z = a + h_{t-1} W_h + b                    (N, 4H): [i | f | o | g]
    i = sigmoid(z_i)   f = sigmoid(z_f)        input gate, forget gate
    o = sigmoid(z_o)   g = tanh(z_g)           output gate, candidate
    c_t = f * c_{t-1} + i * g                  the cell: written to, kept, or forgotten
    h_t = o * tanh(c_t)

Why it matters here: a ReLU RNN must carry "which objects have I named" through W_hh alone, and
loses it within a few words; the cell c_t keeps a value unchanged for as long as f = 1 and i = 0.

Backward, one step (dh and dc the gradients arriving at h_t and c_t):
    dc_t += dh * o * (1 - tanh(c_t)^2)
    do = dh * tanh(c_t)     di = dc_t * g     dg = dc_t * i     df = dc_t * c_{t-1}
    dz = [di i(1-i) | df f(1-f) | do o(1-o) | dg (1-g^2)]
    dc_{t-1} = dc_t * f     dh_{t-1} = dz W_h^T     dW_h += h_{t-1}^T dz     db += sum dz

No mask: the generator pads at the end of every sentence, so padded steps never feed a valid one
(their gradient is zero), as for `rnn_forward` there.
"""
from vsa_np.backend import xp


def _sigmoid(z):
    """1 / (1 + e^-z), written with tanh so that no exponential overflows."""
    return 0.5 * (1 + xp.tanh(0.5 * z))


def _gates(z, H, out=None):
    """(N, 4H) pre-activations -> i, f, o, g (each (N, H)), views of `out` (N, 4H) when given
    (the sequence keeps every step's gates for backward)."""
    out = xp.empty_like(z) if out is None else out
    out[:, :3 * H] = _sigmoid(z[:, :3 * H])
    out[:, 3 * H:] = xp.tanh(z[:, 3 * H:])
    return out[:, :H], out[:, H:2 * H], out[:, 2 * H:3 * H], out[:, 3 * H:]


def lstm_step_forward(a, prev_h, prev_c, Wh, b):
    """One step. a: (N, 4H)  prev_h, prev_c: (N, H)  Wh: (H, 4H)  b: (4H,)
    -> h (N, H), c (N, H), cache."""
    H = prev_h.shape[1]
    i, f, o, g = _gates(a + prev_h @ Wh + b, H)
    c = f * prev_c + i * g
    tc = xp.tanh(c)
    h = o * tc
    return h, c, (prev_h, prev_c, Wh, i, f, o, g, tc)


def lstm_step_backward(dh, dc, cache):
    """dh, dc: (N, H) gradients on h_t and c_t -> da (N, 4H), dprev_h, dprev_c (N, H),
    dWh (H, 4H), db (4H,)."""
    prev_h, prev_c, Wh, i, f, o, g, tc = cache
    dz, dprev_c = _dz(dh, dc, prev_c, i, f, o, g, tc)
    return dz, dz @ Wh.T, dprev_c, prev_h.T @ dz, dz.sum(axis=0)


def _dz(dh, dc, prev_c, i, f, o, g, tc, out=None):
    """The gradient on the step's pre-activation z (N, 4H), written into `out` when given, and
    on c_{t-1}."""
    H = dh.shape[1]
    dz = xp.empty((dh.shape[0], 4 * H), dtype=dh.dtype) if out is None else out
    dc = dc + dh * o * (1 - tc * tc)
    dz[:, :H] = dc * g * i * (1 - i)
    dz[:, H:2 * H] = dc * prev_c * f * (1 - f)
    dz[:, 2 * H:3 * H] = dh * tc * o * (1 - o)
    dz[:, 3 * H:] = dc * i * (1 - g * g)
    return dz, dc * f


def lstm_forward(a, h0, Wh, b):
    """The whole sequence, left to right, c_0 = 0.

    a: (N, T, 4H) projected inputs   h0: (N, H) or None (zeros)   Wh: (H, 4H)   b: (4H,)
    -> h: (N, T, H), cache
    """
    N, T, G = a.shape
    H = G // 4
    h = xp.empty((N, T, H), dtype=a.dtype)
    c = xp.empty((N, T, H), dtype=a.dtype)
    gates = xp.empty((N, T, G), dtype=a.dtype)      # i, f, o, g of every step, for backward
    prev_h = xp.zeros((N, H), dtype=a.dtype) if h0 is None else h0
    prev_c = xp.zeros((N, H), dtype=a.dtype)
    for t in range(T):
        i, f, o, g = _gates(a[:, t] + prev_h @ Wh + b, H, out=gates[:, t])
        prev_c = f * prev_c + i * g
        prev_h = o * xp.tanh(prev_c)
        h[:, t], c[:, t] = prev_h, prev_c
    return h, (h, c, gates, h0, Wh)


def lstm_backward(dh, cache):
    """Backpropagation through time. dh: (N, T, H) upstream gradient on every h_t
    -> da (N, T, 4H), dh0 (N, H) (None if h0 was None), dWh (H, 4H), db (4H,)."""
    h, c, gates, h0, Wh = cache
    N, T, H = h.shape
    da = xp.empty_like(gates)
    carry_h = xp.zeros((N, H), dtype=dh.dtype)     # gradients flowing back from later steps
    carry_c = xp.zeros((N, H), dtype=dh.dtype)
    zeros = xp.zeros((N, H), dtype=dh.dtype)
    for t in range(T - 1, -1, -1):
        gt = gates[:, t]
        i, f, o, g = gt[:, :H], gt[:, H:2 * H], gt[:, 2 * H:3 * H], gt[:, 3 * H:]
        prev_c = c[:, t - 1] if t > 0 else zeros
        dz, carry_c = _dz(dh[:, t] + carry_h, carry_c, prev_c, i, f, o, g, xp.tanh(c[:, t]),
                          out=da[:, t])
        carry_h = dz @ Wh.T
    # dWh = sum_t h_{t-1}^T dz_t: ONE matrix product of the shifted states with all the dz
    prev = xp.empty_like(h)
    prev[:, 0] = 0 if h0 is None else h0
    prev[:, 1:] = h[:, :-1]
    dWh = prev.reshape(-1, H).T @ da.reshape(-1, 4 * H)
    db = da.reshape(-1, 4 * H).sum(axis=0)
    return da, (None if h0 is None else carry_h), dWh, db
