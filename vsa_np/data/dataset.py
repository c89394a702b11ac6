"""Image-caption datasets the way the paper's released data comes (Sec. 4: Flickr8K, Flickr30K,
MSCOCO), and the shapes world (`vsa_np.data.shapes`) in the same layout.

A dataset folder holds
- the captions: `dataset.json` or `dataset_<name>.json` in Karpathy's layout
  `{"dataset": name, "images": [{"filename", "imgid", "split", "sentences": [{"tokens", "raw",
  "sentid"}]}]}`, or the original Flickr8K text release (`Flickr8k.token.txt` with
  `Flickr_8k.{train,dev,test}Images.txt`; dev = val), tokenised by `tokenize`;
- optionally the image features (`vgg_feats.mat` (D, N), or `.npy`/`.npz` (N, D); see
  `features.py`), row i = the image with `imgid` i;
- optionally `regions.npz`, the region features of the alignment model (Sec. 3.1.1).

`load_dataset(path)` reads and checks all of it. Karpathy's MSCOCO split "restval" counts as
train, as in the paper's code.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vsa_np.data.features import REGIONS_NAME, find_features, read_features, read_regions
from vsa_np.data.tokenize import tokenize
from vsa_np.config import MAX_LEN
from vsa_np.errors import DataError
from vsa_np.safe_read import field as json_field
from vsa_np.safe_read import load_json, reading

SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"train": "train", "restval": "train", "val": "val", "dev": "val", "test": "test"}
FLICKR8K_TOKENS = "Flickr8k.token.txt"
FLICKR8K_SPLITS = {"train": "Flickr_8k.trainImages.txt", "val": "Flickr_8k.devImages.txt",
                   "test": "Flickr_8k.testImages.txt"}


@dataclass
class Dataset:
    """Images with their captions, and (optionally) their features.

    feats:        host float32 (N, D) whole-image features, or None (captions only)
    region_feats: host float32 (N, R, D); without a region file, `feats[:, None, :]` (R = 1)
    boxes:        (N, R, 4) pixel x0, y0, x1, y1 (-1 for padding), or None without a region file
    n_regions:    (N,) int64 valid regions per image; region 0 is the whole image
    """
    name: str
    root: Path
    images: list
    feats: np.ndarray | None = None
    region_feats: np.ndarray | None = None
    boxes: np.ndarray | None = None
    n_regions: np.ndarray | None = None
    captions_file: Path | None = None
    features_file: Path | None = None
    regions_file: Path | None = None
    cache: dict = field(default_factory=dict, repr=False)  # e.g. encoded splits (batching.py)

    def __post_init__(self):
        self._split = np.array([im["split"] for im in self.images])
        self._sent_img = np.array([i for i, im in enumerate(self.images)
                                   for _ in im["sentences"]], dtype=np.int64)
        self._sent_tokens = [s["tokens"] for im in self.images for s in im["sentences"]]
        self._sent_ids = np.array([s["sentid"] for im in self.images for s in im["sentences"]],
                                  dtype=np.int64)
        if self.n_regions is None:
            self.n_regions = np.ones(len(self.images), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def feature_dim(self) -> int | None:
        return None if self.feats is None else int(self.feats.shape[1])

    def split_indices(self, split: str) -> np.ndarray:
        """Indices (into `images`) of the images of `split`, in file order."""
        return np.flatnonzero(self._split == _split_name(split))

    def sentences_of(self, split: str):
        """(img_index (S,), token lists (S), sentid (S,)) of every sentence of `split`."""
        keep = self._split[self._sent_img] == _split_name(split)
        idx = np.flatnonzero(keep)
        return self._sent_img[idx], [self._sent_tokens[i] for i in idx], self._sent_ids[idx]

    def fingerprint(self) -> str:
        """12 hex digits of a hash of every caption (split, file name, tokens) and the feature
        size: the data a model was trained on (saved in its checkpoints, compared when it is
        evaluated)."""
        h = hashlib.sha256(str(self.feature_dim).encode())
        for im in self.images:
            h.update(json.dumps([im["split"], im["filename"],
                                 [s["tokens"] for s in im["sentences"]]]).encode())
        return h.hexdigest()[:12]

    def require_features(self, dim: int | None = None, model: str = "the model") -> None:
        """Raise DataError unless image features were found (training needs them) and, when
        `dim` is given, have that dimension (a checkpoint trained on other features)."""
        if self.feats is None:
            raise DataError(f"{self.root}: no image features (expected vgg_feats.mat (D, N) or "
                            f"feats.npy (N, D)); this folder holds captions only")
        if dim is not None and self.feature_dim != dim:
            raise DataError(f"{self.features_file}: features of dimension {self.feature_dim}, "
                            f"but {model} reads features of dimension {dim} (it was trained "
                            f"on other features)")


def _split_name(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def load_dataset(path, regions="auto", features="auto") -> Dataset:
    """Read a dataset folder (or its captions JSON file) and check it.

    features / regions: "auto" loads the file when it is there, True requires it (DataError if
    absent), False skips it. Without region features each image has one region, its feature
    vector.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    with reading(path, "data set" if path.is_dir() else "captions file"):
        return _load_dataset(path, regions, features)


