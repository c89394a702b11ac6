"""Decoding text-region alignments with a chain MRF (paper Sec. 3.1.4, Eq. 10-12).

Each word j of a sentence takes a latent region a_j in {0..M-1}. The objective

    E(a) = sum_j psi_U(a_j) + sum_j psi_B(a_j, a_{j+1})            (Eq. 10)
    psi_U(a_j = i) = v_i . s_j = scores[j, i]                     (Eq. 11)
    psi_B(a_j, a_{j+1}) = beta * 1[a_j == a_{j+1}]                (Eq. 12)

is MAXIMISED (the paper says "minimise the energy", but with these signs the sensible alignment
has high word-region scores and a bonus beta for neighbours on the same region: Sec. 3.1.4 puts
"the entire sentence to a single, maximally scoring region when beta is large").
beta = 0 gives each word its best region; a large beta puts the whole sentence on one region; a
negative beta (allowed) pushes neighbours apart. The result is a set of regions each with a
contiguous snippet of text (`snippets`).

Viterbi in O(N * M) per sentence rather than O(N * M^2): since the pairwise term only rewards (or,
for beta < 0, penalises) staying, the best predecessor of region i is either i itself (+ beta) or
the best OTHER region, which is the overall best unless that is i, in which case the second best.

Runs on the host in NumPy (once per sentence at evaluation time), vectorised over regions and over
a batch of sentences; the only Python loop is over word positions.
"""
from __future__ import annotations

import numpy

from vsa_np.backend import to_host


def viterbi_align_batch(scores, beta: float, word_mask=None, region_mask=None
                        ) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Best alignment of each of B sentences.

    scores: (B, N, R) word-by-region scores v_i . s_t (Eq. 11); word_mask: (B, N) bool, left-aligned
    (sentence b has word_mask[b].sum() >= 1 words); region_mask: (B, R) bool, the valid regions.
    Returns (assignment (B, N) int64, -1 at padded words; objective (B,) float64, the maximised
    E(a) of Eq. 10).
    """
    S = numpy.array(to_host(scores), dtype=numpy.float64)      # a copy: masked entries are set
    if S.ndim != 3:
        raise ValueError(f"scores must be (B, N, R), got shape {S.shape}")
    B, N, R = S.shape
    if N == 0 or R == 0:
        raise ValueError(f"need at least one word and one region, got scores of shape {S.shape}")
    wm = numpy.ones((B, N), bool) if word_mask is None else numpy.asarray(to_host(word_mask), bool)
    rm = numpy.ones((B, R), bool) if region_mask is None else numpy.asarray(to_host(region_mask), bool)
    if wm.shape != (B, N) or rm.shape != (B, R):
        raise ValueError(f"masks must be (B, N) = {(B, N)} and (B, R) = {(B, R)}, "
                         f"got {wm.shape} and {rm.shape}")
    lengths = wm.sum(axis=1)
    if (lengths < 1).any() or (wm != (numpy.arange(N)[None, :] < lengths[:, None])).any():
        raise ValueError("word_mask must be left-aligned with at least one word per sentence")
    if not rm.any(axis=1).all():
        raise ValueError("every sentence needs at least one valid region")
    S[~numpy.broadcast_to(rm[:, None, :], S.shape)] = -numpy.inf   # never assign a padded region

    rows = numpy.arange(B)
    regions = numpy.arange(R)
    delta = S[:, 0, :].copy()              # (B, R) best E of words 0..j with a_j = i
    back = numpy.empty((B, N, R), dtype=numpy.int64)
    back[:, 0, :] = regions
    for j in range(1, N):
        best = delta.argmax(axis=1)                                    # (B,)
        masked = delta.copy()
        masked[rows, best] = -numpy.inf
        second = masked.argmax(axis=1)
        # the best predecessor other than i (-inf when i is the only region)
        is_best = regions[None, :] == best[:, None]
        other = numpy.where(is_best, second[:, None], best[:, None])
        other_val = numpy.where(is_best, masked[rows, second][:, None], delta[rows, best][:, None])
        stay_val = delta + beta                                         # Eq. 12: same region
        stay = stay_val >= other_val
        new = S[:, j, :] + numpy.where(stay, stay_val, other_val)      # Eq. 10 (+ Eq. 11 unary)
        active = wm[:, j][:, None]
        # padded positions carry delta through unchanged, pointing each region at itself
        delta = numpy.where(active, new, delta)
        back[:, j, :] = numpy.where(active, numpy.where(stay, regions, other), regions)

    assignment = numpy.empty((B, N), dtype=numpy.int64)
    assignment[:, N - 1] = delta.argmax(axis=1)
    objective = delta[rows, assignment[:, N - 1]]
    for j in range(N - 1, 0, -1):
        assignment[:, j - 1] = back[rows, j, assignment[:, j]]
    assignment[~wm] = -1
    return assignment, objective


def viterbi_align(scores, beta: float) -> tuple[numpy.ndarray, float]:
    """Best alignment of one sentence: scores (N, R) -> (assignment (N,) int64, objective float)."""
    S = numpy.asarray(to_host(scores))
    if S.ndim != 2:
        raise ValueError(f"scores must be (N, R), got shape {S.shape}")
    assignment, objective = viterbi_align_batch(S[None], beta)
    return assignment[0], float(objective[0])


def alignment_objective(scores, assignment, beta: float) -> float:
    """E(a) of Eq. 10 for one sentence, computed directly (scores (N, R), assignment (N,))."""
    S = numpy.asarray(to_host(scores), dtype=numpy.float64)
    a = numpy.asarray(assignment)
    unary = S[numpy.arange(len(a)), a].sum()                 # Eq. 11
    pairwise = beta * numpy.count_nonzero(a[1:] == a[:-1])   # Eq. 12
    return float(unary + pairwise)


def snippets(tokens, assignment) -> list[dict]:
    """Group consecutive words on the same region: [{"region", "start", "end", "text"}], with
    `end` exclusive (tokens[start:end] is the snippet). Padding (-1) ends the sentence."""
    a = [int(x) for x in numpy.asarray(assignment)]
    if -1 in a:
        a = a[:a.index(-1)]
    if len(a) != len(tokens):
        raise ValueError(f"{len(tokens)} tokens but {len(a)} assigned regions")
    out = []
    start = 0
    for j in range(1, len(a) + 1):
        if j == len(a) or a[j] != a[start]:
            out.append({"region": a[start], "start": start, "end": j,
                        "text": " ".join(tokens[start:j])})
            start = j
    return out
