"""BLEU-1..4 (Papineni et al. 2002), corpus level, exactly as coco-caption's bleu_scorer does it.

The paper reports BLEU computed by coco-caption (Sec. 4.2, Tables 2 and 3). For each image i with
hypothesis length c_i:
  - clipped matches m_i^n: each hypothesis n-gram counts at most as often as it occurs in the one
    reference where it occurs most;
  - guesses g_i^n = max(0, c_i - n + 1);
  - reference length r_i: the "closest" reference length, |r - c_i| smallest, the shorter on ties.
Corpus BLEU-N = BP * (prod_{n<=N} p_n)^(1/N) with p_n = (sum_i m_i^n + tiny) / (sum_i g_i^n + small)
and BP = exp(1 - r/c) when c = sum c_i is below r = sum r_i (1 otherwise). tiny = 1e-15 and
small = 1e-9 are coco-caption's guards against 0/0; they are kept so the numbers match to the last
digit (an n-gram order with no match gives a tiny but non-zero precision, not 0).
"""
from __future__ import annotations

import math

import numpy as np

from vsa_np.metrics.ngrams import NgramCorpus

TINY = 1e-15
SMALL = 1e-9


def closest_ref_len(corpus: NgramCorpus) -> np.ndarray:
    """(N,) the reference length closest to each hypothesis length, the shorter one on a tie."""
    never = np.iinfo(np.int64).max  # masked-out slots (images with fewer references)
    diff = np.where(corpus.ref_mask, np.abs(corpus.ref_len - corpus.hyp_len), never)
    return np.where(diff == diff.min(axis=0), corpus.ref_len, never).min(axis=0)


def corpus_bleu(corpus: NgramCorpus) -> list[float]:
    """Corpus BLEU-1..n as fractions in [0, 1]."""
    n = corpus.n
    max_ref = corpus.refs[0]
    for slot in corpus.refs[1:]:
        max_ref = max_ref.maximum(slot)  # the most times each n-gram occurs in one reference
    correct = corpus.per_order(corpus.hyp.minimum(max_ref)).sum(axis=0)      # clipped matches
    guess = np.maximum(0, corpus.hyp_len[:, None] - np.arange(n)).sum(axis=0)
    hyp_len = float(corpus.hyp_len.sum())
    ref_len = float(closest_ref_len(corpus).sum())

    scores, product = [], 1.0
    for k in range(n):  # cumulative product of precisions, as coco-caption multiplies them
        product *= (correct[k] + TINY) / (guess[k] + SMALL)
        scores.append(product ** (1.0 / (k + 1)))
    ratio = (hyp_len + TINY) / (ref_len + SMALL)
    if ratio < 1:  # brevity penalty
        scores = [s * math.exp(1 - 1 / ratio) for s in scores]
    return [float(s) for s in scores]
