"""Readers (and deterministic writers) for image features and region features.

Formats (paper, Sec. 3.1.1 and the released data):
- `vgg_feats.mat`: MATLAB v5, variable `feats`, float32, shape (D, N), one image per COLUMN,
  column = `imgid`. D is read from the file (VGG fc7 is 4096, ResNet pools give 2048, ...).
- `*.npy` / `*.npz`: (N, D), one image per row. `.npy` files are memory-mapped (no copy).
- `regions.npz`: `feats` (N, R, D) float32, `boxes` (N, R, 4) pixel x0, y0, x1, y1 (-1 for
  padding), `n_regions` (N,) valid regions per image; region 0 is the whole image (the paper uses
  the 19 best RCNN detections plus the whole image, R = 20). Members stored uncompressed are
  memory-mapped straight out of the zip file, so a multi-gigabyte region file is not read.

Every problem raises `DataError` naming the file and what is wrong with it.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import scipy.io

from vsa_np.errors import DataError
from vsa_np.safe_read import reading

FEATURE_NAMES = ("vgg_feats.mat", "vgg_feats.npy", "vgg_feats.npz", "feats.npy", "feats.npz")
REGIONS_NAME = "regions.npz"


def find_features(root: Path) -> Path | None:
    """The first of FEATURE_NAMES present in `root`, or None."""
    for name in FEATURE_NAMES:
        if (root / name).is_file():
            return root / name
    return None


def check_finite(a: np.ndarray, path: Path, what: str = "features", chunk: int = 1024) -> None:
    """Raise DataError if `a` holds NaN or inf (checked in row chunks: memmaps stay on disk)."""
    for s in range(0, a.shape[0], chunk):
        block = np.asarray(a[s:s + chunk])
        if not np.isfinite(block).all():
            bad = [int(i) for i in np.argwhere(~np.isfinite(block))[0]]
            bad[0] += s
            raise DataError(f"{path}: {what} contain NaN or inf (first at index {tuple(bad)})")


def _float32(a: np.ndarray, path: Path, what: str) -> np.ndarray:
    if not np.issubdtype(a.dtype, np.floating):
        raise DataError(f"{path}: {what} have dtype {a.dtype}, expected floating point")
    return a if a.dtype == np.float32 else a.astype(np.float32)


def read_features(path: str | Path, n_images: int | None = None) -> np.ndarray:
    """Image features as host float32 (N, D) (a memmap for `.npy`), checked for NaN/inf and,
    if `n_images` is given, for one row per image."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: feature file not found")
    with reading(path, "feature file"):
        return _read_features(path, n_images)


def _read_features(path: Path, n_images: int | None) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".mat":
        feats = _read_mat_columns(path)
    elif suffix == ".npy":
        feats = _load_npy(path)
    elif suffix == ".npz":
        with _open_npz(path) as z:
            key = "feats" if "feats" in z.files else (z.files[0] if len(z.files) == 1 else None)
            if key is None:
                raise DataError(f"{path}: no `feats` array (holds {', '.join(z.files) or 'nothing'})")
            feats = z[key]
    else:
        raise DataError(f"{path}: unknown feature format {suffix!r} (use .mat, .npy or .npz)")
    if feats.ndim != 2 or 0 in feats.shape:
        raise DataError(f"{path}: features have shape {feats.shape}, expected 2-D with at least "
                        f"one image and one dimension")
    feats = _float32(feats, path, "features")
    if n_images is not None and feats.shape[0] != n_images:
        hint = ""
        if suffix == ".mat" and feats.shape[1] == n_images:
            hint = " (it looks transposed: store one image per COLUMN, shape (D, N))"
        raise DataError(f"{path}: {feats.shape[0]} feature vectors for {n_images} images"
                        f"{hint}")
    check_finite(feats, path)
    return feats


def read_named_features(folder: str | Path, list_name: str = "tasks.txt",
                        features_name: str = "vgg_feats.mat") -> tuple[list[str], np.ndarray]:
    """The layout of the paper's `neuraltalk` examples: `tasks.txt` names one image a line and
    `vgg_feats.mat` holds their features, column i = line i. Returns (names, (N, D) features)."""
    folder = Path(folder)
    list_file = folder / list_name
    if not list_file.is_file():
        raise DataError(f"{list_file}: image list not found")
    with reading(list_file, "image list"):
        text = list_file.read_bytes().decode("utf-8")
    names = [line.strip() for line in text.splitlines() if line.strip()]
    return names, read_features(folder / features_name, len(names))


