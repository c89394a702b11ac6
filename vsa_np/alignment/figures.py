"""Pictures of alignments in the style of the paper's figures (matplotlib, Agg backend: files
only, no display needed).

Figure 5 style (left panel): the image with the boxes of the regions that received words, each
in its own colour, and the sentence below it with every word in the colour of its region; words
whose score on their region is low are drawn in light grey (the paper hides them).
Figure 3 style (right panel): the word-by-region score matrix v_i . s_t the MRF decodes, words
down, regions across, the chosen region of each word outlined.
"""
from __future__ import annotations

from pathlib import Path

import numpy

COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
           "#bfef45", "#469990", "#9a6324", "#800000", "#808000", "#000075", "#a9a9a9"]


def _colour(region: int) -> str:
    return COLOURS[region % len(COLOURS)]


def plot_alignment(out, tokens, scores, assignment, boxes=None, image=None, title=None,
                   hide_below=None):
    """Write the two-panel figure to `out` (.png, .pdf, .svg: by suffix).

    tokens: N words; scores: (N, R) word-region scores; assignment: (N,) region per word;
    boxes: (R, 4) pixel x0, y0, x1, y1 or None; image: (H, W, 3) uint8 array or None;
    hide_below: words scoring below this on their region are greyed (default: 0).
    """
    # imported here, not at the top: choosing the Agg backend is a process-wide side effect,
    # which must not happen when a lesson or a notebook merely imports this module
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.patches as patches
    import matplotlib.pyplot as plt

    scores = numpy.asarray(scores, dtype=float)
    assignment = numpy.asarray(assignment)
    N, R = scores.shape
    hide_below = 0.0 if hide_below is None else hide_below
    chosen = scores[numpy.arange(N), assignment]
    fig, (ax_img, ax_mat) = plt.subplots(1, 2, figsize=(11, 5.2),
                                         gridspec_kw={"width_ratios": [1.1, 1]})
    # -- Figure 5: the image, the boxes, the coloured sentence
    if image is not None:
        ax_img.imshow(image)
    else:
        extent = numpy.asarray(boxes).max(axis=0) if boxes is not None else (0, 0, 1, 1)
        ax_img.imshow(numpy.full((int(extent[3]) or 1, int(extent[2]) or 1, 3), 235,
                                 dtype=numpy.uint8))
    if boxes is not None:
        for r in sorted(set(int(a) for a in assignment)):
            x0, y0, x1, y1 = boxes[r]
            ax_img.add_patch(patches.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False,
                                               lw=2.5, edgecolor=_colour(r)))
            ax_img.text(x0 + 1, y0 + 1, str(r), color="white", fontsize=8, va="top",
                        bbox=dict(facecolor=_colour(r), pad=1, lw=0))
    ax_img.set_axis_off()
    x, y = 0.0, -0.06                     # the sentence below the image, wrapped by hand
    for word, r, sc in zip(tokens, assignment, chosen):
        hidden = sc < hide_below
        ax_img.text(x, y, word, transform=ax_img.transAxes, fontsize=11, va="top",
                    color="#c8c8c8" if hidden else _colour(int(r)),
                    fontweight="normal" if hidden else "bold")
        x += 0.025 * (len(word) + 1)
        if x > 0.9:
            x, y = 0.0, y - 0.07
    if title:
        ax_img.set_title(title, fontsize=10)
    # -- Figure 3: the word-by-region score matrix
    finite = numpy.where(numpy.isfinite(scores), scores, numpy.nan)
    im = ax_mat.imshow(finite, cmap="viridis", aspect="auto")
    for j, r in enumerate(assignment):
        ax_mat.add_patch(patches.Rectangle((r - 0.5, j - 0.5), 1, 1, fill=False, lw=2,
                                           edgecolor="white"))
    ax_mat.set_yticks(range(N))
    ax_mat.set_yticklabels(tokens, fontsize=9)
    ax_mat.set_xticks(range(R))
    ax_mat.set_xlabel("region")
    ax_mat.set_title("word-region scores $v_i \\cdot s_t$ (chosen region outlined)", fontsize=10)
    fig.colorbar(im, ax=ax_mat, fraction=0.046, pad=0.04)
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return Path(out)
