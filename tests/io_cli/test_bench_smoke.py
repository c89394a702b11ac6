"""The benchmarks (bench/, issue 7) run end to end at tiny sizes, so they cannot rot; and the
PyTorch models of bench/vs_torch.py compute the same losses and updates as vsa-np (when PyTorch
is installed: the `torch` marker, skipped with the reason otherwise), so the comparison is between
equal models. No timing is checked."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_bench(name, *extra):
    env = dict(os.environ, VSA_NP_DEVICE="cpu")
    proc = subprocess.run([sys.executable, "-m", f"bench.{name}", "--tiny", "--json",
                           "--threads", "1", "--repeats", "2", *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_train_step_tiny():
    out = json.loads(run_bench("train_step"))
    for key in ("align_step_ms_R20", "align_step_ms_R20_whiten64", "align_step_ms_R1",
                "gen_step_ms", "peak_mem_mb",
                "matmul_peak_gflops"):
        assert out[key] > 0
    for case in ("align_R20", "align_R20_whiten64", "align_R1", "gen"):
        assert out[case]["flops_per_step"] > 0 and out[case]["peak_mem_mb"] > 0


def test_decode_tiny():
    out = json.loads(run_bench("decode"))
    assert out["images"] == 20 and out["captions_per_s"] > 0
    assert out["mean_caption_words"] == out["max_len"]      # --end worst: no caption ends early


try:
    import torch
except ImportError:
    torch = None

# The comparison with PyTorch is optional (PyTorch is not a dependency): these tests carry the
# `torch` marker (`pytest -m torch` runs only them) and say why they skip.
requires_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (optional: "
                                    "pip install torch to compare bench/vs_torch.py with vsa-np)")


@pytest.mark.skipif(torch is not None, reason="PyTorch is installed: test_vs_torch_tiny runs")
def test_vs_torch_without_torch_says_how_to_install():
    out = run_bench("vs_torch")
    assert "not installed" in out and "pip install torch" in out


@pytest.mark.torch
@requires_torch
def test_vs_torch_tiny():
    res = json.loads(run_bench("vs_torch"))
    assert all(res[c]["ratio"] > 0 for c in ("align_R20", "align_R1", "gen"))


def test_gpu_without_gpu_fails_clearly():
    pytest.importorskip("numpy")
    from vsa_np.backend import resolve, BackendError
    try:
        resolve("gpu")
    except BackendError:
        proc = subprocess.run([sys.executable, "-m", "bench.train_step", "--tiny", "--device",
                               "gpu"], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and "VSA_NP_DEVICE=gpu" in proc.stderr
    else:
        pytest.skip("a GPU is present")


@pytest.mark.torch
@requires_torch
def test_torch_models_match_vsa_np():
    """Same parameters and batch: the PyTorch step gives the same loss and the same updated
    parameters as the vsa-np step (alignment: R = 3 and 1; generator without dropout)."""
    from bench import _common as C
    from bench.train_step import align_batch, caption_batch, make_align, make_gen
    from bench.vs_torch import leaves, torch_align_step, torch_gen_step
    torch.set_num_threads(1)
    sz = dict(C.TINY, batch=8)
    L = numpy.array([3, 5, 1, 7, 2, 2, 6, 4])
    for R in (3, 1):
        ours, m = make_align(sz, R, L)
        P = leaves(torch, m.params)
        theirs = torch_align_step(torch, P, align_batch(sz, R, L),
                                  torch.optim.SGD(P.values(), lr=1e-4, momentum=0.9))
        for _ in range(2):
            assert float(ours()) == pytest.approx(float(theirs().detach()), rel=1e-5)
        for k in P:
            numpy.testing.assert_allclose(m.params[k], P[k].detach().numpy(), atol=1e-6)
    ours, m = make_gen(sz, L)
    m.dropout = 0.0
    P = leaves(torch, m.params)
    theirs = torch_gen_step(torch, P, caption_batch(sz, L),
                            torch.optim.RMSprop(P.values(), lr=1e-3, alpha=0.999), p_drop=0.0)
    assert float(ours()) == pytest.approx(float(theirs().detach()), rel=1e-5)
