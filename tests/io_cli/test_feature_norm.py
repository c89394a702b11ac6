"""The feature normalisation before Eq. 1 and Eq. 13 (vsa_np/feature_norm.py): the randomised fit
against a full eigendecomposition, the low-rank map against the written-out matrix Z, its
invariance to the features' scale, the bound on what it amplifies, and the checkpoint round
trip of its arrays."""
import numpy as np
import pytest

from vsa_np.backend import to_host, xp
from vsa_np.checkpoint import load_checkpoint, save_checkpoint, split_buffers
from vsa_np.feature_norm import FeatureNorm, fit_feature_norm


def features(n=600, D=40, seed=0):
    """Rows with a steep spectrum (variances 2^-i) around a non-zero mean, like CNN features."""
    g = np.random.default_rng(seed)
    Q = np.linalg.qr(g.standard_normal((D, D)))[0]
    return (g.standard_normal((n, D)) * 2.0 ** (-np.arange(D) / 2)) @ Q.T + 3.0


def apply(norm, X):
    return to_host(norm.to(np.float64)(xp.asarray(X)))


def test_fit_finds_the_top_principal_directions():
    X = features()
    C = np.cov(X.T, bias=True)
    lam, U = np.linalg.eigh(C)
    lam, U = lam[::-1], U[:, ::-1]
    norm = fit_feature_norm(X, whiten=8, eps_rel=1e-3)
    np.testing.assert_allclose(norm.mean, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(norm.variance, lam[:8], rtol=1e-8)
    overlap = np.abs(np.sum(norm.basis * U[:, :8], axis=0))       # |cos| per direction
    np.testing.assert_allclose(overlap, 1.0, atol=1e-8)
    eps = 1e-3 * lam[0]
    np.testing.assert_allclose(norm.scale, 1 / np.sqrt(lam[:8] + eps), rtol=1e-8)
    # the rest get the gain of the k-th direction: never more than the weakest whitened one
    assert norm.rest == pytest.approx(1 / np.sqrt(lam[7] + eps), rel=1e-8)


def test_map_equals_the_full_matrix_and_evens_the_spectrum():
    X = features()
    norm = fit_feature_norm(X, whiten=40, eps_rel=1e-6)      # all directions: ZCA whitening
    Y = apply(norm, X)
    np.testing.assert_allclose(Y, (X - X.mean(axis=0)) @ norm.dense(), rtol=1e-9, atol=1e-9)
    # principal direction i now has variance lam_i / (lam_i + eps): about 1 where lam_i >> eps
    lam, eps, U = norm.variance, 1e-6 * norm.variance[0], norm.basis
    np.testing.assert_allclose(Y.T @ Y / len(Y), U @ np.diag(lam / (lam + eps)) @ U.T, atol=1e-8)
    assert (lam / (lam + eps))[:15].min() > 0.97 and lam[0] / lam[14] > 1e4


@pytest.mark.parametrize("whiten", [0, 8])
def test_any_scale_of_the_features_gives_the_same_normalised_features(whiten):
    """fc7 x 1e-3, fc7 and fc7 x 1e3 must train alike: the map undoes any global scale."""
    X = features()
    want = apply(fit_feature_norm(X, whiten=whiten), X)
    for c in (1e-3, 1e3):
        got = apply(fit_feature_norm(c * X, whiten=whiten), c * X)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def test_without_whitening_the_features_get_unit_variance_on_average():
    X = features() * 1e-4
    Y = apply(fit_feature_norm(X), X)
    np.testing.assert_allclose(Y.mean(axis=0), 0, atol=1e-12)
    assert Y.var(axis=0).mean() == pytest.approx(1.0, rel=1e-9)
    raw = fit_feature_norm(X, center=False)                   # no centring: scaled raw features
    assert raw.mean is None
    assert (apply(raw, X) ** 2).mean() == pytest.approx(1.0, rel=1e-9)


@pytest.mark.parametrize("whiten", [0, 8])
def test_sq_norm_sets_the_mean_squared_norm(whiten):
    """The alignment trainer's unit-length features: E |x'|^2 = 1 on the training rows, the
    shape of the map (which directions get which relative gain) unchanged."""
    X = features() * 37.0
    plain = fit_feature_norm(X, whiten=whiten)
    unit = fit_feature_norm(X, whiten=whiten, sq_norm=1.0)
    Y = apply(unit, X)
    assert (Y ** 2).sum(axis=1).mean() == pytest.approx(1.0, rel=1e-8)
    ratio = unit.rest / plain.rest
    np.testing.assert_allclose(Y, apply(plain, X) * ratio, rtol=1e-9, atol=1e-12)


def test_nearly_empty_directions_are_not_amplified():
    """Class probabilities: most of the 200 classes are never predicted. No direction of the
    normalised features may end with more variance than the whitened ones (about 1)."""
    g = np.random.default_rng(2)
    logits = g.standard_normal((500, 12)) @ g.standard_normal((12, 200)) * 2
    logits[:, 20:] -= 25                                      # classes that stay near 0
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    Y = apply(fit_feature_norm(P, whiten=16), P)
    w = np.linalg.eigvalsh(np.cov(Y.T, bias=True))
    assert w.max() < 1.0 + 1e-6
    assert w[-16:].min() > 0.5                                # the whitened ones are about 1


def test_fit_refuses_too_few_rows():
    with pytest.raises(ValueError, match="at least 2"):
        fit_feature_norm(np.zeros((1, 5)))


def test_buffers_round_trip_and_stay_out_of_the_parameters(tmp_path):
    norm = fit_feature_norm(features(D=12), whiten=3)
    save_checkpoint(tmp_path / "c", {"W": np.ones(2)}, {"k": 1}, buffers=norm.buffers())
    params, meta, _ = load_checkpoint(tmp_path / "c")
    buffers = split_buffers(params)
    assert set(params) == {"W"}
    back = FeatureNorm.from_buffers(buffers)
    X = features(D=12, seed=5)
    np.testing.assert_allclose(apply(back, X), apply(norm, X), rtol=1e-12)
    with pytest.raises(ValueError, match="clashes"):
        save_checkpoint(tmp_path / "d", {"buffer/x": np.ones(1)}, {})


def test_the_map_is_the_written_out_formula():
    """x' = (x - mu) Z with Z = U diag(d) U^T + r (I - U U^T), and a centring alone."""
    X = features(D=6)
    mean = X.mean(axis=0)
    centring = FeatureNorm(mean, np.zeros((6, 0)), np.zeros(0), 1.0)
    np.testing.assert_allclose(apply(centring, X), X - mean, rtol=1e-12)
    U = np.linalg.qr(np.random.default_rng(1).standard_normal((6, 2)))[0]
    norm = FeatureNorm(mean, U, np.array([2.0, 3.0]), 0.5)
    Z = U @ np.diag([2.0, 3.0]) @ U.T + 0.5 * (np.eye(6) - U @ U.T)
    np.testing.assert_allclose(apply(norm, X), (X - mean) @ Z, rtol=1e-12)


def test_dropout_acts_on_the_normalised_features():
    """region_embed normalises first and drops after: each kept entry of the layer's input is the
    normalised feature / (1 - p). (Dropped before Z, the noise of the large entries would spread
    into the weak directions and be amplified there.)"""
    from vsa_np.core.alignment import region_embed_forward
    from vsa_np.backend import rng
    g = np.random.default_rng(3)
    x = g.random((2, 3, 40))
    norm = fit_feature_norm(features(D=40), whiten=8)
    W, b = xp.asarray(g.standard_normal((40, 5))), xp.zeros(5)
    _, kept = region_embed_forward(xp.asarray(x), W, b, 0.5, True, rng(0), norm.to(np.float64))
    kept = to_host(kept)
    want = (x.reshape(-1, 40) - norm.mean) @ norm.dense() / 0.5
    on = kept != 0
    assert 0.3 < on.mean() < 0.7
    np.testing.assert_allclose(kept[on], want[on], rtol=1e-9)


def _softmax_rows(n, d, seed):
    logits = 3.0 * np.random.default_rng(seed).standard_normal((n, d))
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32), logits


