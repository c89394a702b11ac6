"""Ragged sentences as one flat list of words, in two orders.

A batch holds B sentences of different lengths, left-aligned in a (B, T) array with a mask.
Nothing in the model needs the padding, so the W valid words are packed:

- sentence-major (row after row, each sentence's words contiguous and in order): the order of
  the model's output s_t, which the score layer (Eq. 7-8) sums per sentence;
- time-major (the first word of every sentence, then the second word of those that have one,
  ..., sentences sorted longest first): the order the recurrences (Eq. 4-5) walk through, one
  contiguous slice per time step (see packed_rnn.py).

The word-wise layers (Eq. 2, 3, 6) do not care about the order: each is ONE matrix product over
the W words. At Flickr8K's mean of 10.8 words and a batch maximum around 23, packing halves them.
The index arrays are computed on the host from the (small) mask and moved to the device once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy

from vsa_np.backend import to_device, to_host, xp


@dataclass
class Packed:
    """Where the W valid words of a (B, T) batch are.

    flat:  (W,) int, sentence-major: positions in the flattened (B*T) padded layout
    seg:   (W,) int, sentence-major: the sentence (row) of each word, non-decreasing
    tm:    (W,) int, time-major row r holds sentence-major word tm[r]
    steps: [(offset, n_t)] per time step: the time-major rows of step t are offset..offset+n_t
    B, T:  the padded shape
    """
    flat: object
    seg: object
    tm: object
    steps: list
    B: int
    T: int

    @property
    def W(self) -> int:
        return int(self.flat.shape[0])


def pack(word_mask) -> Packed:
    """word_mask: (B, T) bool, left-aligned (True then False in every row) -> Packed."""
    m = numpy.asarray(to_host(word_mask), dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"word_mask must be (B, T), got shape {m.shape}")
    B, T = m.shape
    lengths = m.sum(axis=1)
    if not (m == (numpy.arange(T) < lengths[:, None])).all():
        raise ValueError("word_mask must be left-aligned: padding only at the end of each row")
    flat = numpy.flatnonzero(m.ravel())
    starts = numpy.cumsum(lengths) - lengths          # sentence-major start of each sentence
    by_length = numpy.argsort(-lengths, kind="stable")
    tm, steps, offset = [], [], 0
    for t in range(int(lengths.max(initial=0))):
        alive = by_length[:int((lengths > t).sum())]  # the longest sentences come first
        tm.append(starts[alive] + t)
        steps.append((offset, len(alive)))
        offset += len(alive)
    tm = numpy.concatenate(tm) if tm else numpy.zeros(0, dtype=numpy.int64)
    return Packed(to_device(flat), to_device(flat // T), to_device(tm), steps, B, T)


def segment_matrix(seg, n_seg: int, dtype):
    """(W, L) 0/1 matrix with a 1 at (w, seg[w]): M @ it sums the columns of M (N, W) over each
    sentence's words in ONE small matrix product; also correct for a sentence with no words."""
    return (seg[:, None] == xp.arange(n_seg)[None, :]).astype(dtype)
