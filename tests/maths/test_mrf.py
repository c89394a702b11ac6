"""The chain-MRF Viterbi decoder (Eq. 10-12) against brute-force enumeration."""
import itertools

import numpy as np
import pytest

from vsa_np.core.mrf import alignment_objective, snippets, viterbi_align, viterbi_align_batch


def brute_force(S, beta):
    """Enumerate all R^N alignments; return (best objective, set of optimal assignments)."""
    N, R = S.shape
    best, arg = -np.inf, []
    for a in itertools.product(range(R), repeat=N):
        e = sum(S[j, a[j]] for j in range(N)) + beta * sum(a[j] == a[j + 1] for j in range(N - 1))
        if e > best + 1e-12:
            best, arg = e, [a]
        elif abs(e - best) <= 1e-12:
            arg.append(a)
    return best, arg


@pytest.mark.parametrize("beta", [-1.5, -0.3, 0.0, 0.2, 0.7, 2.0, 10.0])
@pytest.mark.parametrize("seed", range(8))
def test_matches_brute_force(seed, beta):
    rng = np.random.default_rng(seed)
    N, R = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    S = rng.standard_normal((N, R))
    a, obj = viterbi_align(S, beta)
    best, args = brute_force(S, beta)
    assert obj == pytest.approx(best, abs=1e-12)
    assert tuple(a) in args
    assert alignment_objective(S, a, beta) == pytest.approx(obj, abs=1e-12)


def test_beta_zero_is_per_word_argmax():
    rng = np.random.default_rng(1)
    S = rng.standard_normal((12, 7))
    a, obj = viterbi_align(S, 0.0)
    np.testing.assert_array_equal(a, S.argmax(axis=1))
    assert obj == pytest.approx(S.max(axis=1).sum())


def test_large_beta_one_region_with_largest_column_sum():
    rng = np.random.default_rng(2)
    S = rng.standard_normal((9, 6))
    beta = 2 * S.shape[0] * (S.max() - S.min())     # any switch costs more than it can gain
    a, obj = viterbi_align(S, beta)
    assert set(a.tolist()) == {S.sum(axis=0).argmax()}
    assert obj == pytest.approx(S.sum(axis=0).max() + beta * (S.shape[0] - 1))


def test_single_word():
    S = np.array([[0.3, -1.0, 2.5, 1.0]])
    for beta in (-5.0, 0.0, 5.0):
        a, obj = viterbi_align(S, beta)
        assert a.tolist() == [2] and obj == 2.5


def test_batch_with_masks_matches_single():
    rng = np.random.default_rng(3)
    B, N, R = 6, 7, 5
    S = rng.standard_normal((B, N, R))
    lengths = np.array([7, 1, 3, 5, 2, 6])
    n_regions = np.array([5, 2, 1, 4, 5, 3])
    wm = np.arange(N)[None, :] < lengths[:, None]
    rm = np.arange(R)[None, :] < n_regions[:, None]
    S[~wm] = 100.0                                   # padding must not matter...
    S[~np.broadcast_to(rm[:, None, :], S.shape)] = 100.0   # ...nor padded regions
    for beta in (-0.5, 0.0, 0.8):
        a, obj = viterbi_align_batch(S, beta, wm, rm)
        assert a.shape == (B, N) and obj.shape == (B,)
        for b in range(B):
            sub = S[b, :lengths[b], :n_regions[b]]
            a1, o1 = viterbi_align(sub, beta)
            np.testing.assert_array_equal(a[b, :lengths[b]], a1)
            assert (a[b, lengths[b]:] == -1).all()
            assert obj[b] == pytest.approx(o1)
            assert o1 == pytest.approx(brute_force(sub, beta)[0])


def test_bad_masks():
    S = np.zeros((2, 3, 2))
    with pytest.raises(ValueError, match="left-aligned"):
        viterbi_align_batch(S, 0.0, word_mask=np.array([[1, 0, 1], [1, 1, 1]], bool))
    with pytest.raises(ValueError, match="left-aligned"):
        viterbi_align_batch(S, 0.0, word_mask=np.array([[0, 0, 0], [1, 1, 1]], bool))
    with pytest.raises(ValueError, match="valid region"):
        viterbi_align_batch(S, 0.0, region_mask=np.array([[0, 0], [1, 1]], bool))
    with pytest.raises(ValueError, match="at least one word"):
        viterbi_align(np.zeros((0, 3)), 0.0)


def test_snippets():
    toks = "a dog runs on the grass".split()
    out = snippets(toks, [2, 2, 2, 0, 5, 5])
    assert out == [{"region": 2, "start": 0, "end": 3, "text": "a dog runs"},
                   {"region": 0, "start": 3, "end": 4, "text": "on"},
                   {"region": 5, "start": 4, "end": 6, "text": "the grass"}]
    assert snippets(["dog"], np.array([3, -1, -1])) == [
        {"region": 3, "start": 0, "end": 1, "text": "dog"}]
    # a region revisited later gives a second snippet
    assert [s["region"] for s in snippets(list("abcd"), [1, 0, 1, 1])] == [1, 0, 1]
    with pytest.raises(ValueError, match="4 tokens"):
        snippets(list("abcd"), [1, 1])
