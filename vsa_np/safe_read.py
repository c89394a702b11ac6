"""One safe way to read every input: whatever goes wrong while a named file is read or parsed
becomes one `DataError` naming the file (exit code 2 from the CLI), never a traceback.

    with reading(path, "checkpoint"):        # any exception inside -> "PATH: not a readable ..."
        ...
    d = load_json(path, "captions file")     # strict: UTF-8, no NaN/Infinity, no huge ints
    n = field(d, "step", int, path, low=0)   # a JSON field of the expected type and range

`reading` blocks nest: the innermost names the file; a `DataError` (or any `UserError`) raised
inside passes through unchanged, and Ctrl-C is never swallowed.
"""
from __future__ import annotations

import json
import math
from contextlib import contextmanager
from pathlib import Path

from vsa_np.errors import DataError, UserError

MAX_INT_DIGITS = 18          # integers in our files are counts and ids: 10**18 is already absurd
REQUIRED = object()


def _describe(e: BaseException) -> str:
    text = " ".join(str(e).split()) or "no details"
    if isinstance(e, json.JSONDecodeError):
        return f"not valid JSON: {text[:160]}"
    if isinstance(e, RecursionError):
        text = "nested too deeply"
    elif isinstance(e, MemoryError):
        text = "too large to read into memory"
    return f"{type(e).__name__}: {text[:160]}"


@contextmanager
def reading(path, what: str = "file"):
    """Turn any exception raised in the block into DataError("PATH: not a readable WHAT (...)")."""
    try:
        yield
    except UserError:
        raise
    except Exception as e:          # the one place that turns any failure into one line
        problem = "a folder, not a file" if isinstance(e, IsADirectoryError) else _describe(e)
        raise DataError(f"{path}: not a readable {what} ({problem})") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"the number {text[:20]}... is too large")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is too large")
    return value


def parse_json(text: str, allow_nan: bool = False):
    """json.loads, strict about numbers: no NaN/Infinity (unless allow_nan: our checkpoints'
    metrics may hold them), no integer of more than MAX_INT_DIGITS digits, no float overflow."""
    if allow_nan:
        return json.loads(text, parse_int=_bounded_int)
    return json.loads(text, parse_constant=_no_constant, parse_int=_bounded_int,
                      parse_float=_finite_float)


def load_json(path, what: str = "JSON file", allow_nan: bool = False):
    """The parsed content of a UTF-8 JSON file; DataError naming it on any problem."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file (the {what})")
    with reading(path, what):
        return parse_json(path.read_bytes().decode("utf-8"), allow_nan)


_KINDS = {int: "a whole number", float: "a number", str: "a string", list: "a list",
          dict: "an object", bool: "true or false"}


def is_kind(value, kind) -> bool:
    """isinstance, where bool is not a number and an int is a float."""
    if kind in (int, float) and isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, kind)


def field(d, key, kind, where, low=None, high=None, default=REQUIRED):
    """d[key], checked to be of `kind` (int, float, str, list, dict, bool) and in [low, high];
    `default` when absent (DataError naming `where` and the key when required)."""
    if not isinstance(d, dict):
        raise DataError(f"{where}: expected a JSON object, found {type(d).__name__}")
    if key not in d:
        if default is REQUIRED:
            raise DataError(f"{where}: field `{key}` is missing")
        return default
    value = d[key]
    if value is None and default is None:
        return None
    ok = is_kind(value, kind) and (low is None or value >= low) and (high is None or
                                                                    value <= high)
    if not ok:
        rng = "" if low is None and high is None else \
            f" in [{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise DataError(f"{where}: field `{key}` must be {_KINDS.get(kind, kind)}{rng}, "
                        f"got {str(value)[:40]!r}")
    return value