def _load_dataset(path: Path, regions, features) -> Dataset:
    if path.is_file():
        root, captions_file = path.parent, path
    else:
        root, captions_file = path, _find_captions(path)
    if captions_file.name == FLICKR8K_TOKENS:
        name, images = "flickr8k", read_flickr8k_text(root)
    else:
        name, images = read_karpathy_json(captions_file)
    _check_images(images, captions_file)
    ds = Dataset(name=name, root=root, images=images, captions_file=captions_file)

    feats_file = find_features(root) if features else None
    if feats_file is not None or (regions and (root / REGIONS_NAME).is_file()):
        imgids = sorted(im["imgid"] for im in images)
        if imgids != list(range(len(images))):      # the captions' fault, not the features'
            raise DataError(f"{captions_file}: the imgids are not 0..{len(images) - 1} (an "
                            f"image's imgid is its column of the features)")
    if features is True and feats_file is None:
        raise DataError(f"{root / 'vgg_feats.mat'}: feature file not found")
    if feats_file is not None:
        feats = read_features(feats_file, len(images))
        ds.feats, ds.features_file = _in_imgid_order(feats, images, feats_file), feats_file

    regions_file = root / REGIONS_NAME
    if regions is True and not regions_file.is_file():
        raise DataError(f"{regions_file}: region file not found")
    if regions and regions_file.is_file():
        rf, boxes, n = read_regions(regions_file, len(images), ds.feature_dim)
        ds.region_feats = _in_imgid_order(rf, images, regions_file)
        ds.boxes = _in_imgid_order(boxes, images, regions_file)
        ds.n_regions = _in_imgid_order(n, images, regions_file)
        ds.regions_file = regions_file
    elif ds.feats is not None:
        ds.region_feats = ds.feats[:, None, :]  # a view: one region per image, the whole image
    return ds


def _find_captions(root: Path) -> Path:
    if (root / "dataset.json").is_file():
        return root / "dataset.json"
    named = sorted(root.glob("dataset_*.json"))
    if len(named) > 1:
        raise DataError(f"{root}: several caption files ({', '.join(p.name for p in named)}); "
                        f"pass the path of the one to use")
    if named:
        return named[0]
    if (root / FLICKR8K_TOKENS).is_file():
        return root / FLICKR8K_TOKENS
    raise DataError(f"{root / 'dataset.json'}: caption file not found (looked for dataset.json, "
                    f"dataset_<name>.json and {FLICKR8K_TOKENS})")


def read_karpathy_json(path: Path):
    """(name, images) from a Karpathy-layout JSON file; `tokens` computed from `raw` if absent.
    Other keys of an image (the shapes world's `objects`, say) are kept."""
    d = load_json(path, "captions file")
    with reading(path, "captions file"):
        return _karpathy_images(d, path)


def _karpathy_images(d, path: Path):
    if not isinstance(d, dict) or not isinstance(d.get("images"), list):
        raise DataError(f"{path}: expected an object with an `images` list (Karpathy layout)")
    images, next_sentid = [], 0
    for k, im in enumerate(d["images"]):
        try:
            sents = []
            for s in im["sentences"]:
                raw = s.get("raw", "")
                tokens = s["tokens"] if "tokens" in s else tokenize(raw)
                if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
                    raise DataError(f"{path}: image {k}: `tokens` must be a list of strings "
                                    f"(got {str(tokens)[:60]!r})")
                tokens = list(tokens)
                where = f"{path}: image {k}"
                sentid = json_field(s, "sentid", int, where, low=0, default=next_sentid)
                if not isinstance(raw, str):
                    raise DataError(f"{where}: `raw` must be a string, got {str(raw)[:40]!r}")
                next_sentid = sentid + 1
                sents.append({"tokens": tokens, "raw": raw, "sentid": sentid})
            extra = {key: v for key, v in im.items() if key not in ("sentences", "sentids")}
            images.append({**extra, "filename": json_field(im, "filename", str, f"{path}: image {k}"),
                           "imgid": json_field(im, "imgid", int, f"{path}: image {k}", low=0,
                                          default=k),
                           "split": _SPLIT_ALIASES.get(im["split"], im["split"]),
                           "sentences": sents})
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise DataError(f"{path}: image {k}: missing or malformed field "
                            f"({type(e).__name__}: {e})") from None
    name = d.get("dataset") or (path.stem[len("dataset_"):] if path.stem.startswith("dataset_")
                                else path.parent.name)
    return str(name), images


