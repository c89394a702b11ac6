"""Feature families: the shapes world's captions with image features of the kinds people
actually train on, to check that the trainers' defaults work on all of them (issue 12).

The paper trains on VGG fc7; users bring ResNet pools, CLIP vectors, class probabilities, often
z-scored or L2-normalised first. Their scale and spectrum differ by many orders of magnitude:

    family       what it imitates                              typical entry   ||x||
    fc7          VGG fc7: ReLU outputs, ~70% zeros, heavy tail    0 or ~1.4     ~80 (D 4096)
    probs        softmax class probabilities (1000 classes)       ~1e-3, max ~0.5   ~0.6
    logprobs     their logarithms                                 ~ -9            ~300
    zscore       fc7 standardised per dimension                   ~1              ~sqrt(D)
    l2           fc7 divided by its norm                          ~0.01           1
    fc7_small    fc7 x 1e-3                                       ~1e-3           ~0.08
    fc7_large    fc7 x 1e3                                        ~1e3            ~8e4

A world here has no pixels. Each image's scene and five captions are those of the shapes world
(`shapes.scene_and_captions`), and its feature is computed from what the scene contains: a
"content code" z, a sum over the objects of (fixed random vectors of the colour, the shape, the
size and, strongest, the (colour, shape) pair) times a fixed random matrix of the object's place
in a 3 x 3 grid, plus noise; then a fixed random map of each family. So the features carry what
the picture contains and where, as a trained CNN's do, and only their statistics change from one
family to the next. The pair and the place are bound to the object as in a real picture, which
is what a bag of words cannot read ("a red circle on the left and a blue square" and "a blue
circle on the left and a red square" have the same words) and a sentence model can. The fc7 family is calibrated on the real
VGG-16 fc7 of the neuraltalk example (`tests/test_feature_families.py` checks it): about 70% zeros,
positive entries with median ~1.4, 90th percentile ~2.8x and 99th ~4.8x the median.

    make_family_world("/tmp/probs", "probs", n_images=600, dim=512)  # dataset_shapes.json, vgg_feats.mat
    vsa-np make-shapes /tmp/probs --family probs                      # the same from the CLI
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vsa_np.data.features import write_mat_columns
from vsa_np.data.shapes import scene_and_captions
from vsa_np.data.shapes_draw import COLOURS, IMAGE_SIZE, SHAPES, SIZES
from vsa_np.errors import DataError
from vsa_np.transaction import check_resources, new_folder

FAMILIES = ("fc7", "probs", "logprobs", "zscore", "l2", "fc7_small", "fc7_large")
LATENT = 48              # size of the content code z
N_CLASSES = 1000         # the probability families' classes (ImageNet's count)
SPLIT_FRACTIONS = {"train": 0.6, "val": 0.15, "test": 0.25}


def _codebook(seed: int) -> dict:
    """Fixed random vectors of every attribute, and the families' fixed maps."""
    g = np.random.default_rng([seed, 0xFEA7])
    C, S, Z = len(COLOURS), len(SHAPES), len(SIZES)
    return {"colour": 0.5 * g.standard_normal((C, LATENT)),
            "shape": 0.5 * g.standard_normal((S, LATENT)),
            "size": 0.5 * g.standard_normal((Z, LATENT)),
            "pair": g.standard_normal((C, S, LATENT)),
            "pos": np.eye(LATENT) + 0.6 * g.standard_normal((3, 3, LATENT, LATENT))
            / np.sqrt(LATENT)}


def content_codes(scenes: list, seed: int) -> np.ndarray:
    """(N, LATENT) float64: the content code of each scene's objects, with noise."""
    book = _codebook(seed)
    colours, shapes, sizes = list(COLOURS), list(SHAPES), list(SIZES)
    noise = np.random.default_rng([seed, 0x2015]).standard_normal((len(scenes), LATENT))
    z = 0.3 * noise
    for i, scene in enumerate(scenes):
        for o in scene["objects"]:
            c, s, k = colours.index(o["colour"]), shapes.index(o["shape"]), sizes.index(o["size"])
            px = min(int(3 * o["cx"] / IMAGE_SIZE), 2)
            py = min(int(3 * o["cy"] / IMAGE_SIZE), 2)
            obj = book["colour"][c] + book["shape"][s] + book["size"][k] + book["pair"][c, s]
            z[i] += obj @ book["pos"][py, px]      # what is where: the code depends on both
    return z


def fc7_like(z: np.ndarray, dim: int, seed: int) -> np.ndarray:
    """(N, dim) float32 non-negative, sparse, heavy-tailed features with a steep spectrum.

    pre = z A + b + e: A (LATENT, dim) Gaussian with column scales decaying as a power law along
    the latent axis (a few directions carry most of the variance, as in real fc7), b a negative
    bias that leaves ~70% of the entries below zero, e independent noise per entry (the long
    flat tail of the real spectrum). ReLU, scaled so that the median positive entry is ~1.4, as
    in VGG-16 fc7 (the mixture of column scales gives the heavy right tail)."""
    g = np.random.default_rng([seed, 0xFC7])
    decay = (1.0 + np.arange(LATENT)) ** -0.7
    A = g.standard_normal((LATENT, dim)) * decay[:, None] / np.sqrt((decay ** 2).sum())
    zs = z / np.sqrt(np.mean(z.var(axis=0)) + 1e-12)           # the latent at unit scale
    pre = zs @ A + g.standard_normal((len(z), dim))   # content and noise of equal weight
    pre /= pre.std()
    out = np.maximum(pre - 0.5, 0.0)                    # ReLU with ~70% of the entries at 0
    positive = out[out > 0]
    out *= 1.4 / (np.median(positive) if positive.size else 1.0)
    return out.astype(np.float32)


