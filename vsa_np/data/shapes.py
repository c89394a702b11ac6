"""The shapes world: a synthetic image-caption dataset with real pixels and ground-truth
word-region alignments, in exactly the folder layout of the paper's Flickr8K download, so the
same loaders, trainers and lessons run on it with no download.

    make_shapes("/tmp/shapes")  ->  /tmp/shapes/
        images/shapes_00000.png ...   128 x 128 RGB, 1 to 4 objects, clutter, noise
        dataset_shapes.json           Karpathy layout, 5 captions per image (+ each image's
                                      objects: shape, colour, size, box, region)
        vgg_feats.mat                 `feats` (D, N): the whole-image "fc7" (Eq. 13), one column
                                      per image
        cnn.npz                       the network that computed the features (--cnn trained:
                                      the CNN trained on pictures of its own, `trained_cnn`;
                                      random: the fixed random one, `shapes_cnn`)
        regions.npz                   `feats` (N, R, D), `boxes` (N, R, 4), `n_regions` (N,):
                                      region 0 the whole image, then the objects, then
                                      distractors (Sec. 3.1.1); padding rows are 0 with box -1
        alignments.json               per sentence, the region of every token (shapes_grammar)

Pictures and scenes: `shapes_draw`; captions and alignments: `shapes_grammar`; features:
`trained_cnn` (a CNN trained on labelled pictures of its own) or `shapes_cnn` (a fixed random
one). Image i is drawn from its own generator seeded by (seed, i), so a world is a pure
function of (seed, number of images, feature dimension, network): same seed, same bytes. (The pictures,
captions, boxes and alignments are the same everywhere; the float features are the same on one
machine, but a different BLAS build or thread count may change their last bits.)
"""
from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from vsa_np.data.features import write_mat_columns
from vsa_np.data.shapes_cnn import RandomCNN
from vsa_np.data.shapes_draw import MAX_OBJECTS, N_DISTRACTORS, render, sample_scene
from vsa_np.data.shapes_grammar import describe
from vsa_np.data.trained_cnn import ShapesCNN, train_cnn
from vsa_np.errors import DataError
from vsa_np.safe_read import field as json_field
from vsa_np.safe_read import load_json, parse_json, reading
from vsa_np.transaction import check_resources, new_folder

DEFAULT_IMAGES = 1200          # 1000 / 100 / 100
VAL_FRACTION = TEST_FRACTION = 1 / 12
MAX_REGIONS = 1 + MAX_OBJECTS + N_DISTRACTORS
CHUNK = 128                    # images rendered and featurised together (bounds memory)
CNN_FILE = "cnn.npz"           # the network of the features, beside them
DEFAULT_CNN = "trained"        # "random": the fixed network of shapes_cnn.py (see make_shapes)


def split_sizes(n_images: int) -> dict:
    """train / val / test counts: 10/12, 1/12, 1/12 of the images, at least one each."""
    if n_images < 3:
        raise DataError(f"--images {n_images}: need at least 3 images (one per split)")
    n_val = max(1, round(n_images * VAL_FRACTION))
    n_test = max(1, round(n_images * TEST_FRACTION))
    return {"train": n_images - n_val - n_test, "val": n_val, "test": n_test}


def scene_and_captions(seed: int, i: int) -> tuple[dict, list]:
    """Image i of the world with this seed: its scene and its five captions (no pixels)."""
    rng = np.random.default_rng([seed, i])
    scene = sample_scene(rng)
    return scene, describe(scene["objects"], rng)


def _crops(pixels: np.ndarray, boxes: list, size: int) -> np.ndarray:
    """Each box's pixels resized to size x size (bilinear, antialiased): (len(boxes), S, S, 3)."""
    img = Image.fromarray(pixels)
    return np.stack([np.asarray(img.resize((size, size), Image.BILINEAR, box=tuple(b)))
                     for b in boxes])


class _NpyStream:
    """Write one (N, ...) array into an open zip file chunk by chunk (a .npz member), so the
    region features of a large world never sit in memory at once."""

    def __init__(self, zf: zipfile.ZipFile, name: str, shape: tuple, dtype):
        info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
        self.f = zf.open(info, "w", force_zip64=True)
        np.lib.format.write_array_header_1_0(
            self.f, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                     "fortran_order": False, "shape": shape})

    def write(self, block: np.ndarray) -> None:
        self.f.write(np.ascontiguousarray(block).tobytes())

    def close(self) -> None:
        self.f.close()


