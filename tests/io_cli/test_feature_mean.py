"""The block-wise feature reader behind the trainers' centring (`vsa_np.data.features`)."""
import numpy as np

from vsa_np.data.features import feature_rows, mean_feature


def test_mean_over_valid_regions_equals_a_direct_mean():
    g = np.random.default_rng(0)
    N, R, D = 700, 5, 3                       # 700 images: several blocks of 256
    feats = g.standard_normal((N, R, D)).astype(np.float32)
    n = g.integers(1, R + 1, N)
    feats[np.arange(R)[None, :] >= n[:, None]] = 1e6      # padding must never count
    images = np.sort(g.choice(N, 500, replace=False))
    want = np.concatenate([feats[i, :n[i]] for i in images]).astype(np.float64)
    got = np.concatenate(list(feature_rows(feats, images, n)))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(mean_feature(feats, images, n), want.mean(axis=0), rtol=1e-12)


def test_mean_over_whole_images():
    g = np.random.default_rng(1)
    feats = g.random((300, 4)).astype(np.float32)
    images = np.arange(0, 300, 2)
    np.testing.assert_allclose(mean_feature(feats, images),
                               feats[images].astype(np.float64).mean(axis=0), rtol=1e-12)
    assert np.all(mean_feature(feats, images[:0]) == 0)    # no images: zeros, not NaN
