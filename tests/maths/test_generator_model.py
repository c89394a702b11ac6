"""CaptionModel (Eq. 13-15): the registered whole-model gradient checks, and the loss against an
independent computation (a plain per-sentence, per-step loop in NumPy)."""
import numpy as np
import pytest

from gradcheck.checks.generator import GENERATOR_CHECKS, caption_batch
from gradcheck.registry import run_checks
from vsa_np.backend import CHECK_DTYPE, rng, to_host
from vsa_np.feature_norm import FeatureNorm
from vsa_np.core.generator import CaptionModel


@pytest.mark.parametrize("name", GENERATOR_CHECKS)
def test_generator_gradient(name):
    rows = run_checks([name])
    assert len(rows) == 7
    for r in rows:
        assert r.status == "PASS", r
        assert r.max_rel_error < 1e-6


def loop_loss(params, batch, mean=None, every_step=False):
    """-sum log y_t[target] / N by a loop over sentences and steps, straight from Eq. 13-15."""
    P = {k: to_host(v) for k, v in params.items()}
    relu = lambda z: np.maximum(z, 0)  # noqa: E731
    total = 0.0
    for n in range(len(batch["inputs"])):
        f = batch["feats"][n] - (0 if mean is None else mean)
        bv = f @ P["W_hi"]                                          # Eq. 13
        h = np.zeros(P["W_hh"].shape[0])
        for t in range(batch["mask"].shape[1]):
            if not batch["mask"][n, t]:
                break
            wx = P["W_w"][batch["inputs"][n, t]] @ P["W_hx"]
            img = bv if t == 0 or every_step else 0
            h = relu(wx + h @ P["W_hh"] + P["b_h"] + img)            # Eq. 14
            s = h @ P["W_oh"] + P["b_o"]                              # Eq. 15
            logp = s - s.max() - np.log(np.exp(s - s.max()).sum())
            total -= logp[batch["targets"][n, t]]
    return total / len(batch["inputs"])


@pytest.mark.parametrize("every_step", [False, True])
@pytest.mark.parametrize("centred", [False, True])
def test_loss_matches_loop(centred, every_step):
    mean = np.linspace(-1, 2, 6) if centred else None
    m = CaptionModel(9, 6, hidden=8, word_dim=5, seed=3, image_every_step=every_step,
                     dtype=CHECK_DTYPE, word_counts=np.arange(1, 10),
                     norm=None if mean is None else FeatureNorm(mean, np.zeros((6, 0)),
                                                                np.zeros(0), 1.0))
    m.params["W_oh"] *= 20
    batch = caption_batch(4, lengths=[6, 2, 4, 1], V=9, D=6)
    loss, grads = m.loss(batch)
    assert float(loss) == pytest.approx(loop_loss(m.params, batch, mean, every_step), rel=1e-12)
    lp = to_host(m.log_probs(batch))
    assert lp.shape == (4,)
    assert -lp.sum() / 4 == pytest.approx(float(loss), rel=1e-12)
    assert set(grads) == set(m.params)
    assert all(grads[k].shape == m.params[k].shape for k in grads)


def test_padding_changes_nothing():
    """Extra padded steps (any words there) leave the loss and every gradient unchanged."""
    m = CaptionModel(9, 6, hidden=8, word_dim=5, seed=1, dtype=CHECK_DTYPE)
    b = caption_batch(2, lengths=[4, 2, 3], V=9, D=6)
    padded = {k: v for k, v in b.items()}
    for k in ("inputs", "targets"):
        padded[k] = np.hstack([b[k], np.full((3, 3), 5)])
    padded["mask"] = np.hstack([b["mask"], np.zeros((3, 3), bool)])
    (l1, g1), (l2, g2) = m.loss(b), m.loss(padded)
    assert float(l1) == pytest.approx(float(l2), rel=1e-13)
    for k in g1:
        np.testing.assert_allclose(to_host(g1[k]), to_host(g2[k]), rtol=1e-12, atol=1e-15)


def test_output_bias_starts_at_log_frequencies():
    counts = np.array([50, 400, 30, 7, 0, 13])
    m = CaptionModel(6, 4, hidden=8, word_dim=3, word_counts=counts, dtype=CHECK_DTYPE)
    b = to_host(m.params["b_o"])
    c = np.maximum(counts, 1)
    np.testing.assert_allclose(np.exp(b), c / c.sum(), rtol=1e-12)
    # with the small initial W_oh, the first predictions are close to the unigram distribution
    batch = caption_batch(0, lengths=[3, 3], V=6, D=4)
    scores, _ = m._forward(batch)
    p = np.exp(to_host(scores))
    p /= p.sum(axis=1, keepdims=True)
    assert np.abs(p - c / c.sum()).max() < 0.05


def test_dropout_only_while_training_and_float32_by_default():
    m = CaptionModel(9, 6, hidden=8, word_dim=5, dropout=0.5, seed=0)
    assert all(p.dtype == np.float32 for p in m.params.values())
    assert m.training is False
    batch = caption_batch(1, lengths=[5, 3, 2], V=9, D=6)
    batch["feats"] = batch["feats"].astype(np.float32)
    l0, g0 = m.loss(batch)
    assert float(m.loss(batch)[0]) == float(l0)                     # deterministic, not training
    m.training, m.rng = True, rng(5)
    l1, g1 = m.loss(batch)
    assert float(l1) != float(l0)
    m.rng = rng(5)
    assert float(m.loss(batch)[0]) == float(l1)                     # same seed, same masks
    assert all(g.dtype == np.float32 for g in g1.values())
    m0 = CaptionModel(9, 6, hidden=8, word_dim=5, dropout=0.0, seed=0)
    off = float(m0.loss(batch)[0])
    m0.training = True
    assert float(m0.loss(batch)[0]) == off                          # p = 0: nothing dropped


def test_arch_round_trip():
    m = CaptionModel(9, 6, hidden=8, word_dim=5, seed=2, cell="lstm", image_every_step=True)
    host = {k: to_host(v) for k, v in m.params.items()}
    m2 = CaptionModel.from_params(host, m.arch)
    batch = caption_batch(1, lengths=[5, 3], V=9, D=6)
    assert m2.arch == m.arch and float(m2.loss(batch)[0]) == float(m.loss(batch)[0])
    bad = dict(m.params, W_hh=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="W_hh"):
        CaptionModel.from_params(bad, m.arch)
