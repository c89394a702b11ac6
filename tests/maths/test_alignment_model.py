"""The alignment model (Eq. 1-9) against a plain-loop implementation, and its gradient checks."""
import numpy as np
import pytest

from gradcheck.checks.alignment import (ALIGNMENT_CHECKS, SIZES, naive_forward, random_batch,
                                       random_norm)
from gradcheck.registry import CHECKS, run_checks
from vsa_np.core.alignment import AlignmentModel, ranking_loss, score_forward
from vsa_np.backend import to_host, xp


def _model(kind, seed=0, **kw):
    return AlignmentModel(**SIZES, score=kind, seed=seed, dtype=np.float64, **kw)


def _scores(model, batch):
    v = model.embed_regions(batch["regions"])
    s, seg = model.embed_sentences(batch["words"], batch["word_mask"])
    return to_host(model.scores(v, batch["region_mask"], s, seg, len(batch["words"])))


@pytest.mark.parametrize("kind", ["eq8", "eq7"])
@pytest.mark.parametrize("pre", ["raw", "centred", "whitened"])
def test_scores_and_loss_match_loops(kind, pre):
    g = np.random.default_rng(1)
    norm = None
    if pre != "raw":
        norm = random_norm(g, SIZES["image_dim"], k=2 if pre == "whitened" else 0)
    model = _model(kind, seed=3, norm=norm)
    batch = random_batch(g)
    ref = naive_forward(model.params, batch, kind, norm=model.norm)
    np.testing.assert_allclose(_scores(model, batch), ref["S"], rtol=1e-10, atol=1e-12)
    loss, _ = model.loss(batch)
    assert float(loss) == pytest.approx(ref["loss"], rel=1e-10)
    assert float(loss) > 0


def test_eq8_never_exceeds_eq7():
    """Per word, max_i d_i <= sum_i max(0, d_i) (equal only when one region is positive or all
    are negative), so with the same parameters S(Eq. 8) <= S(Eq. 7) entrywise."""
    g = np.random.default_rng(2)
    batch = random_batch(g)
    m8, m7 = _model("eq8", seed=4), _model("eq7", seed=4)
    S8, S7 = _scores(m8, batch), _scores(m7, batch)
    assert (S8 <= S7 + 1e-12).all() and not np.allclose(S8, S7)
    np.testing.assert_allclose(S7, naive_forward(m7.params, batch, "eq7")["S"], rtol=1e-10)


def test_masked_regions_never_win():
    """A padded region with an enormous score must change nothing (value or gradient)."""
    g = np.random.default_rng(5)
    model = _model("eq8", seed=5)
    batch = random_batch(g)
    loss1, grads1 = model.loss(batch)
    # region 2 of image 1 is padding (n_regions = 2): make it the best match for every word
    batch["regions"][1, 2] = 1e3 * np.sign(to_host(model.params["W_m"]).sum(axis=1))
    loss2, grads2 = model.loss(batch)
    assert float(loss1) == float(loss2)
    for k in grads1:
        np.testing.assert_array_equal(to_host(grads1[k]), to_host(grads2[k]))


def test_padding_changes_nothing():
    """Extra padding columns at the end of the word batch leave loss and gradients unchanged."""
    g = np.random.default_rng(6)
    model = _model("eq8", seed=6)
    batch = random_batch(g)
    loss1, grads1 = model.loss(batch)
    wide = dict(batch, words=np.pad(batch["words"], ((0, 0), (0, 3)), constant_values=7),
                word_mask=np.pad(batch["word_mask"], ((0, 0), (0, 3))))
    loss2, grads2 = model.loss(wide)
    assert float(loss1) == pytest.approx(float(loss2), rel=1e-12)
    for k in grads1:
        np.testing.assert_allclose(to_host(grads1[k]), to_host(grads2[k]), rtol=1e-10,
                                   atol=1e-14)


@pytest.mark.parametrize("kind", ["eq8", "eq7"])
def test_blocked_score_matrix_equals_one_block(kind):
    g = np.random.default_rng(7)
    N, R, M, L = 6, 3, 4, 9
    v = xp.asarray(g.standard_normal((N, R, M)))
    mask = np.arange(R) < g.integers(1, R + 1, N)[:, None]
    lengths = g.integers(1, 6, L)
    seg = xp.asarray(np.repeat(np.arange(L), lengths))
    s = xp.asarray(g.standard_normal((int(lengths.sum()), M)))
    whole, _ = score_forward(v, mask, s, seg, L, kind)
    blocked = _model(kind).scores(v, mask, s, seg, L, kind, max_entries=20)
    np.testing.assert_allclose(to_host(blocked), to_host(whole), rtol=1e-12)


def test_ranking_loss_brute_force():
    """Eq. 9 term by term (l != k), divided by B, and its known value on a hand example."""
    g = np.random.default_rng(8)
    S = g.standard_normal((5, 5))
    B = 5
    ref = sum(max(0, S[k, l] - S[k, k] + 1) + max(0, S[l, k] - S[k, k] + 1)
              for k in range(B) for l in range(B) if l != k) / B
    loss, _ = ranking_loss(xp.asarray(S))
    assert float(loss) == pytest.approx(ref, rel=1e-12)
    # perfectly separated pairs (diagonal 2 above everything else) cost nothing
    loss0, dS0 = ranking_loss(xp.asarray(np.eye(3) * 2.0))
    assert float(loss0) == 0 and not to_host(dS0).any()
    # all scores equal: every one of the 2 B (B - 1) hinges is exactly the margin 1
    loss1, _ = ranking_loss(xp.zeros((3, 3)))
    assert float(loss1) == pytest.approx(2 * 3 * 2 / 3)


def test_gradient_checks_pass():
    rows = run_checks(ALIGNMENT_CHECKS)
    assert set(ALIGNMENT_CHECKS) <= set(CHECKS)
    bad = [(r.check, r.param, r.max_rel_error, r.status) for r in rows
           if r.status not in ("PASS",)]
    assert not bad, bad
    model_rows = [r for r in rows if r.check.startswith("align_model")]
    assert all(r.max_rel_error < 1e-6 for r in model_rows)
    assert {r.param for r in model_rows} == set(_model("eq8").params)


def test_bad_inputs():
    with pytest.raises(ValueError, match="score"):
        _model("eq9")
    model = _model("eq8")
    batch = random_batch(np.random.default_rng(9))
    bad = dict(batch, word_mask=batch["word_mask"][:, ::-1])  # padding at the start
    with pytest.raises(ValueError, match="left-aligned"):
        model.loss(bad)