def _read_mat_columns(path: Path) -> np.ndarray:
    """`feats` (D, N) from a MATLAB file -> (N, D). MATLAB stores columns contiguously, so the
    transpose of what scipy returns is C-contiguous: no copy."""
    try:
        m = scipy.io.loadmat(str(path), variable_names=["feats"])
    except NotImplementedError:
        raise DataError(f"{path}: MATLAB v7.3 (HDF5) file; save it with -v7 or convert the "
                        f"features to .npy (N, D)") from None
    except Exception as e:
        raise DataError(f"{path}: not a readable MATLAB file ({type(e).__name__}: {e})") from None
    if "feats" not in m:
        names = sorted(k for k in scipy.io.whosmat(str(path)))
        found = ", ".join(n for n, _, _ in names) or "no variables"
        raise DataError(f"{path}: no variable `feats` in the MATLAB file (found: {found})")
    feats = m["feats"]
    if feats.ndim != 2:
        raise DataError(f"{path}: `feats` has shape {feats.shape}, expected (D, N)")
    return feats.T


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:
        raise DataError(f"{path}: not a readable .npy file ({type(e).__name__}: {e})") from None


class _open_npz:
    """`np.load` of a .npz as a context manager, with errors turned into DataError."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        try:
            self.z = np.load(self.path, allow_pickle=False)
        except Exception as e:
            raise DataError(f"{self.path}: not a readable .npz file "
                            f"({type(e).__name__}: {e})") from None
        return self.z

    def __exit__(self, *exc):
        self.z.close()


def npz_member(path: Path, name: str) -> np.ndarray:
    """Array `name` of an .npz: memory-mapped when stored uncompressed (its CRC checked by one
    streaming read), else read. DataError naming the file on any problem."""
    with reading(path, f"file's `{name}`"):
        return _npz_member(path, name)


def _check_crc(zf: zipfile.ZipFile, info: zipfile.ZipInfo, chunk: int = 1 << 24) -> None:
    """Read a member to its end: zipfile raises BadZipFile when its CRC does not match."""
    with zf.open(info) as f:
        while f.read(chunk):
            pass


def _npz_member(path: Path, name: str) -> np.ndarray:
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name + ".npy")
        if info.compress_type == zipfile.ZIP_STORED:
            with open(path, "rb") as f:
                # local file header: 30 bytes, then the name and the extra field
                f.seek(info.header_offset + 26)
                n_name, n_extra = np.frombuffer(f.read(4), "<u2")
                f.seek(info.header_offset + 30 + int(n_name) + int(n_extra))
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(f)
                offset = f.tell()
            if dtype.hasobject:
                raise DataError(f"{path}: `{name}` holds Python objects")
            stored = info.file_size - (offset - _data_start(path, info))
            if int(np.prod(shape, dtype=object)) * dtype.itemsize != stored:
                raise DataError(f"{path}: `{name}` holds {stored} bytes of data, its header "
                                f"says {shape} {dtype} (a damaged or truncated file)")
            _check_crc(zf, info)
            if int(np.prod(shape)) == 0:
                return np.zeros(shape, dtype)
            return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                             order="F" if fortran else "C")
        try:
            with zf.open(info) as f:
                return np.lib.format.read_array(io.BytesIO(f.read()), allow_pickle=False)
        except ValueError as e:        # an object array ("cannot be loaded"), a bad header
            raise DataError(f"{path}: `{name}` cannot be read ({e})") from None
        except (OSError, EOFError, zipfile.BadZipFile) as e:
            raise DataError(f"{path}: `{name}` is damaged ({type(e).__name__}: {e})") from None


def _data_start(path: Path, info: zipfile.ZipInfo) -> int:
    """Where a member's bytes start in the zip file (after its local header)."""
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        n_name, n_extra = np.frombuffer(f.read(4), "<u2")
    return info.header_offset + 30 + int(n_name) + int(n_extra)


def real_numbers(a: np.ndarray, path: Path, what: str) -> np.ndarray:
    """`a` unless its dtype is not real numbers (strings, complex, booleans, objects)."""
    if a.dtype.kind not in "iuf":
        raise DataError(f"{path}: {what} have dtype {a.dtype}, expected real numbers")
    return a


