"""Training with the defaults on every feature family (issue 12): the shapes world's captions with
features of the kinds people actually have (vsa_np/data/feature_families.py). Each run keeps every
default of the trainer except the model size and the number of epochs (small, so the matrix runs
in about a minute on two cores), and must

- alignment: beat the bag-of-words ridge baseline's R@10 in both directions on the test split
  (the ridge members of `LinearBaseline`'s family; its CCA members beat the model on fc7 and on
  class probabilities, see docs/benchmarks.md, issue 22);
- generator: write a caption of its own for most test images and beat the nearest-neighbour
  captions' CIDEr-D (on class probabilities and their logarithms: come within 10% of it; see
  the test);
- start auto: train again from the linear baseline exactly when the run from random loses to
  it on validation, and keep the better.

The two scaled families (fc7 x 1e-3, x 1e3) give the same normalised features as fc7 (checked
exactly below), so their training is fc7's training; the first scores and the first perplexity of
all seven are checked against the values they must start at."""
import json
import math
import multiprocessing
import shutil

import numpy as np
import pytest

from vsa_np.data import load_dataset
from vsa_np.data.feature_families import FAMILIES, make_family_world

TRAINED = ("fc7", "probs", "logprobs", "zscore", "l2")
ALIGN = dict(embed=256, hidden=128, word_dim=64, epochs=20)
GEN = dict(hidden=256, word_dim=128, epochs=20, eval_beam=1, eval_images=100)
WORLD = {"align": dict(n_images=600, dim=256), "gen": dict(n_images=1000, dim=512)}


def _run(job):
    """One (model, family) run in a worker process: make the world, train, evaluate on test."""
    from threadpoolctl import threadpool_limits

    kind, family, root = job
    world, run = root / f"{kind}-{family}", root / f"{kind}-{family}-run"
    make_family_world(world, family, seed=1, **WORLD[kind])
    with threadpool_limits(1):           # two workers on two cores
        if kind == "align":
            return job[:2], _align(world, run)
        return job[:2], _gen(world, run)


def _align(world, run):
    from vsa_np.alignment.baseline import LinearBaseline
    from vsa_np.alignment.evaluate import evaluate_retrieval
    from vsa_np.trained import load_alignment
    from vsa_np.alignment.train import AlignConfig, train_alignment

    summary = train_alignment(world, run, AlignConfig(**ALIGN), quiet=True, log=lambda *a: None)
    ds = load_dataset(world)
    model, vocab, _ = load_alignment(run / "best")
    return {"model": evaluate_retrieval(model, ds, vocab, "test", False), "map": model.norm.map,
            "baseline_map": LinearBaseline(ds).member.image,
            "val": evaluate_retrieval(model, ds, vocab, "val", False), "start": summary["start"],
            "baseline": LinearBaseline(ds, models=("ridge",)).metrics("test")}


def _gen(world, run):
    from vsa_np.generator.evaluate import evaluate_with_baseline
    from vsa_np.trained import load_generator
    from vsa_np.generator.train import GenConfig, train_generator

    train_generator(world, run, GenConfig(**GEN), quiet=True, log=lambda *a: None)
    model, vocab, _ = load_generator(run / "best")
    out = evaluate_with_baseline(model, load_dataset(world), vocab, "test", beam=3, meteor=False)
    for part in out.values():
        part.pop("captions")
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    jobs = [(kind, f, root) for kind in ("gen", "align") for f in TRAINED]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        out = dict(pool.imap_unordered(_run, jobs))
    shutil.rmtree(root, ignore_errors=True)
    return out


@pytest.mark.parametrize("family", TRAINED)
def test_alignment_beats_the_bag_of_words_baseline(results, family):
    r = results[("align", family)]
    for direction in ("annotation", "search"):
        model, base = r["model"][direction]["R@10"], r["baseline"][direction]["R@10"]
        assert model > base, f"{family} {direction}: R@10 {model:.1f} vs baseline {base:.1f}"


@pytest.mark.parametrize("family", TRAINED)
def test_start_auto_trains_from_the_baseline_only_when_the_model_loses_to_it(results, family):
    """start auto (choose_start): a second run, from the baseline, exactly when the run from
    random is below the baseline on validation; the better of the two is kept. On fc7, z-scored
    and L2-normalised features the model beats the baseline from random (one run); on class
    probabilities the CCA baseline is ahead on validation and the second run is made (the run
    from random still wins there: docs/benchmarks.md, issue 22)."""
    r = results[("align", family)]
    start = r["start"]
    best = start["best_rsum"]
    assert ("linear" in best) == (best["random"] < start["baseline_rsum"])
    assert start["chosen"] == max(best, key=best.get)
    assert r["val"]["rsum"] == pytest.approx(best[start["chosen"]], abs=1e-6)   # what --out holds
    if family in ("fc7", "zscore", "l2"):
        assert set(best) == {"random"}, f"{family}: {start}"


