"""The multimodal RNN of Sec. 3.2 (Eq. 13-15) and its decoders: greedy, sampling, beam search.

    (13) b_v = W_hi CNN(I)
    (14) h_t = f(W_hx x_t + W_hh h_{t-1} + b_h + 1(t = 1) b_v)        x_t = W_w 1_t
    (15) y_t = softmax(W_oh h_t + b_o)

Parameters (V words with START = END = 0, D feature size, E word size, H hidden size, G the
width of the recurrence's input: H, or 4H for the LSTM's gates):

    W_hi (D, G)  W_w (V, E)  W_hx (E, G)  W_hh (H, G)  b_h (G,)  W_oh (H, V)  b_o (V,)

`cell`: "rnn" is Eq. 14's ReLU RNN, the paper's; "lstm" puts an LSTM in its place (the sequence
learner of Vinyals et al., Sec. 4.2), which remembers what it has named. `image_every_step` adds
b_v at every step, not at t = 1 only. Both are measured in docs/benchmarks.md.
"""
from dataclasses import dataclass
from typing import NamedTuple

import numpy

from vsa_np.backend import float_dtype, on_gpu, rng as make_rng, to_device, to_host, xp
from vsa_np.core.layers import (affine_backward, affine_forward, dropout_backward,
                                dropout_forward, embedding_backward, embedding_forward,
                                log_softmax, lstm_backward, lstm_forward, lstm_step_forward,
                                rnn_backward, rnn_forward, rnn_step_forward, softmax_loss)

END = 0                                            # the START and END token


class RNNCell:
    """Eq. 14's recurrence; the state is h (N, H)."""
    gates, states = 1, 1
    forward, backward = staticmethod(rnn_forward), staticmethod(rnn_backward)

    @staticmethod
    def step(a, state, Wh, b):
        return rnn_step_forward(a, state, Wh, b)[0]

    @staticmethod
    def init(g, H):                                # He scale: b_v, given once, lasts the caption
        return g.standard_normal((H, H)) * (2 / H) ** 0.5, numpy.zeros(H)


class LSTMCell:
    """An LSTM in Eq. 14's place; the state is [h | c] (N, 2H)."""
    gates, states = 4, 2
    forward, backward = staticmethod(lstm_forward), staticmethod(lstm_backward)

    @staticmethod
    def step(a, state, Wh, b):
        H = Wh.shape[0]
        h, c, _ = lstm_step_forward(a, state[:, :H], state[:, H:], Wh, b)
        return xp.concatenate([h, c], axis=1)

    @staticmethod
    def init(g, H):                                # the forget gate's bias at 1: keep the cell
        b = numpy.zeros(4 * H)
        b[H:2 * H] = 1.0
        return g.standard_normal((H, 4 * H)) / H ** 0.5, b


CELLS = {"rnn": RNNCell, "lstm": LSTMCell}


class Cache(NamedTuple):
    """What the backward pass needs from the forward pass (M valid steps of N x T)."""
    N: int
    T: int
    rows: object       # (M,) the valid steps, as n * T + t
    f: object          # (N, D) the features after the map and dropout
    c_x: tuple         # the embedding's cache
    x: object          # (M, E) the word vectors after dropout
    c_dx: object       # their dropout mask
    a: object          # (N, T, G) the input of the recurrence: W_hx x_t (+ b_v)
    c_h: tuple         # the recurrence's cache
    c_dh: object       # the dropout mask of the hidden states
    c_o: tuple         # the output layer's cache