def read_regions(path: str | Path, n_images: int, feature_dim: int | None = None):
    """`regions.npz` -> (feats (N, R, D) float32, boxes (N, R, 4) float32, n_regions (N,) int64),
    checked for shapes, counts and NaN/inf."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: region file not found")
    with reading(path, "region file"):
        return _read_regions(path, n_images, feature_dim)


def _read_regions(path: Path, n_images: int, feature_dim: int | None):
    try:
        with zipfile.ZipFile(path) as zf:
            members = {n[:-4] for n in zf.namelist() if n.endswith(".npy")}
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{path}: not a readable .npz file ({e})") from None
    missing = [k for k in ("feats", "boxes", "n_regions") if k not in members]
    if missing:
        raise DataError(f"{path}: missing array(s) {', '.join(missing)} "
                        f"(holds {', '.join(sorted(members)) or 'nothing'})")
    feats = _float32(npz_member(path, "feats"), path, "region features")
    boxes = real_numbers(npz_member(path, "boxes"), path, "boxes").astype(np.float32)
    n_regions = np.asarray(npz_member(path, "n_regions"))
    if not np.issubdtype(n_regions.dtype, np.integer):    # 2.5 regions would be truncated
        raise DataError(f"{path}: `n_regions` has dtype {n_regions.dtype}, expected integers")
    n_regions = n_regions.astype(np.int64)
    if feats.ndim != 3:
        raise DataError(f"{path}: `feats` has shape {feats.shape}, expected (N, R, D)")
    N, R, D = feats.shape
    if R == 0 or D == 0:
        raise DataError(f"{path}: `feats` has shape {feats.shape}: no regions or no dimensions")
    if N != n_images:
        raise DataError(f"{path}: region features for {N} images, the captions have {n_images}")
    if boxes.shape != (N, R, 4):
        raise DataError(f"{path}: `boxes` has shape {boxes.shape}, expected {(N, R, 4)}")
    if n_regions.shape != (N,) or n_regions.min(initial=1) < 1 or n_regions.max(initial=1) > R:
        raise DataError(f"{path}: `n_regions` must be (N,) = ({N},) with values in 1..{R}")
    if feature_dim is not None and D != feature_dim:
        raise DataError(f"{path}: region features have dimension {D}, the image features "
                        f"{feature_dim}")
    check_finite(feats, path, "region features")
    check_finite(boxes, path, "boxes")
    return feats, boxes, n_regions


# ---------------------------------------------------------------- deterministic writers
# savemat stamps the creation time into the header and np.savez the time into the zip entries;
# the shapes world promises "same seed, same bytes", so both are written with fixed stamps.

MAT_HEADER = b"MATLAB 5.0 MAT-file, written by vsa-np"


def write_mat_columns(path: str | Path, feats: np.ndarray) -> None:
    """(N, D) float32 -> MATLAB v5 `feats` (D, N), one image per column, fixed header."""
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"feats": np.ascontiguousarray(feats, np.float32).T})
    data = bytearray(buf.getvalue())
    data[:116] = MAT_HEADER.ljust(116)  # the descriptive text: everything before the offsets
    Path(path).write_bytes(bytes(data))


def write_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """Uncompressed .npz (memory-mappable by `npz_member`) with fixed zip timestamps."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, a in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)


def feature_rows(feats, images, n_regions=None, block: int = 256):
    """The CNN features of `images` as float64 (rows, D) arrays, a block of images at a time (the
    feature file may be a memory map, so it is never read whole). feats: (N, D) one vector per
    image, or (N, R, D) regions with n_regions (N,) the valid ones of each image."""
    for i in range(0, len(images), block):
        idx = images[i:i + block]
        if n_regions is None:
            yield np.asarray(feats[idx], dtype=np.float64)
        else:
            n = n_regions[idx]
            x = np.asarray(feats[idx, :int(n.max())], dtype=np.float64)
            yield x[np.arange(x.shape[1]) < n[:, None]]


def mean_feature(feats, images, n_regions=None) -> np.ndarray:
    """(D,) float64: the mean of `feature_rows(feats, images, n_regions)`."""
    total, count = np.zeros(feats.shape[-1]), 0
    for x in feature_rows(feats, images, n_regions):
        total += x.sum(axis=0)
        count += len(x)
    return total / max(count, 1)