def class_logprobs(z: np.ndarray, seed: int, classes: int = N_CLASSES) -> np.ndarray:
    """(N, classes) float64 log softmax of class logits that depend on the content: a random
    linear map of z, a prior per class, and a temperature that makes the top class hold about
    half the mass (one or two large entries, the rest ~1e-4, as a CNN's softmax on photos)."""
    g = np.random.default_rng([seed, 0x50F7])
    zs = (z - z.mean(axis=0)) / np.sqrt(np.mean(z.var(axis=0)) + 1e-12)
    # content, a prior per class, and what else is in a photo (background, pose, light): noise
    # per image and class, half as strong as the content, so two pictures of the same objects do not
    # get the same probabilities
    logits = 4.0 * (zs @ g.standard_normal((LATENT, classes)) / np.sqrt(LATENT)) \
        + g.standard_normal(classes) + 1.6 * g.standard_normal((len(z), classes))
    logits -= logits.max(axis=1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def family_features(z: np.ndarray, family: str, seed: int, dim: int = 4096) -> np.ndarray:
    """(N, D) float32 features of `family` for content codes z (D = dim, or N_CLASSES for the
    probability families)."""
    if family not in FAMILIES:
        raise DataError(f"unknown feature family {family!r}; choose one of {', '.join(FAMILIES)}")
    if family in ("probs", "logprobs"):
        lp = class_logprobs(z, seed)
        return (np.exp(lp) if family == "probs" else lp).astype(np.float32)
    x = fc7_like(z, dim, seed).astype(np.float64)
    if family == "zscore":          # per dimension over the whole data set, as users do it
        sd = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    elif family == "l2":
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    elif family == "fc7_small":
        x *= 1e-3
    elif family == "fc7_large":
        x *= 1e3
    return x.astype(np.float32)


def make_family_world(out, family: str, n_images: int = 1200, seed: int = 0,
                      dim: int = 4096) -> dict:
    """Write a captions-and-features world of `family` into folder `out` (created; it must not
    hold a dataset already): dataset_shapes.json (the shapes world's captions and objects, split
    60 / 15 / 25%) and vgg_feats.mat. Returns {"images": {split: n}, "feature_dim": D}."""
    out = Path(out)
    if family not in FAMILIES:
        raise DataError(f"unknown feature family {family!r}; choose one of {', '.join(FAMILIES)}")
    if n_images < 8:
        raise DataError(f"a feature-family world needs at least 8 images, got {n_images}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out}: exists and is not an empty folder")
    width = N_CLASSES if family in ("probs", "logprobs") else dim
    check_resources(n_images * (width * 8 * 4 + 30_000) + 200 * 2**20,
                    n_images * (width * 4 + 4_000), out,
                    f"a {family} world of {n_images} images with {width}-d features")
    with new_folder(out) as tmp:              # written whole, or not at all (transaction.py)
        return _write_family_world(tmp, family, n_images, seed, dim)


def _write_family_world(out: Path, family: str, n_images: int, seed: int, dim: int) -> dict:
    """make_family_world's work, in the fresh folder `out`."""
    n_val = max(1, round(n_images * SPLIT_FRACTIONS["val"]))
    n_test = max(1, round(n_images * SPLIT_FRACTIONS["test"]))
    splits = ["train"] * (n_images - n_val - n_test) + ["val"] * n_val + ["test"] * n_test
    scenes, images, sentid = [], [], 0
    for i in range(n_images):
        scene, captions = scene_and_captions(seed, i)
        scenes.append(scene)
        sentences = []
        for c in captions:
            sentences.append({"tokens": c["tokens"], "raw": c["raw"], "imgid": i,
                              "sentid": sentid})
            sentid += 1
        images.append({"filename": f"shapes_{i:05d}.png", "imgid": i, "split": splits[i],
                       "sentids": [s["sentid"] for s in sentences], "sentences": sentences,
                       "objects": [{"shape": o["shape"], "colour": o["colour"],
                                    "size": o["size"]} for o in scene["objects"]]})
    feats = family_features(content_codes(scenes, seed), family, seed, dim)
    write_mat_columns(out / "vgg_feats.mat", feats)
    with open(out / "dataset_shapes.json", "w", encoding="utf-8") as f:
        json.dump({"dataset": "shapes", "family": family, "images": images}, f,
                  separators=(",", ":"))
    return {"images": {s: splits.count(s) for s in SPLIT_FRACTIONS},
            "feature_dim": int(feats.shape[1])}
