"""Gradient checking for vsa-np: numerical gradients by centered differences, the relative error,
and a registry of checks that `python -m gradcheck` (or `vsa-np gradcheck`) runs as a table.

    from gradcheck import numerical_grad, numerical_grad_array, rel_error
    from gradcheck import register, compare, compare_model
"""
from gradcheck.numeric import numerical_grad, numerical_grad_array, rel_error, sample_indices
from gradcheck.registry import (CHECKS, Row, compare, compare_model, register, run_checks,
                                status_of)

__all__ = ["numerical_grad", "numerical_grad_array", "rel_error", "sample_indices", "CHECKS",
           "Row", "compare", "compare_model", "register", "run_checks", "status_of"]
