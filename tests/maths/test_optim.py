"""Update rules against updates computed by hand, clipping, weight decay, and exact resume."""
import numpy as np
import pytest

from vsa_np.backend import to_device, to_host
from vsa_np.core.train import RMSProp, SGDMomentum, add_weight_decay, clip_elementwise


def dev(d, dtype=np.float64):
    return {k: to_device(np.asarray(v, dtype=dtype)) for k, v in d.items()}


def host(d):
    return {k: to_host(v) for k, v in d.items()}


def test_sgd_momentum_hand_computed():
    params = dev({"W": [[1.0, -2.0]], "b": [0.5]})
    opt = SGDMomentum(lr=0.1, momentum=0.9)
    opt.step(params, dev({"W": [[1.0, 2.0]], "b": [-1.0]}))
    # v = -0.1 * g; p += v
    np.testing.assert_allclose(to_host(params["W"]), [[0.9, -2.2]])
    np.testing.assert_allclose(to_host(params["b"]), [0.6])
    opt.step(params, dev({"W": [[0.0, -1.0]], "b": [2.0]}))
    # v = 0.9 * v - 0.1 * g:  W: [-0.09, -0.18 + 0.1] = [-0.09, -0.08];  b: 0.09 - 0.2 = -0.11
    np.testing.assert_allclose(to_host(params["W"]), [[0.81, -2.28]])
    np.testing.assert_allclose(to_host(params["b"]), [0.49])


def test_rmsprop_hand_computed():
    params = dev({"W": [[1.0, -1.0]]})
    opt = RMSProp(lr=0.01, decay=0.9, eps=1e-8)
    opt.step(params, dev({"W": [[2.0, -0.5]]}))
    c1 = 0.1 * np.array([4.0, 0.25])
    p1 = np.array([1.0, -1.0]) - 0.01 * np.array([2.0, -0.5]) / np.sqrt(c1 + 1e-8)
    np.testing.assert_allclose(to_host(params["W"])[0], p1, rtol=1e-12)
    opt.step(params, dev({"W": [[1.0, 3.0]]}))
    c2 = 0.9 * c1 + 0.1 * np.array([1.0, 9.0])
    p2 = p1 - 0.01 * np.array([1.0, 3.0]) / np.sqrt(c2 + 1e-8)
    np.testing.assert_allclose(to_host(params["W"])[0], p2, rtol=1e-12)


def test_float32_stays_float32():
    params = dev({"W": np.ones((3, 4)), "b": np.zeros(4)}, np.float32)
    grads = dev({"W": np.full((3, 4), 7.0), "b": np.full(4, -0.5)}, np.float32)
    for opt in (SGDMomentum(1e-2), RMSProp(1e-3)):
        clip_elementwise(grads, 5.0)
        add_weight_decay(params, grads, 1e-4)
        opt.step(params, grads)
        assert all(p.dtype == np.float32 for p in params.values())
        assert all(v.dtype == np.float32 for v in opt.state_dict().values() if v.ndim)


def test_clip_elementwise_in_place():
    g = dev({"W": [[-7.0, -5.0, 0.3], [4.9, 5.0, 1e9]]})
    w = g["W"]
    out = clip_elementwise(g, 5.0)
    assert out is g and g["W"] is w
    np.testing.assert_array_equal(to_host(w), [[-5.0, -5.0, 0.3], [4.9, 5.0, 5.0]])
    g2 = dev({"W": [[-7.0, 9.0]]})
    clip_elementwise(g2, 0)   # off
    np.testing.assert_array_equal(to_host(g2["W"]), [[-7.0, 9.0]])


def test_weight_decay_on_matrices_only():
    """grads += wd * W for the matrices, not the biases: the gradient of 0.5 wd |W|^2, checked by
    a centered difference of that sum."""
    params = dev({"W_m": [[1.0, 2.0]], "b_m": [3.0], "W_w": [[-1.0], [4.0]]})
    grads = dev({"W_m": [[0.0, 0.0]], "b_m": [1.0], "W_w": [[0.0], [0.0]]})
    add_weight_decay(params, grads, 0.1)
    np.testing.assert_allclose(to_host(grads["W_m"]), [[0.1, 0.2]])
    np.testing.assert_allclose(to_host(grads["b_m"]), [1.0])
    np.testing.assert_allclose(to_host(grads["W_w"]), [[-0.1], [0.4]])
    h, W = 1e-5, np.array([[1.0, 2.0]])
    decay = lambda w: 0.5 * 0.1 * (w ** 2).sum()  # noqa: E731
    numeric = (decay(W + [[0, h]]) - decay(W - [[0, h]])) / (2 * h)
    assert numeric == pytest.approx(float(to_host(grads["W_m"])[0, 1]), rel=1e-7)


def _trajectory(opt_factory, n_steps, resume_at=None, seed=0):
    """Run n_steps of a noisy quadratic; optionally save/restore the optimiser mid-way through
    a fresh optimiser object (as a resumed process would)."""
    rng = np.random.default_rng(seed)
    params = dev({"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}, np.float32)
    opt = opt_factory()
    for t in range(n_steps):
        if t == resume_at:
            saved_params = host(params)
            saved = {k: np.array(v) for k, v in opt.state_dict().items()}
            params = dev(saved_params, np.float32)
            opt = opt_factory()
            opt.load_state_dict(saved)
        grads = {k: 2 * p + to_device(rng.standard_normal(p.shape).astype(np.float32))
                 for k, p in params.items()}
        clip_elementwise(grads, 5.0)
        add_weight_decay(params, grads, 1e-3)
        opt.step(params, grads)
    return host(params), opt.t


@pytest.mark.parametrize("factory", [lambda: SGDMomentum(0.05, 0.9),
                                     lambda: RMSProp(0.01, 0.999)])
def test_resume_gives_identical_trajectory(factory):
    full, t_full = _trajectory(factory, 12)
    resumed, t_res = _trajectory(factory, 12, resume_at=5)
    assert t_full == t_res == 12
    for k in full:
        np.testing.assert_array_equal(full[k], resumed[k])
    # and the state matters: dropping it changes the trajectory
    rng_free, _ = _trajectory(lambda: _Amnesic(factory()), 12, resume_at=5)
    assert not np.array_equal(full["W"], rng_free["W"])


class _Amnesic:
    """An optimiser whose state is lost on save (to show the test above can fail)."""
    def __init__(self, opt):
        self.opt = opt
        self.t = 0

    def step(self, params, grads):
        self.opt.step(params, grads)
        self.t += 1

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def test_load_state_dict_checks_kind():
    sgd = SGDMomentum(0.1)
    sgd.step(dev({"W": [[1.0]]}), dev({"W": [[1.0]]}))
    state = sgd.state_dict()
    assert set(state) == {"kind", "t", "velocity/W"}
    with pytest.raises(ValueError, match="sgd_momentum"):
        RMSProp(0.1).load_state_dict(state)
    other = SGDMomentum(0.5, momentum=0.5)      # the hyper-parameters stay as constructed
    other.load_state_dict(state)
    assert (other.lr, other.momentum, other.t) == (0.5, 0.5, 1)
