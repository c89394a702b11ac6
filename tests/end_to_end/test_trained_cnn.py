"""The shapes world's trained CNN (the stand-in for the paper's VGG, Sec. 3.1.1): its gradient
check, determinism for a seed, its labels, the saved network reused by make-shapes and by
caption --images, and the ridge probe."""
import json

import numpy as np
import pytest

from gradcheck.registry import run_checks
from vsa_np.cli import main
from vsa_np.data import load_dataset
from vsa_np.data.shapes import load_network, make_shapes, scene_and_captions
from vsa_np.data.shapes_draw import sample_scene
from vsa_np.data.trained_cnn import (LABELS, TRAIN_STREAM, ShapesCNN, label_vector, ridge_probe,
                                     train_cnn, training_set, windows_of)
from vsa_np.errors import DataError

TINY = dict(n_scenes=8, epochs=1)


def test_gradient_check_passes():
    rows = run_checks(["shapes_cnn"])
    assert len(rows) == 12 and all(r.status == "PASS" for r in rows), rows


def test_labels_of_objects():
    y = label_vector([{"shape": "star", "colour": "red", "size": "small"},
                      {"shape": "circle", "colour": "red", "size": "large"}])
    on = {LABELS[i] for i in np.flatnonzero(y)}
    assert on == {"shape:star", "shape:circle", "colour:red", "object:red star",
                  "object:red circle", "size:small", "size:large"}
    assert not label_vector([]).any()          # a background crop: no label at all


def test_training_pictures_are_their_own():
    """The training stream never draws the caption world's pictures (same seed)."""
    W, Yw, C, Yc = training_set(0, 0, 3)
    assert W.shape == (3, 128, 128, 3) and len(Yw) == 3 and Yw.any(axis=1).all()
    assert C.dtype == np.uint8 and C.shape[1:] == (64, 64, 3) and len(C) == len(Yc)
    assert (~Yc.any(axis=1)).sum() == 1      # picture 1 (every other one) adds a background
    own = sample_scene(np.random.default_rng([0, TRAIN_STREAM, 0]))["objects"]
    assert own != scene_and_captions(0, 0)[0]["objects"]


