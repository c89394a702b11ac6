"""The LSTM option of the generator (`cell="lstm"`, core/layers.py): the layer against a plain
per-step loop written from the textbook equations, the whole-model loss against a per-sentence
loop, the decoders' scores against teacher forcing, and the option through training, the
checkpoint and decoding. (Gradients: the registered checks `lstm_step`, `lstm`,
`caption_model_lstm*`, run by test_gradcheck.py and test_generator_model.py.)"""
import numpy as np
import pytest

import vsa_np.core.layers as L
from gradcheck.checks.generator import caption_batch
from vsa_np.backend import CHECK_DTYPE, to_host
from vsa_np.core.generator import beam_search, greedy, sample
from vsa_np.core.generator import CaptionModel

from test_generator_decode import teacher_forced   # tests/ is on the path (pytest's prepend)


def sig(z):
    return 1 / (1 + np.exp(-z))


def textbook_step(a, h, c, Wh, b):
    """One LSTM step, gate by gate, for one sentence (vectors)."""
    H = len(h)
    z = a + h @ Wh + b
    i, f, o, g = sig(z[:H]), sig(z[H:2 * H]), sig(z[2 * H:3 * H]), np.tanh(z[3 * H:])
    c = f * c + i * g
    return o * np.tanh(c), c


def test_lstm_forward_equals_textbook_loop():
    g = np.random.default_rng(0)
    N, T, H = 3, 6, 5
    a = g.standard_normal((N, T, 4 * H))
    Wh, b = 0.5 * g.standard_normal((H, 4 * H)), 0.1 * g.standard_normal(4 * H)
    h, _ = L.lstm_forward(a, Wh, b)
    for n in range(N):
        hn, cn = np.zeros(H), np.zeros(H)
        for t in range(T):
            hn, cn = textbook_step(a[n, t], hn, cn, Wh, b)
            np.testing.assert_allclose(to_host(h[n, t]), hn, rtol=1e-12, atol=1e-12)


def test_lstm_backward_equals_steps():
    """BPTT over the sequence = the step backward chained by hand (h and c carried back)."""
    g = np.random.default_rng(1)
    N, T, H = 2, 4, 3
    a = g.standard_normal((N, T, 4 * H))
    Wh, b = 0.5 * g.standard_normal((H, 4 * H)), 0.1 * g.standard_normal(4 * H)
    dh = g.standard_normal((N, T, H))
    _, cache = L.lstm_forward(a, Wh, b)
    da, dWh, db = L.lstm_backward(dh, cache)
    h, c, caches = np.zeros((N, H)), np.zeros((N, H)), []
    for t in range(T):
        h, c, st = L.lstm_step_forward(a[:, t], h, c, Wh, b)
        caches.append(st)
    carry_h, carry_c, dWh2, db2 = np.zeros((N, H)), np.zeros((N, H)), 0, 0
    for t in range(T - 1, -1, -1):
        da_t, carry_h, carry_c, dW, dbb = L.lstm_step_backward(dh[:, t] + carry_h, carry_c,
                                                               caches[t])
        np.testing.assert_allclose(to_host(da[:, t]), da_t, rtol=1e-10, atol=1e-12)
        dWh2, db2 = dWh2 + dW, db2 + dbb
    np.testing.assert_allclose(to_host(dWh), dWh2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_host(db), db2, rtol=1e-10, atol=1e-12)


def lstm_model(seed=3, every_step=False, V=9, D=6):
    m = CaptionModel(V, D, hidden=8, word_dim=5, seed=seed, dtype=CHECK_DTYPE, dropout=0.0,
                     word_counts=np.arange(1, V + 1), cell="lstm", image_every_step=every_step)
    m.params["W_oh"] *= 20
    return m


@pytest.mark.parametrize("every_step", [False, True])
def test_lstm_model_loss_matches_loop(every_step):
    m = lstm_model(every_step=every_step)
    P = {k: to_host(v) for k, v in m.params.items()}
    batch = caption_batch(4, lengths=[6, 2, 4, 1], V=9, D=6)
    total = 0.0
    for n in range(4):
        bv = batch["feats"][n] @ P["W_hi"]                            # Eq. 13
        h, c = np.zeros(8), np.zeros(8)
        for t in range(int(batch["mask"][n].sum())):
            a = P["W_w"][batch["inputs"][n, t]] @ P["W_hx"] + (bv if t == 0 or every_step else 0)
            h, c = textbook_step(a, h, c, P["W_hh"], P["b_h"])        # the LSTM for Eq. 14
            s = h @ P["W_oh"] + P["b_o"]                              # Eq. 15
            total -= (s - s.max() - np.log(np.exp(s - s.max()).sum()))[batch["targets"][n, t]]
    loss, grads = m.loss(batch)
    assert float(loss) == pytest.approx(total / 4, rel=1e-12)
    assert set(grads) == set(m.params)
    assert all(grads[k].shape == m.params[k].shape for k in grads)


@pytest.mark.parametrize("how", ["greedy", "beam", "sample"])
def test_lstm_decoders_score_as_teacher_forcing(how):
    """The decoders carry the state [h | c]; the log probability each reports for its caption
    is the training pass's (`log_probs`, teacher forcing)."""
    m = lstm_model(seed=2, every_step=True, V=20, D=7)
    m.params["W_oh"] *= 2
    feats = np.random.default_rng(2).standard_normal((15, 7))
    out = {"greedy": lambda: greedy(m, feats, max_len=8),
           "beam": lambda: beam_search(m, feats, beam=4, max_len=8, n_best=2),
           "sample": lambda: sample(m, feats, temperature=1.5, max_len=8, seed=3)}[how]()
    caps = [c for per_image in out.tokens for c in per_image]
    rows = np.repeat(np.arange(15), [len(t) for t in out.tokens])
    np.testing.assert_allclose(np.concatenate(out.logprob), teacher_forced(m, feats[rows], caps),
                               rtol=1e-6, atol=1e-6)


def test_unknown_cell_is_refused():
    with pytest.raises(ValueError, match="cell"):
        CaptionModel(9, 6, hidden=8, word_dim=5, cell="gru")
