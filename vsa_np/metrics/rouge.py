"""ROUGE-L (Lin 2004) with beta = 1.2, as coco-caption's rouge.py computes it.

For hypothesis c and references s_1..s_m of one image, with LCS the longest common subsequence:
    P = max_j LCS(c, s_j) / |c|,   R = max_j LCS(c, s_j) / |s_j|,
    ROUGE-L = (1 + beta^2) P R / (R + beta^2 P)   (0 when P or R is 0),
(P and R are maximised separately, as coco-caption does), averaged over images.

The LCS runs for all (hypothesis, reference) pairs at once. Row i of the dynamic programme is
    L[i, j] = max over j' <= j of max(L[i-1, j'], L[i-1, j'-1] + 1 if a_i == b_j')
(a running maximum: when the words match, L[i-1, j-1] + 1 is never below L[i-1, j] or L[i, j-1]),
so only the loop over the positions of one sentence is left in Python.
"""
from __future__ import annotations

import numpy as np

BETA = 1.2


def _padded(sentences: list[list[int]], pad: int) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(s) for s in sentences], np.int64)
    out = np.full((len(sentences), lengths.max()), pad, np.int64)
    for row, s in enumerate(sentences):
        out[row, :len(s)] = s
    return out, lengths


def lcs_lengths(a: list[list[int]], b: list[list[int]]) -> np.ndarray:
    """(P,) lengths of the longest common subsequence of a[p] and b[p] (lists of word ids >= 0)."""
    A, len_a = _padded(a, -1)   # different pads so that padding never matches padding
    B, len_b = _padded(b, -2)
    P = len(a)
    rows = np.arange(P)
    prev = np.zeros((P, B.shape[1] + 1), np.int64)   # L[i-1, 0..Lb]
    out = np.zeros(P, np.int64)
    for i in range(A.shape[1]):
        step = np.maximum(prev[:, 1:], np.where(A[:, i:i + 1] == B, prev[:, :-1] + 1, 0))
        cur = np.zeros_like(prev)
        cur[:, 1:] = np.maximum.accumulate(step, axis=1)
        out = np.where(len_a == i + 1, cur[rows, len_b], out)
        prev = cur
    return out


def rouge_l_per_image(refs: list[list[list[str]]], hyps: list[list[str]],
                      beta: float = BETA) -> np.ndarray:
    """(N,) ROUGE-L of each image; refs: N lists of token lists, hyps: N token lists."""
    ids: dict[str, int] = {}
    # coco-caption splits the sentence string on " ", so an empty sentence is one empty word.

    def encode(tokens):
        return [ids.setdefault(w, len(ids)) for w in (tokens or [""])]

    hyp_ids = [encode(h) for h in hyps]
    pair_hyp = [hyp_ids[i] for i, r in enumerate(refs) for _ in r]
    pair_ref = [encode(s) for r in refs for s in r]
    lcs = lcs_lengths(pair_ref, pair_hyp).astype(np.float64)
    prec = lcs / np.array([len(h) for h in pair_hyp], np.float64)
    rec = lcs / np.array([len(s) for s in pair_ref], np.float64)
    starts = np.cumsum([0] + [len(r) for r in refs[:-1]])   # first pair of each image
    p, r = np.maximum.reduceat(prec, starts), np.maximum.reduceat(rec, starts)
    ok = (p != 0) & (r != 0)
    denom = np.where(ok, r + beta ** 2 * p, 1.0)
    return np.where(ok, ((1 + beta ** 2) * p * r) / denom, 0.0)


def rouge_l(refs: list[list[list[str]]], hyps: list[list[str]], beta: float = BETA) -> float:
    """Corpus ROUGE-L: the mean over images of the per-image score."""
    return float(np.mean(rouge_l_per_image(refs, hyps, beta)))
