"""Checkpoints: round trip, the three ways of naming one, clear errors, and crash safety."""
import dataclasses
import json
import os
import warnings

import numpy as np
import pytest

from vsa_np import checkpoint as ckpt_mod
from vsa_np.backend import to_device
from vsa_np.checkpoint import checkpoint_paths, load_checkpoint, load_meta, save_checkpoint
from vsa_np.errors import DataError
from vsa_np.core.train import SGDMomentum


@dataclasses.dataclass
class Cfg:
    hidden: int = 8
    lr: float = 1e-3
    score: str = "eq8"


def params_(seed):
    rng = np.random.default_rng(seed)
    return {"W_m": rng.standard_normal((4, 3)).astype(np.float32),
            "b_m": rng.standard_normal(3).astype(np.float32),
            "W_w": rng.integers(0, 5, (2, 2)).astype(np.int64)}


def test_round_trip_with_optimiser_state(tmp_path):
    params = {k: to_device(v) for k, v in params_(0).items()}
    opt = SGDMomentum(0.1)
    opt.step(params, {k: v * 0 + 1 for k, v in params.items() if v.dtype == np.float32})
    meta = {"config": Cfg(), "vocab": ["<end>", "a", "dog"], "step": np.int64(7),
            "metrics": {"R@1": np.float64(12.5)}}
    npz, js = save_checkpoint(tmp_path / "run" / "last", params, meta, opt.state_dict())
    assert (npz.name, js.name) == ("last.npz", "last.json")
    assert json.loads(js.read_text())["config"] == {"hidden": 8, "lr": 1e-3, "score": "eq8"}
    for name in ("run/last", "run/last.npz", "run/last.json"):
        p, m, o = load_checkpoint(tmp_path / name)
        assert set(p) == {"W_m", "b_m", "W_w"}
        for k in p:
            assert isinstance(p[k], np.ndarray) and p[k].dtype == params_(0)[k].dtype
            np.testing.assert_array_equal(p[k], np.asarray(params[k]))
        assert m == {"config": {"hidden": 8, "lr": 1e-3, "score": "eq8"},
                     "vocab": ["<end>", "a", "dog"], "step": 7, "metrics": {"R@1": 12.5}}
        resumed = SGDMomentum(0.1)
        resumed.load_state_dict(o)
        assert resumed.t == 1
        np.testing.assert_array_equal(resumed.state_dict()["velocity/W_m"],
                                      opt.state_dict()["velocity/W_m"])
        assert load_meta(tmp_path / name) == m
    assert not list((tmp_path / "run").glob("*.tmp"))


def test_no_optimiser_state(tmp_path):
    save_checkpoint(tmp_path / "c.npz", params_(0), {"step": 0})
    _, meta, optim = load_checkpoint(tmp_path / "c")
    assert optim is None and meta == {"step": 0}


def test_paths():
    assert checkpoint_paths("a/b.json") == checkpoint_paths("a/b") == checkpoint_paths("a/b.npz")
    assert str(checkpoint_paths("a/best.v1")[0]).endswith("best.v1.npz")


def test_missing_and_corrupt_files_name_the_file(tmp_path):
    with pytest.raises(DataError, match=r"nothere\.npz: checkpoint not found"):
        load_checkpoint(tmp_path / "nothere.json")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip file at all")
    with pytest.raises(DataError, match=r"bad\.npz: not a readable checkpoint"):
        load_checkpoint(bad)
    # a truncated real checkpoint
    npz, _ = save_checkpoint(tmp_path / "cut", params_(0), {"step": 1})
    data = npz.read_bytes()
    npz.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.npz"):
        load_checkpoint(npz)
    # an .npz that is not ours, and a pickled object array
    np.savez(tmp_path / "foreign.npz", x=np.zeros(3))
    with pytest.raises(DataError, match=r"foreign\.npz: not a vsa-np checkpoint"):
        load_checkpoint(tmp_path / "foreign")
    with pytest.raises(DataError, match=r"foreign\.npz: not a vsa-np checkpoint"):
        load_meta(tmp_path / "foreign")
    np.savez(tmp_path / "pickled.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match=r"pickled\.npz"):
        load_checkpoint(tmp_path / "pickled")
    with open(tmp_path / "single.npz", "wb") as f:   # a lone .npy array under an .npz name
        np.save(f, np.zeros(3))
    with pytest.raises(DataError, match=r"single\.npz: not a checkpoint"):
        load_checkpoint(tmp_path / "single.npz")


def test_reserved_names_rejected(tmp_path):
    with pytest.raises(ValueError, match="clashes"):
        save_checkpoint(tmp_path / "c", {"optim/x": np.zeros(1)}, {})


def test_crash_before_commit_keeps_previous_checkpoint(tmp_path, monkeypatch):
    stem = tmp_path / "last"
    save_checkpoint(stem, params_(0), {"step": 100})

    def boom(src, dst):
        raise OSError("simulated crash during os.replace")
    monkeypatch.setattr(ckpt_mod.os, "replace", boom)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(stem, params_(1), {"step": 200})
    monkeypatch.undo()

    with warnings.catch_warnings():
        warnings.simplefilter("error")           # the pair is consistent: no warning
        p, meta, _ = load_checkpoint(stem)
    assert meta["step"] == 100
    np.testing.assert_array_equal(p["W_m"], params_(0)["W_m"])
    assert sorted(f.name for f in tmp_path.iterdir()) == ["last.json", "last.npz"]


def test_crash_between_the_two_renames_loads_the_new_npz(tmp_path, monkeypatch):
    stem = tmp_path / "last"
    save_checkpoint(stem, params_(0), {"step": 100})
    real_replace = os.replace
    calls = []

    def replace_once(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("simulated crash after the .npz was replaced")
        real_replace(src, dst)
    monkeypatch.setattr(ckpt_mod.os, "replace", replace_once)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(stem, params_(1), {"step": 200})
    monkeypatch.undo()
    assert [os.path.basename(c) for c in calls] == ["last.npz", "last.json"]

    with pytest.warns(UserWarning, match="does not match"):
        p, meta, _ = load_checkpoint(stem)
    # the new parameters come with their own (new) metadata, never the stale .json's
    assert meta["step"] == 200
    np.testing.assert_array_equal(p["W_m"], params_(1)["W_m"])
    assert json.loads((tmp_path / "last.json").read_text())["step"] == 100
    # the next save repairs the pair
    save_checkpoint(stem, params_(2), {"step": 300})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_checkpoint(stem)[1]["step"] == 300
