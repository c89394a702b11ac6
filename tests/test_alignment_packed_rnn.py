"""The packed recurrences (no padding) against the masked padded layer of vsa_np.layers.rnn."""
import numpy as np
import pytest

from vsa_np.alignment.packed_rnn import packed_rnn_backward, packed_rnn_forward
from vsa_np.alignment.packing import pack, segment_matrix
from vsa_np.backend import to_host, xp
from vsa_np.layers import rnn_backward, rnn_forward


@pytest.mark.parametrize("reverse", [False, True])
def test_packed_equals_masked_layer(reverse):
    g = np.random.default_rng(0)
    lengths = np.array([3, 7, 1, 7, 0, 5])           # ties, a single word, an empty row
    B, T, H = len(lengths), 8, 5
    mask = np.arange(T) < lengths[:, None]
    a = xp.asarray(g.standard_normal((B, T, H)))
    Wh, b = xp.asarray(g.standard_normal((H, H)) * 0.4), xp.asarray(g.standard_normal(H) * 0.1)
    dh = xp.asarray(g.standard_normal((B, T, H))) * xp.asarray(mask[..., None])
    h_pad, cache = rnn_forward(a, None, Wh, b, xp.asarray(mask), reverse=reverse)
    da_pad, _, dWh_pad, db_pad = rnn_backward(dh, cache)

    p = pack(mask)
    to_tm = lambda x: x.reshape(B * T, H)[p.flat][p.tm]  # noqa: E731  padded -> time-major
    h, c = packed_rnn_forward(to_tm(a), Wh, b, p.steps, reverse)
    da, dWh, db = packed_rnn_backward(to_tm(dh), c)
    np.testing.assert_allclose(to_host(h), to_host(to_tm(h_pad)), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(to_host(da), to_host(to_tm(da_pad)), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(to_host(dWh), to_host(dWh_pad), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(to_host(db), to_host(db_pad), rtol=1e-10, atol=1e-14)


def test_pack_orders():
    mask = np.array([[1, 1, 0], [1, 1, 1], [1, 0, 0]], bool)
    p = pack(mask)
    assert to_host(p.flat).tolist() == [0, 1, 3, 4, 5, 6]
    assert to_host(p.seg).tolist() == [0, 0, 1, 1, 1, 2]
    # step 0: sentences 1, 0, 2 (longest first); step 1: 1, 0; step 2: 1
    assert to_host(p.tm).tolist() == [2, 0, 5, 3, 1, 4]
    assert p.steps == [(0, 3), (3, 2), (5, 1)]
    G = to_host(segment_matrix(p.seg, 4, np.float64))
    assert G.sum(axis=0).tolist() == [2, 3, 1, 0]     # sentence 3 has no words: a zero column
