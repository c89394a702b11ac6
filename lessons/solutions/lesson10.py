"""Lesson 10's exercises, worked."""
from collections import Counter

import numpy as np


def ridge_scores(B, Y, Bq, Yq, lam):
    """The ridge member of the linear baseline. B (n, V) binary bags of words of the training
    sentences, Y (n, D) their images' (standardised) features; Bq (L, V) the test sentences'
    bags, Yq (N, D) the test images' features. -> S (N, L), S[k, l] = cos(y_k, b_l W)."""
    def unit(X):
        n = np.linalg.norm(X, axis=1, keepdims=True)
        return X / np.where(n > 0, n, 1.0)

    B, Bq = unit(B), unit(Bq)                                    # each sentence of unit length
    W = np.linalg.solve(B.T @ B + lam * np.eye(B.shape[1]), B.T @ Y)   # (V, D)
    return unit(Yq) @ unit(Bq @ W).T                             # cosines, not dot products


def caption_diversity(captions, train):
    """{distinct, most_common, in_training} of {image: token list} (shares of the images)."""
    caps = [tuple(c) for c in captions.values()]
    counts = Counter(caps)
    return {"distinct": len(counts) / len(caps),
            "most_common": counts.most_common(1)[0][1] / len(caps),
            "in_training": sum(c in train for c in caps) / len(caps)}
