"""How many threads NumPy's BLAS (OpenBLAS, as the NumPy wheels ship it) uses, and a way to run
work on several cores with one BLAS thread each.

Why a library needs this. A matrix product large enough to split is all the parallelism NumPy
has: the element-wise work around it (the exp of a log softmax, a comparison pass, the gathers
of beam search) runs on one core while the others wait. Beam search is a third such work. Two
halves of the images, each decoded by its own Python thread with a single-threaded BLAS,
keep both cores busy all the time (NumPy releases the GIL inside every ufunc and product), and
the two threads never oversubscribe the cores with 2 x 2 BLAS threads.

The count is process-wide state, so `limited(1)` restores what it found. It works with the
OpenBLAS of NumPy's wheels (symbol names vary by build); with another BLAS (MKL, Accelerate)
`available()` is False and callers keep to one worker.
"""
from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import threading
from pathlib import Path

import numpy

_lock = threading.RLock()      # one `limited` block at a time changes the count
_fns: dict = {}


def _openblas(fn: str):
    """The OpenBLAS function `fn` (e.g. "get_num_threads") of NumPy's bundled library, or None."""
    if fn not in _fns:
        _fns[fn] = None
        libdir = Path(numpy.__file__).parent.parent / "numpy.libs"
        for lib in sorted(glob.glob(str(libdir / "*openblas*"))):
            so = ctypes.CDLL(lib)
            for name in (f"scipy_openblas_{fn}64_", f"openblas_{fn}64_", f"openblas_{fn}"):
                if hasattr(so, name):
                    _fns[fn] = getattr(so, name)
                    break
            if _fns[fn] is not None:
                break
    return _fns[fn]


def available() -> bool:
    """True when the BLAS thread count can be read and set from here."""
    return _openblas("get_num_threads") is not None and _openblas("set_num_threads") is not None


def get() -> int:
    """Threads NumPy's BLAS uses (asked from the library itself; else $OPENBLAS_NUM_THREADS or
    the CPU count)."""
    fn = _openblas("get_num_threads")
    if fn is not None:
        return int(fn())
    return int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count() or 1))


def set(n: int) -> bool:     # noqa: A001 (mirrors OpenBLAS's own name)
    """Set the count; -> False when this BLAS does not allow it."""
    fn = _openblas("set_num_threads")
    if fn is None:
        return False
    fn(int(n))
    return True


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                      # not Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def limited(n: int):
    """Run the block with BLAS limited to n threads, then restore the previous count."""
    with _lock:
        before = get()
        set(n)
        try:
            yield
        finally:
            set(before)
