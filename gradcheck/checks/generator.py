"""Whole-model gradient checks of the generator (Sec. 3.2, Eq. 13-15): every parameter of
`CaptionModel`, float64, centered differences, tolerance 1e-6.

Five variants: the plain model, dropout on (the same masks every call, from a freshly seeded
generator), `image_every_step` (b_v at every step), and the LSTM in Eq. 14's place
(`cell="lstm"`, smooth: no kinks to avoid), with and without dropout. The batch has sentences
of different lengths
(padding at the end) and a word repeated within and across sentences (the embedding scatter).
Inputs are drawn away from every ReLU kink that influences the loss: the draw is accepted only
when no valid pre-activation lies within 1e-3 of zero (the perturbation is 1e-5).
"""
import numpy as np

from gradcheck.registry import compare_model, register
from vsa_np.backend import CHECK_DTYPE, rng as make_rng, to_device, xp
from vsa_np.feature_norm import FeatureNorm
from vsa_np.core.generator import CaptionModel

V, D, H, E = 7, 6, 5, 4
LENGTHS = [5, 3, 1]       # valid steps per sentence (words + END)


def caption_batch(seed: int, lengths=LENGTHS, V=V, D=D):
    """A caption batch in the data module's layout, with random words (never 0 inside)."""
    g = np.random.default_rng(seed)
    N, T = len(lengths), max(lengths)
    words = g.integers(1, V, size=(N, T))
    words[0, :2] = 3                       # a repeated word
    mask = np.arange(T)[None, :] < np.array(lengths)[:, None]
    targets = np.where(mask, words, 0)
    for n, L in enumerate(lengths):
        targets[n, L - 1] = 0              # END
    inputs = np.zeros_like(targets)
    inputs[:, 1:] = targets[:, :-1]        # START, then the words
    return {"feats": g.standard_normal((N, D)).astype(np.float64), "inputs": inputs,
            "targets": targets, "mask": mask}


def min_margin(model, batch, rng=None):
    """Smallest |pre-activation| of the ReLU recurrence on a valid step, recomputed step by step
    from the recurrence's input a (W_hx x_t + b_v)."""
    p = model.params
    _, c = model._forward(batch, rng)
    mask = to_device(batch["mask"], bool)
    h, margins = xp.zeros((c.N, model.H)), []
    for t in range(c.T):
        z = c.a[:, t] + h @ p["W_hh"] + p["b_h"]
        if mask[:, t].any():
            margins.append(float(xp.abs(z[mask[:, t]]).min()))
        h = xp.maximum(z, 0)
    return min(margins)


class _WithDropout:
    """The model with dropout on and the same masks every call (for the numerical gradient)."""

    def __init__(self, model, seed):
        self.model, self.params, self.seed = model, model.params, seed

    def loss(self, batch):
        self.model.training, self.model.rng = True, make_rng(self.seed)
        return self.model.loss(batch)


def _model_check(name, dropout=0.0, margin=1e-3, image_every_step=False,
                 cell="rnn"):
    for seed in range(100):  # the first draw clear of every kink
        model = CaptionModel(V, D, hidden=H, word_dim=E, dropout=dropout,
                             word_counts=np.arange(1, V + 1),
                             image_every_step=image_every_step, cell=cell,
                             seed=seed, dtype=CHECK_DTYPE,
                             norm=FeatureNorm(np.linspace(-1, 1, D), np.zeros((D, 0)),
                                              np.zeros(0), 1.0))
        # larger output and recurrent weights than the initialisation, so every path matters
        g = np.random.default_rng(1000 + seed)
        model.params["W_oh"][...] = to_device(g.standard_normal((H, V)))
        model.params["b_h"][...] = to_device(0.1 * g.standard_normal(model.params["b_h"].shape))
        if cell == "lstm":   # gates away from saturation's flat ends, every entry of W_hh felt
            model.params["W_hh"][...] = to_device(0.8 * g.standard_normal((H, 4 * H)))
        batch = caption_batch(seed)
        drop_rng = make_rng(7) if dropout else None
        if cell == "lstm" or min_margin(model, batch, drop_rng) > margin:
            break
    else:
        raise RuntimeError(f"{name}: no draw clear of the ReLU kinks")
    target = _WithDropout(model, 7) if dropout else model
    return compare_model(name, target, batch, tol=1e-6, max_checks=30)


@register("caption_model")
def check_caption_model():
    return _model_check("caption_model")


@register("caption_model_dropout")
def check_caption_model_dropout():
    return _model_check("caption_model_dropout", dropout=0.3)


@register("caption_model_every_step")
def check_caption_model_every_step():
    return _model_check("caption_model_every_step", dropout=0.3, image_every_step=True)


@register("caption_model_lstm")
def check_caption_model_lstm():
    return _model_check("caption_model_lstm", cell="lstm")


@register("caption_model_lstm_dropout")
def check_caption_model_lstm_dropout():
    return _model_check("caption_model_lstm_dropout", dropout=0.3, image_every_step=True,
                        cell="lstm")


GENERATOR_CHECKS = ["caption_model", "caption_model_dropout",
                    "caption_model_every_step", "caption_model_lstm",
                    "caption_model_lstm_dropout"]
