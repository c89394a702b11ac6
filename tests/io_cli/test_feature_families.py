"""The feature-family worlds (vsa_np/data/feature_families.py): each family has the statistics it
claims, the fc7 family matches the real VGG-16 fc7 of the neuraltalk example, and the worlds load
as datasets. (Training on every family: tests/test_family_training.py.)"""
import numpy as np
import pytest
import scipy.io

from vsa_np.data import load_dataset
from vsa_np.data.feature_families import (FAMILIES, N_CLASSES, content_codes, family_features,
                                          make_family_world)
from vsa_np.data.shapes import scene_and_captions
from vsa_np.errors import DataError


@pytest.fixture(scope="module")
def codes():
    return content_codes([scene_and_captions(0, i)[0] for i in range(300)], seed=0)


def positive_quantiles(x):
    pos = x[x > 0]
    med = np.median(pos)
    return (x == 0).mean(), np.percentile(pos, 90) / med, np.percentile(pos, 99) / med


def test_fc7_family_matches_the_real_vgg_fc7(codes, shared_data):
    """Zero fraction and the shape of the positive tail against the real fc7 of 16 photos."""
    real = scipy.io.loadmat(shared_data / "neuraltalk_examples" / "vgg_feats.mat")["feats"]
    real = np.asarray(real, dtype=np.float64).T                      # (16, 4096)
    ours = family_features(codes, "fc7", 0, dim=1024).astype(np.float64)
    (z_r, p90_r, p99_r), (z_o, p90_o, p99_o) = positive_quantiles(real), positive_quantiles(ours)
    assert abs(z_o - z_r) < 0.05                                      # ~70% zeros
    assert p90_o == pytest.approx(p90_r, rel=0.2) and p99_o == pytest.approx(p99_r, rel=0.25)
    assert np.median(ours[ours > 0]) == pytest.approx(np.median(real[real > 0]), rel=0.1)


def test_each_family_has_its_statistics(codes):
    f = {name: family_features(codes, name, 0, dim=256).astype(np.float64) for name in FAMILIES}
    fc7 = f["fc7"]
    assert fc7.min() == 0 and 0.6 < (fc7 == 0).mean() < 0.8
    # a steep spectrum: the top principal direction alone holds a large share of the variance
    lam = np.linalg.eigvalsh(np.cov(fc7.T))[::-1]
    assert lam[0] / lam.sum() > 0.1 and lam[:10].sum() / lam.sum() > 0.4
    p = f["probs"]
    assert p.shape[1] == N_CLASSES and p.min() >= 0
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    assert 0.3 < p.max(axis=1).mean() < 0.7          # one or two large entries
    np.testing.assert_allclose(np.exp(f["logprobs"]), p, rtol=1e-4, atol=1e-9)
    z = f["zscore"]
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-5)
    assert np.allclose(z.std(axis=0)[fc7.std(axis=0) > 0], 1, rtol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(f["l2"], axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(f["fc7_small"], 1e-3 * fc7, rtol=1e-6)
    np.testing.assert_allclose(f["fc7_large"], 1e3 * fc7, rtol=1e-6)


def test_features_carry_the_content(codes):
    """Images with the same objects have closer features than images with different ones."""
    scenes = [scene_and_captions(0, i)[0] for i in range(300)]
    key = [tuple(sorted((o["colour"], o["shape"]) for o in s["objects"])) for s in scenes]
    x = family_features(codes, "fc7", 0, dim=256).astype(np.float64)
    x = (x - x.mean(axis=0)) / np.linalg.norm(x - x.mean(axis=0), axis=1, keepdims=True)
    sim = x @ x.T
    same = np.array([[a == b for b in key] for a in key]) & ~np.eye(len(key), dtype=bool)
    assert sim[same].mean() > sim[~same & ~np.eye(len(key), dtype=bool)].mean() + 0.2


def test_world_loads_and_is_deterministic(tmp_path):
    a = make_family_world(tmp_path / "a", "probs", 40, seed=3, dim=16)
    make_family_world(tmp_path / "b", "probs", 40, seed=3, dim=16)
    assert a["images"] == {"train": 24, "val": 6, "test": 10} and a["feature_dim"] == N_CLASSES
    for name in ("vgg_feats.mat", "dataset_shapes.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    ds = load_dataset(tmp_path / "a")
    assert ds.feats.shape == (40, N_CLASSES) and len(ds.sentences_of("train")[0]) == 24 * 5


def test_world_refuses_bad_input(tmp_path):
    with pytest.raises(DataError, match="unknown feature family"):
        make_family_world(tmp_path / "x", "sift", 40)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "vgg_feats.mat").write_bytes(b"a user's file")
    with pytest.raises(DataError, match="not an empty folder"):
        make_family_world(tmp_path / "full", "fc7", 40)
    assert (tmp_path / "full" / "vgg_feats.mat").read_bytes() == b"a user's file"
