"""N-gram count matrices shared by BLEU and CIDEr-D.

Every distinct n-gram (n = 1..4) of the corpus gets a column id g; a set of sentences becomes a
sparse count matrix with one row per sentence. References are laid out in "slots": slot s holds
the s-th reference of every image (an all-zero row where an image has fewer references), so a
scorer works on whole (N, G) matrices and loops only over the few slots, never over sentences.

Shapes: N images, K reference slots (the most references any image has), G distinct n-grams.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


def ngram_counts(tokens: list[str], n: int = 4) -> Counter:
    """Counts of every k-gram of `tokens` for k = 1..n, keyed by the tuple of words."""
    counts = Counter()
    for k in range(1, n + 1):
        counts.update(tuple(tokens[i:i + k]) for i in range(len(tokens) - k + 1))
    return counts


@dataclass
class NgramCorpus:
    """hyp: (N, G) counts of the hypotheses; refs: K matrices (N, G), one per reference slot;
    ref_mask: (K, N) bool, whether image i has an s-th reference; order: (G,) int, n - 1 of each
    n-gram; hyp_len: (N,) and ref_len: (K, N) sentence lengths in words (0 where masked)."""
    hyp: sp.csr_matrix
    refs: list
    ref_mask: np.ndarray
    order: np.ndarray
    hyp_len: np.ndarray
    ref_len: np.ndarray
    n: int

    def per_order(self, m: sp.spmatrix) -> np.ndarray:
        """Sum each row of an (N, G) matrix within each n-gram order -> dense (N, n)."""
        onehot = sp.csr_matrix((np.ones(len(self.order)), (np.arange(len(self.order)), self.order)),
                               shape=(len(self.order), self.n))
        return np.asarray((m @ onehot).todense(), dtype=np.float64).reshape(m.shape[0], self.n)


def build_corpus(refs: list[list[list[str]]], hyps: list[list[str]], n: int = 4) -> NgramCorpus:
    """refs: N lists of reference token lists; hyps: N token lists -> NgramCorpus."""
    ids: dict[tuple, int] = {}
    K = max(len(r) for r in refs)
    N = len(hyps)

    def rows(sentences):  # sentences: list of (row, tokens) -> COO triplets
        r, c, v = [], [], []
        for row, tokens in sentences:
            for gram, count in ngram_counts(tokens, n).items():
                r.append(row)
                c.append(ids.setdefault(gram, len(ids)))
                v.append(count)
        return r, c, v

    hyp_coo = rows(enumerate(hyps))
    slot_coo = [rows((i, r[s]) for i, r in enumerate(refs) if s < len(r)) for s in range(K)]
    G = len(ids)
    as_csr = lambda rcv: sp.csr_matrix((np.asarray(rcv[2], np.float64), (rcv[0], rcv[1])),
                                       shape=(N, G))
    order = np.empty(G, np.int64)
    for gram, g in ids.items():
        order[g] = len(gram) - 1
    ref_mask = np.array([[s < len(r) for r in refs] for s in range(K)], dtype=bool).reshape(K, N)
    ref_len = np.array([[len(r[s]) if s < len(r) else 0 for r in refs] for s in range(K)],
                       dtype=np.int64).reshape(K, N)
    return NgramCorpus(hyp=as_csr(hyp_coo), refs=[as_csr(c) for c in slot_coo], ref_mask=ref_mask,
                       order=order, hyp_len=np.array([len(h) for h in hyps], np.int64),
                       ref_len=ref_len, n=n)
