"""The multimodal RNN generator of Sec. 3.2 as a trainable model: parameters, the loss of Eq. 15
and every gradient, hand-written.

    (13) b_v = W_hi CNN(I)
    (14) h_t = f(W_hx x_t + W_hh h_{t-1} + b_h + 1(t = 1) b_v)          x_t = W_w 1_t (learned)
    (15) y_t = softmax(W_oh h_t + b_o)

Parameters (V words including the shared START/END token 0, D feature size, E word size,
H hidden size):

    W_hi (D, H)  W_w (V, E)  W_hx (E, H)  W_hh (H, H)  b_h (H,)  W_oh (H, V)  b_o (V,)

(with `cell="lstm"`, 4H in place of H in the first four: G below is the width of the gates)

Options:
- `relu_inputs`: the paper's remark "it can help to also pass both b_v, (W_hx x_t) through the
  activation function": a_t = f(W_hx x_t) + 1(t = 1) f(b_v) replaces W_hx x_t + 1(t = 1) b_v.
- `image_every_step`: add b_v at every step, 1(t = 1) b_v -> b_v in Eq. 14 (not the paper's
  choice: it "found [t = 1 only] to work better than at each time step" on Flickr/COCO). On the
  shapes world the captions name up to four objects, the second one 8 to 10 words after b_v;
  with b_v at t = 1 only, a named object is right about 70% of the time in the first place and
  45 to 55% in the second (trained-CNN features; docs/benchmarks.md, issue 13), while the
  nearest-neighbour captions stay at 72% in both: the image is forgotten on the way.
- `cell`: "rnn", Eq. 14's ReLU RNN (the paper's choice), or "lstm", an LSTM
  (`vsa_np.layers.lstm`) in its place, the sequence learner of Vinyals et al. that the paper
  compares with (Sec. 4.2). The same parameter names with four gates side by side: W_hi (D, 4H),
  W_hx (E, 4H), W_hh (H, 4H), b_h (4H,); b_v enters the gates' pre-activation exactly where Eq. 14
  adds it. Decoding carries the state [h | c] (N, 2H) in place of h; `logits` reads its h half.
  Why: a caption of the shapes world names up to four objects, and to name each once the
  network must remember which it has named; the ReLU recurrence forgets (docs/benchmarks.md).
- `dropout`: inverted dropout on the non-recurrent layers (Sec. 3.3): the CNN feature, the word
  vectors x_t and the hidden state on its way to the output layer; never on the recurrence.
- `norm`: the fixed feature normalisation of `vsa_np.feature_norm` (centred, scaled to unit
  variance; fitted on the training features, saved with the model) applied before Eq. 13, so
  that b_v = W_hi Z (CNN(I) - mu) is of order one whatever the CNN: fc7's large common mean, a
  softmax's tiny entries or features scaled by 1e3 otherwise either swamp the recurrence or
  leave the image unread (one caption for every image).
- the output bias b_o starts at the log frequencies of the training targets (as the paper's
  released code does): the first predictions are then the unigram distribution instead of a
  uniform one, which takes the starting perplexity on Flickr8K from ~2500 to ~170.

Speed (see issue 7): padding sits at the end of every sentence, so the recurrence can run
unmasked (padded steps never feed a valid one) and the output layer, the softmax and every
gradient past the recurrence are computed on the valid (sentence, step) rows only: one GEMM
over all M valid steps of the batch instead of N * T of them.

The reference: the layers of vsa_np/layers, which the lessons and gradient checks use. `loss`
takes the recurrence (`rnn_forward`), dropout and the loss on the valid rows
(`softmax_loss_rows`) from there, and is tested equal to embedding + `mrnn_forward` + affine +
`temporal_softmax_loss`, loss and every gradient (tests/test_contract.py).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy

from vsa_np.backend import float_dtype, rng as make_rng, scatter_add, to_device, to_host, xp
from vsa_np.feature_norm import FeatureNorm
from vsa_np.trained import load_trained
from vsa_np.layers import (dropout_backward, dropout_forward, log_softmax, lstm_backward,
                           lstm_forward, lstm_step_forward, rnn_backward, rnn_forward,
                           rnn_step_forward, softmax_loss_rows)

PARAM_NAMES = ("W_hi", "W_w", "W_hx", "W_hh", "b_h", "W_oh", "b_o")


class ForwardCache(NamedTuple):
    """What the backward pass of `CaptionModel.loss` needs from `_forward` (M valid steps)."""
    N: int              # sentences
    T: int              # steps, padding included
    rows: object        # (M,) the valid (n, t) as n * T + t, row-major
    inputs: object      # (N, T) input word indices
    f: object           # (N, D) the features after normalisation and dropout
    bv: object          # (N, H) b_v of Eq. 13 (after the ReLU of `relu_inputs`)
    x: object           # (N, T, E) word vectors after dropout
    drop_x: object      # their dropout mask (None without dropout)
    on: object          # (N, T, H) where W_hx x_t > 0 (`relu_inputs` only, else None)
    rnn: tuple          # the recurrence's cache (Eq. 14)
    hv: object          # (M, H) the valid hidden states after dropout
    drop_h: object      # their dropout cache


def log_frequency_bias(word_counts, V: int):
    """log(count / total) of each of the V outputs (counts of 0 are treated as 1)."""
    c = numpy.maximum(numpy.asarray(word_counts, dtype=numpy.float64), 1.0)
    if c.shape != (V,):
        raise ValueError(f"word_counts has shape {c.shape}, expected ({V},)")
    return numpy.log(c / c.sum())


ARCH_KEYS = ("vocab_size", "image_dim", "word_dim", "hidden", "relu_inputs", "image_every_step",
             "cell")
CELLS = ("rnn", "lstm")


class CaptionModel:
    """The generator: `params`, `arch`, `loss(batch) -> (loss, grads)` with dropout on while
    `training` is True (masks drawn from `rng`), and the pieces that decoding needs
    (`image_bias`, `input_table`, `step`, `log_probs`). The same contract as `AlignmentModel`
    (docs/contract.md).

    batch: the caption batch of `vsa_np.data`: feats (N, D), inputs (N, T) (0 = START, then the
    words), targets (N, T) (the words, then 0 = END), mask (N, T) bool, left-aligned.
    """

    KIND, TRAINER = "generator", "train-gen"        # checkpoint meta "model"; its command

    def __init__(self, vocab_size: int, image_dim: int, hidden: int = 512, word_dim: int = 256,
                 dropout: float = 0.5, relu_inputs: bool = False, word_counts=None,
                 seed: int = 0, dtype=None, norm=None, image_every_step: bool = False,
                 cell: str = "rnn"):
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        if cell == "lstm" and relu_inputs:
            raise ValueError("relu_inputs is a remark on Eq. 14's ReLU RNN; the LSTM's gates "
                             "read their inputs as they are")
        self.V, self.D, self.H, self.E = int(vocab_size), int(image_dim), int(hidden), int(word_dim)
        self.dropout, self.relu_inputs = float(dropout), bool(relu_inputs)
        self.image_every_step, self.cell = bool(image_every_step), cell
        self.G = 4 * self.H if cell == "lstm" else self.H    # width of the input term a_t
        # the decoding state: h, or [h | c] for the LSTM
        self.state_size = 2 * self.H if cell == "lstm" else self.H
        # what rebuilds the model around saved parameters (checkpoint meta "arch")
        self.arch = dict(vocab_size=self.V, image_dim=self.D, word_dim=self.E, hidden=self.H,
                         relu_inputs=self.relu_inputs, image_every_step=self.image_every_step,
                         cell=self.cell)
        self.training = False           # True: dropout on in `loss`, masks drawn from `rng`
        self.rng = make_rng(seed + 1)
        self.dtype = dtype or float_dtype()
        self.norm = None if norm is None else norm.to(self.dtype)
        if self.norm is not None and self.norm.dim != self.D:
            raise ValueError(f"the feature normalisation is for {self.norm.dim}-d features, the "
                             f"model reads {self.D}-d ones")
        # Initialised on the host from one seed, so CPU and GPU runs start identically.
        g = numpy.random.default_rng(seed)
        V, D, H, E, G = self.V, self.D, self.H, self.E, self.G
        b_o = (numpy.zeros(V) if word_counts is None else log_frequency_bias(word_counts, V))
        host = {
            "W_hi": g.standard_normal((D, G)) / numpy.sqrt(D),         # Eq. 13
            "W_w": g.standard_normal((V, E)),                          # word vectors x_t
            "W_hx": g.standard_normal((E, G)) / numpy.sqrt(E),         # Eq. 14
            # He scale: the image enters at t = 1 only (Eq. 14), and a ReLU recurrence at this
            # scale keeps the size of h over time instead of shrinking it by ~0.7 a step; at
            # half of it (1/sqrt(2H)) the image was all but gone by the fifth word, and on the
            # fc7 family (feature_families.py) the captions were 38% distinct instead of 61%
            "W_hh": g.standard_normal((H, G)) * numpy.sqrt(2.0 / H),
            "b_h": numpy.zeros(G),
            "W_oh": g.standard_normal((H, V)) * (0.1 / numpy.sqrt(H)),  # Eq. 15, small: start
            "b_o": b_o,                                                 # at the unigram model
        }
        if cell == "lstm":
            # gates [i | f | o | g]: the usual LSTM start, the forget gate's bias at 1 (keep the
            # cell), and the recurrent weights at 1/sqrt(H), since sigmoid and tanh saturate
            host["W_hh"] = g.standard_normal((H, G)) / numpy.sqrt(H)
            host["b_h"][H:2 * H] = 1.0
        self.params = {k: to_device(v, self.dtype) for k, v in host.items()}

    def normalised(self, feats):
        """(N, D) features as the model reads them: through `norm` when it has one."""
        feats = to_device(feats, self.dtype)
        return feats if self.norm is None else self.norm(feats)

    @classmethod
    def from_params(cls, params: dict, arch: dict, dtype=None, norm=None) -> "CaptionModel":
        """A model with the given (host or device) parameters; arch: a saved `model.arch`, norm
        the saved feature normalisation. Older checkpoints saved the architecture as "model"
        with `feat_dim` for image_dim, the dropout, and maybe a `feature_mean`: they load too."""
        arch = dict(arch)
        if "feat_dim" in arch:
            arch["image_dim"] = arch.pop("feat_dim")
        mean = arch.pop("feature_mean", None)
        if norm is None and mean is not None:
            norm = FeatureNorm.legacy(arch["image_dim"], mean)
        model = cls(**arch, dtype=dtype, norm=norm)
        for k in PARAM_NAMES:
            if tuple(params[k].shape) != tuple(model.params[k].shape):
                raise ValueError(f"parameter {k} has shape {params[k].shape}, the model "
                                 f"expects {model.params[k].shape}")
            model.params[k] = to_device(params[k], model.dtype)
        return model

    # ---- training ---------------------------------------------------------------------------
    def _forward(self, batch, rng=None):
        """Scores of the M valid steps (M, V) and the cache for backward. rng=None: no dropout."""
        p = self.params
        train = rng is not None and self.dropout > 0
        feats = self.normalised(batch["feats"])
        inputs = to_device(batch["inputs"])
        N, T = inputs.shape
        # the M valid (n, t), row-major; found on the host, where the batch is made, so that a
        # GPU need not stop to count them
        rows = to_device(numpy.flatnonzero(to_host(batch["mask"]).reshape(-1)))

        f, _ = dropout_forward(feats, self.dropout, train, rng)
        bv = f @ p["W_hi"]                                   # Eq. 13
        x, c_x = dropout_forward(p["W_w"][inputs], self.dropout, train, rng)  # x_t = W_w 1_t
        # W_hx x_t, all steps in ONE 2-D GEMM: a (N, T, E) @ (E, H) product is N small GEMMs
        # in NumPy, each a thread hand-off in the BLAS (200x slower on a busy 2-core machine)
        a = (x.reshape(N * T, self.E) @ p["W_hx"]).reshape(N, T, self.G)
        on = None
        if self.relu_inputs:                                 # the paper's remark (Sec. 3.2)
            on = a > 0
            a *= on
            bv = xp.maximum(bv, 0)
        if self.image_every_step:                            # b_v at every step (option)
            a += bv[:, None, :]
        else:
            a[:, 0] += bv                                    # Eq. 14: 1(t = 1) b_v
        if self.cell == "lstm":                              # the LSTM in Eq. 14's place
            h, c_rnn = lstm_forward(a, None, p["W_hh"], p["b_h"])
        else:
            h, c_rnn = rnn_forward(a, None, p["W_hh"], p["b_h"])  # Eq. 14 (no mask needed)
        hv, c_h = dropout_forward(h.reshape(N * T, self.H)[rows], self.dropout, train, rng)
        scores = hv @ p["W_oh"]                              # Eq. 15, one GEMM over M rows
        scores += p["b_o"]
        return scores, ForwardCache(N, T, rows, inputs, f, bv, x, c_x, on, c_rnn, hv, c_h)

    def loss(self, batch):
        """Mean over sentences of the summed -log p of every target (Eq. 15), and its gradients
        keyed like `params`. Dropout is on while `training` is True (masks drawn from `rng`);
        off, the pass is deterministic (evaluation, the gradient checks)."""
        p = self.params
        scores, c = self._forward(batch, self.rng if self.training else None)
        N, T, rows = c.N, c.T, c.rows
        targets = to_device(batch["targets"]).reshape(-1)[rows]
        loss, dscores = softmax_loss_rows(scores, targets, N)

        grads = {"W_oh": c.hv.T @ dscores, "b_o": dscores.sum(axis=0)}
        dh = xp.zeros((N * T, self.H), dtype=self.dtype)
        dh[rows] = dropout_backward(dscores @ p["W_oh"].T, c.drop_h)
        backward = lstm_backward if self.cell == "lstm" else rnn_backward
        da, _, grads["W_hh"], grads["b_h"] = backward(dh.reshape(N, T, self.H), c.rnn)
        # Padded steps receive exactly zero gradient, so the input side works on the M valid
        # rows only (fewer rows in the GEMMs and in the scatter).
        # b_v enters at t = 1 (Eq. 14) or, with `image_every_step`, at every step (padded
        # steps carry zero gradient, so the sum over all T is the sum over the valid ones)
        dbv = da.sum(axis=1) if self.image_every_step else da[:, 0]
        da_v = da.reshape(N * T, self.G)[rows]
        if self.relu_inputs:
            dbv = dbv * (c.bv > 0)
            da_v *= c.on.reshape(N * T, self.H)[rows]
        grads["W_hi"] = c.f.T @ dbv                          # f: the features after dropout
        x_v = c.x.reshape(N * T, self.E)[rows]
        grads["W_hx"] = x_v.T @ da_v
        dx_v = da_v @ p["W_hx"].T
        if c.drop_x is not None:                             # dropout on the word vectors
            dx_v *= c.drop_x.reshape(N * T, self.E)[rows]
        grads["W_w"] = xp.zeros_like(p["W_w"])
        scatter_add(grads["W_w"], c.inputs.reshape(-1)[rows], dx_v)
        return loss, grads

    def log_probs(self, batch):
        """log p(sentence | image) of every sentence of the batch (teacher forcing, no dropout):
        the sum over its valid steps of log y_t[target], END included. -> (N,) `xp` array."""
        scores, c = self._forward(batch)
        N, T, rows = c.N, c.T, c.rows
        targets = to_device(batch["targets"]).reshape(-1)[rows]
        logp = log_softmax(scores, inplace=True)[xp.arange(len(rows)), targets]
        out = xp.zeros(N * T, dtype=logp.dtype)
        out[rows] = logp
        return out.reshape(N, T).sum(axis=1)

    # ---- decoding ---------------------------------------------------------------------------
    def image_bias(self, feats):
        """b_v of Eq. 13 for (N, D) features (after the optional ReLU of `relu_inputs`)."""
        bv = self.normalised(feats) @ self.params["W_hi"]             # Eq. 13
        return xp.maximum(bv, 0) if self.relu_inputs else bv

    def input_table(self):
        """(V, G): the input term of Eq. 14 for every word, W_hx x_w (through f when
        `relu_inputs`). Decoding looks a word's row up instead of doing two products a step."""
        table = self.params["W_w"] @ self.params["W_hx"]
        return xp.maximum(table, 0) if self.relu_inputs else table

    def step_input(self, table_rows, bv, first: bool):
        """The input term of Eq. 14 at one step: table rows (N, G) of the previous words, plus
        b_v (N, G) at t = 1 (first) or, with `image_every_step`, at every step."""
        return table_rows + bv if (first or self.image_every_step) else table_rows

    def initial_state(self, N: int):
        """The state before the first step: h_0 = 0 (and c_0 = 0 for the LSTM), (N, state_size)."""
        return xp.zeros((N, self.state_size), dtype=self.dtype)

    def step(self, a, prev_h):
        """One step of Eq. 14-15 given the input term a (N, G) (table rows, + b_v at t = 1,
        or at every step with `image_every_step`: `step_input`) and the state (N, state_size):
        -> the new state, scores (N, V) (the logits of y_t)."""
        h = self.hidden_step(a, prev_h)
        return h, self.logits(h)

    def hidden_step(self, a, prev_h):
        """Eq. 14 alone: a (N, G), the state (N, state_size) -> the new state: h (N, H), or
        [h | c] (N, 2H) for the LSTM."""
        p = self.params
        if self.cell == "lstm":
            H = self.H
            h, c, _ = lstm_step_forward(a, prev_h[:, :H], prev_h[:, H:], p["W_hh"], p["b_h"])
            return xp.concatenate([h, c], axis=1)
        h, _ = rnn_step_forward(a, prev_h, p["W_hh"], p["b_h"])  # Eq. 14
        return h

    def logits(self, h):
        """Eq. 15 before the softmax: a state (N, state_size) -> scores (N, V), a fresh array
        (the LSTM's state is [h | c]: its h half is read)."""
        scores = h[:, :self.H] @ self.params["W_oh"]              # Eq. 15
        scores += self.params["b_o"]        # in place: no second (N, V) array, one pass less
        return scores


def load_generator(path):
    """(model, vocab, meta) from a generator checkpoint written by `train-gen` (a run folder
    means its `best`); the same loader as the alignment model's (`vsa_np/trained.py`)."""
    return load_trained(path, CaptionModel)
