"""The shapes world: layout, captions, ground-truth alignments checked against the pixels and
the geometry, determinism, the CNN against a brute-force convolution, and a linear probe showing
the features tell colours, shapes and sizes apart."""
import hashlib
import json
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from vsa_np.cli import main
from vsa_np.data import Vocab, load_dataset, tokenize
from vsa_np.data.shapes import (DEFAULT_IMAGES, MAX_REGIONS, load_alignments, make_shapes,
                                scene_and_captions, split_sizes)
from vsa_np.data.shapes_cnn import RandomCNN, conv_relu, pool_max
from vsa_np.data.shapes_draw import (BOX_MARGIN, COLOURS, IMAGE_SIZE, SHAPES, SIZES,
                                     render, sample_scene)
from vsa_np.errors import DataError

N_IMAGES = 48
PLURALS = {s + "s": s for s in SHAPES}


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    summary = make_shapes(root, N_IMAGES, seed=3, progress=False, cnn="random")
    meta = json.loads((root / "dataset_shapes.json").read_text())
    return root, summary, meta, load_dataset(root)


def test_layout_and_loading(world):
    root, summary, meta, ds = world
    for name in ("dataset_shapes.json", "vgg_feats.mat", "regions.npz", "alignments.json"):
        assert (root / name).is_file()
    assert summary["images"] == {"train": 40, "val": 4, "test": 4} == split_sizes(N_IMAGES)
    assert ds.name == "shapes" and len(ds) == N_IMAGES
    assert all((root / "images" / im["filename"]).is_file() for im in ds.images)
    assert ds.feats.shape == (N_IMAGES, 4096) and ds.region_feats.shape == (N_IMAGES, MAX_REGIONS,
                                                                            4096)
    assert np.array_equal(ds.feats, ds.region_feats[:, 0])     # region 0 = the whole image
    for i, im in enumerate(meta["images"]):
        n = int(ds.n_regions[i])
        assert 1 + len(im["objects"]) <= n <= MAX_REGIONS
        assert ds.boxes[i, 0].tolist() == [0, 0, IMAGE_SIZE, IMAGE_SIZE]
        for o in im["objects"]:
            assert ds.boxes[i, o["region"]].tolist() == o["box"]
        assert (ds.boxes[i, n:] == -1).all() and not ds.region_feats[i, n:].any()
        assert (ds.region_feats[i, :n].max(axis=1) > 0).all()  # real regions have features
        assert len(im["sentences"]) == 5 and len({tuple(s["tokens"]) for s in im["sentences"]}) == 5


def test_captions_tokenise_back(world):
    ds = world[3]
    for im in ds.images:
        for s in im["sentences"]:
            assert tokenize(s["raw"]) == s["tokens"]


def test_alignments_name_the_right_objects(world):
    root, _, meta, _ = world
    records = load_alignments(root)
    sentences = {s["sentid"]: (im, s) for im in meta["images"] for s in im["sentences"]}
    assert sorted(records) == sorted(sentences) == list(range(5 * N_IMAGES))
    colours, sizes = set(COLOURS), set(SIZES)
    for sid, rec in records.items():
        im, s = sentences[sid]
        assert rec["tokens"] == s["tokens"] and rec["imgid"] == im["imgid"]
        assert len(rec["regions"]) == len(rec["region_sets"]) == len(s["tokens"])
        objects = {o["region"]: o for o in im["objects"]}
        for word, r, rset in zip(s["tokens"], rec["regions"], rec["region_sets"]):
            if r == -1:
                assert rset == [] and word not in colours | sizes | set(SHAPES) | set(PLURALS)
                continue
            assert r in rset and set(rset) <= set(objects)
            for member in (objects[k] for k in rset):
                if word in colours:
                    assert member["colour"] == word
                elif word in sizes:
                    assert member["size"] == word
                elif word in SHAPES or word in PLURALS:
                    assert member["shape"] == PLURALS.get(word, word)
                    assert (word in PLURALS) == (len(rset) > 1)
                else:                                          # a count: "two", "shapes"
                    assert word in ("one", "two", "three", "four", "shape", "shapes")


def test_colour_words_match_the_pixels(world):
    root, _, meta, _ = world
    names = list(COLOURS)
    palette = np.array([COLOURS[c] for c in names], dtype=float)
    for im in meta["images"]:
        pixels = np.asarray(Image.open(root / "images" / im["filename"]), dtype=float)
        for o in im["objects"]:
            x, y = (int(round(v)) for v in o["centre"])
            patch = pixels[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).mean(axis=0)
            assert names[np.argmin(((palette - patch) ** 2).sum(axis=1))] == o["colour"]


def test_size_words_match_the_boxes(world):
    meta = world[2]
    widths = {"small": [], "large": []}
    for im in meta["images"]:
        for o in im["objects"]:
            x0, y0, x1, y1 = o["box"]
            assert x0 < o["centre"][0] < x1 and y0 < o["centre"][1] < y1
            if 0 < x0 and x1 < IMAGE_SIZE:                     # box not clipped by the edge
                widths[o["size"]].append(x1 - x0 - 2 * BOX_MARGIN)
    assert max(widths["small"]) < min(widths["large"])


