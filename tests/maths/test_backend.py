"""The backend picks NumPy without CuPy, and refuses VSA_NP_DEVICE=gpu without a GPU."""
import os
import subprocess
import sys

import numpy
import pytest

from vsa_np import backend


def no_cupy(name):
    raise ImportError(f"No module named {name!r}")


def test_auto_falls_back_to_numpy_without_cupy():
    assert backend.resolve("auto", importer=no_cupy) is numpy


def test_cpu_is_numpy():
    assert backend.resolve("cpu") is numpy


def test_gpu_without_cupy_is_a_clear_error():
    with pytest.raises(backend.BackendError, match="VSA_NP_DEVICE=gpu.*CuPy is not importable"):
        backend.resolve("gpu", importer=no_cupy)


def test_gpu_without_device_is_a_clear_error():
    class FakeRuntime:
        @staticmethod
        def getDeviceCount():
            return 0

    class FakeCupy:
        class cuda:
            runtime = FakeRuntime

    with pytest.raises(backend.BackendError, match="finds no CUDA device"):
        backend.resolve("gpu", importer=lambda name: FakeCupy)
    assert backend.resolve("auto", importer=lambda name: FakeCupy) is numpy


def test_bad_value():
    with pytest.raises(backend.BackendError, match="expected one of"):
        backend.resolve("tpu")


def test_env_var_gpu_refused_in_a_fresh_process():
    if backend.on_gpu:
        pytest.skip("this machine has a GPU: VSA_NP_DEVICE=gpu is allowed here")
    env = dict(os.environ, VSA_NP_DEVICE="gpu")
    r = subprocess.run([sys.executable, "-c", "import vsa_np.backend"], env=env,
                       capture_output=True, text=True)
    assert r.returncode != 0 and "BackendError" in r.stderr and "VSA_NP_DEVICE=gpu" in r.stderr


def test_host_device_round_trip_and_dtypes():
    a = numpy.arange(6.0).reshape(2, 3)
    d = backend.to_device(a, backend.float_dtype())
    assert d.dtype == numpy.float32
    assert numpy.array_equal(backend.to_host(d), a)
    assert backend.float_dtype(check=True) == numpy.float64
    assert backend.to_float(backend.xp.asarray(2.5)) == 2.5


def _xp_names():
    """Every attribute chain `xp.a.b` that vsa_np's code uses (e.g. "random.default_rng")."""
    import ast
    from pathlib import Path
    names = set()
    for f in Path(backend.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            chain, n = [], node
            while isinstance(n, ast.Attribute):
                chain.append(n.attr)
                n = n.value
            if chain and isinstance(n, ast.Name) and n.id == "xp":
                names.add(".".join(reversed(chain)))
    return names


def test_every_xp_name_exists_in_numpy():
    names = _xp_names()
    assert {"matmul", "exp", "random.default_rng"} & names      # the scan finds them
    # xp.cuda... is CuPy's own, and only reached behind `if on_gpu`
    missing = [c for c in names if not c.startswith("cuda") and not _resolves(numpy, c)]
    assert not missing


def test_every_xp_name_exists_in_cupy():
    """The GPU path calls only what CuPy has. Runs wherever CuPy imports (no GPU needed)."""
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed (pip install cupy-cuda12x)")
    missing = sorted(c for c in _xp_names() if not _resolves(cupy, c))
    assert not missing, f"not in CuPy {cupy.__version__}: {missing}"


def _resolves(module, chain: str) -> bool:
    obj = module
    for part in chain.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True
