"""The BRNN's two recurrences (Eq. 4-5) over packed sentences: no padding, no masks.

`vsa_np.layers.rnn` runs a padded (B, T) batch and carries states across the padding with a
mask, so every time step costs a (B, H) x (H, H) product even when most sentences have ended:
with Flickr8K captions (mean 10.8 words, a batch of 100 padded to about 23) more than half of
that work is padding. Here, as in PyTorch's PackedSequence, the sentences of a batch are sorted
by length (longest first) and the words laid out time-major:

    rows of step 0 (every sentence), rows of step 1 (those with >= 2 words), ...

so step t is one contiguous slice of n_t rows, n_t non-increasing, and the sentences alive at
step t are the first n_t of step t - 1. Each step is then one (n_t, H) x (H, H) product over
live sentences only: W rows in all instead of B*T.

Left to right (Eq. 4), step t reads the first n_t rows of step t - 1. Right to left (Eq. 5),
step t reads step t + 1's n_{t+1} rows into its first n_{t+1} rows; the other sentences end at
word t, where h_{N+1} = 0 is what the paper prescribes. The same result as the masked layer
(the tests check exactly that), in about half the time.
"""
from vsa_np.backend import xp


def packed_rnn_forward(a, Wh, b, steps, reverse=False):
    """h_t = f(a_t + W h_{t-1 or t+1} + b) over a time-major packed batch.

    a: (W, H) projected inputs, time-major   Wh: (H, H)   b: (H,)
    steps: list of (offset, n) per time step, n non-increasing   ->   h: (W, H), cache
    """
    h = xp.empty_like(a)
    order = range(len(steps) - 1, -1, -1) if reverse else range(len(steps))
    for t in order:
        o, n = steps[t]
        z = a[o:o + n] + b
        if not reverse and t > 0:
            po = steps[t - 1][0]
            z += h[po:po + n] @ Wh                       # Eq. 4: the first n of step t - 1
        elif reverse and t + 1 < len(steps):
            po, pn = steps[t + 1]
            z[:pn] += h[po:po + pn] @ Wh                 # Eq. 5: the n_{t+1} still going
        h[o:o + n] = xp.maximum(z, 0)
    return h, (h, Wh, steps, reverse)


def packed_rnn_backward(dh, cache):
    """dh: (W, H) upstream gradient on every state -> da (W, H), dWh (H, H), db (H,)."""
    h, Wh, steps, reverse = cache
    g = dh.copy()                  # accumulates the gradient flowing back from later steps
    da = xp.empty_like(dh)
    order = range(len(steps)) if reverse else range(len(steps) - 1, -1, -1)
    for t in order:
        o, n = steps[t]
        dz = g[o:o + n] * (h[o:o + n] > 0)
        da[o:o + n] = dz
        if not reverse and t > 0:
            po = steps[t - 1][0]
            g[po:po + n] += dz @ Wh.T
        elif reverse and t + 1 < len(steps):
            po, pn = steps[t + 1]
            g[po:po + pn] += dz[:pn] @ Wh.T
    # dWh = sum_t h_prev_t^T dz_t: ONE matrix product instead of one per step
    return da, previous_states(h, steps, reverse).T @ da, da.sum(axis=0)


def previous_states(h, steps, reverse=False):
    """(W, H): the state each time-major row read (zeros where there is none: h_0, h_{N+1})."""
    prev = xp.zeros_like(h)
    for t, (o, n) in enumerate(steps):
        if not reverse and t > 0:
            po = steps[t - 1][0]
            prev[o:o + n] = h[po:po + n]
        elif reverse and t + 1 < len(steps):
            po, pn = steps[t + 1]
            prev[o:o + pn] = h[po:po + pn]
    return prev