def feature_network(out: Path, cnn: str, feature_dim: int, seed: int, progress: bool,
                    cnn_from=None, log=None, train_options=None):
    """The network that computes the world's features, saved as out/cnn.npz (so that `caption
    --images` computes the same features from new pictures): "random", the fixed random network
    of `shapes_cnn`, or "trained", the CNN of `trained_cnn` (trained here on pictures of its
    own, or loaded from `cnn_from`). -> (network, summary dict)."""
    if cnn == "random":
        net = RandomCNN(feature_dim, seed)
        np.savez(out / CNN_FILE, meta=np.array(json.dumps(
            {"kind": "random", "feature_dim": feature_dim, "seed": seed})))
        return net, {"kind": "random"}
    if cnn != "trained":
        raise DataError(f"--cnn {cnn}: expected 'trained' or 'random'")
    if cnn_from is not None:
        net = load_network(cnn_from)
        if net.feature_dim != feature_dim:
            raise DataError(f"{cnn_from}: a network with {net.feature_dim}-d features, the world "
                            f"asks for --feature-dim {feature_dim}")
        summary = {"kind": "trained", "from": str(cnn_from), **net.meta.get("training", {})}
    else:
        net, summary = train_cnn(feature_dim, seed, progress=progress, log=log,
                                 **(train_options or {}))
        summary = {"kind": "trained", **summary}
    net.save(out / CNN_FILE, {"kind": "trained", "training": summary})
    return net, summary


def load_network(path):
    """cnn.npz (a file, or the world's folder) -> the network that made the world's features:
    a `ShapesCNN` or a `RandomCNN` (rebuilt from its seed)."""
    path = Path(path)
    if path.is_dir():
        path = path / CNN_FILE
    if not path.is_file():
        raise DataError(f"{path}: no CNN file here (make-shapes writes {CNN_FILE})")
    with reading(path, "CNN file"):
        with np.load(path, allow_pickle=False) as f:
            meta = parse_json(str(f["meta"][()]))
        if json_field(meta, "kind", str, f"{path}: meta", default="trained") == "random":
            return RandomCNN(json_field(meta, "feature_dim", int, f"{path}: meta", low=1,
                                        high=1 << 20),
                             json_field(meta, "seed", int, f"{path}: meta", low=0))
        return ShapesCNN.load(path)


def make_shapes(out, n_images: int = DEFAULT_IMAGES, seed: int = 0, feature_dim: int = 4096,
                progress: bool = True, cnn: str = DEFAULT_CNN, cnn_from=None, log=None,
                cnn_train=None) -> dict:
    """Generate a shapes world in folder `out`, as a whole (`vsa_np.transaction`: built beside
    it and moved into place; existing world files are replaced, nothing else is touched).
    `cnn`: the network of the features ("trained" or "random", see `feature_network`);
    `cnn_train`: options of `trained_cnn.train_cnn` (n_scenes, epochs, lr).
    Returns a summary: {"images": {split: n}, "sentences": n, "seconds": s, "bytes": n,
    "cnn": {...}}."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder")
    if feature_dim < 1:
        raise DataError(f"--feature-dim {feature_dim}: must be positive")
    split_sizes(n_images)
    if cnn not in ("trained", "random"):
        raise DataError(f"--cnn {cnn}: expected 'trained' or 'random'")
    if cnn_from is not None:                     # refused before anything is created
        net = load_network(cnn_from)
        if net.feature_dim != feature_dim:
            raise DataError(f"{cnn_from}: a network with {net.feature_dim}-d features, the world "
                            f"asks for --feature-dim {feature_dim}")
    check_resources(*world_needs(n_images, feature_dim), out,
                    f"a shapes world of {n_images} images with {feature_dim}-d features")
    # a previous, larger world's pictures go too (with --force; nothing else is touched)
    with new_folder(out, stale=("images/shapes_*.png",)) as tmp:
        return _write_world(tmp, n_images, seed, feature_dim, progress, cnn, cnn_from, log,
                            cnn_train)


def world_needs(n_images: int, feature_dim: int) -> tuple[float, float]:
    """(memory, disk) in bytes that make_shapes needs, estimated from its options (generously:
    the feature file is copied three times while it is written)."""
    D, R = feature_dim, MAX_REGIONS
    per_image_disk = R * D * 4 + D * 4 + 40_000 + 4_000       # regions, fc7, PNG, JSON
    memory = (5 * n_images * D * 4 + n_images * 30_000       # fc7 copies; captions, records
              + CHUNK * R * D * 4 * 3 + 4000 * D * 4 * 4      # a chunk's features; the CNN
              + 200 * 2**20)                                  # the CNN's training, Python
    return memory, n_images * per_image_disk + 1000 * D * 4


def _write_world(out: Path, n_images, seed, feature_dim, progress, cnn, cnn_from, log,
                 cnn_train) -> dict:
    """make_shapes' work, in the fresh folder `out`."""
    t0 = time.perf_counter()
    sizes = split_sizes(n_images)
    splits = [s for s, n in sizes.items() for _ in range(n)]
    (out / "images").mkdir()
    cnn, cnn_summary = feature_network(out, cnn, feature_dim, seed, progress, cnn_from, log,
                                       cnn_train)
    whole_size = getattr(cnn, "whole_size", cnn.input_size)   # the trained CNN: 128, see there
    whole = np.empty((n_images, feature_dim), dtype=np.float32)
    boxes = np.full((n_images, MAX_REGIONS, 4), -1, dtype=np.float32)
    n_regions = np.zeros(n_images, dtype=np.int64)
    images, alignments = [], []

    bar = _progress(n_images, progress)
    with zipfile.ZipFile(out / "regions.npz", "w", compression=zipfile.ZIP_STORED) as zf:
        stream = _NpyStream(zf, "feats", (n_images, MAX_REGIONS, feature_dim), np.float32)
        for start in range(0, n_images, CHUNK):
            stop = min(n_images, start + CHUNK)
            crops = np.zeros((stop - start, MAX_REGIONS, cnn.input_size, cnn.input_size, 3),
                             dtype=np.uint8)
            wholes = np.zeros((stop - start, whole_size, whole_size, 3), dtype=np.uint8)
            for i in range(start, stop):
                scene, captions = scene_and_captions(seed, i)
                pixels = render(scene)
                filename = f"shapes_{i:05d}.png"
                Image.fromarray(pixels).save(out / "images" / filename, compress_level=1)
                R = len(scene["boxes"])
                boxes[i, :R], n_regions[i] = scene["boxes"], R
                crops[i - start, :R] = _crops(pixels, scene["boxes"], cnn.input_size)
                wholes[i - start] = _crops(pixels, scene["boxes"][:1], whole_size)[0]
                images.append(_image_record(i, filename, splits[i], scene, captions,
                                            alignments))
                bar.update(1)
            valid = np.arange(MAX_REGIONS) < n_regions[start:stop, None]       # (n, R)
            valid[:, 0] = False                              # region 0: the whole picture
            feats = np.zeros((stop - start, MAX_REGIONS, feature_dim), dtype=np.float32)
            feats[valid] = cnn(crops[valid])                 # CNN(I_b), read by Eq. 1
            feats[:, 0] = cnn(wholes)                        # CNN(I), read by Eq. 13
            whole[start:stop] = feats[:, 0]
            stream.write(feats)
        stream.close()
        for name, a in (("boxes", boxes), ("n_regions", n_regions)):
            s = _NpyStream(zf, name, a.shape, a.dtype)
            s.write(a)
            s.close()
    bar.close()
    write_mat_columns(out / "vgg_feats.mat", whole)
    _write_json(out / "dataset_shapes.json", {"dataset": "shapes", "images": images})
    _write_json(out / "alignments.json", alignments)
    files = [p for p in out.rglob("*") if p.is_file()]
    return {"images": sizes, "sentences": len(alignments),
            "seconds": time.perf_counter() - t0, "bytes": sum(p.stat().st_size for p in files),
            "cnn": cnn_summary}


