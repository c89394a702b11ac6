"""The bidirectional RNN that turns a sentence into word vectors s_t in the multimodal space,
Eq. 2-6 of the paper (Sec. 3.1.2):

    (2)  x_t   = W_w 1_t
    (3)  e_t   = f(W_e x_t + b_e)
    (4)  h^f_t = f(e_t + W_f h^f_{t-1} + b_f)        left to right, h^f_0 = 0
    (5)  h^b_t = f(e_t + W_b h^b_{t+1} + b_b)        right to left, h^b_{N+1} = 0
    (6)  s_t   = f(W_d (h^f_t + h^b_t) + b_d)

f is the ReLU. Each s_t sees the whole sentence: left context through h^f_t, right context
through h^b_t, which is the point of the bidirectional model.

Built from the layers of `vsa_np.layers`. The word-wise steps (Eq. 2, 3, 6) run on the W valid
words of the batch packed into one (W, .) matrix, so each is ONE matrix product over every word
of every sentence; only the recurrences (Eq. 4-5) use the padded (B, T) layout, with the mask
carrying states across the padding (`rnn_forward(..., mask, reverse=True)` starts the backward
direction from zero at each sentence's last word). Dropout (Sec. 3.3) acts on the inputs of the
non-recurrent layers: the word vectors x_t into Eq. 3 and h^f_t + h^b_t into Eq. 6.

Shapes: B sentences, T padded length, W valid words, V vocabulary, E word-vector size (300 in
the paper), H the BRNN's hidden size (300-600), M the multimodal size h (1000-1600).
"""
from vsa_np.alignment.packing import Packed, unpack
from vsa_np.layers import (affine_backward, affine_forward, dropout_backward, dropout_forward,
                           embedding_backward, embedding_forward, relu_backward, relu_forward,
                           rnn_backward, rnn_forward)

PARAMS = ("W_w", "W_e", "b_e", "W_f", "b_f", "W_b", "b_b", "W_d", "b_d")


def brnn_forward(words, p: Packed, params, p_drop=0.0, train=False, rng=None):
    """words: (B, T) int word indices, p: `pack(word_mask)`, params: the arrays named in PARAMS
    (W_w (V, E), W_e (E, H), W_f and W_b (H, H), W_d (H, M), biases) -> s: (W, M), cache."""
    ids = words.reshape(-1)[p.flat]                                        # (W,)
    x, c_emb = embedding_forward(ids, params["W_w"])                       # Eq. 2
    x, c_dx = dropout_forward(x, p_drop, train, rng)
    a, c_e = affine_forward(x, params["W_e"], params["b_e"])
    e, c_re = relu_forward(a)                                              # Eq. 3
    e_pad = unpack(e, p)                                                   # (B, T, H)
    hf, c_f = rnn_forward(e_pad, None, params["W_f"], params["b_f"], p.mask)                # Eq. 4
    hb, c_b = rnn_forward(e_pad, None, params["W_b"], params["b_b"], p.mask, reverse=True)  # Eq. 5
    hsum = (hf + hb).reshape(p.B * p.T, -1)[p.flat]                        # (W, H)
    hsum, c_dh = dropout_forward(hsum, p_drop, train, rng)
    z, c_d = affine_forward(hsum, params["W_d"], params["b_d"])
    s, c_rs = relu_forward(z)                                              # Eq. 6
    return s, (p, c_emb, c_dx, c_e, c_re, c_f, c_b, c_dh, c_d, c_rs)


def brnn_backward(ds, cache):
    """ds: (W, M) -> grads, a dict keyed like PARAMS."""
    p, c_emb, c_dx, c_e, c_re, c_f, c_b, c_dh, c_d, c_rs = cache
    g = {}
    dz = relu_backward(ds, c_rs)
    dhsum, g["W_d"], g["b_d"] = affine_backward(dz, c_d)
    dhsum = dropout_backward(dhsum, c_dh)
    dh = unpack(dhsum, p)                      # h^f_t + h^b_t: both get the same gradient
    de_f, _, g["W_f"], g["b_f"] = rnn_backward(dh, c_f)
    de_b, _, g["W_b"], g["b_b"] = rnn_backward(dh, c_b)
    de = (de_f + de_b).reshape(p.B * p.T, -1)[p.flat]  # e_t feeds both directions
    da = relu_backward(de, c_re)
    dx, g["W_e"], g["b_e"] = affine_backward(da, c_e)
    dx = dropout_backward(dx, c_dx)
    g["W_w"] = embedding_backward(dx, c_emb)
    return g

