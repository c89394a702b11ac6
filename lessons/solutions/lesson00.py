"""Lesson 00's exercises, worked."""
from collections import Counter

import numpy as np


def build_vocab(token_lists, threshold):
    """The words occurring at least `threshold` times, most frequent first (ties alphabetical);
    index 0 is kept for <end>, so word k of this list gets index k + 1."""
    counts = Counter(w for tokens in token_lists for w in tokens)
    return sorted((w for w, c in counts.items() if c >= threshold), key=lambda w: (-counts[w], w))


def teacher_forcing(ids):
    """Sentences as lists of word indices -> inputs (START = 0, then the words), targets (the
    words, then END = 0), mask (True on the L + 1 real steps), all padded to the longest + 1."""
    L = max(len(i) for i in ids)
    inputs = np.zeros((len(ids), L + 1), np.int64)
    targets = np.zeros((len(ids), L + 1), np.int64)
    mask = np.zeros((len(ids), L + 1), bool)
    for k, sentence in enumerate(ids):
        inputs[k, 1:len(sentence) + 1] = sentence
        targets[k, :len(sentence)] = sentence
        mask[k, :len(sentence) + 1] = True
    return inputs, targets, mask
