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


def caption_backward(p, feat, words):
    """One sentence through Eq. 13-15 with teacher forcing, and back through time.
    p: the generator's parameters (a ReLU RNN), feat (D,), words: the sentence's word indices.
    -> loss (the summed -log y_t[target] over the L + 1 steps), {name: gradient}."""
    inputs, targets = [0] + list(words), list(words) + [0]          # START ... / ... END
    T, H = len(inputs), p["W_hh"].shape[0]
    bv = feat @ p["W_hi"]                                            # Eq. 13
    x = p["W_w"][inputs]
    a = x @ p["W_hx"]
    a[0] += bv                                                       # b_v at t = 1 only
    h = np.zeros((T, H))
    for t in range(T):                                               # Eq. 14
        h[t] = np.maximum(a[t] + (h[t - 1] if t else np.zeros(H)) @ p["W_hh"] + p["b_h"], 0)
    z = h @ p["W_oh"] + p["b_o"]                                     # Eq. 15
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(T), targets].sum()
    g = {}
    dz = np.exp(logp)
    dz[np.arange(T), targets] -= 1                                   # softmax - one-hot
    g["W_oh"], g["b_o"] = h.T @ dz, dz.sum(axis=0)
    dh = dz @ p["W_oh"].T
    da, carry = np.zeros((T, H)), np.zeros(H)
    for t in reversed(range(T)):                                     # through time
        da[t] = (dh[t] + carry) * (h[t] > 0)
        carry = da[t] @ p["W_hh"].T                                  # h_t fed h_{t+1}
    g["W_hh"] = np.vstack([np.zeros((1, H)), h[:-1]]).T @ da
    g["b_h"] = da.sum(axis=0)
    g["W_hi"] = np.outer(feat, da[0])                                # b_v entered at t = 1
    g["W_hx"] = x.T @ da
    g["W_w"] = np.zeros_like(p["W_w"])
    np.add.at(g["W_w"], inputs, da @ p["W_hx"].T)
    return loss, g