def test_class_probabilities_are_read_as_their_logarithm(tmp_path):
    """--feature-map auto: softmax rows are detected and mapped through log; other features are
    not; the map on p equals the plain map fitted on log p; it survives a checkpoint."""
    from vsa_np.feature_norm import feature_maps, fit_on_split, is_probabilities

    p, logits = _softmax_rows(300, 40, 0)
    assert is_probabilities(p) and not is_probabilities(logits)
    assert not is_probabilities(np.abs(logits))              # non-negative, but no simplex
    images = np.arange(300)
    auto = fit_on_split(p, images, sq_norm=1.0)
    assert auto.log and not fit_on_split(p, images, sq_norm=1.0, feature_map="raw").log
    assert not fit_on_split(logits, images).log
    # log p = logits - logsumexp: a shift per row, which centring does not remove; compare
    # with the map fitted directly on log p, computed independently in float64
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    plain = fit_feature_norm(logp, sq_norm=1.0)
    np.testing.assert_allclose(to_host(auto.to(np.float64)(xp.asarray(p, dtype=np.float64))),
                               to_host(plain.to(np.float64)(xp.asarray(logp))), atol=2e-5)
    np.testing.assert_allclose(feature_maps(p)["log"](p), logp, atol=1e-5)   # the baselines'
    assert "log" not in feature_maps(logits) and feature_maps(logits)["raw"](logits) is logits
    save_checkpoint(tmp_path / "c", {"w": np.zeros(2)}, {}, buffers=auto.buffers())
    params, _, _ = load_checkpoint(tmp_path / "c")
    again = FeatureNorm.from_buffers(split_buffers(params))
    assert again.log
    np.testing.assert_allclose(again.host()(p.astype(np.float64)),
                               auto.host()(p.astype(np.float64)), atol=1e-12)


