"""The linear baseline's members against independent computations (issue 22): a ridge member is
the closed-form solve, a CCA member's canonical correlations are the square roots of the
generalised eigenvalues of Cxy Cyy^-1 Cyx a = rho^2 Cxx a (both regularised), its directions
are orthogonal in the regularised metric, and the winner is the member with the best validation
R@K sum."""
import numpy as np
import pytest
import scipy.linalg

from vsa_np.alignment import baseline as bl
from vsa_np.alignment.retrieval import rsum
from vsa_np.data.shapes import make_shapes


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    world = tmp_path_factory.mktemp("baseline") / "w"
    make_shapes(world, 60, seed=3, feature_dim=24, progress=False, cnn="random")
    from vsa_np.data import load_dataset
    return bl.LinearBaseline(load_dataset(world))


def _training_sides(base, member):
    images, tokens, img = base._sentences("train")
    X = base.maps[member.image](base._features(images))
    mean, scale = base._stats[member.image]
    Y = ((X - mean) * scale)[img]
    B = bl.bag_of_words(tokens, base.vocab, member.words, base.idf)
    return Y, B


def test_a_ridge_member_is_the_closed_form_solve(fitted):
    member = next(m for m in fitted.members if m.model == "ridge")
    Y, B = _training_sides(fitted, member)
    lam = member.setting["lambda"]
    W = np.linalg.solve(B.T @ B + lam * np.eye(B.shape[1]), B.T @ Y)
    np.testing.assert_allclose(member.text_side, W, rtol=1e-6, atol=1e-8)


def test_cca_correlations_solve_the_generalised_eigenproblem(fitted):
    member = next(m for m in fitted.members if m.model == "CCA" and m.setting["p"] == 1)
    Y, B = _training_sides(fitted, member)
    n, r = len(B), member.setting["r"]
    Bc = B - B.mean(axis=0)
    Cxx, Cyy, Cxy = Bc.T @ Bc / n, Y.T @ Y / n, Bc.T @ Y / n
    Cxx_r = Cxx + r * np.linalg.eigvalsh(Cxx).max() * np.eye(len(Cxx))
    Cyy_r = Cyy + r * np.linalg.eigvalsh(Cyy).max() * np.eye(len(Cyy))
    rho2 = scipy.linalg.eigh(Cxy @ np.linalg.solve(Cyy_r, Cxy.T), Cxx_r, eigvals_only=True)
    k = member.setting["k"]
    expected = np.sqrt(np.clip(np.sort(rho2)[::-1][:k], 0, None))
    # with p = 1 each text direction is scaled by its correlation: recover it from the metric
    k = int((expected > 1e-3).sum())                       # the rest is rounding around 0
    assert k >= 5
    expected, A = expected[:k], member.text_side[:, :k]    # (V, k) = Wb U diag(corr)
    corr = np.sqrt(np.diag(A.T @ Cxx_r @ A))
    np.testing.assert_allclose(corr, expected, rtol=1e-6, atol=1e-9)
    gram = (A / corr).T @ Cxx_r @ (A / corr)               # orthonormal in the Cxx_r metric
    np.testing.assert_allclose(gram, np.eye(k), atol=1e-8)


def test_the_winner_has_the_best_validation_sum(fitted):
    values = [rsum(fitted._metrics(m, "val")) for m in fitted.members]
    assert rsum(fitted._metrics(fitted.member, "val")) == pytest.approx(max(values))
    assert len(fitted.members) == len(fitted.table) > 20


@pytest.mark.parametrize("read", ["raw", "sqrt"])
def test_warm_start_makes_eq8_compute_the_cca_score(fitted, read):
    """With the other dimensions off (rest_gain 0), the warm-started model's Eq. 8 score of image
    k and sentence l is y_k C . sum_t a_{w_t}, computed here from the member directly, with the
    model reading the features raw or through their square root."""
    from vsa_np.alignment.train import AlignConfig, build_model, fit_norm, warm_start
    from vsa_np.backend import to_host
    from vsa_np.data import encode_split

    ds, vocab = fitted.ds, fitted.vocab
    cfg = AlignConfig(embed=64, hidden=64, word_dim=64, seed=1, feature_map=read)
    model = build_model(cfg, len(vocab), ds.feature_dim, norm=fit_norm(ds, cfg))
    warm_start(model, fitted, k_max=16, rest_gain=0.0)
    assert model.norm.map == read             # the warm start takes the best CCA member on it
    member = next(m for _, m in sorted(zip(fitted.values, fitted.members), key=lambda vm: -vm[0])
                  if m.model == "CCA" and m.image == read)
    images, _, s2i = fitted._sentences("val")
    enc = encode_split(ds, vocab, "val")
    feats = np.asarray(ds.feats[images], dtype=np.float64)
    v = model.embed_regions(feats[:, None, :])
    mask = np.arange(enc.words.shape[1]) < enc.lengths[:, None]
    s, seg = model.embed_sentences(enc.words, mask)
    S = to_host(model.scores(v, None, s, seg, len(enc.lengths)))
    mean, scale = fitted._stats[read]
    C, A = member.image_side[:, :16], member.text_side[:, :16]
    counts = bl.word_counts(ds.sentences_of("val")[1], vocab)
    mapped = {"raw": feats, "sqrt": np.sqrt(feats), "log": np.log(np.maximum(feats, 1e-30))}
    expected = ((mapped[read] - mean) * scale) @ C @ (counts @ A).T
    np.testing.assert_allclose(S, expected, rtol=1e-4, atol=1e-5)   # the model reads float32


def test_compare_line_verdicts_and_advice():
    """The verdict follows the two R@10; --lr auto is advised only to a run that did not use it;
    an interval that holds 0 is said to leave the two apart undecided."""
    def m(a, s):
        return {"annotation": {"R@10": a}, "search": {"R@10": s}}
    assert bl.compare_line(m(60, 70), m(50, 60)).startswith("the model beats the linear "
                                                            "baseline in both directions")
    lost = bl.compare_line(m(40, 50), m(50, 60))
    assert "does NOT beat" in lost and "--lr auto" in lost
    assert "--lr auto" not in bl.compare_line(m(40, 50), m(50, 60), tuned=True)
    assert "one direction only" in bl.compare_line(m(60, 50), m(50, 60))
    diff = {"annotation": {"diff": -10.0, "low": -14.0, "high": -6.0},
            "search": {"diff": -10.0, "low": -15.0, "high": 1.0}, "level": 95.0,
            "n_images": 200}
    line = bl.compare_line(m(40, 50), m(50, 60), diff)
    assert "difference -10.0, 95% interval -14.0 to -6.0" in line
    assert line.endswith("in search the 200 images cannot tell the two apart (the interval "
                         "holds 0)")
