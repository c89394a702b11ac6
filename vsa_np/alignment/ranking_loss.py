"""The bidirectional max-margin ranking loss, Eq. 9 (Sec. 3.1.3):

    C = sum_k [ sum_{l != k} max(0, S_kl - S_kk + 1)     rank the sentences for image k
              + sum_{l != k} max(0, S_lk - S_kk + 1) ]   rank the images for sentence k

over a batch of B corresponding pairs (image k, sentence k): the true pair must outscore every
mismatched pair of its row and of its column by a margin of 1. The l = k terms are the constant
1 each and carry no gradient; they are left out (the sum of Eq. 9 includes them).

Scale: this returns C / B, the cost per pair, and its gradient. Averaging rather than summing
keeps the gradient size, and so the learning rate, independent of the batch size; with the sum,
the same run needs a learning rate B times smaller. It is not only a rescaled learning rate,
though: Sec. 3.3 clips every gradient entry at 5, and the entries are B times smaller here, so
the clip is B times looser (the sum's gradient clipped at 5 is the mean's clipped at 5 / B).
Lesson 03 measures it (B = 25, a fresh model with scores of std 0.3): 0.7% of the mean's
gradient entries reach 5, against 47% of the sum's. (The two hinge terms of each pair still grow with B - 1 mismatched
partners; that is the paper's loss. At initialisation, with every score about equal, each of
the 2(B - 1) hinges of a pair is active at about the margin: C / B is about 2(B - 1).)
"""
from vsa_np.backend import xp


def ranking_loss(S, margin: float = 1.0):
    """S: (B, B) scores, S[k, l] = image k against sentence l, true pairs on the diagonal.

    -> loss (0-d array, C / B), dS (B, B)
    """
    B = S.shape[0]
    if S.shape != (B, B):
        raise ValueError(f"ranking loss needs a square score matrix, got {S.shape}")
    diag = xp.diagonal(S)
    rows = xp.maximum(S - diag[:, None] + margin, 0)    # [k, l]: sentence l against image k's own
    cols = xp.maximum(S - diag[None, :] + margin, 0)    # [l, k]: image l against sentence k's own
    xp.fill_diagonal(rows, 0)                           # l = k: no term
    xp.fill_diagonal(cols, 0)
    loss = (rows.sum() + cols.sum()) / B                # Eq. 9, per pair
    # d/dS of each active hinge: +1 at the mismatched pair, -1 at the true pair it is measured
    # against (row k's for `rows`, column k's for `cols`).
    on_r = (rows > 0).astype(S.dtype)
    on_c = (cols > 0).astype(S.dtype)
    dS = on_r + on_c
    dS[xp.arange(B), xp.arange(B)] = -(on_r.sum(axis=1) + on_c.sum(axis=0))
    return loss, dS / B
