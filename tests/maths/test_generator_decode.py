"""Decoding (greedy, sampling, beam search) checked against independent computations: brute-force
enumeration of every caption, and the log probability recomputed by the training forward pass
(teacher forcing)."""
import itertools

import numpy as np
import pytest

from vsa_np.backend import to_host
from vsa_np.core.generator import beam_search, greedy, sample
from vsa_np.core.generator import CaptionModel


def tiny_model(seed, V=4, D=3, H=5, E=3, scale=2.0, dtype=np.float64):
    """A model with peaked (not near-uniform) word distributions, so greedy can go wrong."""
    m = CaptionModel(V, D, hidden=H, word_dim=E, dropout=0.0, seed=seed, dtype=dtype)
    g = np.random.default_rng(100 + seed)
    for k, p in m.params.items():
        p[...] = scale * g.standard_normal(p.shape)
    return m


def teacher_forced(model, feats, captions):
    """log p(caption | image) by the training forward pass, one caption per feature row."""
    T = max(len(c) for c in captions) + 1
    N = len(captions)
    inputs, targets = np.zeros((N, T), np.int64), np.zeros((N, T), np.int64)
    mask = np.zeros((N, T), bool)
    for i, c in enumerate(captions):
        targets[i, :len(c)] = c
        inputs[i, 1:len(c) + 1] = c
        mask[i, :len(c) + 1] = True
    batch = {"feats": feats, "inputs": inputs, "targets": targets, "mask": mask}
    return to_host(model.log_probs(batch))


def all_captions(V, max_len):
    """Every caption w_1..w_k END with 0 <= k <= max_len over the words 1..V-1."""
    return [list(c) for k in range(max_len + 1)
            for c in itertools.product(range(1, V), repeat=k)]


def brute_force(model, feat, max_len):
    caps = all_captions(model.V, max_len)
    lp = teacher_forced(model, np.repeat(feat[None], len(caps), axis=0), caps)
    order = np.argsort(-lp)
    return [caps[i] for i in order], lp[order]


@pytest.mark.parametrize("seed", range(6))
def test_exhaustive_beam_equals_brute_force_ranking(seed):
    model, max_len = tiny_model(seed), 3
    feats = np.random.default_rng(seed).standard_normal((2, model.D))
    n = len(all_captions(model.V, max_len))               # 1 + 3 + 9 + 27 = 40
    out = beam_search(model, feats, beam=64, max_len=max_len, n_best=n)
    for i in range(2):
        caps, lp = brute_force(model, feats[i], max_len)
        assert out.tokens[i] == caps
        np.testing.assert_allclose(out.logprob[i], lp, rtol=0, atol=1e-9)


def test_beam_finds_the_best_caption_where_greedy_does_not():
    """Tiny models with known (seeded) weights: the beam's best (beam 7) is the brute-force best
    of all 1 + 3 + 9 + 27 + 81 captions, and among them greedy misses it at least once."""
    greedy_missed = 0
    for seed in range(10):
        model, max_len = tiny_model(seed), 4
        feat = np.random.default_rng(seed).standard_normal((1, model.D))
        caps, lp = brute_force(model, feat[0], max_len)
        b = beam_search(model, feat, beam=7, max_len=max_len)
        assert b.tokens[0][0] == caps[0]
        assert b.logprob[0][0] == pytest.approx(lp[0], abs=1e-9)
        greedy_missed += greedy(model, feat, max_len=max_len).tokens[0][0] != caps[0]
    assert greedy_missed >= 1


def trained_like(seed=0, V=30, D=12, every_step=False):
    """The default initialisation with a stronger output layer: peaked, stable distributions
    whose likeliest captions have a few words, as a trained model's."""
    counts = np.random.default_rng(seed).zipf(1.5, V)
    counts[0] = counts.sum() // 4                  # END: sentences of a few words
    m = CaptionModel(V, D, hidden=16, word_dim=8, dropout=0.0, word_counts=counts, seed=seed,
                     image_every_step=every_step)
    m.params["W_oh"] *= 40
    return m


