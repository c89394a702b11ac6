"""N-gram count matrices shared by BLEU and CIDEr-D.

Every distinct n-gram (n = 1..4) of the corpus gets a column id g; a set of sentences becomes a
sparse count matrix with one row per sentence. References are laid out in "slots": slot s holds
the s-th reference of every image (an all-zero row where an image has fewer references), so a
scorer works on whole (N, G) matrices and loops only over the few slots, never over sentences.

Shapes: N images, K reference slots (the most references any image has), G distinct n-grams,
S sentences, W words in all the sentences.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


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
        G = len(self.order)
        onehot = sp.csr_matrix((np.ones(G), (np.arange(G), self.order)), shape=(G, self.n))
        return np.asarray((m @ onehot).todense(), dtype=np.float64).reshape(m.shape[0], self.n)


def ngram_matrix(sentences: list[list[str]], n: int = 4) -> tuple[sp.csr_matrix, np.ndarray]:
    """(S, G) counts of every k-gram (k = 1..n) of each sentence, and (G,) the k - 1 of each."""
    vocab: dict[str, int] = {}
    words = np.array([vocab.setdefault(w, len(vocab)) for s in sentences for w in s], np.int64)
    lengths = np.array([len(s) for s in sentences], np.int64)
    sentence_of = np.repeat(np.arange(len(sentences)), lengths)       # (W,) sentence of each word
    # (W,) words from each word to the end of its sentence, itself included
    room = np.repeat(np.cumsum(lengths), lengths) - np.arange(len(words))
    # A k-gram is a (k-1)-gram followed by one word, so its id comes from the pair (id of the
    # (k-1)-gram starting at the same word, next word): one np.unique of integer keys per k.
    gram_id = words.copy()                             # (W,) id of the k-gram starting at each word
    columns, rows, order = [words], [sentence_of], [np.zeros(len(vocab), np.int64)]
    for k in range(2, n + 1):
        start = np.nonzero(room >= k)[0]               # k-grams that stay inside their sentence
        key = gram_id[start] * len(vocab) + words[start + k - 1]
        unique, local = np.unique(key, return_inverse=True)
        gram_id = np.full(len(words), -1, np.int64)
        gram_id[start] = local
        columns.append(sum(len(o) for o in order) + local)
        rows.append(sentence_of[start])
        order.append(np.full(len(unique), k - 1, np.int64))
    rows, columns, order = np.concatenate(rows), np.concatenate(columns), np.concatenate(order)
    counts = sp.csr_matrix((np.ones(len(rows)), (rows, columns)),   # repeats are summed
                           shape=(len(sentences), len(order)))
    return counts, order


def build_corpus(refs: list[list[list[str]]], hyps: list[list[str]], n: int = 4) -> NgramCorpus:
    """refs: N lists of reference token lists; hyps: N token lists -> NgramCorpus."""
    N, K = len(hyps), max(len(r) for r in refs)
    ref_mask = np.array([[s < len(r) for r in refs] for s in range(K)], dtype=bool).reshape(K, N)
    slot_sentences = [r[s] for s in range(K) for r in refs if s < len(r)]
    counts, order = ngram_matrix(list(hyps) + slot_sentences, n)
    # Row of each reference in the slot layout: slot s, image i -> row s * N + i.
    where = np.nonzero(ref_mask.ravel())[0]
    slots = sp.csr_matrix((np.ones(len(where)), (where, np.arange(len(where)))),
                          shape=(K * N, len(where))) @ counts[N:]
    ref_len = np.zeros(K * N, np.int64)
    ref_len[where] = [len(s) for s in slot_sentences]
    return NgramCorpus(hyp=counts[:N], refs=[slots[s * N:(s + 1) * N] for s in range(K)],
                       ref_mask=ref_mask, order=order, hyp_len=np.array([len(h) for h in hyps]),
                       ref_len=ref_len.reshape(K, N), n=n)
