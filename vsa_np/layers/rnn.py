"""The vanilla ReLU RNN of the paper, one step and a whole (masked) sequence, in either direction.

Eq. 4-5 (the BRNN's two halves) share one form,

    h_t = f(a_t + W h_{t-1} + b)        f = ReLU,  h_0 = 0

where a_t is the already-projected input (a_t = e_t in the BRNN, Eq. 3; a_t = W_hx x_t (+ b_v at
t = 1) in the multimodal RNN, Eq. 14). The input projection is done outside, for all time steps
at once, as one large matrix product; only the recurrence itself has to walk through time.

Padding. Sentences in a batch have different lengths; they are left-aligned and padded at the
end, with mask[n, t] = False on padding. At a padded step the state is carried unchanged,
h_t = h_{t-1}, and the padded input receives zero gradient. Run left to right, this leaves the
valid steps untouched; run right to left (Eq. 5, `reverse=True`), the padding comes first and
carries the initial zero state up to the last real word, so h^b_{N+1} = 0 as the paper says.
"""
from vsa_np.backend import xp


def rnn_step_forward(a, prev_h, Wh, b, mask=None):
    """One step: h = f(a + prev_h Wh + b), or h = prev_h where mask is False.

    a: (N, H)  prev_h: (N, H)  Wh: (H, H)  b: (H,)  mask: (N,) bool or None  ->  h: (N, H)
    """
    h = xp.maximum(a + prev_h @ Wh + b, 0)  # Eq. 4 / 5 / 14
    if mask is not None:
        h = xp.where(mask[:, None], h, prev_h)
    return h, (prev_h, Wh, h, mask)


def rnn_step_backward(dh, cache):
    """dh: (N, H) -> da (N, H), dprev_h (N, H), dWh (H, H), db (H,)."""
    prev_h, Wh, h, mask = cache
    dz = dh * (h > 0)
    if mask is not None:
        dz = dz * mask[:, None]
    da = dz
    dprev_h = dz @ Wh.T
    if mask is not None:
        dprev_h = dprev_h + dh * ~mask[:, None]  # the carried state passes its gradient through
    return da, dprev_h, prev_h.T @ dz, dz.sum(axis=0)


def rnn_forward(a, h0, Wh, b, mask=None, reverse=False):
    """Run the recurrence over a whole sequence.

    a: (N, T, H) projected inputs   h0: (N, H) or None (zeros)   mask: (N, T) bool or None
    reverse: False for left-to-right (Eq. 4), True for right-to-left (Eq. 5)
    -> h: (N, T, H), h[:, t] the state after reading position t
    """
    N, T, H = a.shape
    h = xp.empty_like(a)
    prev = xp.zeros((N, H), dtype=a.dtype) if h0 is None else h0
    order = range(T - 1, -1, -1) if reverse else range(T)
    for t in order:
        m = None if mask is None else mask[:, t]
        # Inline of rnn_step_forward: the step caches would hold every h twice.
        z = a[:, t] + prev @ Wh + b
        prev_new = xp.maximum(z, 0)
        if m is not None:
            prev_new = xp.where(m[:, None], prev_new, prev)
        h[:, t] = prev_new
        prev = prev_new
    return h, (h, h0, Wh, mask, reverse)


def rnn_backward(dh, cache):
    """Backpropagation through time.

    dh: (N, T, H) upstream gradient on every state
    -> da (N, T, H), dh0 (N, H) (None if h0 was None), dWh (H, H), db (H,)
    """
    h, h0, Wh, mask, reverse = cache
    N, T, H = h.shape
    da = xp.empty_like(dh)
    carry = xp.zeros((N, H), dtype=dh.dtype)  # gradient flowing back from later steps
    for t in (range(T) if reverse else range(T - 1, -1, -1)):
        g = dh[:, t] + carry
        dz = g * (h[:, t] > 0)
        if mask is None:
            carry = dz @ Wh.T
        else:
            m = mask[:, t][:, None]
            dz = dz * m
            carry = dz @ Wh.T + g * ~m  # a carried (padded) step passes its gradient through
        da[:, t] = dz
    # The weight gradients need no loop: dWh = sum_t h_{t-1}^T dz_t is ONE matrix product of
    # the previous states (h shifted by one step, h0 or zeros at the start) with all the dz.
    prev = xp.empty_like(h)
    first, rest, src = (T - 1, slice(0, T - 1), slice(1, T)) if reverse else \
        (0, slice(1, T), slice(0, T - 1))
    prev[:, first] = 0 if h0 is None else h0
    prev[:, rest] = h[:, src]
    dWh = prev.reshape(-1, H).T @ da.reshape(-1, H)
    db = da.reshape(-1, H).sum(axis=0)
    return da, (None if h0 is None else carry), dWh, db