def test_beam_size_one_equals_greedy():
    model = trained_like(1)
    feats = np.random.default_rng(1).standard_normal((40, model.D)).astype(np.float32)
    g, b = greedy(model, feats, max_len=12), beam_search(model, feats, beam=1, max_len=12)
    assert g.tokens == b.tokens
    np.testing.assert_allclose(np.array(g.logprob), np.array(b.logprob), rtol=1e-6)


def test_beam_best_is_almost_never_below_greedy():
    """Not a theorem: the greedy prefix can fall out of the beam (seven other prefixes outscore
    it at some step) and the beam then ends lower. It is rare: at most a few images in 50, and
    the beam is better on average and strictly better somewhere."""
    for seed in range(3):
        model = trained_like(seed)
        feats = np.random.default_rng(seed).standard_normal((50, model.D)).astype(np.float32)
        g = np.array(greedy(model, feats, max_len=12).logprob)[:, 0]
        b = np.array(beam_search(model, feats, beam=7, max_len=12).logprob)[:, 0]
        assert (b >= g - 1e-4).mean() >= 0.9
        assert b.mean() > g.mean()
        assert np.any(b > g + 1e-3)  # and the beam does find better captions


@pytest.mark.parametrize("every_step", [False, True])
@pytest.mark.parametrize("how", ["greedy", "beam", "sample"])
def test_reported_logprob_equals_teacher_forcing(how, every_step):
    """Every decoder scores a caption as the training pass does, b_v at t = 1 (Eq. 14) or at
    every step (`image_every_step`: each beam row gets its own image's b_v again)."""
    model = trained_like(2, every_step=every_step)
    feats = np.random.default_rng(2).standard_normal((30, model.D)).astype(np.float32)
    if how == "greedy":
        out = greedy(model, feats, max_len=9)
    elif how == "beam":
        out = beam_search(model, feats, beam=5, max_len=9, n_best=3)
    else:
        out = sample(model, feats, temperature=1.5, max_len=9, seed=3)
    caps = [c for per_image in out.tokens for c in per_image]
    rows = np.repeat(np.arange(30), [len(t) for t in out.tokens])
    lp = teacher_forced(model, feats[rows], caps)
    np.testing.assert_allclose(np.concatenate(out.logprob), lp, rtol=1e-4, atol=1e-4)
    assert all(len(c) <= 9 for c in caps)


def test_n_best_sorted_and_distinct():
    model = trained_like(3)
    feats = np.random.default_rng(3).standard_normal((20, model.D)).astype(np.float32)
    out = beam_search(model, feats, beam=7, max_len=10, n_best=7)
    for caps, lp in zip(out.tokens, out.logprob):
        assert len(caps) == 7 and len({tuple(c) for c in caps}) == 7
        assert all(a >= b for a, b in zip(lp, lp[1:]))


def test_chunks_do_not_change_results():
    model = trained_like(4)
    feats = np.random.default_rng(4).standard_normal((25, model.D)).astype(np.float32)
    a = beam_search(model, feats, beam=3, max_len=8, n_best=2)
    b = beam_search(model, feats, beam=3, max_len=8, n_best=2, chunk=7)
    assert a.tokens == b.tokens


def test_sampling_temperature():
    """Low temperature approaches greedy; samples are reproducible from the seed."""
    model = trained_like(5)
    feats = np.random.default_rng(5).standard_normal((40, model.D)).astype(np.float32)
    assert sample(model, feats, temperature=1e-3, max_len=10).tokens == \
        greedy(model, feats, max_len=10).tokens
    s1 = sample(model, feats, temperature=1.0, max_len=10, seed=7)
    assert s1.tokens == sample(model, feats, temperature=1.0, max_len=10, seed=7).tokens
    assert s1.tokens != sample(model, feats, temperature=1.0, max_len=10, seed=8).tokens
    with pytest.raises(ValueError):
        sample(model, feats, temperature=0)
