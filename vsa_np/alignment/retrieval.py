"""Ranking evaluation of the alignment model (paper Sec. 4.1, Table 1).

Given the image-sentence scores S_kl (Eq. 8 or Eq. 7) of every test image k against every test
sentence l:

- image annotation: each image is a query, the sentences are ranked by S[k, :]; the correct items
  are its own sentences (5 on Flickr), and the rank is that of the best-ranked correct one;
- image search: each sentence is a query, the images are ranked by S[:, l]; the single correct item
  is its image.

Reported as Recall@K (percentage of queries whose rank is <= K, K = 1, 5, 10) and the median rank
(1-based, "Med r"), as in the paper.

Ties are counted PESSIMISTICALLY: a wrong item whose score equals the correct item's ranks ahead
of it. Rank = 1 + the number of wrong items scoring >= the best correct score. So a model that
scores everything equal gets the worst rank, never R@1 = 100 (which optimistic ties would give).

Two models ranked on the same split differ by a few points of R@K that may be luck: with 200
test images one image is half a point of annotation R@K. `recall_difference` gives the
difference with a paired bootstrap interval over the images (Efron and Tibshirani 1993), which
says whether the split can tell the two apart.

Runs on the host in NumPy (once per evaluation; S is small: 1000 x 5000 on Flickr8K). Vectorised:
one comparison matrix per direction, no loop over queries.
"""
from __future__ import annotations

import numpy

from vsa_np.backend import to_host

KS = (1, 5, 10)


def _check(S, sent_to_image):
    S = numpy.asarray(to_host(S))
    s2i = numpy.asarray(to_host(sent_to_image))
    if S.ndim != 2:
        raise ValueError(f"score matrix must be (n_images, n_sentences), got shape {S.shape}")
    n_img, n_sent = S.shape
    if s2i.shape != (n_sent,) or not numpy.issubdtype(s2i.dtype, numpy.integer):
        raise ValueError(f"sent_to_image must be ({n_sent},) integers, got {s2i.shape} {s2i.dtype}")
    if n_sent and (s2i.min() < 0 or s2i.max() >= n_img):
        raise ValueError(f"sent_to_image holds image indices outside [0, {n_img})")
    if numpy.bincount(s2i, minlength=n_img).min(initial=1) == 0:
        raise ValueError("every image needs at least one sentence for image annotation")
    if not numpy.isfinite(S).all():
        raise ValueError("score matrix holds NaN or inf")
    return S, s2i


def retrieval_ranks(S, sent_to_image) -> tuple[numpy.ndarray, numpy.ndarray]:
    """1-based ranks with pessimistic ties.

    S: (n_images, n_sentences) scores, higher = better match; sent_to_image: (n_sentences,) the
    image index of each sentence. Returns (annotation_ranks (n_images,), search_ranks
    (n_sentences,)), int64.
    """
    S, s2i = _check(S, sent_to_image)
    n_img = S.shape[0]
    correct = s2i[None, :] == numpy.arange(n_img)[:, None]            # (n_images, n_sentences)

    # annotation: the best correct sentence of each image, and the wrong ones at or above it
    best = numpy.where(correct, S, -numpy.inf).max(axis=1)             # (n_images,)
    ann = 1 + ((S >= best[:, None]) & ~correct).sum(axis=1)

    # search: each sentence's own image, and the other images at or above it
    own = S[s2i, numpy.arange(S.shape[1])]                             # (n_sentences,)
    search = 1 + ((S >= own[None, :]) & ~correct).sum(axis=0)
    return ann.astype(numpy.int64), search.astype(numpy.int64)


def recall_metrics(ranks, ks=KS) -> dict:
    """{"R@1": %, "R@5": %, "R@10": %, "med_r": median rank} from 1-based ranks (Python floats)."""
    ranks = numpy.asarray(ranks)
    out = {f"R@{k}": float(100.0 * (ranks <= k).mean()) for k in ks}
    out["med_r"] = float(numpy.median(ranks))
    return out


def retrieval_metrics(S, sent_to_image, ks=KS) -> dict:
    """{"annotation": {R@1, R@5, R@10, med_r}, "search": {...}} as in the paper's Table 1."""
    ann, search = retrieval_ranks(S, sent_to_image)
    return {"annotation": recall_metrics(ann, ks), "search": recall_metrics(search, ks)}


def rsum(metrics: dict, ks=KS) -> float:
    """Sum of R@K over both directions: the usual single number for picking the best checkpoint."""
    return float(sum(metrics[d][f"R@{k}"] for d in ("annotation", "search") for k in ks))


def recall_difference(ranks_a, ranks_b, sent_to_image, k: int = 10, n_boot: int = 2000,
                      level: float = 95.0, seed: int = 0) -> dict:
    """R@k of model a minus R@k of model b on the same queries, with a paired bootstrap interval.

    ranks_a, ranks_b: (annotation (n_images,), search (n_sentences,)) ranks of the two models, as
    `retrieval_ranks` gives them; sent_to_image (n_sentences,). The bootstrap draws the images with
    replacement, each with all its sentences (an image's sentences are not independent queries),
    n_boot times, and scores both models on the same draw. -> {"annotation": {"diff", "low",
    "high"}, "search": {...}, "k", "level", "n_images", "n_boot"}: points of R@k, the central
    `level`% interval of the difference."""
    s2i = numpy.asarray(to_host(sent_to_image))
    n_img = len(ranks_a[0])
    draws = numpy.random.default_rng(seed).multinomial(n_img, numpy.full(n_img, 1.0 / n_img),
                                                       size=n_boot)        # (n_boot, n_images)
    per_image = {                  # (hits of a - hits of b, queries) per image, each direction
        "annotation": ((ranks_a[0] <= k).astype(float) - (ranks_b[0] <= k), numpy.ones(n_img)),
        "search": (numpy.bincount(s2i, (ranks_a[1] <= k).astype(float) - (ranks_b[1] <= k),
                                  minlength=n_img),
                   numpy.bincount(s2i, minlength=n_img).astype(float))}
    out = {"k": k, "level": level, "n_images": n_img, "n_boot": n_boot}
    for d, (hits, queries) in per_image.items():
        boot = 100.0 * (draws @ hits) / (draws @ queries)
        low, high = numpy.percentile(boot, [(100 - level) / 2, (100 + level) / 2])
        out[d] = {"diff": float(100.0 * hits.sum() / queries.sum()), "low": float(low),
                  "high": float(high)}
    return out