def test_windows_keep_the_picture_scale():
    """An object's window is the picture's own pixels around it, labelled with what is in it."""
    scene = sample_scene(np.random.default_rng([0, TRAIN_STREAM, 4]))
    pixels = np.arange(128 * 128 * 3, dtype=np.uint32).reshape(128, 128, 3)
    win, y = windows_of(pixels, scene["objects"])
    assert win.shape == (len(scene["objects"]), 64, 64, 3) and len(y) == len(win)
    for w, yi, o in zip(win, y, scene["objects"]):
        x0, y0 = int(w[0, 0, 0] // 3 % 128), int(w[0, 0, 0] // 384)    # where it was cut
        assert x0 <= o["cx"] < x0 + 64 and y0 <= o["cy"] < y0 + 64
        assert yi[LABELS.index(f"object:{o['colour']} {o['shape']}")] == 1
    W, Yw, C, Yc = training_set(0, 0, 3, windows=True)
    assert len(C) == len(training_set(0, 0, 3)[2]) + sum(
        len(sample_scene(np.random.default_rng([0, TRAIN_STREAM, i]))["objects"])
        for i in range(3))


def test_same_seed_same_network_and_loss_falls():
    tiny = dict(n_scenes=12, epochs=4, lr=2e-3)      # the default 4e-3 is for 1200 pictures
    a, sa = train_cnn(16, seed=5, progress=False, **tiny)
    b, _ = train_cnn(16, seed=5, progress=False, **tiny)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert sa["loss_per_epoch"][-1] < sa["loss_per_epoch"][0]
    c, _ = train_cnn(16, seed=6, progress=False, **TINY)
    assert not np.array_equal(a.params["w1"], c.params["w1"])


def test_world_with_trained_cnn_saved_and_reused(tmp_path):
    s = make_shapes(tmp_path / "a", 12, seed=1, feature_dim=32, progress=False, cnn="trained",
                    cnn_train=TINY)
    assert s["cnn"]["kind"] == "trained"
    with np.load(tmp_path / "a" / "cnn.npz", allow_pickle=False) as f:    # no pickle in it
        assert json.loads(str(f["meta"]))["kind"] == "trained"
    net = load_network(tmp_path / "a")
    assert isinstance(net, ShapesCNN) and net.feature_dim == 32
    make_shapes(tmp_path / "b", 12, seed=1, feature_dim=32, progress=False, cnn="trained",
                cnn_from=tmp_path / "a" / "cnn.npz")
    a, b = (load_dataset(tmp_path / k, regions=True) for k in "ab")
    np.testing.assert_array_equal(a.feats, b.feats)
    np.testing.assert_array_equal(a.region_feats, b.region_feats)
    assert (a.feats >= 0).all() and a.feats.std() > 0          # a ReLU layer, not constant


def test_cli_options(tmp_path, capsys):
    assert main(["make-shapes", str(tmp_path / "w"), "--images", "6", "--cnn", "random",
                 "--cnn-from", str(tmp_path), "--quiet"]) == 2
    assert "--cnn-from" in capsys.readouterr().err
    assert main(["make-shapes", str(tmp_path / "w2"), "--images", "6", "--feature-dim", "8",
                 "--cnn", "trained", "--cnn-from", str(tmp_path / "none.npz"), "--quiet"]) == 2
    assert "none.npz" in capsys.readouterr().err


def test_random_network_stays_available(tmp_path):
    make_shapes(tmp_path, 6, seed=0, feature_dim=16, progress=False, cnn="random")
    net = load_network(tmp_path)
    assert type(net).__name__ == "RandomCNN" and net.feature_dim == 16


def test_ridge_probe_reads_a_linear_label():
    g = np.random.default_rng(0)
    X = g.standard_normal((400, 8))
    Y = (X[:, :3] > 0).astype(float)
    acc = ridge_probe(X[:300], Y[:300], X[300:], Y[300:])
    assert acc.shape == (3,) and (acc > 0.85).all()
    noise = ridge_probe(X[:300], g.random((300, 1)) > 0.5, X[300:], g.random((100, 1)) > 0.5)
    assert noise[0] < 0.7


@pytest.mark.parametrize("bad", ["meta", "shape"])
def test_bad_network_file_is_one_clear_error(tmp_path, bad):
    net = ShapesCNN(8, 0)
    net.save(tmp_path / "n.npz", {})
    if bad == "meta":
        np.savez(tmp_path / "n.npz", x=np.zeros(2))
    else:
        arrays = dict(np.load(tmp_path / "n.npz"))
        arrays["w1"] = np.zeros((5, 5, 3, 8), np.float32)
        np.savez(tmp_path / "n.npz", **arrays)
    with pytest.raises(DataError, match="n.npz"):
        load_network(tmp_path / "n.npz")


def test_caption_from_pixels_matches_caption_from_features(tiny_world, tiny_run, tmp_path,
                                                            capsys):
    """`caption --images DIR` computes the features with the world's saved network: the same
    features as the world's own, hence the same captions."""
    ds = load_dataset(tiny_world)
    pics = tmp_path / "pics"
    pics.mkdir()
    for i in (0, 5, 7):
        (pics / ds.images[i]["filename"]).write_bytes(
            (tiny_world / "images" / ds.images[i]["filename"]).read_bytes())
    np.save(tmp_path / "f.npy", np.asarray(ds.feats[[0, 5, 7]]))
    run = str(tiny_run[0])
    assert main(["caption", run, "--images", str(pics), "--beam", "2", "--json"]) == 0
    from_pixels = json.loads(capsys.readouterr().out)
    assert main(["caption", run, "--features", str(tmp_path / "f.npy"), "--beam", "2",
                 "--json"]) == 0
    from_feats = json.loads(capsys.readouterr().out)
    assert [o["image"] for o in from_pixels] == [ds.images[i]["filename"] for i in (0, 5, 7)]
    assert [o["caption"] for o in from_pixels] == [o["caption"] for o in from_feats]
    assert main(["caption", run]) == 2                                    # neither option
    assert "--images" in capsys.readouterr().err
    assert main(["caption", run, "--images", str(tmp_path / "f.npy")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_probe_of_a_world_and_the_report_section(tiny_world):
    from vsa_np.data.trained_cnn import probe_summary, probe_world
    from vsa_np.demo.report import _features_section

    p = probe_world(load_dataset(tiny_world, regions=True))
    assert len(p["whole"]) == 24 and set(p["regions"]) == {"shape", "colour", "size"}
    s = probe_summary(p)
    assert 0 <= s["shape"]["min"] <= s["shape"]["mean"] <= 1
    text = "\n".join(_features_section({"features": {"cnn": {"kind": "random"}, "probe": s}}))
    assert "a fixed random CNN" in text and "| region: its object's shape |" in text
    trained = {"kind": "trained", "pictures": 600, "epochs": 6, "seconds": 50.0}
    text = "\n".join(_features_section({"features": {"cnn": trained, "probe": s}}))
    assert "trained from scratch" in text and "600 pictures" in text