def _image_record(i: int, filename: str, split: str, scene: dict, captions: list,
                  alignments: list) -> dict:
    """The Karpathy-layout entry of image i; appends its sentences' alignment records."""
    sentences = []
    for c in captions:
        sentid = len(alignments)
        sentences.append({"tokens": c["tokens"], "raw": c["raw"], "imgid": i, "sentid": sentid})
        alignments.append({"sentid": sentid, "imgid": i, "tokens": c["tokens"],
                           "regions": c["regions"], "region_sets": c["region_sets"]})
    objects = [{"shape": o["shape"], "colour": o["colour"], "size": o["size"], "region": k + 1,
                "box": [int(v) for v in o["box"]],
                "centre": [round(o["cx"], 2), round(o["cy"], 2)]}
               for k, o in enumerate(scene["objects"])]
    return {"filename": filename, "imgid": i, "split": split,
            "sentids": [s["sentid"] for s in sentences], "sentences": sentences,
            "objects": objects}


def _write_json(path: Path, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="shapes", unit="img", disable=not enabled, leave=False)


def load_alignments(path, ds=None) -> dict:
    """alignments.json (a file, or the world's folder) -> {sentid: record}; the record format
    is documented in `shapes_grammar`. With `ds` (the Dataset it belongs to), every record of
    a sentence of ds must match it: the same tokens, regions that the image has."""
    path = Path(path)
    if path.is_dir():
        path = path / "alignments.json"
    records = load_json(path, "alignment file")
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a list of records, found {type(records).__name__}")
    out = {json_field(r, "sentid", int, f"{path}: record {k}", low=0): r
           for k, r in enumerate(records)}
    if ds is not None:
        # region indices are checked against the regions when ds has them (eval-align of a
        # whole-image model reads none)
        n_regions = (ds.n_regions if ds.regions_file is not None
                     else [MAX_REGIONS] * len(ds.images))
        for i, im in enumerate(ds.images):
            for s in im["sentences"]:
                r = out.get(s["sentid"])
                if r is None:
                    continue
                regions = r.get("regions")
                ok = (r.get("tokens") == s["tokens"] and isinstance(regions, list)
                      and len(regions) == len(s["tokens"])
                      and all(isinstance(g, int) and -1 <= g < n_regions[i] for g in regions))
                if not ok:
                    raise DataError(f"{path}: the record of sentid {s['sentid']} does not match "
                                    f"the captions in {ds.captions_file.name} (tokens or "
                                    f"regions differ: an alignment file of another world?)")
    return out
