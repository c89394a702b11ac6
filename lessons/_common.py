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
# Progress bars only on a terminal: in a notebook, a log or a captured run (the tests) each
# update of a bar would be one more line of output.
PROGRESS = not QUICK and sys.stderr.isatty()
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


def shapes_world(n_images: int, feature_dim: int, seed: int = 0) -> Path:
    """The folder of a shapes world of this size, made once and then reused by every lesson
    (under $LESSONS_DATA, default lessons/_data/). `vsa-np make-shapes` makes the same folders."""
    from vsa_np.data import make_shapes

    root = Path(os.environ.get("LESSONS_DATA", HERE / "_data"))
    folder = root / f"shapes_{n_images}_{feature_dim}_{seed}"
    done = folder / "COMPLETE"
    if not done.is_file():
        print(f"making a shapes world of {n_images} images ({feature_dim}-d features) in {folder}")
        # the fixed random network: fast, and the features the lessons' figures were made
        # on (lesson 09 trains the CNN and compares the two)
        info = make_shapes(folder, n_images=n_images, seed=seed, feature_dim=feature_dim,
                           progress=PROGRESS, cnn="random")
        print(f"  done in {info['seconds']:.1f} s")
        done.write_text("made by lessons/_common.py\n")
    return folder


def lesson_world() -> Path:
    """The shapes world the lessons share: 240 images with 512-d features in quick mode, 1200
    images (1000 / 100 / 100) with 1024-d features otherwise."""
    return shapes_world(240, 512) if QUICK else shapes_world(1200, 1024)


def generator_config():
    """The full-image generator the lessons share (06 trains it, 08 compares with it): small
    enough for quick mode to train in seconds, otherwise a little larger."""
    from vsa_np.generator.train import GenConfig

    # Every setting that shapes training is written out, not left to GenConfig's defaults, so
    # that a change of the trainer's defaults does not move the lessons' figures.
    common = dict(lr=1e-3, decay=0.999, grad_clip=5.0, weight_decay=1e-6, word_threshold=5,
                  eval_beam=3, cell="rnn", image_every_step=False, whiten=0, feature_map="auto",
                  max_len=40, best="perplexity", patience=5, seed=0)
    if QUICK:
        return GenConfig(hidden=128, word_dim=64, dropout=0.0, batch_size=25, epochs=30, **common)
    return GenConfig(hidden=256, word_dim=128, dropout=0.2, batch_size=50, epochs=15, **common)


def alignment_config():
    """The alignment model the lessons share (05 and 08 decode it; 04b diagnoses its training):
    the regions of the shapes world, small sizes."""
    from vsa_np.alignment.train import AlignConfig

    # Dropout 0.2, lr 1e-3 and the whitening of 64 directions as the demo (feature_norm.py: on
    # the shapes world's regions, shape and size sit in weak directions of the features).
    # The paper's optimiser settings written out too (not GenConfig's or AlignConfig's defaults).
    return AlignConfig(regions=True, epochs=8 if QUICK else 12, batch_size=50, embed=64,
                       hidden=64, word_dim=32, lr=1e-3, dropout=0.2, whiten=64, seed=0,
                       score="eq8", momentum=0.9, weight_decay=1e-4, grad_clip=5.0,
                       word_threshold=5, init_scale=0.3, feature_map="auto")


def _trained(kind: str, world: Path, cfg, train) -> Path:
    """The run folder of train(world, run, cfg), trained the first time and reused after (under
    $LESSONS_DATA/runs/, one folder per world and configuration)."""
    import hashlib
    import shutil
    from dataclasses import asdict

    key = hashlib.sha1(repr((world.name, sorted(asdict(cfg).items()))).encode()).hexdigest()[:10]
    run = world.parent / "runs" / f"{kind}_{key}"
    if not (run / "COMPLETE").is_file():
        shutil.rmtree(run, ignore_errors=True)     # a run cut short: start again
        print(f"training the {kind} model ({cfg.epochs} epochs) into {run}")
        summary = train(world, run, cfg, quiet=not PROGRESS)
        print("  done: " + ", ".join(f"{k} {v:g}" for k, v in summary.items()
                                     if isinstance(v, (int, float)) and not isinstance(v, bool)))
        (run / "COMPLETE").write_text("made by lessons/_common.py\n")
    return run


def trained_generator(world: Path, cfg) -> Path:
    """Run folder of `vsa_np.generator.train.train_generator` (its `best` checkpoint, log.json)."""
    from vsa_np.generator.train import train_generator

    return _trained("generator", world, cfg, train_generator)


def trained_alignment(world: Path, cfg) -> Path:
    """Run folder of `vsa_np.alignment.train.train_alignment` (its `best` checkpoint)."""
    from vsa_np.alignment.train import train_alignment

    return _trained("alignment", world, cfg, train_alignment)


def shared_data() -> Path | None:
    """The project's shared real-data folder (../shared/data, or $VSA_NP_SHARED_DATA), or None."""
    env = os.environ.get("VSA_NP_SHARED_DATA")
    d = Path(env) if env else HERE.parent.parent / "shared" / "data"
    return d if d.is_dir() else None
