"""The multimodal RNN of Sec. 3.2, Eq. 13-14: a ReLU RNN whose first step also sees the image.

    (13) b_v = W_hi CNN(I)                      (computed by the model, one row per image)
    (14) h_t = f(W_hx x_t + W_hh h_{t-1} + b_h + 1(t = 1) b_v)

The image bias enters at t = 1 only (index 0 here): after that, everything the network knows
about the image has to be carried in h. Built from the pieces in `affine.py` and `rnn.py`:
the input projection W_hx x_t is one matrix product over all time steps, b_v is added to the
first step's pre-activation, and `rnn_forward` does the recurrence.

This is the reference form of Eq. 13-15 (with `softmax_loss.py`), the one the lessons and the
gradient checks use. The generator's `CaptionModel.loss` (generator/model.py) computes the same
thing faster (the valid steps only past the recurrence, the `relu_inputs` option) and is tested
equal to these layers, loss and every gradient (tests/test_contract.py).
"""
from vsa_np.backend import xp
from vsa_np.layers.affine import affine_backward
from vsa_np.layers.rnn import rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward


def mrnn_step_forward(x, prev_h, Wx, Wh, b, bv=None):
    """One step of Eq. 14 (used when decoding word by word).

    x: (N, D)  prev_h: (N, H)  Wx: (D, H)  Wh: (H, H)  b: (H,)  bv: (N, H) at t = 1, else None
    -> h: (N, H)
    """
    a = x @ Wx
    if bv is not None:
        a = a + bv  # Eq. 14: 1(t = 1) b_v
    h, step_cache = rnn_step_forward(a, prev_h, Wh, b)
    return h, (x, Wx, bv is not None, step_cache)


def mrnn_step_backward(dh, cache):
    """dh: (N, H) -> dx (N, D), dprev_h (N, H), dWx (D, H), dWh (H, H), db (H,), dbv (N, H) or None."""
    x, Wx, had_bv, step_cache = cache
    da, dprev_h, dWh, db = rnn_step_backward(dh, step_cache)
    dx, dWx, _ = affine_backward(da, (x, Wx))
    return dx, dprev_h, dWx, dWh, db, (da if had_bv else None)


def mrnn_forward(x, bv, Wx, Wh, b, mask=None):
    """Eq. 14 over a whole padded sequence, h_0 = 0.

    x: (N, T, D) input word vectors (x_1 = START)   bv: (N, H) image bias (Eq. 13)
    Wx: (D, H)  Wh: (H, H)  b: (H,)  mask: (N, T) bool or None   ->   h: (N, T, H)
    """
    a = x @ Wx
    a[:, 0] += bv  # Eq. 14: the image enters at the first step only
    h, rnn_cache = rnn_forward(a, None, Wh, b, mask)
    return h, (x, Wx, rnn_cache)


def mrnn_backward(dh, cache):
    """dh: (N, T, H) -> dx (N, T, D), dbv (N, H), dWx (D, H), dWh (H, H), db (H,)."""
    x, Wx, rnn_cache = cache
    da, _, dWh, db = rnn_backward(dh, rnn_cache)
    dx, dWx, _ = affine_backward(da, (x, Wx))
    dbv = xp.array(da[:, 0])
    return dx, dbv, dWx, dWh, db
