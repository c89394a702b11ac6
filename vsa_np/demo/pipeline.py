"""`vsa-np demo`: the whole paper, end to end, on the shapes world, with no download.

    1. make the shapes world (images, captions, region features, ground-truth alignments)
    2. train the alignment model (Sec. 3.1) on region features; retrieval on the test split
       (and, in the full run, the Eq. 7 score trained the same way, for comparison)
    3. align every test sentence with the chain MRF (Eq. 10-12), beta chosen on val, and score
       the alignment against the ground truth; draw Figure-5-style alignments
    4. train the multimodal RNN (Sec. 3.2) on full images; caption the test images with beam
       search; score them beside the nearest-neighbour baseline
    5. train the same RNN on the MRF's (region, snippet) pairs (Sec. 4.3); caption the test
       regions with both models and score them against the ground-truth phrases (Table 3)
    6. write report.md / report.html (+ results.json, the figures, captions.html)

Every step calls the same library functions as the individual commands (`make-shapes`,
`train-align`, `eval-align`, `align`, `train-gen`, `eval-gen`, `caption`).
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image

from vsa_np.alignment.alignment_eval import (alignment_report, boxes_only,
                                             split_word_region_scores)
from vsa_np.alignment.baseline import LinearBaseline, baseline_report
from vsa_np.alignment.evaluate import score_metrics, split_scores
from vsa_np.alignment.figures import plot_alignment
from vsa_np.alignment.retrieval import recall_difference, retrieval_ranks
from vsa_np.trained import load_alignment
from vsa_np.core.mrf import viterbi_align_batch
from vsa_np.alignment.train import AlignConfig, train_alignment
from vsa_np.config import positive, require
from vsa_np.data import load_dataset
from vsa_np.data.shapes import load_alignments, make_shapes
from vsa_np.data.trained_cnn import DEFAULT_EPOCHS, DEFAULT_SCENES, probe_summary, probe_world
from vsa_np.demo.report import write_report
from vsa_np.generator.evaluate import evaluate_with_baseline, object_marks
from vsa_np.generator.html import write_caption_page
from vsa_np.trained import load_generator
from vsa_np.core.generator import CELLS
from vsa_np.generator.region_data import evaluate_regions
from vsa_np.generator.train import GenConfig, train_generator
from vsa_np.paths import output_folder


@dataclass
class DemoConfig:
    images: int = 1200          # shapes world size (train/val/test in proportion)
    feature_dim: int = 4096     # the "fc7" width of the shapes world's CNN
    cnn: str = "trained"        # the network of the features: "trained" or "random" (make-shapes)
    cnn_from: str = ""          # with cnn "trained": reuse this network instead of training one
    cnn_pictures: int = DEFAULT_SCENES   # the trained CNN's own labelled pictures
    cnn_epochs: int = DEFAULT_EPOCHS
    align_epochs: int = 15
    align_embed: int = 256      # h of Eq. 1 / Eq. 6 (the paper: 1000-1600; the shapes world is small)
    align_hidden: int = 256     # BRNN hidden size (the paper: 300-600)
    align_word_dim: int = 128
    align_lr: float = 1e-3      # the trainer's default (features of unit length, feature_norm.py)
    align_dropout: float = 0.2
    align_whiten: int = 64      # the shapes world's regions: shape and size sit in weak directions
    compare_eq7: bool = True    # also train with the Eq. 7 score
    gen_epochs: int = 40
    gen_hidden: int = 512       # the paper's "typical size" (Sec. 3.2); 256 named fewer objects
    gen_word_dim: int = 256
    # The generator's recurrence: an LSTM reading b_v at every step, not Eq. 14's ReLU RNN with
    # b_v at t = 1. A caption here names up to four objects; the RNN forgets the image and what
    # it has named on the way and names objects that are not there (docs/benchmarks.md, issue
    # 13: object precision 59% against the nearest neighbour's 68%; the LSTM reading b_v at
    # every step, 99%). Both are options of train-gen (--cell, --image-every-step).
    gen_cell: str = "lstm"
    gen_image_every_step: bool = True
    # early stopping after this many epochs without a better validation perplexity (train-gen's
    # default is 5): the LSTM's best epoch comes early (the 9th of 14 in the default demo), and
    # the epochs after it are a quarter of the demo's time
    gen_patience: int = 3
    region_gen_epochs: int = 15
    # the region generator: the paper's RNN (b_v at t = 1); a region's snippet names one object
    region_gen_hidden: int = 256
    region_gen_word_dim: int = 128
    beam: int = 7
    meteor: bool = True         # METEOR needs Java (reported n/a without it)
    figures: int = 4            # Figure-5-style alignments drawn
    caption_images: int = 24    # test images on captions.html
    seed: int = 0

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int":
                low = 0 if f.name in ("seed", "figures", "caption_images", "align_whiten",
                                      "gen_patience") else 1
                require(isinstance(value, int) and value >= low, f.name,
                        f"must be a whole number >= {low}, got {value!r}")
        require(positive(self.align_lr), "align_lr", f"must be > 0, got {self.align_lr!r}")
        require(0 <= self.align_dropout < 1, "align_dropout",
                f"must be in [0, 1), got {self.align_dropout!r}")
        require(self.images >= 3, "images", f"need at least 3 images, got {self.images}")
        require(self.cnn in ("trained", "random"), "cnn",
                f"must be 'trained' or 'random', got {self.cnn!r}")
        require(self.gen_cell in CELLS, "gen_cell", f"must be one of {tuple(CELLS)}, got "
                f"{self.gen_cell!r}")


# What a demo writes in its folder: all that `--force` removes before a new demo (nothing else).
OUTPUTS = ("data", "align_eq8", "align_eq7", "gen", "gen_regions", "report.md", "report.html",
           "results.json", "captions.html", "loss_curves.png", "alignment_*.png")


def _remove_previous(out: Path) -> None:
    for pattern in OUTPUTS:
        for p in out.glob(pattern):
            shutil.rmtree(p) if p.is_dir() else p.unlink()


QUICK = dict(images=300, feature_dim=1024, cnn_pictures=300, cnn_epochs=4, gen_hidden=256,
             gen_word_dim=128, align_epochs=20, align_dropout=0.5, compare_eq7=False,
             gen_epochs=15, region_gen_epochs=15, figures=2, caption_images=12, beam=3)


def _plot_losses(out_png: Path, runs: dict) -> None:
    import matplotlib        # here, not at the top: the backend must be chosen before pyplot
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 3.6))
    for ax, (title, run_dir) in zip(np.atleast_1d(axes), runs.items()):
        log = json.loads((Path(run_dir) / "log.json").read_text())
        steps = [r["step"] for r in log["train"]]
        loss = [r["loss"] for r in log["train"]]
        ax.plot(steps, loss, lw=0.8, color="#999", label="batch loss")
        if len(loss) >= 10:
            k = max(2, len(loss) // 20)
            smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
            ax.plot(steps[k - 1:], smooth, color="C0", label=f"mean of {k}")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.set_yscale("log")  # the ranking loss falls by orders of magnitude
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def _alignment_figures(out: Path, model, ds, vocab, beta: float, n: int) -> list[str]:
    """Figure 5 + Figure 3 panels for the first sentence of the first n test images."""
    scores, wmask, rmask, positions, sentids, images = split_word_region_scores(
        model, ds, vocab, "test")
    _, token_lists, _ = ds.sentences_of("test")
    names, seen = [], set()
    for k in range(len(images)):
        img = int(images[k])
        if img in seen:
            continue
        seen.add(img)
        n_w, n_r = int(wmask[k].sum()), int(rmask[k].sum())
        sc = scores[k, :n_w, :n_r]
        # decoded over the boxes, as the report scores it
        assignment = viterbi_align_batch(sc[None], beta, None,
                                         boxes_only(rmask[k:k + 1, :n_r]))[0][0]
        tokens = [token_lists[k][p] for p in positions[k][:n_w]]
        picture = np.asarray(Image.open(ds.root / "images" / ds.images[img]["filename"]))
        name = f"alignment_{len(names)}.png"
        plot_alignment(out / name, tokens, sc, assignment, boxes=ds.boxes[img, :n_r],
                       image=picture, title=f"{ds.images[img]['filename']} (beta = {beta:g})")
        names.append(name)
        if len(names) >= n:
            break
    return names


def run_demo(out, quick: bool = False, quiet=None, log=print, force: bool = False,
             **overrides) -> dict:
    """Run every step into folder `out` (absent or empty; with `force`, the outputs of a
    previous demo there are removed first); returns the results dict the report is made
    from."""
    cfg = DemoConfig(**{**(QUICK if quick else {}), **overrides})   # validated: nothing written
    out = output_folder(out, "--out", empty=True, force=force)   # a new demo, never mixed in
    if force:
        _remove_previous(out)
    data = out / "data"           # written whole or not at all; `out` is created with it
    seconds, t_all = {}, time.perf_counter()

    def step(name):
        log(f"== {name}")
        return time.perf_counter()

    t = step("1/5 make the shapes world")
    world = make_shapes(data, n_images=cfg.images, seed=cfg.seed, feature_dim=cfg.feature_dim,
                        progress=not quiet, cnn=cfg.cnn, cnn_from=cfg.cnn_from or None, log=log,
                        cnn_train={"n_scenes": cfg.cnn_pictures, "epochs": cfg.cnn_epochs})
    ds = load_dataset(data, regions=True)
    features = {"cnn": {k: v for k, v in world["cnn"].items()
                        if k not in ("held_out_accuracy", "loss_per_step")},
                "probe": probe_summary(probe_world(ds))}
    log(f"   linear probe of the features: {json.dumps(features['probe'])}")
    seconds["data"] = time.perf_counter() - t

    t = step("2/5 train the alignment model (Sec. 3.1)")
    retrieval, scores = {}, {}
    for kind in (("eq8", "eq7") if cfg.compare_eq7 else ("eq8",)):
        acfg = AlignConfig(regions=True, score=kind, epochs=cfg.align_epochs,
                           embed=cfg.align_embed, hidden=cfg.align_hidden,
                           word_dim=cfg.align_word_dim, lr=cfg.align_lr,
                           dropout=cfg.align_dropout, whiten=cfg.align_whiten, seed=cfg.seed)
        train_alignment(data, out / f"align_{kind}", acfg, quiet=quiet, log=log)
        model, vocab, _ = load_alignment(out / f"align_{kind}")
        model.training = False
        scores[kind] = split_scores(model, ds, vocab, "test", regions=True)
        retrieval[kind] = score_metrics(*scores[kind])
        log(f"   {kind}: test retrieval {json.dumps(retrieval[kind])}")
    base = LinearBaseline(ds)
    retrieval["baseline"] = baseline_report(ds, "test", base=base)
    retrieval["difference"] = recall_difference(                     # Eq. 8 minus the baseline
        retrieval_ranks(*scores["eq8"]), retrieval_ranks(*base.scores("test")), scores["eq8"][1])
    log(f"   linear baseline: test retrieval {json.dumps(retrieval['baseline'])}")
    seconds["alignment"] = time.perf_counter() - t

    t = step("3/5 align test sentences with the MRF (Eq. 10-12)")
    amodel, avocab, _ = load_alignment(out / "align_eq8")
    amodel.training = False
    report = alignment_report(amodel, ds, avocab, load_alignments(data, ds))
    alignment = {"beta": report["beta"], **report["test"],
                 "val_accuracy_by_beta": report["val"]["accuracy_by_beta"],
                 "with_whole_image": report["with_whole_image"]}
    figures = _alignment_figures(out, amodel, ds, avocab, report["beta"], cfg.figures)
    log(f"   object-word accuracy: arg-max {alignment['argmax']:.1f}%, "
        f"MRF {alignment['mrf']:.1f}% (beta {alignment['beta']:g})")
    seconds["mrf"] = time.perf_counter() - t

    t = step("4/5 train the multimodal RNN on full images (Sec. 3.2)")
    train_generator(data, out / "gen", GenConfig(
        epochs=cfg.gen_epochs, hidden=cfg.gen_hidden, word_dim=cfg.gen_word_dim,
        eval_beam=cfg.beam, seed=cfg.seed, cell=cfg.gen_cell,
        image_every_step=cfg.gen_image_every_step, patience=cfg.gen_patience), quiet=quiet)
    gmodel, gvocab, _ = load_generator(out / "gen")
    gen = evaluate_with_baseline(gmodel, ds, gvocab, "test", beam=cfg.beam, meteor=cfg.meteor)
    items = []
    for name in list(gen["model"]["captions"])[:cfg.caption_images]:
        img = int(name)
        items.append({"name": ds.images[img]["filename"],
                      "image": (data / "images" / ds.images[img]["filename"]).resolve(),
                      "captions": [gen["model"]["captions"][name]],
                      "logprobs": [gen["model"]["logprobs"][name]],
                      "references": [" ".join(s["tokens"]) for s in ds.images[img]["sentences"]],
                      "marks": [object_marks(ds, img, gen["model"]["captions"][name])]})
    write_caption_page(out / "captions.html", items, title="vsa-np demo: test captions")
    seconds["generator"] = time.perf_counter() - t

    t = step("5/5 region-level generation from the MRF snippets (Sec. 4.3)")
    train_generator(data, out / "gen_regions",
                    GenConfig(epochs=cfg.region_gen_epochs, from_alignments=str(out / "align_eq8"),
                              beta=report["beta"], hidden=cfg.region_gen_hidden,
                              word_dim=cfg.region_gen_word_dim, eval_beam=cfg.beam,
                              seed=cfg.seed), quiet=quiet)
    rmodel, rvocab, _ = load_generator(out / "gen_regions")
    regions = evaluate_regions({"region RNN": (rmodel, rvocab), "full-frame RNN": (gmodel, gvocab)},
                               ds, "test", beam=cfg.beam, meteor=cfg.meteor)
    seconds["regions"] = time.perf_counter() - t

    _plot_losses(out / "loss_curves.png", {"alignment (Eq. 9)": out / "align_eq8",
                                           "generator (Eq. 15)": out / "gen",
                                           "region generator": out / "gen_regions"})
    seconds["total"] = time.perf_counter() - t_all
    drop = ("captions", "logprobs")
    res = {"config": asdict(cfg), "quick": quick, "data": str(data),
           "data_info": f"{len(ds.images)} images, "
                        f"{sum(len(i['sentences']) for i in ds.images)} sentences",
           "features": features,
           "retrieval": retrieval, "alignment": alignment, "alignment_figures": figures,
           "generation": {k: {m: v for m, v in d.items() if m not in drop}
                          for k, d in gen.items()},
           "regions": {k: {m: v for m, v in d.items() if m not in drop}
                       for k, d in regions.items()},
           "seconds": {k: round(v, 1) for k, v in seconds.items()}}
    md, html_path = write_report(out, res)
    log(f"report: {html_path} (and {md.name}, results.json)")
    return res