class CaptionModel:
    """`params`, `loss(batch) -> (loss, grads)` with dropout while `training` (masks from `rng`),
    and what decoding reads. batch: "feats" (N, D), "inputs" (N, T) (START, the words),
    "targets" (N, T) (the words, END), "mask" (N, T). `word_counts` (V,) start b_o at the log
    word frequencies (as the paper's code does); `norm` is the fixed feature map."""

    KIND, TRAINER = "generator", "train-gen"

    def __init__(self, vocab_size, image_dim, hidden=512, word_dim=256, dropout=0.5,
                 word_counts=None, seed=0, dtype=None, norm=None, image_every_step=False,
                 cell="rnn"):
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {tuple(CELLS)}, got {cell!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.arch = dict(vocab_size=int(vocab_size), image_dim=int(image_dim),
                         word_dim=int(word_dim), hidden=int(hidden),
                         image_every_step=bool(image_every_step), cell=cell)
        self.V, self.D, self.H = int(vocab_size), int(image_dim), int(hidden)
        self.cell, self.dropout = CELLS[cell], float(dropout)
        self.image_every_step = bool(image_every_step)
        self.dtype, self.training, self.rng = dtype or float_dtype(), False, make_rng(seed + 1)
        self.norm = None if norm is None else norm.to(self.dtype)
        if self.norm is not None and self.norm.dim != image_dim:
            raise ValueError(f"the feature map is for {self.norm.dim}-d features, the model "
                             f"reads {image_dim}-d ones")
        g = numpy.random.default_rng(seed)         # on the host: CPU and GPU start alike
        V, D, E, H, G = vocab_size, image_dim, word_dim, self.H, self.cell.gates * self.H
        counts = numpy.ones(V) if word_counts is None else numpy.maximum(word_counts, 1.0)
        host = {"W_hi": g.standard_normal((D, G)) / D ** 0.5,                      # Eq. 13
                "W_w": g.standard_normal((V, E)),
                "W_hx": g.standard_normal((E, G)) / E ** 0.5}
        host["W_hh"], host["b_h"] = self.cell.init(g, H)
        host["W_oh"] = g.standard_normal((H, V)) * 0.1 / H ** 0.5                  # Eq. 15
        host["b_o"] = numpy.log(counts / counts.sum())   # the unigram model to start from
        self.params = {k: to_device(v, self.dtype) for k, v in host.items()}

    @classmethod
    def from_params(cls, params, arch, dtype=None, norm=None):
        """A model around saved parameters (host or device); arch: a saved `model.arch`."""
        model = cls(**arch, dtype=dtype, norm=norm)
        for k, p in model.params.items():
            if tuple(params[k].shape) != tuple(p.shape):
                raise ValueError(f"parameter {k} has shape {params[k].shape}, the model "
                                 f"expects {p.shape}")
            model.params[k] = to_device(params[k], model.dtype)
        return model

    def normalised(self, feats):
        feats = to_device(feats, self.dtype)
        return feats if self.norm is None else self.norm(feats)

    def _forward(self, batch, rng=None):
        """The scores of the M valid steps (M, V) and the cache. rng=None: no dropout."""
        p, drop, train = self.params, self.dropout, rng is not None
        N, T = batch["inputs"].shape
        rows = to_device(numpy.flatnonzero(to_host(batch["mask"])))   # the M valid (n, t)
        f, _ = dropout_forward(self.normalised(batch["feats"]), drop, train, rng)
        bv = f @ p["W_hi"]                                                          # Eq. 13
        x, c_x = embedding_forward(to_device(batch["inputs"]).reshape(-1)[rows], p["W_w"])
        x, c_dx = dropout_forward(x, drop, train, rng)
        a = xp.zeros((N * T, p["W_hx"].shape[1]), dtype=self.dtype)
        a[rows] = x @ p["W_hx"]                    # padded steps never feed a valid one
        a = a.reshape(N, T, -1)
        if self.image_every_step:
            a += bv[:, None]
        else:
            a[:, 0] += bv                                                           # Eq. 14
        h, c_h = self.cell.forward(a, p["W_hh"], p["b_h"])                          # Eq. 14
        hv, c_dh = dropout_forward(h.reshape(N * T, self.H)[rows], drop, train, rng)
        scores, c_o = affine_forward(hv, p["W_oh"], p["b_o"])                       # Eq. 15
        return scores, Cache(N, T, rows, f, c_x, x, c_dx, a, c_h, c_dh, c_o)

    def loss(self, batch):
        """-> (the summed -log y_t[target] over the valid steps per sentence, Eq. 15; grads)."""
        p = self.params
        scores, c = self._forward(batch, self.rng if self.training else None)
        N, T, rows = c.N, c.T, c.rows
        loss, dscores = softmax_loss(scores, to_device(batch["targets"]).reshape(-1)[rows], N)
        grads = {}
        dhv, grads["W_oh"], grads["b_o"] = affine_backward(dscores, c.c_o)          # Eq. 15
        dh = xp.zeros((N * T, self.H), dtype=self.dtype)
        dh[rows] = dropout_backward(dhv, c.c_dh)
        da, grads["W_hh"], grads["b_h"] = self.cell.backward(dh.reshape(N, T, -1), c.c_h)
        dbv = da.sum(axis=1) if self.image_every_step else da[:, 0]                 # Eq. 14
        grads["W_hi"] = c.f.T @ dbv                                                 # Eq. 13
        da = da.reshape(N * T, -1)[rows]
        grads["W_hx"] = c.x.T @ da
        grads["W_w"] = embedding_backward(dropout_backward(da @ p["W_hx"].T, c.c_dx), c.c_x)
        return loss, grads

    def log_probs(self, batch):
        """log p(sentence | image) of every sentence by teacher forcing (no dropout): (N,)."""
        scores, c = self._forward(batch)
        targets = to_device(batch["targets"]).reshape(-1)[c.rows]
        out = xp.zeros(c.N * c.T, dtype=scores.dtype)
        out[c.rows] = log_softmax(scores)[xp.arange(len(c.rows)), targets]
        return out.reshape(c.N, c.T).sum(axis=1)

    def image_bias(self, feats):
        """b_v of Eq. 13 for (N, D) features."""
        return self.normalised(feats) @ self.params["W_hi"]

    def input_table(self):
        """(V, G): W_hx x_w for every word, so that a decoder looks a row up."""
        return self.params["W_w"] @ self.params["W_hx"]

    def initial_state(self, N):
        return xp.zeros((N, self.cell.states * self.H), dtype=self.dtype)

    def step(self, a, state):
        """Eq. 14-15 at one step: the input term a (N, G) (a table row, + b_v where it enters)
        and the state -> the new state, the logits of y_t (N, V)."""
        state = self.cell.step(a, state, self.params["W_hh"], self.params["b_h"])  # Eq. 14
        logits = state[:, :self.H] @ self.params["W_oh"]                             # Eq. 15
        logits += self.params["b_o"]               # in place: no second (N, V) array
        return state, logits


@dataclass
class Captions:
    """`tokens[i][j]`: the word indices of image i's j-th caption, best first (END left out);
    `logprob[i][j]`: its log probability."""
    tokens: list
    logprob: list

    def best(self):
        return [t[0] for t in self.tokens], numpy.array([lp[0] for lp in self.logprob])


def _until_end(w):
    ends = numpy.flatnonzero(w == END)
    return [int(v) for v in (w[:ends[0]] if len(ends) else w)]


def _captions(words, logprob):
    """(N, n, L) words and (N, n) log probabilities -> Captions, without the -inf ones."""
    keep = numpy.isfinite(logprob)
    return Captions([[_until_end(w) for w in ws[k]] for ws, k in zip(words, keep)],
                    [[float(v) for v in lp[k]] for lp, k in zip(logprob, keep)])


def _one_path(model, feats, max_len, pick):
    """Greedy or sampled decoding, `pick(logp) -> (N,)` words; END is forced after max_len."""
    table, bv = model.input_table(), model.image_bias(feats)
    N = len(bv)
    words = xp.zeros((N, max_len + 1), dtype=xp.int64)
    total, done = xp.zeros(N, dtype=table.dtype), xp.zeros(N, dtype=bool)
    a, state = table[END] + bv, model.initial_state(N)                  # t = 1
    for t in range(max_len + 1):
        state, logits = model.step(a, state)
        logp = log_softmax(logits)
        w = xp.where(done, END, pick(logp) if t < max_len else END)
        total += xp.where(done, 0, logp[xp.arange(N), w])
        words[:, t], done = w, done | (w == END)
        if bool(done.all()):
            break
        a = table[w] + bv if model.image_every_step else table[w]
    return _captions(to_host(words)[:, None], to_host(total)[:, None])


def greedy(model, feats, max_len=20):
    """The most likely word at every step. feats: (N, D) -> Captions, one each."""
    return _one_path(model, feats, max_len, lambda logp: xp.argmax(logp, axis=1))


def sample(model, feats, temperature=1.0, max_len=20, seed=0):
    """Words drawn from softmax(log y_t / temperature) by the Gumbel-max trick; the log
    probabilities reported are the model's own."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    g = xp.random.default_rng(seed)

    def pick(logp):
        gumbel = -xp.log(-xp.log(g.random(logp.shape, dtype=logp.dtype) + 1e-20) + 1e-20)
        return xp.argmax(logp / temperature + gumbel, axis=1)
    return _one_path(model, feats, max_len, pick)


def beam_search(model, feats, beam=7, max_len=20, n_best=1, chunk=None):
    """The n_best most likely captions a beam of width K = `beam` finds for every image.

    The K partial captions of every image are K rows of one (N*K, .) state. A step runs Eq. 14-15
    on every row; each image keeps the K best of its K*V one-word extensions (score + log y_t[w]).
    A finished caption competes on, its score frozen: its only extension is END, at no cost. The
    search stops when every image's n_best best have finished (the others can only lose
    probability) or at max_len, where END is forced. `chunk` images at a time: by default about
    1024 rows on the CPU, whose (rows, V) logits stay in cache; all of them on a GPU.
    """
    if beam < 1 or not 1 <= n_best <= beam:
        raise ValueError(f"need beam >= 1 and 1 <= n_best <= beam, got {beam}, {n_best}")
    chunk = chunk or (len(feats) if on_gpu else max(1, 1024 // beam))
    parts = [_beam(model, feats[i:i + chunk], beam, max_len, n_best)
             for i in range(0, len(feats), chunk)]
    return Captions(sum((p.tokens for p in parts), []), sum((p.logprob for p in parts), []))


def _top_k(x, k):
    """The columns of the k largest entries of each row of x (R, V), unordered. With the columns
    in blocks of b, they lie in the k blocks with the largest maxima: only those are searched."""
    R, V = x.shape
    b = min((d for d in range(1, V + 1) if V % d == 0), key=lambda d: abs(d * d * k - V))
    n = V // b                                     # block j: columns j, j + n, j + 2n, ...
    blocks = x.reshape(R, b, n).max(axis=1)
    m = min(k, n)
    best = xp.argpartition(blocks, n - m, axis=1)[:, n - m:]
    cols = (best[:, :, None] + n * xp.arange(b)).reshape(R, m * b)
    sub = xp.take_along_axis(x, cols, axis=1)
    return xp.take_along_axis(cols, xp.argpartition(sub, m * b - k, axis=1)[:, m * b - k:], 1)


def _beam(model, feats, K, max_len, n_best):
    table, bv = model.input_table(), model.image_bias(feats)
    N, V = len(bv), table.shape[0]
    score = xp.zeros((N, 1), dtype=table.dtype)    # one row per image before the first word
    words = xp.zeros((N, 1, 0), dtype=xp.int64)
    done = xp.zeros((N, 1), dtype=bool)
    a, state = table[END] + bv, model.initial_state(N)                  # t = 1
    for t in range(max_len + 1):
        k = score.shape[1]
        state, logits = model.step(a, state)                                     # Eq. 14-15
        logits -= logits.max(axis=1, keepdims=True)
        k_row = 1 if t == max_len else min(K, V)   # an image's K best are among each row's
        top = (xp.full((len(logits), 1), END) if t == max_len      # at max_len only END
               else _top_k(logits, k_row))
        logp = xp.take_along_axis(logits, top, axis=1)
        logp -= xp.log(xp.exp(logits, out=logits).sum(axis=1, keepdims=True))       # Eq. 15
        if bool(done.any()):                       # a finished caption: END, at no cost
            fin = done.reshape(-1, 1)
            top = xp.where(fin, xp.arange(k_row) + END, top)
            logp = xp.where(fin, xp.where(xp.arange(k_row) == 0, 0, -xp.inf), logp)
        cand = (score.reshape(-1, 1) + logp).reshape(N, -1)
        best = xp.argsort(-cand, axis=1)[:, :K]    # of the image's k * k_row, best first
        score = xp.take_along_axis(cand, best, axis=1)
        parent, w = best // k_row, xp.take_along_axis(top.reshape(N, -1), best, axis=1)
        rows = xp.arange(N)[:, None]
        words = xp.concatenate([words[rows, parent], w[:, :, None]], axis=2)
        done = done[rows, parent] | (w == END)
        state = state.reshape(N, k, -1)[rows, parent].reshape(N * best.shape[1], -1)
        if bool(done[:, :n_best].all()):
            break
        a = table[w.reshape(-1)]
        if model.image_every_step:
            a = a + xp.repeat(bv, best.shape[1], axis=0)
    return _captions(to_host(words[:, :n_best]), to_host(score[:, :n_best]))
