"""The one place that picks the array module: CuPy on a GPU, NumPy otherwise.

Model code does `from vsa_np.backend import xp` and writes `xp.dot`, `xp.maximum`, ... so the
same lines run on either device. The choice is made once, at import, from the environment:

    VSA_NP_DEVICE=auto   (default) CuPy when it imports and sees a GPU, else NumPy
    VSA_NP_DEVICE=cpu    NumPy, always
    VSA_NP_DEVICE=gpu    CuPy, or a BackendError saying why not (never a silent fall-back)

Data loading and metrics work on the host with plain NumPy; `to_device` / `to_host` move arrays
across at the boundary.
"""
from __future__ import annotations

import importlib
import os

import numpy

from vsa_np.errors import BackendError  # noqa: F401  (raised here, caught by the CLI)

ENV_VAR = "VSA_NP_DEVICE"
CHOICES = ("auto", "cpu", "gpu")

# float32 for training (speed, memory); float64 for gradient checks (centered differences
# need the extra precision to reach relative errors of 1e-7 and below).
TRAIN_DTYPE = numpy.float32
CHECK_DTYPE = numpy.float64


def _cupy_with_gpu(importer):
    """Return (cupy module, None) when CuPy imports and sees a GPU, else (None, reason)."""
    try:
        cupy = importer("cupy")
    except Exception as e:  # ImportError, or a CUDA library missing at import time
        return None, f"CuPy is not importable ({type(e).__name__}: {e})"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        return None, f"CuPy imports but finds no CUDA device ({type(e).__name__}: {e})"
    if n < 1:
        return None, "CuPy imports but finds no CUDA device"
    return cupy, None


def resolve(device: str | None = None, importer=importlib.import_module):
    """Return the array module for `device` ('auto', 'cpu' or 'gpu'; None reads $VSA_NP_DEVICE).

    `importer` is injectable so tests can pretend CuPy is absent.
    """
    if device is None:
        device = os.environ.get(ENV_VAR, "auto")
    device = device.strip().lower()
    if device not in CHOICES:
        raise BackendError(f"{ENV_VAR}={device!r}: expected one of {', '.join(CHOICES)}")
    if device == "cpu":
        return numpy
    cupy, reason = _cupy_with_gpu(importer)
    if cupy is not None:
        return cupy
    if device == "gpu":
        raise BackendError(f"{ENV_VAR}=gpu was asked for, but {reason}. "
                           f"Install the 'gpu' extra on a machine with a CUDA GPU, "
                           f"or set {ENV_VAR}=cpu.")
    return numpy


xp = resolve()
on_gpu = xp is not numpy
device_name = "gpu" if on_gpu else "cpu"


def to_device(a, dtype=None):
    """Host (or device) array -> an `xp` array, optionally cast."""
    return xp.asarray(a, dtype=dtype)


def to_host(a):
    """`xp` array (or scalar) -> NumPy array (a no-op on the CPU)."""
    if on_gpu and hasattr(a, "get"):
        return a.get()
    return numpy.asarray(a)


def to_float(a) -> float:
    """A 0-d `xp` array -> Python float (one device-to-host copy on the GPU)."""
    return float(to_host(a))


def seed(s: int) -> None:
    """Seed the legacy global generators of both NumPy and (if used) CuPy."""
    numpy.random.seed(s)
    if on_gpu:
        xp.random.seed(s)


def rng(s: int | None = None):
    """A seeded generator that draws `xp` arrays: `rng(0).standard_normal((N, D))`."""
    return xp.random.default_rng(s)


def float_dtype(check: bool = False):
    """float64 for gradient checks, float32 for training."""
    return CHECK_DTYPE if check else TRAIN_DTYPE


def synchronize() -> None:
    """Wait for queued GPU work (for honest timings); a no-op on the CPU."""
    if on_gpu:
        xp.cuda.Stream.null.synchronize()


def scatter_add(target, indices, values) -> None:
    """target[indices] += values, accumulating repeated indices (np.add.at semantics).

    Needed by the word-embedding backward pass: a word that occurs twice in a batch gets the sum
    of both gradients, which plain `target[indices] += values` would lose.
    """
    if on_gpu:
        import cupyx
        cupyx.scatter_add(target, indices, values)
    else:
        numpy.add.at(target, indices, values)
