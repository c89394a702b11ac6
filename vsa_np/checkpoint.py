"""Checkpoints: a `.npz` of parameters and a readable `.json` of everything else, never pickle.

A checkpoint at stem `run/last` is two files:

    run/last.npz    the parameters under their own names, the optimiser state under `optim/<key>`,
                    fixed arrays that are not trained (e.g. the alignment model's feature
                    whitening) under `buffer/<name>`, and a copy of the metadata JSON under
                    `__meta__`
    run/last.json   the metadata (config, vocabulary, step, epoch, metrics, ...), indented

Why the copy: two files cannot be replaced in one atomic operation, so a crash between the two
renames would otherwise leave new parameters beside old metadata. Saving therefore goes

    1. write both files to temporary names in the same folder, flush and fsync them;
    2. os.replace the `.npz` (atomic on POSIX and Windows: readers see the old or the new file);
    3. os.replace the `.json`; fsync the folder.

A crash before 2 leaves the previous checkpoint untouched (and a stray `.tmp` file). A crash
between 2 and 3 leaves the new `.npz`, which is complete on its own; `load_checkpoint` takes the
metadata from the `.npz`, and notices (with a warning) that the `.json` beside it is one save
behind. The `.npz` is the source of truth; the `.json` is for people and tools to read.

Loading returns host NumPy arrays (`allow_pickle=False`); the model moves them to its device.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy

from vsa_np.backend import to_host
from vsa_np.errors import DataError
from vsa_np.safe_read import field as json_field
from vsa_np.safe_read import is_kind, parse_json, reading

META_KEY = "__meta__"
OPTIM_PREFIX = "optim/"
BUFFER_PREFIX = "buffer/"


def checkpoint_paths(path) -> tuple[Path, Path]:
    """`run/last`, `run/last.npz` or `run/last.json` -> (run/last.npz, run/last.json)."""
    p = Path(path)
    if p.suffix in (".npz", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".npz"), p.with_name(p.name + ".json")


def _json_default(o):
    """Let metadata hold NumPy scalars/arrays, dataclasses and paths."""
    if isinstance(o, numpy.generic):
        return o.item()
    if isinstance(o, numpy.ndarray):
        return o.tolist()
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"checkpoint metadata: {type(o).__name__} is not JSON serialisable")


def named(e: OSError, path) -> OSError:
    """`e` with `path` as its file name when it has none (a full disk's write names no file)."""
    return e if e.filename else OSError(e.errno, e.strerror or str(e), str(path))


def _write_temp(folder: Path, suffix: str, write, final: Path) -> Path:
    """Write a temporary file in `folder` with write(fileobj), flushed and fsynced to disk;
    an OSError names `final`, the file it is written for."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=".ckpt-", suffix=suffix + ".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        os.unlink(name)
        raise named(e, final) from None
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _fsync_folder(folder: Path) -> None:
    """Make the renames themselves durable (POSIX); not possible (nor needed) on Windows."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(path, params: dict, meta: dict, optim_state: dict | None = None,
                    buffers: dict | None = None) -> tuple[Path, Path]:
    """Atomically write `<path>.npz` and `<path>.json` (see the module docstring for the order).

    params: name -> array (host or device); optim_state: `optimizer.state_dict()` or None;
    buffers: name -> array, fixed arrays too large for the JSON (read back by `split_buffers`);
    meta: JSON-serialisable dict (NumPy scalars and dataclasses are converted).
    Returns the two paths. The folder is created if needed.
    """
    npz_path, json_path = checkpoint_paths(path)
    folder = npz_path.parent
    folder.mkdir(parents=True, exist_ok=True)

    arrays = {}
    for name, value in params.items():
        if name == META_KEY or name.startswith((OPTIM_PREFIX, BUFFER_PREFIX)):
            raise ValueError(f"parameter name {name!r} clashes with the checkpoint's own keys")
        arrays[name] = to_host(value)
    for key, value in (optim_state or {}).items():
        arrays[OPTIM_PREFIX + key] = to_host(value)
    for key, value in (buffers or {}).items():
        arrays[BUFFER_PREFIX + key] = to_host(value)
    text = json.dumps(meta, indent=1, default=_json_default, allow_nan=True) + "\n"
    arrays[META_KEY] = numpy.array(text)

    tmp_npz = _write_temp(folder, ".npz", lambda f: numpy.savez(f, **arrays), npz_path)
    try:
        tmp_json = _write_temp(folder, ".json", lambda f: f.write(text.encode("utf-8")),
                               json_path)
    except BaseException:
        tmp_npz.unlink(missing_ok=True)
        raise
    try:
        os.replace(tmp_npz, npz_path)      # the commit point: the .npz alone is a checkpoint
        os.replace(tmp_json, json_path)
    finally:
        tmp_npz.unlink(missing_ok=True)     # left only if a replace failed
        tmp_json.unlink(missing_ok=True)
    _fsync_folder(folder)
    return npz_path, json_path