@pytest.mark.parametrize("family", TRAINED)
def test_the_trained_model_read_the_features_as_its_baseline(results, family):
    """--feature-map baseline: the checkpoint's map is the baseline winner's; on fc7 and L2
    activations that is sqrt (the Hellinger map: +8 / +10 test R@10 on fc7 against raw), on
    z-scored features the signed square root (+9 / +4 against raw)."""
    r = results[("align", family)]
    assert r["map"] == r["baseline_map"]
    want = {"fc7": "sqrt", "l2": "sqrt", "zscore": "ssqrt", "probs": "log", "logprobs": "raw"}
    assert r["map"] == want[family]


@pytest.mark.parametrize("family", TRAINED)
def test_generator_describes_the_images(results, family):
    r = results[("gen", family)]
    model, nn = r["model"], r["nearest_neighbour"]
    assert model["diversity"]["distinct"] > 0.5, f"{family}: {model['diversity']}"
    # On the two class-probability families both read log p (feature_norm.py), and there the
    # nearest neighbour is itself a strong captioner (CIDEr-D about 2.9, twice its score on the
    # other families: the 1000 log-probabilities pin an image's content down). The generator
    # scored 2.94 and 3.30 against 2.92 on them; it must come within 10%.
    need = (0.9 if family in ("probs", "logprobs") else 1.0) * nn["CIDEr-D"]
    assert model["CIDEr-D"] > need, (f"{family}: CIDEr-D {model['CIDEr-D']:.3f} vs nearest "
                                     f"neighbour {nn['CIDEr-D']:.3f}")


@pytest.fixture(scope="module")
def small_worlds(tmp_path_factory):
    root = tmp_path_factory.mktemp("small_families")
    for f in FAMILIES:
        make_family_world(root / f, f, 200, seed=2, dim=64)
    return root


def test_scaled_families_give_fc7s_normalised_features(small_worlds):
    """x 1e-3 and x 1e3 normalise to fc7's features (to float32 rounding): the same training."""
    from vsa_np.alignment.train import AlignConfig, fit_norm
    from vsa_np.backend import to_host, xp

    cfg = AlignConfig()
    got = {}
    for f in ("fc7", "fc7_small", "fc7_large"):
        ds = load_dataset(small_worlds / f)
        norm = fit_norm(ds, cfg).to(np.float64)
        got[f] = to_host(norm(xp.asarray(ds.feats, dtype=np.float64)))
    for f in ("fc7_small", "fc7_large"):
        np.testing.assert_allclose(got[f], got["fc7"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("family,want", [("probs", "log"), ("zscore", "ssqrt")])
def test_the_alignment_model_reads_the_features_as_its_baseline_does(small_worlds, family,
                                                                     want):
    """--feature-map baseline (train-align's default): the map of the linear baseline's winner,
    chosen on validation; on these worlds log for probabilities and the signed square root for
    z-scored features (the trained runs above: sqrt on fc7)."""
    from vsa_np.alignment.baseline import LinearBaseline
    from vsa_np.alignment.train import AlignConfig, fit_norm

    ds = load_dataset(small_worlds / family)
    base = LinearBaseline(ds)
    assert base.member.image == want, base.member.describe()
    assert fit_norm(ds, AlignConfig(), base).map == want
    assert fit_norm(ds, AlignConfig(feature_map="auto")).map == ("log" if want == "log" else "raw")


@pytest.mark.parametrize("family", FAMILIES)
def test_first_scores_and_perplexity_are_of_order_one(small_worlds, family, tmp_path):
    """The first ranking loss is about 2(B-1) per pair (all hinges active, scores small), and
    the untrained generator's perplexity is about the unigram one, on every family."""
    from vsa_np.alignment.train import AlignConfig, train_alignment
    from vsa_np.generator.train import GenConfig, train_generator

    world = small_worlds / family
    train_alignment(world, tmp_path / "a", AlignConfig(embed=32, hidden=16, word_dim=8,
                                                       epochs=1, batch_size=50, start="random"),
                    quiet=True, log=lambda *a: None)
    first = json.loads((tmp_path / "a" / "log.json").read_text())["train"][0]["loss"]
    # all-equal scores give exactly 2(B-1); the rescaled start (std 0.3, and dropout on top of
    # it in the training step) a little more. Unscaled, the fc7 family started near 10^4.
    assert 2 * (50 - 1) * 0.95 < first < 2 * (50 - 1) * 1.3
    s = train_generator(world, tmp_path / "g", GenConfig(hidden=16, word_dim=8, epochs=1,
                                                         eval_beam=1, eval_images=5),
                        quiet=True, log=lambda *a: None)
    start = s["start"]
    assert math.isfinite(start["perplexity"])
    assert start["unigram"] / 1.2 < start["perplexity"] < 1.5 * start["unigram"]
