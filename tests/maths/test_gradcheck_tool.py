"""The gradcheck toolkit itself: numerical gradients, rel_error, statuses, the runner and CLI."""
import json

import numpy as np
import pytest

import vsa_np.core.layers
from gradcheck import numerical_grad, numerical_grad_array, rel_error, sample_indices, status_of
from gradcheck.cli import main as gradcheck_main
from vsa_np.backend import xp
from vsa_np.cli import main as vsa_main


def test_numerical_grad_of_known_function():
    x = xp.asarray([1.0, -2.0, 0.5])
    g = numerical_grad(lambda: (x ** 3).sum(), x)
    np.testing.assert_allclose(g, 3 * np.array([1.0, 4.0, 0.25]), rtol=1e-8)


def test_numerical_grad_array_against_upstream():
    x = xp.asarray([[1.0, 2.0], [3.0, 4.0]])
    df = xp.asarray([[1.0, -1.0], [0.5, 2.0]])
    g = numerical_grad_array(lambda: xp.sin(x), x, df)
    np.testing.assert_allclose(g, np.cos(np.asarray(x)) * np.asarray(df), rtol=1e-8)


def test_rel_error_and_statuses():
    assert rel_error(np.array([1.0]), np.array([1.0])) == 0
    assert rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    assert status_of(1e-9, 1.0, 1e-7) == "PASS"
    assert status_of(1e-6, 1.0, 1e-7) == "WARN"
    assert status_of(1e-3, 1.0, 1e-7) == "FAIL"
    assert status_of(0.5, 1e-12, 1e-7) == "TINY"


def test_sample_indices_distinct_and_in_range():
    idx = sample_indices((50, 40), 30, seed=1)
    assert len(set(idx)) == 30 and all(0 <= i < 50 and 0 <= j < 40 for i, j in idx)
    assert len(sample_indices((2, 3), 30)) == 6


def test_cli_all_pass_and_json(capsys):
    assert gradcheck_main([]) == 0
    out = capsys.readouterr().out
    assert "FAIL" in out and " 0 FAIL" in out  # the summary line counts zero failures
    assert vsa_main(["gradcheck", "--json", "--only", "affine"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["param"] for r in rows} == {"x", "W", "b"}
    assert all(r["status"] == "PASS" for r in rows)


def test_broken_backward_fails(monkeypatch, capsys):
    good = vsa_np.core.layers.affine_backward

    def broken(dout, cache):
        dx, dW, db = good(dout, cache)
        return dx, dW * 1.01, db  # a 1% error in dW

    monkeypatch.setattr(vsa_np.core.layers, "affine_backward", broken)
    assert gradcheck_main(["--only", "affine"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out.splitlines()[3]  # the W row


def test_unknown_check_is_a_usage_error(capsys):
    assert vsa_main(["gradcheck", "--only", "no-such-check"]) == 2
    assert "no gradient check named no-such-check" in capsys.readouterr().err