def _open_npz(npz_path: Path):
    if not npz_path.is_file():
        raise DataError(f"{npz_path}: checkpoint not found")
    try:
        z = numpy.load(npz_path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{npz_path}: not a readable checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(z, numpy.lib.npyio.NpzFile):
        raise DataError(f"{npz_path}: not a checkpoint (a single .npy array, not an .npz)")
    return z


def _read_npz(npz_path: Path, names=None) -> tuple[dict, str]:
    """Read `names` (default: all) and the metadata text from a checkpoint's .npz."""
    with reading(npz_path, "checkpoint"), _open_npz(npz_path) as z:
        if META_KEY not in z.files:
            raise DataError(f"{npz_path}: not a vsa-np checkpoint (no {META_KEY} entry)")
        try:
            text = str(z[META_KEY])
            arrays = {k: z[k] for k in (z.files if names is None else names) if k != META_KEY}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
            raise DataError(f"{npz_path}: not a readable checkpoint "
                            f"({type(e).__name__}: {e})") from e
    return arrays, text


# The metadata fields every run folder relies on, with their types (None: may be null); checked
# whenever a checkpoint is read, so that no reader meets a string where it counts steps (the
# models' own fields are checked by `trained.load_trained`).
META_FIELDS = {"config": dict, "train_state": dict, "metrics": (dict, None)}
STATE_FIELDS = {"step": (int, 0), "epoch": (int, 0), "batch": (int, 0), "best": (float, None),
                "best_step": (int, 0), "train_time": (float, 0)}


def _parse_meta(npz_path: Path, text: str) -> dict:
    with reading(npz_path, "checkpoint's metadata"):
        meta = parse_json(text, allow_nan=True)
    where = f"{npz_path}: metadata"
    if not isinstance(meta, dict):
        raise DataError(f"{where}: expected a JSON object, found {type(meta).__name__}")
    for key, kind in META_FIELDS.items():
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if key in meta and not any(meta[key] is None if k is None else is_kind(meta[key], k)
                                   for k in kinds):
            raise DataError(f"{where}: field `{key}` has the wrong type "
                            f"({type(meta[key]).__name__})")
    state = meta.get("train_state")
    if state is not None:
        for key, (kind, low) in STATE_FIELDS.items():
            if key in ("step", "epoch", "batch"):
                json_field(state, key, kind, f"{where} train_state", low=low)
            elif state.get(key) is not None and not (key == "best" and state[key] != state[key]):
                json_field(state, key, kind, f"{where} train_state", low=low)
    return meta


def load_meta(path) -> dict:
    """Only the metadata of a checkpoint (from its .npz, without reading the parameters)."""
    npz_path, _ = checkpoint_paths(path)
    return _parse_meta(npz_path, _read_npz(npz_path, names=())[1])


def load_checkpoint(path) -> tuple[dict, dict, dict | None]:
    """Read a checkpoint given its `.npz`, its `.json` or its stem.

    Returns (params, meta, optim_state): host NumPy arrays by name, the metadata dict, and the
    optimiser state dict (None when none was saved). Raises DataError naming the file when it is
    missing or unreadable.
    """
    npz_path, json_path = checkpoint_paths(path)
    arrays, text = _read_npz(npz_path)
    meta = _parse_meta(npz_path, text)

    if json_path.is_file():
        try:
            beside = json_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            beside = None
        if beside != text:
            warnings.warn(f"{json_path} does not match {npz_path} (a save was interrupted?); "
                          f"using the metadata stored in the .npz", stacklevel=2)

    params = {k: v for k, v in arrays.items() if not k.startswith(OPTIM_PREFIX)}
    optim = {k[len(OPTIM_PREFIX):]: v for k, v in arrays.items() if k.startswith(OPTIM_PREFIX)}
    return params, meta, (optim or None)


def require_float(arrays: dict, path, skip=("kind", "t")) -> None:
    """DataError unless every array of a model's checkpoint (parameters, buffers, optimiser
    slots) is real floating point: an int32 weight was truncated somewhere, a complex one would
    lose its imaginary part. `skip`: the optimiser's own scalars."""
    for name, a in arrays.items():
        if name not in skip and numpy.asarray(a).dtype.kind != "f":
            raise DataError(f"{checkpoint_paths(path)[0]}: `{name}` has dtype "
                            f"{numpy.asarray(a).dtype}, expected floating point (written by "
                            f"another program?)")


def split_buffers(params: dict) -> dict:
    """Take the `buffer/<name>` arrays out of a loaded `params` dict (in place); return them
    as {name: array}. What is left is the trained parameters alone."""
    names = [k for k in params if k.startswith(BUFFER_PREFIX)]
    return {k[len(BUFFER_PREFIX):]: params.pop(k) for k in names}


def require_finite(params: dict, path) -> None:
    """DataError naming the checkpoint's file and the first parameter holding NaN or inf (a
    model with one would decode nonsense, or index out of range, instead of failing)."""
    for name, value in params.items():
        if numpy.issubdtype(numpy.asarray(value).dtype, numpy.floating) and \
                not numpy.isfinite(value).all():
            raise DataError(f"{checkpoint_paths(path)[0]}: parameter {name} holds NaN or inf "
                            f"(saved from a diverged run?)")


def checkpoint_stem(path) -> Path:
    """A run folder -> its `best` checkpoint; a checkpoint's stem, `.npz` or `.json` -> itself.
    (What `eval-align`, `align`, `eval-gen` and `caption` accept as CKPT.)"""
    p = Path(path)
    return p / "best" if p.is_dir() else p
