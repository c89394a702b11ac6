"""The bidirectional RNN that turns a sentence into word vectors s_t in the multimodal space,
Eq. 2-6 of the paper (Sec. 3.1.2):

    (2)  x_t   = W_w 1_t
    (3)  e_t   = f(W_e x_t + b_e)
    (4)  h^f_t = f(e_t + W_f h^f_{t-1} + b_f)        left to right, h^f_0 = 0
    (5)  h^b_t = f(e_t + W_b h^b_{t+1} + b_b)        right to left, h^b_{N+1} = 0
    (6)  s_t   = f(W_d (h^f_t + h^b_t) + b_d)

f is the ReLU. Each s_t sees the whole sentence: left context through h^f_t, right context
through h^b_t, which is the point of the bidirectional model.

Built from the layers of `vsa_np.layers` (embedding, affine, ReLU, dropout) on the W words of
the batch packed time-major (packing.py), so each word-wise step (Eq. 2, 3, 6) is ONE matrix
product over every word of every sentence and the recurrences (Eq. 4-5, packed_rnn.py) touch
no padding. The output is put back in sentence-major order for the score layer. Dropout
(Sec. 3.3) acts on the inputs of the non-recurrent layers: the word vectors x_t into Eq. 3 and
h^f_t + h^b_t into Eq. 6.

Shapes: B sentences, W valid words, V vocabulary, E word-vector size (300 in the paper), H the
BRNN's hidden size (300-600), M the multimodal size h (1000-1600).
"""
from typing import NamedTuple

from vsa_np.alignment.packed_rnn import packed_rnn_backward, packed_rnn_forward
from vsa_np.alignment.packing import Packed
from vsa_np.backend import xp
from vsa_np.layers import (affine_backward, affine_forward, dropout_backward, dropout_forward,
                           embedding_backward, embedding_forward, relu_backward, relu_forward)

PARAMS = ("W_w", "W_e", "b_e", "W_f", "b_f", "W_b", "b_b", "W_d", "b_d")


class BrnnCache(NamedTuple):
    """What `brnn_backward` needs: the packing and each layer's cache, in forward order."""
    packed: Packed
    embed: tuple        # Eq. 2
    drop_x: object      # dropout on x_t
    affine_e: tuple     # Eq. 3, before the ReLU
    relu_e: object
    forward: tuple      # Eq. 4
    backward: tuple     # Eq. 5
    drop_h: object      # dropout on h^f_t + h^b_t
    affine_d: tuple     # Eq. 6, before the ReLU
    relu_s: object


def brnn_forward(words, p: Packed, params, p_drop=0.0, train=False, rng=None):
    """words: (B, T) int word indices, p: `pack(word_mask)`, params: the arrays named in PARAMS
    (W_w (V, E), W_e (E, H), W_f and W_b (H, H), W_d (H, M), biases)

    -> s: (W, M) the word vectors, sentence-major (sentence p.seg[w] for row w), cache
    """
    ids = words.reshape(-1)[p.flat][p.tm]                       # (W,) time-major
    x, c_emb = embedding_forward(ids, params["W_w"])                                 # Eq. 2
    x, c_dx = dropout_forward(x, p_drop, train, rng)
    a, c_e = affine_forward(x, params["W_e"], params["b_e"])
    e, c_re = relu_forward(a)                                                        # Eq. 3
    hf, c_f = packed_rnn_forward(e, params["W_f"], params["b_f"], p.steps)           # Eq. 4
    hb, c_b = packed_rnn_forward(e, params["W_b"], params["b_b"], p.steps, True)     # Eq. 5
    hsum, c_dh = dropout_forward(hf + hb, p_drop, train, rng)
    z, c_d = affine_forward(hsum, params["W_d"], params["b_d"])
    s_tm, c_rs = relu_forward(z)                                                     # Eq. 6
    s = xp.empty_like(s_tm)
    s[p.tm] = s_tm                                              # back to sentence-major
    return s, BrnnCache(p, c_emb, c_dx, c_e, c_re, c_f, c_b, c_dh, c_d, c_rs)


def brnn_backward(ds, cache):
    """ds: (W, M) sentence-major, cache: a BrnnCache -> grads, a dict keyed like PARAMS."""
    c = cache
    g = {}
    dz = relu_backward(ds[c.packed.tm], c.relu_s)                                   # Eq. 6
    dhsum, g["W_d"], g["b_d"] = affine_backward(dz, c.affine_d)
    dh = dropout_backward(dhsum, c.drop_h)      # h^f_t and h^b_t both get the gradient of the sum
    de_f, g["W_f"], g["b_f"] = packed_rnn_backward(dh, c.forward)                   # Eq. 4
    de_b, g["W_b"], g["b_b"] = packed_rnn_backward(dh, c.backward)                  # Eq. 5
    da = relu_backward(de_f + de_b, c.relu_e)   # Eq. 3: e_t feeds both directions
    dx, g["W_e"], g["b_e"] = affine_backward(da, c.affine_e)
    dx = dropout_backward(dx, c.drop_x)
    g["W_w"] = embedding_backward(dx, c.embed)                                      # Eq. 2
    return g