def test_the_square_root_map(tmp_path):
    """--feature-map sqrt: the map on x equals the plain map fitted on sqrt x, computed here
    independently; auto leaves ReLU-like features raw (only softmax rows go through log); the
    map survives a checkpoint, and a checkpoint of the old layout (no map saved) reads raw."""
    from vsa_np.feature_norm import choose_map, fit_on_split, saved_map

    g = np.random.default_rng(3)
    relu = np.maximum(g.standard_normal((300, 40)), 0).astype(np.float32)
    images = np.arange(300)
    assert [choose_map(x) for x in (relu, -relu, _softmax_rows(10, 5, 1)[0])] == \
        ["raw", "raw", "log"]
    assert choose_map(relu, "sqrt") == "sqrt"
    root = fit_on_split(relu, images, sq_norm=1.0, feature_map="sqrt")
    assert root.map == "sqrt" and not root.log
    plain = fit_feature_norm(np.sqrt(relu.astype(np.float64)), sq_norm=1.0)
    np.testing.assert_allclose(root.host()(relu.astype(np.float64)),
                               plain.host()(np.sqrt(relu.astype(np.float64))), atol=1e-9)
    save_checkpoint(tmp_path / "c", {"w": np.zeros(2)}, {}, buffers=root.buffers())
    params, _, _ = load_checkpoint(tmp_path / "c")
    buffers = split_buffers(params)
    assert saved_map(buffers) == "sqrt" and FeatureNorm.from_buffers(buffers).map == "sqrt"
    buffers.pop("norm_sqrt")
    assert FeatureNorm.from_buffers(buffers).map == "raw"


def test_the_signed_square_root_map(tmp_path):
    """--feature-map ssqrt: sign(x) sqrt(|x|), the map on x equals the plain map fitted on the
    mapped features computed here; the baselines are offered it exactly for features with
    negative entries; it survives a checkpoint."""
    from vsa_np.feature_norm import feature_maps, fit_on_split, saved_map

    g = np.random.default_rng(4)
    signed = (g.standard_normal((300, 40)) ** 3).astype(np.float32)      # heavy tails
    images = np.arange(300)
    want = np.sign(signed.astype(np.float64)) * np.abs(signed.astype(np.float64)) ** 0.5
    np.testing.assert_allclose(feature_maps(signed)["ssqrt"](signed.astype(np.float64)), want)
    assert "ssqrt" not in feature_maps(np.abs(signed)) and "sqrt" not in feature_maps(signed)
    root = fit_on_split(signed, images, sq_norm=1.0, feature_map="ssqrt")
    plain = fit_feature_norm(want, sq_norm=1.0)
    np.testing.assert_allclose(root.host()(signed.astype(np.float64)), plain.host()(want),
                               atol=1e-9)
    save_checkpoint(tmp_path / "c", {"w": np.zeros(2)}, {}, buffers=root.buffers())
    params, _, _ = load_checkpoint(tmp_path / "c")
    assert saved_map(split_buffers(params)) == "ssqrt"


def test_resume_refuses_a_run_read_through_another_map(tiny_world, tmp_path):
    """A run trained with one feature map cannot be continued with another: the line names
    the checkpoint and the option that would continue it. A config saved under the old field
    name (log_probs) still loads."""
    from vsa_np.alignment.train import AlignConfig, train_alignment
    from vsa_np.cli import main
    from vsa_np.config import config_from_dict
    from vsa_np.errors import DataError

    out = tmp_path / "run"
    small = [str(tiny_world), "--out", str(out), "--embed", "16", "--hidden", "8", "--word-dim",
             "8", "--start", "random", "--quiet"]
    assert main(["train-align", *small, "--epochs", "1", "--feature-map", "raw"]) == 0
    with pytest.raises(DataError, match=r"last\.npz: the run read its features through the "
                                        r"raw map, this config through the sqrt map; pass "
                                        r"--feature-map raw"):
        train_alignment(tiny_world, out, AlignConfig(embed=16, hidden=8, word_dim=8, epochs=2,
                                                     start="random", feature_map="sqrt"),
                        resume=True, quiet=True, log=lambda *a: None)
    assert config_from_dict(AlignConfig, {"log_probs": "log"}).feature_map == "log"
