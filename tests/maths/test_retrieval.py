"""Retrieval metrics against a brute-force per-query loop, ties included."""
import numpy as np
import pytest

from vsa_np.alignment.retrieval import (recall_difference, recall_metrics, retrieval_metrics,
                                        retrieval_ranks, rsum)


def brute_force_ranks(S, s2i):
    """Sort each query's items by (score descending, correct items after wrong ones on ties) and
    take the position of the first correct item: the pessimistic rule, computed independently."""
    n_img, n_sent = S.shape
    ann = []
    for k in range(n_img):
        items = sorted(range(n_sent), key=lambda l: (-S[k, l], s2i[l] == k))
        ann.append(next(i for i, l in enumerate(items) if s2i[l] == k) + 1)
    search = []
    for l in range(n_sent):
        items = sorted(range(n_img), key=lambda k: (-S[k, l], k == s2i[l]))
        search.append(items.index(s2i[l]) + 1)
    return np.array(ann), np.array(search)


def brute_force_metrics(ranks):
    ranks = list(ranks)
    out = {f"R@{k}": 100.0 * sum(r <= k for r in ranks) / len(ranks) for k in (1, 5, 10)}
    s = sorted(ranks)
    n = len(s)
    out["med_r"] = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    return out


def random_case(rng, n_img, per_image, integer):
    s2i = np.repeat(np.arange(n_img), per_image)
    rng.shuffle(s2i)
    shape = (n_img, len(s2i))
    S = rng.integers(-2, 3, shape).astype(float) if integer else rng.standard_normal(shape)
    return S, s2i


@pytest.mark.parametrize("integer", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_against_brute_force(seed, integer):
    rng = np.random.default_rng(seed)
    n_img = int(rng.integers(1, 15))
    per_image = int(rng.integers(1, 6))
    S, s2i = random_case(rng, n_img, per_image, integer)
    ann, search = retrieval_ranks(S, s2i)
    b_ann, b_search = brute_force_ranks(S, s2i)
    np.testing.assert_array_equal(ann, b_ann)
    np.testing.assert_array_equal(search, b_search)
    m = retrieval_metrics(S, s2i)
    assert m["annotation"] == pytest.approx(brute_force_metrics(b_ann))
    assert m["search"] == pytest.approx(brute_force_metrics(b_search))


def test_unequal_sentence_counts():
    rng = np.random.default_rng(7)
    s2i = np.array([0, 0, 1, 2, 2, 2, 3])
    S = rng.integers(0, 3, (4, 7)).astype(np.float32)
    for got, want in zip(retrieval_ranks(S, s2i), brute_force_ranks(S, s2i)):
        np.testing.assert_array_equal(got, want)


def test_ties_are_pessimistic():
    # all scores equal: every wrong item ranks ahead of the correct one
    s2i = np.array([0, 0, 1, 1, 2, 2])
    ann, search = retrieval_ranks(np.zeros((3, 6)), s2i)
    np.testing.assert_array_equal(ann, [5, 5, 5])        # 4 wrong sentences, then a correct one
    np.testing.assert_array_equal(search, [3] * 6)       # 2 wrong images, then the right one
    # a tie between two correct sentences costs nothing
    S = np.array([[5.0, 5.0, 1.0], [0.0, 0.0, 2.0]])
    ann, search = retrieval_ranks(S, np.array([0, 0, 1]))
    np.testing.assert_array_equal(ann, [1, 1])
    np.testing.assert_array_equal(search, [1, 1, 1])


def test_perfect_and_known_metrics():
    s2i = np.repeat(np.arange(20), 5)
    S = (s2i[None, :] == np.arange(20)[:, None]).astype(float)   # each image likes its own
    m = retrieval_metrics(S, s2i)
    assert m == {d: {"R@1": 100.0, "R@5": 100.0, "R@10": 100.0, "med_r": 1.0}
                 for d in ("annotation", "search")}
    assert rsum(m) == 600.0
    assert recall_metrics([1, 2, 6, 11]) == {"R@1": 25.0, "R@5": 50.0, "R@10": 75.0,
                                             "med_r": 4.0}


def test_bad_input():
    with pytest.raises(ValueError, match="outside"):
        retrieval_ranks(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="at least one sentence"):
        retrieval_ranks(np.zeros((3, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match="NaN"):
        retrieval_ranks(np.array([[np.nan, 0.0]]), np.array([0, 0]))
    with pytest.raises(ValueError, match="sent_to_image"):
        retrieval_ranks(np.zeros((2, 3)), np.array([0, 1]))


def _two_models(seed=0, n_img=30, per_image=5):
    """Scores of two models on the same split: b is a with extra noise (a is the better one)."""
    g = np.random.default_rng(seed)
    s2i = np.repeat(np.arange(n_img), per_image)
    truth = (s2i[None, :] == np.arange(n_img)[:, None]).astype(float)
    Sa = 1.5 * truth + g.standard_normal(truth.shape)
    Sb = Sa + 2.0 * g.standard_normal(truth.shape)
    return retrieval_ranks(Sa, s2i), retrieval_ranks(Sb, s2i), s2i


def test_recall_difference_against_resampling_the_queries():
    """Each draw rebuilt as a list of resampled queries (an image drawn twice counts twice, with
    all its sentences) and scored by the brute-force R@10: the same differences as the
    vectorised bootstrap, and so the same interval."""
    ra, rb, s2i = _two_models()
    n_img, n_boot = len(ra[0]), 300
    got = recall_difference(ra, rb, s2i, k=10, n_boot=n_boot, seed=3)
    draws = np.random.default_rng(3).multinomial(n_img, np.full(n_img, 1.0 / n_img), size=n_boot)
    diffs = {"annotation": [], "search": []}
    for counts in draws:
        images = np.repeat(np.arange(n_img), counts)
        sentences = np.concatenate([np.flatnonzero(s2i == i) for i in images])
        for d, idx in (("annotation", images), ("search", sentences)):
            r = 0 if d == "annotation" else 1
            diffs[d].append(brute_force_metrics(ra[r][idx])["R@10"]
                            - brute_force_metrics(rb[r][idx])["R@10"])
    for d in ("annotation", "search"):
        whole = brute_force_metrics(ra[d == "search"])["R@10"] - \
            brute_force_metrics(rb[d == "search"])["R@10"]
        assert got[d]["diff"] == pytest.approx(whole)
        assert got[d]["low"] == pytest.approx(np.percentile(diffs[d], 2.5))
        assert got[d]["high"] == pytest.approx(np.percentile(diffs[d], 97.5))
        assert got[d]["low"] <= got[d]["diff"] <= got[d]["high"]
    assert got["n_images"] == n_img and got["k"] == 10


def test_recall_difference_of_a_model_with_itself_is_zero_and_a_clear_winner_is_seen():
    ra, rb, s2i = _two_models(n_img=200)
    same = recall_difference(ra, ra, s2i)
    assert all(same[d] == {"diff": 0.0, "low": 0.0, "high": 0.0} for d in ("annotation", "search"))
    clear = recall_difference(ra, rb, s2i)          # a sees through half the noise b sees
    assert all(clear[d]["low"] > 0 for d in ("annotation", "search")), clear
    swapped = recall_difference(rb, ra, s2i)
    for d in ("annotation", "search"):
        assert swapped[d]["diff"] == pytest.approx(-clear[d]["diff"])
        assert swapped[d]["high"] == pytest.approx(-clear[d]["low"])
