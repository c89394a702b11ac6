"""The feature whitening before Eq. 1 (vsa_np/alignment/whitening.py): the randomised fit against
a full eigendecomposition, the low-rank transform against the written-out matrix Z, and the
checkpoint round trip of its arrays."""
import numpy as np
import pytest

from vsa_np.alignment.whitening import fit_whitening, whiten
from vsa_np.backend import to_host, xp
from vsa_np.checkpoint import load_checkpoint, save_checkpoint, split_buffers


def features(n=600, D=40, seed=0):
    """Centred rows with a steep spectrum (variances 2^-i), like CNN features."""
    g = np.random.default_rng(seed)
    Q = np.linalg.qr(g.standard_normal((D, D)))[0]
    X = (g.standard_normal((n, D)) * 2.0 ** (-np.arange(D) / 2)) @ Q.T
    return X - X.mean(axis=0)


def test_fit_finds_the_top_principal_directions():
    X = features()
    lam, U = np.linalg.eigh(X.T @ X / len(X))
    lam, U = lam[::-1], U[:, ::-1]
    w = fit_whitening(X, k=8, eps_rel=1e-3)
    np.testing.assert_allclose(w["variance"], lam[:8], rtol=1e-8)
    overlap = np.abs(np.sum(w["basis"] * U[:, :8], axis=0))       # |cos| per direction
    np.testing.assert_allclose(overlap, 1.0, atol=1e-8)
    eps = 1e-3 * lam[0]
    np.testing.assert_allclose(w["scale"], 1 / np.sqrt(lam[:8] + eps), rtol=1e-8)
    assert w["rest"] == pytest.approx(1 / np.sqrt(lam[8:].mean() + eps), rel=1e-8)


def test_flat_spectrum_is_scaled_not_blown_up():
    """Random features have a flat spectrum: the rest of the directions then keep about unit
    variance (not the 1 / eps_rel times the top variance that 1/sqrt(eps) alone would give)."""
    X = np.random.default_rng(1).standard_normal((2000, 60))
    X -= X.mean(axis=0)
    w = fit_whitening(X, k=8, eps_rel=1e-3)
    Y = to_host(whiten(xp.asarray(X.copy()), xp.asarray(w["basis"]), xp.asarray(w["scale"]),
                       w["rest"]))
    np.testing.assert_allclose(Y.var(axis=0).mean(), 1.0, rtol=0.05)


def test_whiten_equals_the_full_matrix_and_evens_the_spectrum():
    X = features()
    w = fit_whitening(X, k=40, eps_rel=1e-6)      # all directions: ZCA whitening
    U = w["basis"]
    Z = U @ np.diag(w["scale"]) @ U.T + w["rest"] * (np.eye(40) - U @ U.T)
    Y = to_host(whiten(xp.asarray(X.copy()), xp.asarray(U), xp.asarray(w["scale"]), w["rest"]))
    np.testing.assert_allclose(Y, X @ Z, rtol=1e-9, atol=1e-9)
    # principal direction i now has variance lam_i / (lam_i + eps): about 1 where lam_i >> eps
    lam, eps = w["variance"], 1e-6 * w["variance"][0]
    C = Y.T @ Y / len(Y)
    np.testing.assert_allclose(C, U @ np.diag(lam / (lam + eps)) @ U.T, atol=1e-8)
    assert (lam / (lam + eps))[:15].min() > 0.97 and lam[0] / lam[14] > 1e4


def test_fit_refuses_too_few_rows():
    with pytest.raises(ValueError, match="at least 2"):
        fit_whitening(np.zeros((1, 5)))


def test_buffers_round_trip_and_stay_out_of_the_parameters(tmp_path):
    basis = np.arange(6.0).reshape(3, 2)
    save_checkpoint(tmp_path / "c", {"W": np.ones(2)}, {"k": 1}, buffers={"whiten_basis": basis})
    params, meta, _ = load_checkpoint(tmp_path / "c")
    buffers = split_buffers(params)
    assert set(params) == {"W"} and set(buffers) == {"whiten_basis"}
    np.testing.assert_array_equal(buffers["whiten_basis"], basis)
    with pytest.raises(ValueError, match="clashes"):
        save_checkpoint(tmp_path / "d", {"buffer/x": np.ones(1)}, {})


def test_dropout_acts_on_the_whitened_features():
    """region_embed whitens first and drops after: each kept entry of the layer's input is the
    whitened feature / (1 - p). (Dropped before Z, the noise of the large entries would spread
    into the weak directions and be amplified there.)"""
    from vsa_np.alignment.region_embed import region_embed_forward
    from vsa_np.backend import rng
    g = np.random.default_rng(3)
    x = g.random((2, 3, 40))
    mu = x.reshape(-1, 40).mean(axis=0)
    w = fit_whitening(features(D=40), k=8)
    white = (xp.asarray(w["basis"]), xp.asarray(w["scale"]), w["rest"])
    W, b = xp.asarray(g.standard_normal((40, 5))), xp.zeros(5)
    _, kept = region_embed_forward(xp.asarray(x), W, b, 0.5, True, rng(0), xp.asarray(mu), white)
    kept = to_host(kept)
    U = w["basis"]
    Z = U @ np.diag(w["scale"]) @ U.T + w["rest"] * (np.eye(40) - U @ U.T)
    want = (x.reshape(-1, 40) - mu) @ Z / 0.5
    on = kept != 0
    assert 0.3 < on.mean() < 0.7
    np.testing.assert_allclose(kept[on], want[on], rtol=1e-9)
