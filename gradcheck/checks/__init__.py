"""The modules that register gradient checks. Add a module here when a model adds its checks."""
import importlib

MODULES = [
    "gradcheck.checks.layers",
    "gradcheck.checks.alignment",
    "gradcheck.checks.generator",
    "gradcheck.checks.cnn",
]


def load_all():
    for m in MODULES:
        importlib.import_module(m)