def read_flickr8k_text(root: Path) -> list:
    """Images from the original Flickr8K release, in the order of the three split files (train,
    dev, test: the order of the paper's `dataset_flickr8k.json`). Names in the token file that
    belong to no split (the release has one: `2258277193_586949ec62.jpg.1`) are ignored."""
    token_file = root / FLICKR8K_TOKENS
    captions: dict[str, dict[int, tuple[str, int]]] = {}
    with reading(token_file, "caption file"):
        lines = token_file.read_bytes().decode("utf-8").splitlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        key, tab, caption = line.partition("\t")
        name, hash_, number = key.rpartition("#")
        if not tab or not hash_ or not number.isdigit():
            raise DataError(f"{token_file}:{lineno}: expected `<image>#<n><TAB><caption>`")
        if len(number) > 6:
            raise DataError(f"{token_file}:{lineno}: caption number {number[:20]}... is too long")
        if int(number) in captions.setdefault(name, {}):
            raise DataError(f"{token_file}:{lineno}: {name}#{number} repeats the caption of "
                            f"line {captions[name][int(number)][1]}")
        captions[name][int(number)] = (caption.strip(), lineno)
    images, sentid, split_of = [], 0, {}
    for split, fname in FLICKR8K_SPLITS.items():
        split_file = root / fname
        if not split_file.is_file():
            raise DataError(f"{split_file}: split file not found")
        with reading(split_file, "split file"):
            names = split_file.read_bytes().decode("utf-8").split()
        for name in names:
            if name in split_of:       # listed twice, or in two splits: a test leak
                raise DataError(f"{split_file}: image {name} is listed again (already in "
                                f"{FLICKR8K_SPLITS[split_of[name]]})")
            split_of[name] = split
            if name not in captions:
                raise DataError(f"{split_file}: image {name} has no captions in {token_file.name}")
            sents = []
            for n in sorted(captions[name]):
                raw, lineno = captions[name][n]
                tokens = tokenize(raw)
                if not tokens:
                    raise DataError(f"{token_file}:{lineno}: empty caption for {name}#{n}")
                sents.append({"tokens": tokens, "raw": raw, "sentid": sentid})
                sentid += 1
            images.append({"filename": name, "imgid": len(images), "split": split,
                           "sentences": sents})
    return images


def _check_images(images: list, path: Path) -> None:
    if not images:
        raise DataError(f"{path}: no images")
    seen = {}
    for im in images:           # the ground truth and the retrieval ranks refer to sentids
        for s in im["sentences"]:
            if s["sentid"] in seen:
                raise DataError(f"{path}: sentid {s['sentid']} is used twice (images "
                                f"{seen[s['sentid']]} and {im['imgid']})")
            seen[s["sentid"]] = im["imgid"]
    for im in images:
        if im["split"] not in SPLITS:
            raise DataError(f"{path}: image {im['imgid']} ({im['filename']}) has split "
                            f"{im['split']!r}, expected one of {', '.join(SPLITS)}")
        if not im["sentences"]:
            raise DataError(f"{path}: image {im['imgid']} ({im['filename']}) has no captions")
        for s in im["sentences"]:
            if not s["tokens"]:
                raise DataError(f"{path}: empty caption (image {im['imgid']} {im['filename']}, "
                                f"sentid {s['sentid']}, raw {s['raw']!r})")
            if len(s["tokens"]) > MAX_LEN:     # the RNNs would run (and overflow) for each
                raise DataError(f"{path}: a caption of {len(s['tokens'])} tokens (image "
                                f"{im['imgid']} {im['filename']}, sentid {s['sentid']}); captions "
                                f"are at most {MAX_LEN} tokens")
    counts = {s: 0 for s in SPLITS}
    for im in images:
        counts[im["split"]] += 1
    for split, n in counts.items():
        if n == 0:
            raise DataError(f"{path}: split '{split}' has no images")


def _in_imgid_order(a: np.ndarray, images: list, path: Path) -> np.ndarray:
    """Rows of `a` are indexed by imgid (the paper's column = imgid); return them in the order
    of `images` (no copy in the usual case where imgid = position)."""
    imgids = np.array([im["imgid"] for im in images])
    if np.array_equal(imgids, np.arange(len(images))):
        return a
    if not np.array_equal(np.sort(imgids), np.arange(len(images))):
        raise DataError(f"{path}: rows are indexed by imgid, but the imgids are not 0..N-1")
    return np.asarray(a)[imgids]
