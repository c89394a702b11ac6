"""Lesson 06's exercises, worked."""
import numpy as np

from vsa_np.backend import to_host, xp


def softmax_loss(x, y, mask):
    """x (N, T, V) scores, y (N, T) targets, mask (N, T): loss = -sum of log softmax at the
    targets over the valid steps, / N; dx = (softmax - onehot(y)) * mask / N."""
    N = x.shape[0]
    z = x - x.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(logp, y[..., None], axis=-1)[..., 0]
    loss = -(picked * mask).sum() / N
    dx = np.exp(logp)
    np.put_along_axis(dx, y[..., None], np.take_along_axis(dx, y[..., None], axis=-1) - 1, -1)
    return loss, dx * mask[..., None] / N


def greedy_decode(model, feat, max_len):
    """The most likely word at every step, for ONE image (feat (D,)), until END (index 0) or
    max_len words: START + b_v at t = 1 (Eq. 13-14), then each chosen word fed back in."""
    table = model.input_table()
    a = table[0] + model.image_bias(xp.asarray(feat[None]))[0]
    state = model.initial_state(1)                       # h_0 = 0 (and c_0 = 0 for an LSTM)
    words = []
    for _ in range(max_len):
        state, logits = model.step(a[None], state)
        w = int(np.argmax(to_host(logits[0])))
        if w == 0:
            break
        words.append(w)
        a = table[w]
    return words


def beam_step(scores, done, logp, K):
    """scores (k,) the kept captions' log probabilities, done (k,) which have produced END, logp
    (k, V) the next word's log probabilities after each -> the K best (parent, word, score),
    best first: an unfinished caption j extended by word w scores scores[j] + logp[j, w]; a
    finished one stays as it is (word END, score unchanged) and competes with the others."""
    cand = scores[:, None] + logp
    cand[done] = -np.inf
    cand[done, 0] = scores[done]
    order = np.argsort(-cand, axis=None, kind="stable")
    order = order[np.isfinite(cand.ravel()[order])][:K]
    parent, word = np.unravel_index(order, cand.shape)
    return parent, word, cand[parent, word]
