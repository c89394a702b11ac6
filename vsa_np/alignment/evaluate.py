"""Image-sentence retrieval with the alignment model, as evaluated in the paper (Sec. 4.1,
Table 1): every image of a split against every sentence of that split.

    image annotation: an image is the query; its own sentences (5 on Flickr) are correct and the
                      rank is that of the best-ranked one;
    image search:     a sentence is the query; its image is correct.

R@K in percent and the median rank (1-based) for both, from `vsa_np.alignment.retrieval`. The scores are
Eq. 8 (or Eq. 7) of the model: regions embedded in blocks of images, sentences in blocks of
sentences, then the blocked score matrix of `score.score_matrix`. A sentence with no
in-vocabulary word scores 0 against every image and is kept (the evaluation covers every
sentence; pessimistic ties rank it last).
"""
from __future__ import annotations

import numpy

from vsa_np.alignment.retrieval import retrieval_metrics, rsum
from vsa_np.backend import to_host, xp
from vsa_np.data import encode_split, region_arrays

IMAGE_BLOCK = 100      # images whose region features are embedded at once
SENTENCE_BLOCK = 1000  # sentences run through the BRNN at once


def embed_split(model, ds, vocab, split: str, regions: bool):
    """-> (v (N, R, M), region_mask (N, R), s (W, M), seg (W,), sent_to_image (L,), sentids (L,))
    for the N images and L sentences of `split` (images in `ds.split_indices` order)."""
    images = ds.split_indices(split)
    enc = encode_split(ds, vocab, split)
    position = numpy.full(len(ds.images), -1, dtype=numpy.int64)
    position[images] = numpy.arange(len(images))
    sent_to_image = position[enc.img_idx]
    vs, masks = [], []
    R = int(ds.n_regions[images].max()) if regions and ds.boxes is not None else 1
    for i in range(0, len(images), IMAGE_BLOCK):
        feats, mask = region_arrays(ds, images[i:i + IMAGE_BLOCK], regions)
        pad = R - feats.shape[1]   # blocks may have fewer regions than the split's largest
        vs.append(xp.pad(model.embed_regions(feats), ((0, 0), (0, pad), (0, 0))))
        masks.append(numpy.pad(mask, ((0, 0), (0, pad))))
    ss, segs = [], []
    T = enc.words.shape[1]
    for j in range(0, len(enc.lengths), SENTENCE_BLOCK):
        lengths = enc.lengths[j:j + SENTENCE_BLOCK]
        s, seg = model.embed_sentences(enc.words[j:j + SENTENCE_BLOCK],
                                       numpy.arange(T) < lengths[:, None])
        ss.append(s)
        segs.append(seg + j)
    return (xp.concatenate(vs), numpy.concatenate(masks), xp.concatenate(ss),
            xp.concatenate(segs), sent_to_image, enc.sentids)


def split_scores(model, ds, vocab, split: str, regions: bool, kind: str | None = None):
    """-> (S (N, L) host float array, sent_to_image (L,)) for every image and sentence of split."""
    v, mask, s, seg, sent_to_image, _ = embed_split(model, ds, vocab, split, regions)
    S = model.scores(v, mask, s, seg, len(sent_to_image), kind)
    return numpy.asarray(to_host(S), dtype=numpy.float64), sent_to_image


def evaluate_retrieval(model, ds, vocab, split: str = "test", regions: bool = True,
                       kind: str | None = None, on_nonfinite=None) -> dict:
    """{"annotation": {R@1, R@5, R@10, med_r}, "search": {...}, "rsum": sum of the six R@K,
    "score_std": the standard deviation of all the split's scores (0: a collapsed model)}.

    Scores that are NaN/inf (a diverged model) raise `on_nonfinite` when given (the trainer
    passes a TrainingError), else the retrieval module's ValueError."""
    S, sent_to_image = split_scores(model, ds, vocab, split, regions, kind)
    if on_nonfinite is not None and not numpy.isfinite(S).all():
        raise on_nonfinite
    return score_metrics(S, sent_to_image)


def score_metrics(S, sent_to_image) -> dict:
    """What `evaluate_retrieval` reports, from the split's score matrix S (N, L)."""
    metrics = retrieval_metrics(S, sent_to_image)
    metrics["rsum"] = rsum(metrics)
    metrics["score_std"] = float(S.std())
    return metrics


def chance_rsum(n_images: int) -> float:
    """The sum of the six R@K (in %) of a random ranking of n_images images: R@K is about
    K / n_images in both directions (for annotation, 5 correct sentences among 5 n_images)."""
    return 2 * sum(min(100.0, 100.0 * k / n_images) for k in (1, 5, 10))
