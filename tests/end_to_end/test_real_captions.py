"""The real development set (../shared/data/flickr8k_xception_probs: 1000 Flickr8K pictures, their
real captions, a pretrained Xception's class probabilities; 700 / 100 / 200), issue 22.

- The project's linear baseline is at least as strong as the ridge regressions the data's README
  publishes (test R@10 54.5 / 54.8 for the best, on the square root of p), and names its winner.
- The nearest-neighbour captions pick their distance on validation and score at least the CIDEr-D
  the README publishes (about 0.15).
- The alignment model trained with every default reaches the issue's test R@10 of 57 / 57 and
  beats the ridge members of the family in both directions on the test split: its start auto
  loses from random and keeps the run from the baseline (measured 61.0 / 59.6). (It does NOT
  beat the family's CCA member, 63.5 / 63.8: docs/benchmarks.md.)
- The same on the features z-scored per dimension (written to a temporary folder): the defaults
  read the signed square root the baseline chooses and reach the issue's 45 / 37, above every
  ridge member (measured 54.5 / 53.8 against 37.5 / 36.1).
Skipped when the shared data are absent."""
import pytest

from vsa_np.alignment.baseline import LinearBaseline
from vsa_np.data import load_dataset

SET = "flickr8k_xception_probs"


@pytest.fixture(scope="module")
def real(shared_data):
    folder = shared_data / SET
    if not (folder / "dataset.json").is_file():
        pytest.skip(f"{folder} is absent")
    return folder


@pytest.fixture(scope="module")
def baseline(real):
    return LinearBaseline(load_dataset(real))


def test_the_baseline_is_as_strong_as_the_published_ridges(baseline):
    m = baseline.metrics("test")
    assert m["annotation"]["R@10"] >= 54.5 and m["search"]["R@10"] >= 54.8, m
    assert baseline.member.describe().startswith("CCA on log features"), baseline.member


def test_nearest_neighbour_picks_its_distance_on_validation(real):
    from vsa_np.generator.evaluate import choose_nn_distance, nearest_neighbour_report

    ds = load_dataset(real)
    distance, table = choose_nn_distance(ds)
    assert len(table) == 6 and table[distance] == max(table.values())
    report = nearest_neighbour_report(ds, "test")
    assert report["distance"] == distance and report["CIDEr-D"] >= 0.15


def test_the_default_alignment_model_beats_the_ridges_on_real_captions(real, tmp_path):
    from threadpoolctl import threadpool_limits

    from vsa_np.alignment.evaluate import evaluate_retrieval
    from vsa_np.alignment.train import AlignConfig, train_alignment
    from vsa_np.trained import load_alignment

    with threadpool_limits(2):
        summary = train_alignment(real, tmp_path / "run", AlignConfig(), quiet=True,
                                  log=lambda *a: None)
    start = summary["start"]
    assert start["best_rsum"]["random"] < start["baseline_rsum"] and start["chosen"] == "linear"
    ds = load_dataset(real)
    model, vocab, _ = load_alignment(tmp_path / "run" / "best")
    got = evaluate_retrieval(model, ds, vocab, "test", False)
    ridge = LinearBaseline(ds, models=("ridge",)).metrics("test")
    for d in ("annotation", "search"):
        assert got[d]["R@10"] >= 57 and got[d]["R@10"] > ridge[d]["R@10"], (d, got[d], ridge[d])


def test_the_default_alignment_model_on_z_scored_real_features(real, tmp_path):
    import shutil

    import numpy as np
    import scipy.io
    from threadpoolctl import threadpool_limits

    from vsa_np.alignment.evaluate import evaluate_retrieval
    from vsa_np.alignment.train import AlignConfig, train_alignment
    from vsa_np.trained import load_alignment

    z = tmp_path / "z"                      # a common preprocessing: z-score each dimension
    z.mkdir()
    shutil.copy(real / "dataset.json", z / "dataset.json")
    p = scipy.io.loadmat(real / "vgg_feats.mat")["feats"].astype(np.float64)   # (D, images)
    feats = (p - p.mean(axis=1, keepdims=True)) / np.maximum(p.std(axis=1, keepdims=True), 1e-12)
    scipy.io.savemat(z / "vgg_feats.mat", {"feats": feats.astype(np.float32)})
    with threadpool_limits(2):
        train_alignment(z, tmp_path / "run", AlignConfig(), quiet=True, log=lambda *a: None)
    ds = load_dataset(z)
    model, vocab, _ = load_alignment(tmp_path / "run" / "best")
    assert model.norm.map == "ssqrt"
    got = evaluate_retrieval(model, ds, vocab, "test", False)
    ridge = LinearBaseline(ds, models=("ridge",)).metrics("test")
    for d, need in (("annotation", 45), ("search", 37)):
        assert got[d]["R@10"] >= need and got[d]["R@10"] > ridge[d]["R@10"], (d, got[d], ridge[d])
