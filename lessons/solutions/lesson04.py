"""Lesson 04's exercises, worked."""
import numpy as np


def annotation_ranks(S, s2i):
    """For each image k: 1 + the number of wrong sentences scoring at least as high as k's best
    correct sentence (ties count against the model)."""
    ranks = []
    for k in range(S.shape[0]):
        correct = s2i == k
        best = S[k, correct].max()
        ranks.append(1 + int(np.sum(S[k, ~correct] >= best)))
    return np.array(ranks)


def search_ranks(S, s2i):
    """For each sentence l: 1 + the number of other images scoring at least as high as its own."""
    ranks = []
    for l in range(S.shape[1]):
        own = S[s2i[l], l]
        others = np.arange(S.shape[0]) != s2i[l]
        ranks.append(1 + int(np.sum(S[others, l] >= own)))
    return np.array(ranks)
