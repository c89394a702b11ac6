"""No silent device-to-host copies in a training step (issue 7), checked without a GPU.

On a GPU every `to_host`, `float(a)`, `bool(a)`, `int(a)`, `a.item()` or `a.tolist()` of a device
array is a copy that waits for all queued work. Here the arrays that would live on the device
(the parameters, the optimiser state, whatever `to_device` makes and everything computed from
them) are a NumPy subclass that counts those conversions, and `to_host` / `to_float` count the
calls that receive one. The batches stay host arrays, as the trainers make them.

A training step of either model must make none: the loss comes back as a 0-d device array, and
the trainers read it (one scalar a step, for the NaN stop) outside the step.
"""
import sys

import numpy as np
import pytest

from bench import _common as C
from bench.train_step import align_batch, caption_batch
from vsa_np.feature_norm import FeatureNorm

SYNCS = []


class DeviceArray(np.ndarray):
    """An ndarray that records every implicit copy to a Python scalar or list."""

    # CuPy gives 0-d device arrays where NumPy gives scalars (a[0], a.sum()): do the same, so
    # that float(a[0]) is seen
    def __getitem__(self, key):
        out = super().__getitem__(key)
        return out if isinstance(out, np.ndarray) else np.asarray(out).view(DeviceArray)

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        return super().__array_wrap__(arr, context, False)


def _counting(name):
    """The ndarray method `name`, recording a host copy first."""
    method = getattr(np.ndarray, name)

    def counted(self, *args):
        SYNCS.append(name.strip("_"))
        return method(self, *args)
    return counted


for _name in ("__bool__", "__float__", "__int__", "__index__", "item", "tolist"):
    setattr(DeviceArray, _name, _counting(_name))


@pytest.fixture
def device_arrays(monkeypatch):
    """Route vsa_np's to_device / to_host / to_float through DeviceArray, in every module that
    imported them by name."""
    from vsa_np import backend
    real_to_device, real_to_host = backend.to_device, backend.to_host

    def to_device(a, dtype=None):
        return np.asarray(real_to_device(a, dtype)).view(DeviceArray)

    def to_host(a):
        if isinstance(a, DeviceArray):
            SYNCS.append("to_host")
        return np.asarray(real_to_host(a)).view(np.ndarray)

    def to_float(a):
        return float(to_host(a))

    fakes = {"to_device": to_device, "to_host": to_host, "to_float": to_float}
    for name, mod in list(sys.modules.items()):
        if name == "vsa_np" or name.startswith("vsa_np."):
            for fn, fake in fakes.items():
                if getattr(mod, fn, None) is getattr(backend, fn):
                    monkeypatch.setattr(mod, fn, fake)
    SYNCS.clear()
    yield to_device
    SYNCS.clear()


def _on_device(params: dict, to_device):
    for k in params:
        params[k] = to_device(params[k])


def test_the_fake_device_counts(device_arrays):
    a = device_arrays(np.arange(3.0))
    b = a * 2 + 1                             # derived arrays stay "on the device"
    assert isinstance(b, DeviceArray) and not SYNCS
    float(b[0]), bool(b.all()), int(b.sum()), b.tolist()
    assert SYNCS == ["float", "bool", "int", "tolist"]


def test_alignment_step_makes_no_host_copy(device_arrays):
    from vsa_np.core.alignment import AlignmentModel
    from vsa_np.alignment.train import AlignConfig
    from vsa_np.core.train import train_step
    from vsa_np.core.train import SGDMomentum
    sz = C.TINY
    g = np.random.default_rng(0)
    D, k = sz["image_dim"], 4
    model = AlignmentModel(sz["vocab"], D, word_dim=sz["word_dim"], hidden=sz["brnn_hidden"],
                           embed=sz["embed"], dropout=0.5, seed=0,
                           norm=FeatureNorm(np.abs(g.standard_normal(D)),
                                            np.linalg.qr(g.standard_normal((D, k)))[0],
                                            1 + g.random(k), 2.0))
    _on_device(model.params, device_arrays)
    batch = align_batch(sz, sz["regions"], np.array([3, 5, 1, 4, 2, 5]))
    cfg, opt = AlignConfig(), SGDMomentum(1e-3)
    SYNCS.clear()
    for step in range(2):
        loss = train_step(model, opt, batch, cfg, seed=step)
    assert SYNCS == []
    assert isinstance(loss, DeviceArray) and isinstance(opt.state["velocity"]["W_m"], DeviceArray)


def test_generator_step_makes_no_host_copy(device_arrays):
    from vsa_np.core.generator import CaptionModel
    from vsa_np.generator.train import GenConfig
    from vsa_np.core.train import train_step
    from vsa_np.core.train import RMSProp
    sz = C.TINY
    model = CaptionModel(sz["vocab"], sz["image_dim"], hidden=sz["gen_hidden"],
                         word_dim=sz["gen_word_dim"], dropout=0.5, seed=0,
                         norm=FeatureNorm(np.ones(sz["image_dim"]), np.zeros((sz["image_dim"], 0)), np.zeros(0), 1.0))
    _on_device(model.params, device_arrays)
    batch = caption_batch(sz, np.array([3, 5, 1, 4, 2, 5]))
    opt = RMSProp(1e-3)
    SYNCS.clear()
    for step in range(2):
        loss = train_step(model, opt, batch, GenConfig(), seed=step)
    assert SYNCS == []
    assert isinstance(loss, DeviceArray)


def test_beam_search_reads_back_a_few_flags_a_step(device_arrays):
    """Beam search must ask the host which images are finished (to drop their rows): a few
    boolean flags per step, and the captions of the finished images, never per image."""
    from vsa_np.core.generator import beam_search
    from vsa_np.core.generator import CaptionModel
    model = CaptionModel(30, 6, hidden=8, word_dim=4, dropout=0.0, seed=0)
    _on_device(model.params, device_arrays)
    feats = device_arrays(np.random.default_rng(0).standard_normal((40, 6)))
    SYNCS.clear()
    max_len = 6
    beam_search(model, feats, beam=3, max_len=max_len)
    steps = max_len + 1
    assert 0 < len(SYNCS) <= 5 * steps, SYNCS
