"""Aligning snippets of text to regions with a chain MRF, Sec. 3.1.4 (Eq. 10-12).

Word j of a sentence takes a region a_j. The alignment MAXIMISES

    E(a) = sum_j psi_U(a_j) + sum_j psi_B(a_j, a_{j+1})          (Eq. 10)
    psi_U(a_j = i) = v_i . s_j                                  (Eq. 11)
    psi_B(a_j, a_{j+1}) = beta 1[a_j = a_{j+1}]                 (Eq. 12)

(the paper says "minimise the energy"; with these signs the sensible alignment is the maximum).
Viterbi in O(T R): region i's best predecessor is i (+ beta) or the best other region.
"""
import numpy

from vsa_np.backend import to_host


def viterbi_align_batch(scores, beta, word_mask=None, region_mask=None):
    """scores (B, T, R) of Eq. 11, word_mask (B, T) left-aligned, region_mask (B, R) -> the best
    assignment (B, T) int64 (-1 at padding) and its objective E(a) (B,) of Eq. 10."""
    S = numpy.array(to_host(scores), dtype=numpy.float64)
    if S.ndim != 3 or 0 in S.shape[1:]:
        raise ValueError(f"scores must be (B, T, R) with at least one word and region, got shape "
                         f"{S.shape}")
    B, T, R = S.shape
    wm = numpy.ones((B, T), bool) if word_mask is None else numpy.asarray(to_host(word_mask), bool)
    rm = numpy.ones((B, R), bool) if region_mask is None else numpy.asarray(to_host(region_mask),
                                                                             bool)
    if wm.shape != (B, T) or rm.shape != (B, R):
        raise ValueError(f"masks must be {(B, T)} and {(B, R)}, got {wm.shape} and {rm.shape}")
    n = wm.sum(axis=1)
    if (n < 1).any() or (wm != (numpy.arange(T) < n[:, None])).any():
        raise ValueError("word_mask must be left-aligned with at least one word per sentence")
    if not rm.any(axis=1).all():
        raise ValueError("every sentence needs at least one valid region")
    S[~numpy.broadcast_to(rm[:, None, :], S.shape)] = -numpy.inf
    rows, regions = numpy.arange(B), numpy.arange(R)
    delta = S[:, 0, :].copy()                      # (B, R) the best E of words 0..j with a_j = i
    back = numpy.empty((B, T, R), dtype=numpy.int64)
    back[:, 0, :] = regions
    for j in range(1, T):
        best = delta.argmax(axis=1)
        masked = delta.copy()
        masked[rows, best] = -numpy.inf
        second = masked.argmax(axis=1)
        is_best = regions[None, :] == best[:, None]  # the best predecessor other than i:
        other = numpy.where(is_best, second[:, None], best[:, None])
        other_val = numpy.where(is_best, masked[rows, second][:, None], delta[rows, best][:, None])
        stay_val = delta + beta                                                     # Eq. 12
        stay = stay_val >= other_val
        new = S[:, j, :] + numpy.where(stay, stay_val, other_val)                   # Eq. 10
        live = wm[:, j][:, None]                   # padding carries delta through unchanged
        delta = numpy.where(live, new, delta)
        back[:, j, :] = numpy.where(live, numpy.where(stay, regions, other), regions)
    assignment = numpy.empty((B, T), dtype=numpy.int64)
    assignment[:, T - 1] = delta.argmax(axis=1)
    objective = delta[rows, assignment[:, T - 1]]
    for j in range(T - 1, 0, -1):
        assignment[:, j - 1] = back[rows, j, assignment[:, j]]
    assignment[~wm] = -1
    return assignment, objective


def viterbi_align(scores, beta):
    """One sentence: scores (T, R) -> assignment (T,) int64, objective (a float)."""
    S = numpy.asarray(to_host(scores))
    if S.ndim != 2:
        raise ValueError(f"scores must be (T, R), got shape {S.shape}")
    assignment, objective = viterbi_align_batch(S[None], beta)
    return assignment[0], float(objective[0])


def alignment_objective(scores, assignment, beta):
    """E(a) of Eq. 10 for one sentence, computed directly: scores (T, R), assignment (T,)."""
    S, a = numpy.asarray(to_host(scores), dtype=numpy.float64), numpy.asarray(assignment)
    unary = S[numpy.arange(len(a)), a].sum()                                        # Eq. 11
    return float(unary + beta * numpy.count_nonzero(a[1:] == a[:-1]))               # Eq. 12


def snippets(tokens, assignment):
    """Consecutive words on one region: [{"region", "start", "end", "text"}], `end` exclusive.
    Padding (-1) ends the sentence."""
    a = [int(x) for x in numpy.asarray(assignment)]
    a = a[:a.index(-1)] if -1 in a else a
    if len(a) != len(tokens):
        raise ValueError(f"{len(tokens)} tokens but {len(a)} assigned regions")
    out, start = [], 0
    for j in range(1, len(a) + 1):
        if j == len(a) or a[j] != a[start]:
            out.append({"region": a[start], "start": start, "end": j,
                        "text": " ".join(tokens[start:j])})
            start = j
    return out