def test_relation_words_match_the_geometry(world):
    root, _, meta, _ = world
    records = load_alignments(root)
    checked = 0
    for im in meta["images"]:
        centre = {o["region"]: np.array(o["centre"]) for o in im["objects"]}
        for s in im["sentences"]:
            t, sets = s["tokens"], records[s["sentid"]]["region_sets"]
            for k, word in enumerate(t):
                if not (word in ("above", "below") or t[k:k + 2] in (["left", "of"],
                                                                   ["right", "of"])):
                    continue
                a = next(sets[j] for j in range(k, -1, -1) if sets[j])   # phrase before
                b = next(sets[j] for j in range(k, len(t)) if sets[j])   # phrase after
                dx, dy = np.mean([centre[r] for r in b], 0) - np.mean([centre[r] for r in a], 0)
                horizontal = abs(dx) >= abs(dy)
                assert {"left": horizontal and dx > 0, "right": horizontal and dx < 0,
                        "above": not horizontal and dy > 0,
                        "below": not horizontal and dy < 0}[word], (s["raw"], dx, dy)
                checked += 1
    assert checked >= N_IMAGES // 2


def _digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        make_shapes(tmp_path / name, 6, seed=seed, feature_dim=32, progress=False,
                    cnn="random")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_split_sizes():
    assert split_sizes(DEFAULT_IMAGES) == {"train": 1000, "val": 100, "test": 100}
    assert split_sizes(3) == {"train": 1, "val": 1, "test": 1}
    assert split_sizes(600) == {"train": 500, "val": 50, "test": 50}
    with pytest.raises(DataError, match="at least 3"):
        split_sizes(2)


def test_default_world_vocabulary():
    """Every word of the default world's grammar occurs at least 5 times in its 1000 training
    images, so the threshold-5 vocabulary is the whole grammar and no word is dropped."""
    n_train = split_sizes(DEFAULT_IMAGES)["train"]
    counts = Counter(w for i in range(n_train) for c in scene_and_captions(0, i)[1]
                     for w in c["tokens"])
    assert min(counts.values()) >= 5 and len(counts) < 100
    assert len(Vocab.build([list(counts.elements())], threshold=5).words) == len(counts)


def test_conv_and_pool_against_loops():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)   # (C, M, H, W)
    w = rng.standard_normal((4, 2 * 3 * 3)).astype(np.float32)
    y = conv_relu(x, w, 3)
    ref = np.zeros((4, 3, 7, 6))
    for f in range(4):
        for m in range(3):
            for i in range(7):
                for j in range(6):
                    ref[f, m, i, j] = max(0.0, float((w[f].reshape(2, 3, 3)
                                                      * x[:, m, i:i + 3, j:j + 3]).sum()))
    assert np.allclose(y, ref, atol=1e-5)
    p = pool_max(y, 3)
    assert p.shape == (4, 3, 2, 2)
    for i in range(2):
        for j in range(2):
            assert np.array_equal(p[..., i, j], y[..., 3 * i:3 * i + 3, 3 * j:3 * j + 3]
                                  .max(axis=(-2, -1)))


def _ridge_probe(X, labels, train, lam=1e-2):
    """Held-out accuracy of a one-vs-rest ridge regression on standardised features."""
    classes = sorted(set(labels))
    Y = (np.array(labels)[:, None] == np.array(classes)[None]).astype(float)
    mu, sd = X[train].mean(0), X[train].std(0) + 1e-6
    Z = np.hstack([(X - mu) / sd, np.ones((len(X), 1))])
    K = Z[train] @ Z[train].T                                  # dual form: few samples
    A = np.linalg.solve(K + lam * len(K) * np.eye(len(K)), Y[train])
    pred = (Z[~train] @ (Z[train].T @ A)).argmax(1)
    return float((pred == Y[~train].argmax(1)).mean())


def test_linear_probe_reads_colour_shape_and_size():
    cnn = RandomCNN(4096, seed=0)
    crops, objects = [], []
    for i in range(160):
        scene = sample_scene(np.random.default_rng([11, i]))
        img = Image.fromarray(render(scene))
        for o in scene["objects"]:
            crops.append(np.asarray(img.resize((64, 64), Image.BILINEAR, box=tuple(o["box"]))))
            objects.append(o)
    X = cnn(np.stack(crops)).astype(np.float64)
    train = np.arange(len(X)) < 0.75 * len(X)
    acc = {k: _ridge_probe(X, [o[k] for o in objects], train) for k in ("colour", "shape", "size")}
    # chance: 1/5, 1/4, 1/2
    assert acc["colour"] >= 0.95 and acc["shape"] >= 0.85 and acc["size"] >= 0.9, acc


def test_cli_make_shapes_then_data_info(tmp_path, capsys):
    out = tmp_path / "w"
    assert main(["make-shapes", str(out), "--images", "6", "--feature-dim", "16", "--quiet",
                 "--cnn", "random"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["data-info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["images"] == {"train": 4, "val": 1, "test": 1}
    assert info["sentences"] == {"train": 20, "val": 5, "test": 5}
    assert info["feature_dim"] == 16 and info["regions_per_image"] == MAX_REGIONS
    assert main(["make-shapes", str(tmp_path / "x"), "--images", "2"]) == 2
    assert "at least 3 images" in capsys.readouterr().err
