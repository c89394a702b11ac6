"""What every lesson shares: quick mode, the folder its figures go to, and a headless matplotlib.

    LESSONS_QUICK=1   smaller data and fewer steps (the test runs every lesson this way)
    LESSONS_OUT=DIR   figures go to DIR/<lesson name>/ (default: lessons/_figures/<lesson name>/)

Run as a script, matplotlib draws off screen (the Agg backend) and figures are only saved; opened
as a notebook (jupytext), the backend is left alone so the figures also show inline.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:  # a plain `python lessons/NN_name.py` run
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

QUICK = os.environ.get("LESSONS_QUICK", "") not in ("", "0")
HERE = Path(__file__).resolve().parent
# The lessons read the library of the checkout they sit in, even when another copy is installed.
if str(HERE.parent) not in sys.path[:1]:
    sys.path.insert(0, str(HERE.parent))


def figure_dir(lesson: str) -> Path:
    """Create and print the folder this lesson's figures go to."""
    root = Path(os.environ.get("LESSONS_OUT", HERE / "_figures"))
    out = root / lesson
    out.mkdir(parents=True, exist_ok=True)
    print(f"[{lesson}] {'quick' if QUICK else 'full'} mode; figures go to {out}")
    return out


def save(fig, folder: Path, name: str) -> Path:
    """Save `fig` as folder/name.png, say so, and show it when running inside a notebook."""
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    print(f"  wrote {path}")
    if "ipykernel" in sys.modules:
        plt.show()
    else:
        plt.close(fig)
    return path
